package events

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// binaryHeaders are the headers of a valid binary-mode grant.approved
// (or typ), as a publisher other than the Go SDK would write them.
func binaryHeaders(typ string) map[string][]string {
	return map[string][]string{
		"ce-specversion": {"1.0"},
		"ce-id":          {"evt-1"},
		"ce-source":      {"approvals/jiangjin"},
		"ce-type":        {typ},
		"ce-time":        {"2026-03-02T09:15:00+08:00"},
		"Content-Type":   {"application/json"},
		"Nats-Msg-Id":    {"evt-1"},
	}
}

// binaryBody is the data of a valid event of typ, alone.
func binaryBody(t testing.TB, typ string) []byte {
	t.Helper()
	b, err := json.Marshal(validData(typ))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hdr edits a header map: set replaces a header's values, none removes it.
type hdr func(h map[string][]string)

func set(name string, values ...string) hdr {
	return func(h map[string][]string) { h[name] = values }
}

func none(name string) hdr {
	return func(h map[string][]string) { delete(h, name) }
}

type binaryCase struct {
	name    string
	typ     string // default grant.approved
	subject string // default fund.<testFund>.<typ>
	headers []hdr
	body    []byte // default binaryBody(typ); use empty (not nil) for no body
	code    Code   // "" means the event decodes
	id      string // expected Decoded.ID; default "evt-1", "-" means empty
	msg     string // a substring of the message
}

func (c binaryCase) build(t testing.TB) Message {
	typ := c.typ
	if typ == "" {
		typ = TypeGrantApproved
	}
	h := binaryHeaders(typ)
	for _, e := range c.headers {
		e(h)
	}
	body := c.body
	if body == nil {
		body = binaryBody(t, typ)
	}
	subject := c.subject
	if subject == "" {
		subject = subjectOf(typ)
	}
	return Message{Subject: subject, Header: h, Data: body}
}

func binaryCases(t testing.TB) []binaryCase {
	amount := func(v string) []byte {
		d := validData(TypeGrantApproved)
		d["amount"] = json.RawMessage(v)
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	good := binaryBody(t, TypeGrantApproved)
	huge := append(bytes.Repeat([]byte(" "), MaxMessageBytes), good...)
	return []binaryCase{
		{name: "valid"},
		{name: "header names in any case", headers: []hdr{none("ce-id"), set("CE-ID", "evt-1"), none("ce-type"), set("Ce-Type", TypeGrantApproved), none("Content-Type"), set("content-type", "application/json")}},
		{name: "the Go SDK's ce-datacontenttype", headers: []hdr{none("Content-Type"), set("ce-datacontenttype", "application/json")}},
		{name: "content type and ce-datacontenttype agree", headers: []hdr{set("ce-datacontenttype", "application/json")}},
		{name: "content type and ce-datacontenttype differ", headers: []hdr{set("ce-datacontenttype", "text/plain")}, code: InvalidField, msg: "given more than once"},
		{name: "no content type", headers: []hdr{none("Content-Type")}},
		{name: "content type with charset", headers: []hdr{set("Content-Type", "application/json; charset=utf-8")}},
		{name: "content type not json", headers: []hdr{set("Content-Type", "text/plain")}, code: InvalidField, msg: `Content-Type "text/plain" is not "application/json"`},
		{name: "extension attributes and other headers are ignored", headers: []hdr{set("ce-traceparent", "00-abc"), set("ce-subject", "x"), set("ce-data", "{}"), set("X-Other", "1")}},
		{name: "no ce-time", headers: []hdr{none("ce-time")}},
		{name: "ce-time lower case", headers: []hdr{set("ce-time", "2026-03-02t01:15:00z")}},
		{name: "ce-time with fractions, as the SDK writes it", headers: []hdr{set("ce-time", "2026-03-02T09:15:00.123456789+08:00")}},
		{name: "ce-time not a time", headers: []hdr{set("ce-time", "yesterday")}, code: InvalidField, msg: "ce-time"},
		{name: "ce-time empty is absent", headers: []hdr{set("ce-time", "")}},

		// the id
		{name: "ce-id missing", headers: []hdr{none("ce-id")}, code: MissingField, id: "-", msg: "ce-id is missing"},
		{name: "ce-id empty", headers: []hdr{set("ce-id", "")}, code: MissingField, id: "-", msg: "ce-id is empty"},
		{name: "ce-id not printable", headers: []hdr{set("ce-id", "evt\t1")}, code: InvalidField, id: "-"},
		{name: "ce-id not UTF-8", headers: []hdr{set("ce-id", "evt\xff")}, code: InvalidField, id: "-"},
		{name: "ce-id 129 characters", headers: []hdr{set("ce-id", strings.Repeat("a", 129))}, code: InvalidField, id: "-"},
		{name: "ce-id twice, different", headers: []hdr{set("ce-id", "evt-1", "evt-2")}, code: InvalidField, id: "-", msg: `ce-id is given more than once, with different values: "evt-1", "evt-2"`},
		{name: "ce-id in two cases, different", headers: []hdr{set("CE-ID", "evt-2")}, code: InvalidField, id: "-"},
		{name: "ce-id twice, the same", headers: []hdr{set("ce-id", "evt-1", "evt-1"), set("Ce-Id", "evt-1")}},

		// the other attributes, in the contract's order
		{name: "ce-specversion 0.3", headers: []hdr{set("ce-specversion", "0.3")}, code: InvalidField, msg: `ce-specversion "0.3" is not "1.0"`},
		{name: "ce-specversion empty", headers: []hdr{set("ce-specversion", "")}, code: MissingField, msg: "ce-specversion is empty"},
		{name: "ce-specversion without a value", headers: []hdr{set("ce-specversion")}, code: MissingField, msg: "ce-specversion is missing"},
		{name: "ce-specversion in upper case", headers: []hdr{none("ce-specversion"), set("CE-SPECVERSION", "1.0")}},
		{name: "ce-type missing", headers: []hdr{none("ce-type")}, code: MissingField, msg: "ce-type is missing"},
		{name: "ce-type unknown", subject: "fund.jiangjin-care.grant.approve", headers: []hdr{set("ce-type", "grant.approve")}, code: UnsupportedType},
		{name: "ce-type twice", headers: []hdr{set("ce-type", TypeGrantApproved, TypeGrantDisbursed)}, code: InvalidField, msg: "ce-type"},
		{name: "unknown type beats a bad body", headers: []hdr{set("ce-type", "grant.rejected")}, body: []byte(`[1]`), code: UnsupportedType},
		{name: "ce-source missing", headers: []hdr{none("ce-source")}, code: MissingField, msg: "ce-source is missing"},
		{name: "ce-source 1025 characters", headers: []hdr{set("ce-source", strings.Repeat("s", 1025))}, code: InvalidField},
		{name: "subject differs from ce-type", subject: "fund.jiangjin-care.grant.disbursed", code: InvalidField, msg: "but the ce-type header is"},
		{name: "bad fund token", subject: "fund.BAD.grant.approved", code: InvalidField},

		// the body
		{name: "body not JSON", body: []byte("hello"), code: Malformed, msg: "message body"},
		{name: "body not JSON, bad id", headers: []hdr{set("ce-id", "")}, body: []byte("hello"), code: Malformed, id: "-"},
		{name: "body not JSON beats unknown type", headers: []hdr{set("ce-type", "x")}, body: []byte("{"), code: Malformed},
		{name: "body not UTF-8", body: bytes.Replace(good, []byte("case-wang"), []byte("case-\xffwang"), 1), code: Malformed, msg: "UTF-8"},
		{name: "body with a key twice", body: bytes.Replace(good, []byte(`"amount":"1250.00"`), []byte(`"amount":"1.00","\u0061mount":"1250.00"`), 1), code: Malformed, msg: "appears twice"},
		{name: "body with a lone surrogate", body: bytes.Replace(good, []byte("case-wang"), []byte(`case-\ud800`), 1), code: Malformed, msg: "surrogate"},
		{name: "body with trailing data", body: append(append([]byte{}, good...), `,"x":1`...), code: Malformed},
		{name: "body empty", body: []byte{}, code: MissingField, msg: "data is missing"},
		{name: "body only whitespace", body: []byte(" \r\n\t"), code: MissingField, msg: "data is missing"},
		{name: "body null", body: []byte("null"), code: MissingField, msg: "data is missing"},
		{name: "body an array", body: []byte(`[{"grant_id":"G-1"}]`), code: InvalidField, msg: "data must be a JSON object, not the JSON array"},
		{name: "body a string", body: []byte(`"{}"`), code: InvalidField},
		{name: "body a number", body: []byte(`12`), code: InvalidField},
		{name: "body with whitespace around", body: append(append([]byte("\n "), good...), "\r\n"...)},
		{name: "body a structured envelope", body: message(t, TypeGrantApproved), code: MissingField, msg: "data.grant_id is missing"},
		{name: "body field refused", body: amount(`12`), code: InvalidAmount, msg: "data.amount must be a string"},
		{name: "body over 8 MiB keeps its id", body: huge, code: TooLarge, msg: "8 MiB"},
		{name: "body over 8 MiB without an id", headers: []hdr{none("ce-id")}, body: huge, code: TooLarge, id: "-"},
		{name: "body of exactly 8 MiB", body: huge[len(huge)-MaxMessageBytes:]},
	}
}

func TestDecodeMessageBinary(t *testing.T) {
	for _, c := range binaryCases(t) {
		t.Run(c.name, func(t *testing.T) {
			m := c.build(t)
			d := DecodeMessage(m)
			checkInvariants(t, d)
			var got Code
			if d.Rejection != nil {
				got = d.Rejection.Code
			}
			if got != c.code {
				t.Fatalf("code %q, want %q (rejection: %v)", got, c.code, d.Rejection)
			}
			if c.msg != "" && !strings.Contains(d.Rejection.Message, c.msg) {
				t.Fatalf("message %q does not contain %q", d.Rejection.Message, c.msg)
			}
			wantID := c.id
			switch wantID {
			case "":
				wantID = "evt-1"
			case "-":
				wantID = ""
			}
			if d.ID != wantID {
				t.Fatalf("ID %q, want %q", d.ID, wantID)
			}
			if d.FundID != parseSubject(m.Subject).fundID() {
				t.Fatalf("FundID %q", d.FundID)
			}
			again := DecodeMessage(m)
			if !reflect.DeepEqual(again, d) {
				t.Fatalf("not deterministic:\n%+v\n%+v", d, again)
			}
		})
	}
}

// TestDecodeMessageBinaryEqualsStructured: every type sent in binary mode
// decodes to the event, envelope and data hash of the same event sent
// structured.
func TestDecodeMessageBinaryEqualsStructured(t *testing.T) {
	for _, typ := range allTypes {
		t.Run(typ, func(t *testing.T) {
			s := Decode(subjectOf(typ), message(t, typ))
			b := DecodeMessage(binaryCase{typ: typ}.build(t))
			if s.Rejection != nil || b.Rejection != nil {
				t.Fatalf("structured %v, binary %v", s.Rejection, b.Rejection)
			}
			if !reflect.DeepEqual(s, b) {
				t.Fatalf("structured\n%+v\nbinary\n%+v", s, b)
			}
		})
	}

	// Batch lines, good and bad, come out the same too.
	ls := lines(4)
	ls[1].(map[string]any)["amount"] = "1.000"
	ls[3] = "x"
	m := message(t, TypeGrantBatchApproved, data("lines", ls))
	var env struct{ Data json.RawMessage }
	if err := json.Unmarshal(m, &env); err != nil {
		t.Fatal(err)
	}
	s := Decode(subjectOf(TypeGrantBatchApproved), m)
	b := DecodeMessage(binaryCase{typ: TypeGrantBatchApproved, body: env.Data}.build(t))
	if s.Rejection != nil || !reflect.DeepEqual(s, b) {
		t.Fatalf("structured\n%+v\nbinary\n%+v", s, b)
	}
	for i, l := range b.Event.(GrantBatchApproved).Lines {
		if l.DataHash != ContentHash(l.Raw) {
			t.Fatalf("line %d: DataHash is not ContentHash(Raw)", i)
		}
	}
}

// TestDecodeMessageStructured: without a ce-specversion header a message is
// structured whatever else its headers say.
func TestDecodeMessageStructured(t *testing.T) {
	raw := message(t, TypeGrantApproved)
	want := Decode(subjectOf(TypeGrantApproved), raw)
	for _, h := range []map[string][]string{
		nil,
		{"Nats-Msg-Id": {"evt-1"}},
		{"ce-id": {"other"}, "ce-type": {"grant.disbursed"}, "Content-Type": {"text/plain"}},
		{"specversion": {"1.0"}},
	} {
		got := DecodeMessage(Message{Subject: subjectOf(TypeGrantApproved), Header: h, Data: raw})
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("headers %v: %+v", h, got)
		}
	}
	// Binary mode reads the body as data alone, so a structured envelope
	// sent with a ce-specversion header lacks its data fields.
	h := map[string][]string{"ce-specversion": {"1.0"}}
	if d := DecodeMessage(Message{Subject: subjectOf(TypeGrantApproved), Header: h, Data: raw}); d.Rejection == nil || d.Rejection.Code != MissingField {
		t.Fatalf("structured body in binary mode: %v", d.Rejection)
	}
}

// TestDecodedSharesNothing: the caller may reuse its buffer once Decode
// returned, and appending to a line's Raw does not write into the next.
func TestDecodedSharesNothing(t *testing.T) {
	raw := message(t, TypeGrantBatchApproved)
	d := Decode(subjectOf(TypeGrantBatchApproved), raw)
	want := asJSON(t, d.Event)
	for i := range raw {
		raw[i] = 'x'
	}
	if got := asJSON(t, d.Event); got != want {
		t.Fatalf("the event changed with the input:\n%s\n%s", got, want)
	}
	ls := d.Event.(GrantBatchApproved).Lines
	second := string(ls[1].Raw)
	_ = append(ls[0].Raw, "garbage"...)
	if string(ls[1].Raw) != second || !bytes.Contains(d.Envelope.Data, ls[1].Raw) {
		t.Fatal("appending to one line's Raw wrote into another")
	}
}
