package events

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// FuzzDecode feeds Decode arbitrary subjects and bytes. Its corpus lives in
// testdata/fuzz/FuzzDecode (one valid message of several types, and the
// JSON tricks the decoder refuses); `go test` runs the corpus every time.
func FuzzDecode(f *testing.F) {
	for _, typ := range allTypes {
		f.Add(subjectOf(typ), message(f, typ))
	}
	f.Add("fund.x.grant.batch.approved", message(f, TypeGrantBatchApproved, data("lines", lines(3)), line(2, "grant_id", "P-0")))
	f.Add("fund.x.grant.approved", []byte(`{"id":"a","id":"b"}`))
	f.Add("fund.x", []byte(`{"id":"\ud800"}`))
	f.Add("", []byte(``))

	f.Fuzz(func(t *testing.T, subject string, raw []byte) {
		d := Decode(subject, raw)
		checkInvariants(t, d)

		if d.ID != "" && !ValidID(d.ID) {
			t.Fatalf("ID %q is not a valid id", d.ID)
		}
		if d.ID == "" && d.Rejection != nil {
			switch d.Rejection.Code {
			case Malformed, TooLarge, MissingField, InvalidField:
			default:
				t.Fatalf("no id, yet refused past the id check: %v", d.Rejection)
			}
		}
		if want := parseSubject(subject).fund; ValidFundID(want) != (d.FundID == want) {
			t.Fatalf("FundID %q from subject %q", d.FundID, subject)
		}
		if d.Event != nil {
			if d.DataHash != ContentHash(d.Envelope.Data) {
				t.Fatal("DataHash differs from ContentHash of the data")
			}
			if b, ok := d.Event.(GrantBatchApproved); ok && (len(b.Lines) == 0 || len(b.Lines) > MaxBatchLines) {
				t.Fatalf("a batch of %d lines", len(b.Lines))
			}
		}

		again := Decode(subject, raw)
		if again.ID != d.ID || again.DataHash != d.DataHash || (again.Rejection == nil) != (d.Rejection == nil) ||
			(d.Rejection != nil && (again.Rejection.Code != d.Rejection.Code || again.Rejection.Message != d.Rejection.Message)) {
			t.Fatal("Decode is not deterministic")
		}
	})
}

// TestFuzzCorpusOutcomes pins what each hand-written seed decodes to, so
// the corpus keeps exercising the paths it was written for.
func TestFuzzCorpusOutcomes(t *testing.T) {
	want := map[string]Code{
		"grant_approved":       "",
		"batch_ok":             "",
		"batch_bad_lines":      "",           // its lines are marked; Apply refuses it
		"fund_opened":          InvalidField, // care_fund twice
		"program_set_null_cap": "",
		"contribution":         "",
		"allocation_self":      InvalidField,
		"trailing_garbage":     Malformed,
		"duplicate_key":        Malformed,
		"lone_surrogate":       Malformed,
		"subject_mismatch":     InvalidField,
		"amount_number":        InvalidAmount,
		"invalid_utf8":         Malformed,
		"snapshot":             "",
		"unknown_type":         UnsupportedType,
		"envelope_wrong_types": InvalidField,
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, e := range entries {
		w, ok := want[e.Name()]
		if !ok {
			continue // found by the fuzzer; the invariants are enough
		}
		seen++
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		subject, raw := parseCorpusEntry(t, string(b))
		d := Decode(subject, raw)
		var got Code
		if d.Rejection != nil {
			got = d.Rejection.Code
		}
		if got != w {
			t.Errorf("%s: code %q, want %q (%v)", e.Name(), got, w, d.Rejection)
		}
	}
	if seen != len(want) {
		t.Fatalf("found %d of the %d seeds", seen, len(want))
	}
	bl := func() []BatchLine {
		b, _ := os.ReadFile(filepath.Join(dir, "batch_bad_lines"))
		s, r := parseCorpusEntry(t, string(b))
		return Decode(s, r).Event.(GrantBatchApproved).Lines
	}()
	code := func(l BatchLine) Code {
		if l.Refused == nil {
			return ""
		}
		return l.Refused.Code
	}
	// Line 2 repeats line 0's grant_id: a duplicate for Apply to find.
	if len(bl) != 4 || code(bl[0]) != InvalidAmount || code(bl[1]) != InvalidField || code(bl[2]) != "" || code(bl[3]) != MissingField {
		t.Fatalf("batch_bad_lines lines %+v", bl)
	}
}

// parseCorpusEntry reads a `go test fuzz v1` file of (string, []byte).
func parseCorpusEntry(t testing.TB, s string) (string, []byte) {
	t.Helper()
	ls := strings.Split(strings.TrimSpace(s), "\n")
	if len(ls) != 3 || ls[0] != "go test fuzz v1" {
		t.Fatalf("not a corpus entry: %q", s)
	}
	unq := func(l, prefix string) string {
		l = strings.TrimSuffix(strings.TrimPrefix(l, prefix+"("), ")")
		v, err := strconv.Unquote(l)
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		return v
	}
	return unq(ls[1], "string"), []byte(unq(ls[2], "[]byte"))
}
