package events

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/fundledger/fundledger/events/internal/decodev1"
	"github.com/shopspring/decimal"
)

// FuzzDifferential runs the decoder and the one it replaced
// (internal/decodev1, the decoder before the single-pass rewrite) on the
// same input and fails on any difference in verdict: FundID, ID, Type, the
// envelope, DataHash, the rejection's code (and its message, outside
// malformed, where the two parsers word syntax errors differently) and the
// event, field by field. It also compares ContentHash of the raw bytes with
// the old one.
//
// headers, when it holds a ce-specversion line, makes the input a
// binary-mode message ("Name: value" lines): DecodeMessage reads it, and
// the old decoder gets the structured message with the same attributes and
// the body as data, wherever that is well-defined (see diffBinary for the
// differences allowed, all of them consequences of the attributes being
// headers). Without one, Decode, DecodeMessage and the old Decode must
// agree.
//
// Its corpus is testdata/fuzz/FuzzDifferential (write it again with
// `go test -run TestWriteDifferentialCorpus ./events/ -args -write-diff-corpus`);
// the seeds below are added on every run as well.
func FuzzDifferential(f *testing.F) {
	for _, s := range differentialSeeds(f) {
		if len(s.raw) <= 64<<10 {
			f.Add(s.subject, s.raw, s.headers)
		}
	}
	f.Fuzz(func(t *testing.T, subject string, raw []byte, headers string) {
		diffCheck(t, subject, raw, headers)
	})
}

// TestDifferentialSeeds runs every seed, the large ones the fuzz target
// leaves out too (8 MiB messages, 10,000-line batches).
func TestDifferentialSeeds(t *testing.T) {
	for _, s := range differentialSeeds(t) {
		t.Run(s.name, func(t *testing.T) { diffCheck(t, s.subject, s.raw, s.headers) })
	}
}

var writeDiffCorpus = flag.Bool("write-diff-corpus", false, "write the seeds of FuzzDifferential to testdata/fuzz/FuzzDifferential")

// TestWriteDifferentialCorpus keeps the seeds in the corpus directory, so
// that `go test -fuzz` starts from them and they are visible as files.
func TestWriteDifferentialCorpus(t *testing.T) {
	if !*writeDiffCorpus {
		t.Skip("run with -args -write-diff-corpus to write the corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDifferential")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bad := regexp.MustCompile(`[^a-z0-9_.-]+`)
	seen := map[string]bool{}
	for _, s := range differentialSeeds(t) {
		if len(s.raw) > 64<<10 {
			continue
		}
		name := "seed-" + strings.Trim(bad.ReplaceAllString(strings.ToLower(s.name), "_"), "_")
		for seen[name] {
			name += "_"
		}
		seen[name] = true
		body := fmt.Sprintf("go test fuzz v1\nstring(%s)\n[]byte(%s)\nstring(%s)\n",
			strconv.Quote(s.subject), strconv.Quote(string(s.raw)), strconv.Quote(s.headers))
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

type diffSeed struct {
	name             string
	subject, headers string
	raw              []byte
}

// differentialSeeds are FuzzDecode's corpus, the decode tests' cases, and
// the binary-mode cases with their headers.
func differentialSeeds(t testing.TB) []diffSeed {
	var out []diffSeed
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		subject, raw := parseCorpusEntry(t, string(b))
		out = append(out, diffSeed{name: "decode " + e.Name(), subject: subject, raw: raw})
	}
	for _, c := range allDecodeCases(t) {
		subject, raw := c.build(t)
		out = append(out, diffSeed{name: "case " + c.name, subject: subject, raw: raw})
	}
	for _, c := range binaryCases(t) {
		m := c.build(t)
		out = append(out, diffSeed{name: "binary " + c.name, subject: m.Subject, raw: m.Data, headers: formatHeaders(m.Header)})
	}
	for _, typ := range allTypes {
		m := binaryCase{typ: typ}.build(t)
		out = append(out, diffSeed{name: "binary " + typ, subject: m.Subject, raw: m.Data, headers: formatHeaders(m.Header)})
	}
	return out
}

// formatHeaders writes headers as the fuzz target reads them: one
// "Name: value" line per value, in name order.
func formatHeaders(h map[string][]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range h {
			if !yield(k) {
				return
			}
		}
	}) {
		if len(h[k]) == 0 {
			fmt.Fprintf(&b, "%s\n", k) // a header without a value
		}
		for _, v := range h[k] {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	return b.String()
}

// parseHeaders reads formatHeaders' text; nil when s is empty. A line
// without a colon is a header without a value.
func parseHeaders(s string) map[string][]string {
	if s == "" {
		return nil
	}
	h := map[string][]string{}
	for _, l := range strings.Split(s, "\n") {
		if l == "" {
			continue
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			if _, had := h[l]; !had {
				h[l] = nil
			}
			continue
		}
		h[k] = append(h[k], strings.TrimPrefix(v, " "))
	}
	return h
}

func diffCheck(t *testing.T, subject string, raw []byte, headers string) {
	if got, want := ContentHash(raw), decodev1.ContentHash(raw); got != want {
		t.Fatalf("ContentHash(%s) differs from the old one", short(raw))
	}
	h := parseHeaders(headers)
	m := Message{Subject: subject, Header: h, Data: raw}
	got := DecodeMessage(m)
	checkInvariants(t, got)
	if again := DecodeMessage(m); !reflect.DeepEqual(again, got) {
		t.Fatalf("DecodeMessage is not deterministic:\n%+v\n%+v", got, again)
	}
	if binaryMode(h) {
		diffBinary(t, subject, h, raw, got)
		return
	}
	if plain := Decode(subject, raw); !reflect.DeepEqual(plain, got) {
		t.Fatalf("DecodeMessage without ce-specversion differs from Decode:\n%+v\n%+v", got, plain)
	}
	old := decodev1.Decode(subject, raw)
	if diff := compareDecoded(old, got, true); diff != "" {
		t.Fatalf("subject %q, message %s: %s", subject, short(raw), diff)
	}
}

// diffBinary compares a binary-mode decode with the old decoder's verdict
// on the equivalent structured message. Where no such message exists (an
// attribute given twice with different values, or one that is not UTF-8,
// which a JSON string cannot hold) only the invariants are checked. The
// differences allowed:
//   - a body that is not one strict JSON value is malformed, and ID is
//     still the ce-id when that is valid (the old decoder, given the body
//     inside an envelope, cannot read the id of a malformed message);
//   - a body of exactly encoding/json's nesting limit is valid alone and
//     one level too deep inside an envelope;
//   - messages about attributes name the header (ce-id, Content-Type).
func diffBinary(t *testing.T, subject string, h map[string][]string, body []byte, got Decoded) {
	a := headerAttrs(h)
	members := []struct {
		key string
		a   attr
	}{
		{"specversion", a.specversion}, {"id", a.id}, {"source", a.source}, {"type", a.typ},
		{"time", a.time}, {"datacontenttype", a.contentType},
	}
	wantID := ""
	if a.id.state == attrString && decodev1.ValidID(a.id.s) {
		wantID = a.id.s
	}
	if len(body) > MaxMessageBytes {
		if got.Rejection == nil || got.Rejection.Code != TooLarge || got.ID != wantID {
			t.Fatalf("a body over 8 MiB: id %q, %v", got.ID, got.Rejection)
		}
		return
	}
	var env bytes.Buffer
	env.WriteByte('{')
	for _, m := range members {
		switch m.a.state {
		case attrTwice:
			return // not expressible in one envelope
		case attrString:
			if !utf8.ValidString(m.a.s) {
				return
			}
			k, _ := json.Marshal(m.key)
			v, _ := json.Marshal(m.a.s)
			fmt.Fprintf(&env, "%s:%s,", k, v)
		}
	}
	empty := len(bytes.Trim(body, " \t\r\n")) == 0
	if !empty {
		fmt.Fprintf(&env, `"data":%s,`, body)
	}
	structured := append(bytes.TrimSuffix(env.Bytes(), []byte(",")), '}')
	if env.Len() == 1 {
		structured = []byte("{}")
	}

	if !empty && !json.Valid(body) {
		// Not JSON at all: the old decoder would see a malformed envelope
		// (or, with data that closes the object early, another one).
		if got.Rejection == nil || got.Rejection.Code != Malformed || got.ID != wantID {
			t.Fatalf("a body that is not JSON: id %q (want %q), %v", got.ID, wantID, got.Rejection)
		}
		return
	}
	if len(structured) > MaxMessageBytes {
		return // the limit is on the body alone; the envelope adds bytes
	}
	old := decodev1.Decode(subject, structured)
	if old.Rejection != nil && old.Rejection.Code == decodev1.Malformed {
		if !json.Valid(structured) {
			return // the nesting limit, one level deeper in the envelope
		}
		// Invalid UTF-8, a key twice, a lone surrogate: in the body, since
		// the attributes were written by json.Marshal.
		if got.Rejection == nil || got.Rejection.Code != Malformed || got.ID != wantID {
			t.Fatalf("structured %s is malformed (%v), binary is id %q, %v", short(structured), old.Rejection, got.ID, got.Rejection)
		}
		return
	}
	// Messages about data are the same in both modes; about attributes
	// they name the header.
	msgs := old.Rejection != nil && (strings.HasPrefix(old.Rejection.Message, "data.") || strings.HasPrefix(old.Rejection.Message, "data "))
	if diff := compareDecoded(old, got, msgs); diff != "" {
		t.Fatalf("binary subject %q, headers %v, body %s\nstructured %s\n%s", subject, h, short(body), short(structured), diff)
	}
}

// compareDecoded says how the new decoder's result differs from the old
// one's, or "". Messages are compared when msgs is set, except for
// malformed: the two parsers word a syntax error differently.
func compareDecoded(old decodev1.Decoded, got Decoded, msgs bool) string {
	switch {
	case old.FundID != got.FundID:
		return fmt.Sprintf("FundID %q, old %q", got.FundID, old.FundID)
	case old.ID != got.ID:
		return fmt.Sprintf("ID %q, old %q", got.ID, old.ID)
	case old.Type != got.Type:
		return fmt.Sprintf("Type %q, old %q", got.Type, old.Type)
	case old.DataHash != got.DataHash:
		return "DataHash differs"
	case (old.Rejection == nil) != (got.Rejection == nil):
		return fmt.Sprintf("rejection %v, old %v", got.Rejection, old.Rejection)
	}
	if old.Rejection != nil {
		if string(old.Rejection.Code) != string(got.Rejection.Code) {
			return fmt.Sprintf("code %s (%s), old %s (%s)", got.Rejection.Code, got.Rejection.Message, old.Rejection.Code, old.Rejection.Message)
		}
		if msgs && got.Rejection.Code != Malformed && old.Rejection.Message != got.Rejection.Message {
			return fmt.Sprintf("message %q, old %q", got.Rejection.Message, old.Rejection.Message)
		}
	}
	if d := sameValue(reflect.ValueOf(old.Envelope), reflect.ValueOf(got.Envelope), "Envelope"); d != "" {
		return d
	}
	return sameValue(reflect.ValueOf(&old.Event).Elem(), reflect.ValueOf(&got.Event).Elem(), "Event")
}

var (
	decimalType   = reflect.TypeFor[decimal.Decimal]()
	timeType      = reflect.TypeFor[time.Time]()
	batchLineType = reflect.TypeFor[BatchLine]()
)

// sameValue compares a value of the old decoder's types with one of the
// new's: the same type names, the same fields, the same values. Decimals
// are the same when equal with the same exponent (so they print alike),
// times when equal in the same location. A BatchLine's DataHash, which the
// old type lacks, must be the old ContentHash of its Raw.
func sameValue(o, n reflect.Value, path string) string {
	if o.Kind() != n.Kind() {
		return fmt.Sprintf("%s: a %s, old a %s", path, n.Kind(), o.Kind())
	}
	switch o.Kind() {
	case reflect.Interface, reflect.Pointer:
		if o.IsNil() || n.IsNil() {
			if o.IsNil() != n.IsNil() {
				return fmt.Sprintf("%s: nil %v, old nil %v", path, n.IsNil(), o.IsNil())
			}
			return ""
		}
		return sameValue(o.Elem(), n.Elem(), path)
	case reflect.Struct:
		switch o.Type() {
		case decimalType:
			od, nd := o.Interface().(decimal.Decimal), n.Interface().(decimal.Decimal)
			if !od.Equal(nd) || od.Exponent() != nd.Exponent() {
				return fmt.Sprintf("%s: %s, old %s", path, nd, od)
			}
			return ""
		case timeType:
			ot, nt := o.Interface().(time.Time), n.Interface().(time.Time)
			if !ot.Equal(nt) || ot.Location().String() != nt.Location().String() {
				return fmt.Sprintf("%s: %v, old %v", path, nt, ot)
			}
			return ""
		}
		if o.Type().Name() != n.Type().Name() {
			return fmt.Sprintf("%s: a %s, old a %s", path, n.Type(), o.Type())
		}
		for i := range n.NumField() {
			name := n.Type().Field(i).Name
			of := o.FieldByName(name)
			if !of.IsValid() {
				if n.Type() == batchLineType && name == "DataHash" {
					if n.Field(i).Interface() != decodev1.ContentHash(o.FieldByName("Raw").Bytes()) {
						return path + ".DataHash is not the old ContentHash of Raw"
					}
					continue
				}
				return fmt.Sprintf("%s.%s: no such field in the old type", path, name)
			}
			if d := sameValue(of, n.Field(i), path+"."+name); d != "" {
				return d
			}
		}
		if o.NumField() > n.NumField()-btoi(n.Type() == batchLineType) {
			return fmt.Sprintf("%s: the old %s has more fields", path, o.Type())
		}
		return ""
	case reflect.Slice:
		if o.IsNil() != n.IsNil() || o.Len() != n.Len() {
			return fmt.Sprintf("%s: %d elements (nil %v), old %d (nil %v)", path, n.Len(), n.IsNil(), o.Len(), o.IsNil())
		}
		if o.Type().Elem().Kind() == reflect.Uint8 {
			if !bytes.Equal(o.Bytes(), n.Bytes()) {
				return fmt.Sprintf("%s: %q, old %q", path, n.Bytes(), o.Bytes())
			}
			return ""
		}
		for i := range o.Len() {
			if d := sameValue(o.Index(i), n.Index(i), fmt.Sprintf("%s[%d]", path, i)); d != "" {
				return d
			}
		}
		return ""
	case reflect.String:
		if o.String() != n.String() {
			return fmt.Sprintf("%s: %q, old %q", path, n.String(), o.String())
		}
		return ""
	default: // ints, bools, hashes
		if !reflect.DeepEqual(o.Interface(), n.Interface()) {
			return fmt.Sprintf("%s: %v, old %v", path, n.Interface(), o.Interface())
		}
		return ""
	}
}

// short quotes at most 2 KiB of b for a failure message.
func short(b []byte) string {
	if len(b) > 2048 {
		return strconv.Quote(string(b[:2048])) + fmt.Sprintf("... (%d bytes)", len(b))
	}
	return strconv.Quote(string(b))
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestSameValueCatches makes sure the comparison can fail: a test that
// cannot fail is worse than none.
func TestSameValueCatches(t *testing.T) {
	raw := message(t, TypeGrantBatchApproved)
	subject := subjectOf(TypeGrantBatchApproved)
	old := decodev1.Decode(subject, raw)
	if d := compareDecoded(old, Decode(subject, raw), true); d != "" {
		t.Fatalf("the same message differs: %s", d)
	}
	for name, change := range map[string]func(d *Decoded){
		"amount exponent": func(d *Decoded) {
			b := d.Event.(GrantBatchApproved)
			b.Lines = slices.Clone(b.Lines)
			b.Lines[0].Amount = b.Lines[0].Amount.Round(0).Add(decimal.New(0, -2)).Truncate(1)
			d.Event = b
		},
		"line hash": func(d *Decoded) {
			b := d.Event.(GrantBatchApproved)
			b.Lines = slices.Clone(b.Lines)
			b.Lines[1].DataHash[0]++
			d.Event = b
		},
		"raw line": func(d *Decoded) {
			b := d.Event.(GrantBatchApproved)
			b.Lines = slices.Clone(b.Lines)
			b.Lines[1].Raw = append(json.RawMessage{' '}, b.Lines[1].Raw...)
			d.Event = b
		},
		"date location": func(d *Decoded) {
			b := d.Event.(GrantBatchApproved)
			b.ApprovedOn = b.ApprovedOn.In(time.FixedZone("X", 0))
			d.Event = b
		},
		"nil lines": func(d *Decoded) {
			b := d.Event.(GrantBatchApproved)
			b.Lines = nil
			d.Event = b
		},
		"envelope data": func(d *Decoded) { d.Envelope.Data = nil },
		"data hash":     func(d *Decoded) { d.DataHash[3]++ },
		"type":          func(d *Decoded) { d.Event = GrantApproved{} },
	} {
		d := Decode(subject, raw)
		change(&d)
		if compareDecoded(old, d, true) == "" {
			t.Errorf("%s: no difference found", name)
		}
	}
}

// TestDifferentialEdges runs inputs the fuzzer is unlikely to build: the
// nesting limit on both sides, wide objects (a set instead of pairwise
// compares, and a full sort for the hash), escaped keys in every position.
func TestDifferentialEdges(t *testing.T) {
	valid := message(t, TypeGrantApproved)
	nest := func(n int, inner string) string {
		return strings.Repeat("[", n) + inner + strings.Repeat("]", n)
	}
	wide := func(n int, dupAt int) string {
		var b strings.Builder
		for i := range n {
			k := fmt.Sprintf("k%03d", (i*37)%n) // not in order
			if i == dupAt {
				k = `\u006b` + fmt.Sprintf("%03d", (0*37)%n) // k000 again, escaped
			}
			fmt.Fprintf(&b, `"%s":%d,`, k, i)
		}
		return b.String()
	}
	withData := func(extra string) []byte {
		return bytes.Replace(valid, []byte(`"amount"`), []byte(extra+`"amount"`), 1)
	}
	inputs := map[string][]byte{
		"depth 10000 in data":        withData(`"deep":` + nest(maxDepth-2, "1") + `,`),
		"depth 10001 in data":        withData(`"deep":` + nest(maxDepth-1, "1") + `,`),
		"depth 10000 alone":          []byte(nest(maxDepth, "")),
		"depth 10001 alone":          []byte(nest(maxDepth+1, "")),
		"wide data":                  withData(wide(40, -1)),
		"wide data, escaped dup":     withData(wide(40, 30)),
		"wide envelope":              bytes.Replace(valid, []byte(`"id"`), []byte(wide(200, -1)+`"id"`), 1),
		"escaped keys":               []byte(`{"\u0073pecversion":"1.0","i\u0064":"e","\u0073ource":"s","typ\u0065":"grant.cancelled","d\u0061ta":{"gr\u0061nt_id":"G","c\u0061ncelled_by":"x","re\u0061son":"r\ud83d\ude00"}}`),
		"escapes everywhere":         []byte(`{"specversion":"1.0","id":"e\/1","source":"s\t","type":"grant.cancelled","data":{"grant_id":"G\u00e9","cancelled_by":"x","reason":"a\"b\\c\b\f\n\r\t\u0000\u001f\u007f\u2028"}}`),
		"numbers":                    withData(`"n":[0,-0,1.5e10,-2E-3,0.0,1e+2,123456789012345678901234567890],`),
		"bad numbers":                withData(`"n":[01],`),
		"bad number 2":               withData(`"n":[1.],`),
		"bad number 3":               withData(`"n":[-],`),
		"bad number 4":               withData(`"n":[1e],`),
		"literal cut":                withData(`"n":tru,`),
		"control in string":          withData("\"n\":\"a\x01\","),
		"del in string":              withData("\"n\":\"a\x7f\","),
		"bom":                        append([]byte("\xef\xbb\xbf"), valid...),
		"nbsp around":                append(append([]byte("\u00a0"), valid...), "\u00a0"...),
		"only nbsp":                  []byte("\u00a0"),
		"escaped lone surrogate key": []byte(`{"\udc00":1}`),
		"bad escape":                 withData(`"n":"\x",`),
		"short unicode escape":       withData(`"n":"\u12",`),
		"truncated escape":           []byte(`{"a":"\`),
		"truncated pair":             []byte(`{"a":"\ud83d\u`),
		"top-level bool":             []byte(`true`),
		"top-level number":           []byte(` 12 `),
	}
	for name, raw := range inputs {
		t.Run(name, func(t *testing.T) {
			diffCheck(t, subjectOf(TypeGrantApproved), raw, "")
			diffCheck(t, subjectOf(TypeGrantApproved), raw, formatHeaders(binaryHeaders(TypeGrantApproved)))
		})
	}
	if d := Decode(subjectOf(TypeGrantApproved), inputs["depth 10001 in data"]); d.Rejection == nil || d.Rejection.Code != Malformed {
		t.Fatalf("10,001 levels: %v", d.Rejection)
	}
	if d := Decode(subjectOf(TypeGrantApproved), inputs["wide data, escaped dup"]); d.Rejection == nil || !strings.Contains(d.Rejection.Message, `"k000" appears twice`) {
		t.Fatalf("an escaped duplicate in a wide object: %v", d.Rejection)
	}
}
