package events

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

const testFund = "jiangjin-care"

// validData returns a fresh, valid data object for each event type.
func validData(typ string) map[string]any {
	switch typ {
	case TypeFundOpened:
		return map[string]any{
			"fund_id":  testFund,
			"name":     "江津区关爱基金",
			"currency": "CNY",
			"programs": []any{
				map[string]any{"code": "care_fund", "annual_cap_per_beneficiary": "20000.00"},
				map[string]any{"code": "medical_aid"},
				map[string]any{"code": "martyr_family", "annual_cap_per_beneficiary": nil},
			},
		}
	case TypeProgramSet:
		return map[string]any{"program": "care_fund", "annual_cap_per_beneficiary": "15000"}
	case TypeContributionReceived:
		return map[string]any{
			"contribution_id": "C-2026-001",
			"source_kind":     "fiscal",
			"payer":           "江津区财政局",
			"amount":          "2000000.00",
			"bank_ref":        "BOC-778812",
			"received_on":     "2026-01-15",
		}
	case TypeAllocationApproved:
		return map[string]any{
			"allocation_id": "A-7",
			"to_fund_id":    "yongchuan-care",
			"amount":        "300",
			"approved_by":   "officer-li",
		}
	case TypeGrantApproved:
		return map[string]any{
			"grant_id":        "G-1",
			"beneficiary_ref": "B-90210",
			"program":         "care_fund",
			"category":        "medical",
			"amount":          "1250.00",
			"requested_by":    "case-wang",
			"approved_by":     "officer-li",
			"approved_on":     "2026-03-02",
		}
	case TypeGrantBatchApproved:
		return map[string]any{
			"batch_id":     "BATCH-2026-03",
			"program":      "pension_subsidy",
			"requested_by": "case-wang",
			"approved_by":  "officer-li",
			"approved_on":  "2026-03-01",
			"lines": []any{
				map[string]any{"grant_id": "P-1", "beneficiary_ref": "B-1", "category": "living", "amount": "1500.00"},
				map[string]any{"grant_id": "P-2", "beneficiary_ref": "B-2", "category": "living", "amount": "0.5"},
			},
		}
	case TypeGrantDisbursed:
		return map[string]any{
			"grant_id":   "G-1",
			"payment_id": "PAY-1",
			"amount":     "1250.00",
			"bank_ref":   "ICBC-1",
			"paid_on":    "2026-03-05",
		}
	case TypePaymentReturned:
		return map[string]any{"grant_id": "G-1", "payment_id": "PAY-1", "amount": "1250.00", "reason": "account closed"}
	case TypeGrantCancelled:
		return map[string]any{"grant_id": "G-1", "cancelled_by": "officer-zhao", "reason": "duplicate application"}
	case TypeGrantRecovered:
		return map[string]any{"grant_id": "G-1", "recovery_id": "R-1", "amount": "100.00", "bank_ref": "ICBC-2", "reason": "paid twice"}
	case TypeSnapshotRequested:
		return map[string]any{"requested_by": "auditor-chen", "label": "2026-06"}
	case TypePeriodClosed:
		return map[string]any{"period": "2026-02", "closed_by": "accountant-li", "approved_by": "director-wang"}
	case TypeBankStatementReceived, TypeReconciliationRequested, TypeBankChargeRecorded:
		return bankValidData(typ) // bank_test.go
	}
	panic("no valid data for " + typ)
}

var allTypes = []string{
	TypeFundOpened, TypeProgramSet, TypeContributionReceived, TypeAllocationApproved,
	TypeGrantApproved, TypeGrantBatchApproved, TypeGrantDisbursed, TypePaymentReturned,
	TypeGrantCancelled, TypeGrantRecovered, TypeSnapshotRequested, TypePeriodClosed,
	TypeBankStatementReceived, TypeReconciliationRequested, TypeBankChargeRecorded,
}

// absent as a value in an edit deletes the key.
type absentT struct{}

var absent = absentT{}

type edit func(env map[string]any)

// env sets (or, with absent, deletes) an envelope field.
func env(key string, v any) edit {
	return func(e map[string]any) {
		if v == absent {
			delete(e, key)
			return
		}
		e[key] = v
	}
}

// data sets (or deletes) a field of the data object.
func data(key string, v any) edit {
	return func(e map[string]any) {
		d := e["data"].(map[string]any)
		if v == absent {
			delete(d, key)
			return
		}
		d[key] = v
	}
}

// line sets (or deletes) a field of batch line i.
func line(i int, key string, v any) edit {
	return func(e map[string]any) {
		l := e["data"].(map[string]any)["lines"].([]any)[i].(map[string]any)
		if v == absent {
			delete(l, key)
			return
		}
		l[key] = v
	}
}

// message builds a valid envelope of typ with the edits applied.
func message(t testing.TB, typ string, edits ...edit) []byte {
	t.Helper()
	e := map[string]any{
		"specversion":     "1.0",
		"id":              "evt-1",
		"source":          "approvals/jiangjin",
		"type":            typ,
		"time":            "2026-03-02T09:15:00+08:00",
		"datacontenttype": "application/json",
		"data":            validData(typ),
	}
	for _, ed := range edits {
		ed(e)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func subjectOf(typ string) string { return InboundSubject(testFund, typ) }

func lines(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = map[string]any{
			"grant_id":        fmt.Sprintf("P-%d", i),
			"beneficiary_ref": fmt.Sprintf("B-%d", i),
			"category":        "living",
			"amount":          "100.00",
		}
	}
	return out
}

// checkInvariants holds for every outcome of Decode.
func checkInvariants(t testing.TB, d Decoded) {
	t.Helper()
	if (d.Event == nil) == (d.Rejection == nil) {
		t.Fatalf("exactly one of Event and Rejection must be set: event %v, rejection %v", d.Event, d.Rejection)
	}
	if d.FundID != UnknownFundID && !ValidFundID(d.FundID) {
		t.Fatalf("FundID %q is neither a fund id nor %q", d.FundID, UnknownFundID)
	}
	if d.Event != nil {
		if d.ID == "" {
			t.Fatal("an event without an id")
		}
		if d.Event.EventType() != d.Type {
			t.Fatalf("event type %q, envelope type %q", d.Event.EventType(), d.Type)
		}
		if d.DataHash == ([32]byte{}) {
			t.Fatal("an event without a data hash")
		}
		if b, ok := d.Event.(GrantBatchApproved); ok {
			for i, l := range b.Lines {
				if l.Refused != nil && (l.Refused.Index != i || !knownCodes[l.Refused.Code] || l.Refused.Message == "") {
					t.Fatalf("line %d refused as %+v", i, *l.Refused)
				}
			}
		}
		return
	}
	if !knownCodes[d.Rejection.Code] {
		t.Fatalf("unknown code %q", d.Rejection.Code)
	}
	if d.Rejection.Message == "" {
		t.Fatal("a rejection without a message")
	}
	if len(d.Rejection.Lines) > 0 {
		t.Fatalf("the decoder refused with lines %v; bad lines travel in the event", d.Rejection.Lines)
	}
}

var knownCodes = map[Code]bool{
	Malformed: true, UnsupportedType: true, MissingField: true, InvalidField: true,
	InvalidAmount: true, UnknownFund: true, FundExists: true, UnknownProgram: true,
	InsufficientFunds: true, SameMakerChecker: true, BeneficiaryCapExceeded: true,
	DuplicateID: true, UnknownGrant: true, ExceedsOutstanding: true, GrantClosed: true,
	UnknownPayment: true, TooLarge: true,
}

// asJSON renders an event for comparison: decimals by value, times in RFC
// 3339, caps by value rather than by pointer.
func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func date(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func mustMoney(s string) decimal.Decimal {
	d, err := ParseMoney(s)
	if err != nil {
		panic(err)
	}
	return d
}

func TestDecodeEveryTypeHappyPath(t *testing.T) {
	cap20000 := mustMoney("20000.00")
	cap15000 := mustMoney("15000")
	want := map[string]Event{
		TypeFundOpened: FundOpened{
			FundID: testFund, Name: "江津区关爱基金", Currency: "CNY",
			Programs: []Program{{Code: "care_fund", Cap: &cap20000}, {Code: "medical_aid"}, {Code: "martyr_family"}},
		},
		TypeProgramSet: ProgramSet{Program: "care_fund", Cap: &cap15000},
		TypeContributionReceived: ContributionReceived{
			ContributionID: "C-2026-001", SourceKind: "fiscal", Payer: "江津区财政局",
			Amount: mustMoney("2000000.00"), BankRef: "BOC-778812", ReceivedOn: date("2026-01-15"),
		},
		TypeAllocationApproved: AllocationApproved{AllocationID: "A-7", ToFundID: "yongchuan-care", Amount: mustMoney("300"), ApprovedBy: "officer-li"},
		TypeGrantApproved: GrantApproved{
			GrantID: "G-1", BeneficiaryRef: "B-90210", Program: "care_fund", Category: "medical",
			Amount: mustMoney("1250.00"), RequestedBy: "case-wang", ApprovedBy: "officer-li", ApprovedOn: date("2026-03-02"),
		},
		TypeGrantBatchApproved: GrantBatchApproved{
			BatchID: "BATCH-2026-03", Program: "pension_subsidy", RequestedBy: "case-wang", ApprovedBy: "officer-li",
			ApprovedOn: date("2026-03-01"),
			Lines: []BatchLine{
				{GrantID: "P-1", BeneficiaryRef: "B-1", Category: "living", Amount: mustMoney("1500.00"),
					Raw:      json.RawMessage(`{"amount":"1500.00","beneficiary_ref":"B-1","category":"living","grant_id":"P-1"}`),
					DataHash: sha256.Sum256([]byte(`{"amount":"1500.00","beneficiary_ref":"B-1","category":"living","grant_id":"P-1"}`))},
				{GrantID: "P-2", BeneficiaryRef: "B-2", Category: "living", Amount: mustMoney("0.5"),
					Raw:      json.RawMessage(`{"amount":"0.5","beneficiary_ref":"B-2","category":"living","grant_id":"P-2"}`),
					DataHash: sha256.Sum256([]byte(`{"amount":"0.5","beneficiary_ref":"B-2","category":"living","grant_id":"P-2"}`))},
			},
		},
		TypeGrantDisbursed:    GrantDisbursed{GrantID: "G-1", PaymentID: "PAY-1", Amount: mustMoney("1250.00"), BankRef: "ICBC-1", PaidOn: date("2026-03-05")},
		TypePaymentReturned:   PaymentReturned{GrantID: "G-1", PaymentID: "PAY-1", Amount: mustMoney("1250.00"), Reason: "account closed"},
		TypeGrantCancelled:    GrantCancelled{GrantID: "G-1", CancelledBy: "officer-zhao", Reason: "duplicate application"},
		TypeGrantRecovered:    GrantRecovered{GrantID: "G-1", RecoveryID: "R-1", Amount: mustMoney("100.00"), BankRef: "ICBC-2", Reason: "paid twice"},
		TypeSnapshotRequested: SnapshotRequested{RequestedBy: "auditor-chen", Label: "2026-06"},
		TypePeriodClosed:      PeriodClosed{Period: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), ClosedBy: "accountant-li", ApprovedBy: "director-wang"},
	}
	for typ, e := range bankWant() { // bank_test.go
		want[typ] = e
	}
	if len(want) != len(allTypes) || len(decoders) != len(allTypes) {
		t.Fatalf("%d expectations, %d decoders, %d types", len(want), len(decoders), len(allTypes))
	}
	for _, typ := range allTypes {
		t.Run(typ, func(t *testing.T) {
			raw := message(t, typ)
			d := Decode(subjectOf(typ), raw)
			checkInvariants(t, d)
			if d.Rejection != nil {
				t.Fatalf("refused: %v", d.Rejection)
			}
			if d.ID != "evt-1" || d.FundID != testFund || d.Type != typ {
				t.Fatalf("id %q fund %q type %q", d.ID, d.FundID, d.Type)
			}
			if got, w := asJSON(t, d.Event), asJSON(t, want[typ]); got != w {
				t.Fatalf("event\n got %s\nwant %s", got, w)
			}
			if fmt.Sprintf("%T", d.Event) != fmt.Sprintf("%T", want[typ]) {
				t.Fatalf("event is a %T, want %T", d.Event, want[typ])
			}
			if d.Envelope.Source != "approvals/jiangjin" || d.Envelope.SpecVersion != "1.0" || d.Envelope.ID != "evt-1" {
				t.Fatalf("envelope %+v", d.Envelope)
			}
			if d.DataHash != ContentHash(d.Envelope.Data) {
				t.Fatal("DataHash is not ContentHash of the data")
			}
		})
	}
}

func TestDecodeDatesAreUTCMidnight(t *testing.T) {
	d := Decode(subjectOf(TypeGrantApproved), message(t, TypeGrantApproved, data("approved_on", "2024-02-29")))
	if d.Rejection != nil {
		t.Fatal(d.Rejection)
	}
	got := d.Event.(GrantApproved).ApprovedOn
	if !got.Equal(time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)) || got.Location() != time.UTC {
		t.Fatalf("approved_on = %v", got)
	}
}

type decodeCase struct {
	name    string
	subject string // default: fund.<testFund>.<type of the message>; "-" means ""
	typ     string // type the message is built from; default grant.approved
	raw     []byte // overrides typ and edits
	edits   []edit
	code    Code   // "" means the event decodes
	id      string // expected Decoded.ID; "-" means empty
	msg     string // a substring of the message
	fund    string // expected FundID; default testFund
}

// build makes the case's subject and message.
func (c decodeCase) build(t testing.TB) (subject string, raw []byte) {
	t.Helper()
	typ := c.typ
	if typ == "" {
		typ = TypeGrantApproved
	}
	raw = c.raw
	if raw == nil {
		raw = message(t, typ, c.edits...)
	}
	subject = c.subject
	switch subject {
	case "":
		subject = subjectOf(typ)
	case "-":
		subject = ""
	}
	return subject, raw
}

// allDecodeCases are the table cases of the decode tests.
func allDecodeCases(t testing.TB) []decodeCase {
	var all []decodeCase
	for _, cs := range [][]decodeCase{jsonAndSizeCases(t), envelopeCases(t), subjectCases(), dataFieldCases(), batchCases()} {
		all = append(all, cs...)
	}
	return all
}

func runDecodeCases(t *testing.T, cases []decodeCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			subject, raw := c.build(t)
			d := Decode(subject, raw)
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
			wantFund := c.fund
			if wantFund == "" {
				wantFund = testFund
			}
			if d.FundID != wantFund {
				t.Fatalf("FundID %q, want %q", d.FundID, wantFund)
			}
		})
	}
}

func TestDecodeJSONAndSize(t *testing.T) {
	runDecodeCases(t, jsonAndSizeCases(t))
}

func jsonAndSizeCases(t testing.TB) []decodeCase {
	valid := message(t, TypeGrantApproved)
	var wide strings.Builder
	for i := range 20 {
		fmt.Fprintf(&wide, `"k%d":%d,`, i, i)
	}
	wideDup := wide.String() + `"k17":"again",`
	batch := message(t, TypeGrantBatchApproved)
	padded := append(bytes.Repeat([]byte(" "), MaxMessageBytes-len(valid)), valid...)
	return []decodeCase{
		{name: "empty", raw: []byte{}, code: Malformed, id: "-", msg: "empty"},
		{name: "whitespace", raw: []byte(" \n"), code: Malformed, id: "-"},
		{name: "not json", raw: []byte("hello"), code: Malformed, id: "-", msg: "not valid JSON"},
		{name: "array", raw: []byte(`[{"id":"evt-1"}]`), code: Malformed, id: "-", msg: "JSON array, not a JSON object"},
		{name: "string", raw: []byte(`"evt-1"`), code: Malformed, id: "-"},
		{name: "null", raw: []byte(`null`), code: Malformed, id: "-", msg: "null"},
		{name: "trailing garbage", raw: append(message(t, TypeGrantApproved), 'x'), code: Malformed, id: "-"},
		{name: "two objects", raw: append(message(t, TypeGrantApproved), message(t, TypeGrantApproved)...), code: Malformed, id: "-"},
		{name: "truncated", raw: valid[:len(valid)-3], code: Malformed, id: "-"},
		{name: "invalid utf-8", raw: bytes.Replace(valid, []byte("case-wang"), []byte("case-\xffwang"), 1), code: Malformed, id: "-", msg: "UTF-8"},
		{name: "duplicate envelope key", raw: []byte(`{"id":"evt-1","id":"evt-2"}`), code: Malformed, id: "-", msg: `key "id" appears twice`},
		{name: "duplicate data key", raw: bytes.Replace(valid, []byte(`"amount":"1250.00"`), []byte(`"amount":"1.00","amount":"1250.00"`), 1), code: Malformed, id: "-", msg: `"amount" appears twice`},
		{name: "duplicate key through an escape", raw: bytes.Replace(valid, []byte(`"amount":"1250.00"`), []byte(`"amount":"1.00","\u0061mount":"1250.00"`), 1), code: Malformed, id: "-"},
		{name: "same key in sibling objects is fine", typ: TypeGrantBatchApproved},
		{name: "wide object", raw: bytes.Replace(valid, []byte(`"amount"`), []byte(wide.String()+`"amount"`), 1)},
		{name: "duplicate key in a wide object", raw: bytes.Replace(valid, []byte(`"amount"`), []byte(wideDup+`"amount"`), 1), code: Malformed, id: "-", msg: `"k17" appears twice`},
		{name: "duplicate key in a batch line", raw: bytes.Replace(batch, []byte(`"grant_id":"P-2"`), []byte(`"grant_id":"P-2","grant_id":"P-3"`), 1), code: Malformed, id: "-"},
		{name: "duplicate key in a nested array", raw: bytes.Replace(valid, []byte(`"amount"`), []byte(`"x":[[{"a":1,"a":2}]],"amount"`), 1), code: Malformed, id: "-"},
		{name: "lone high surrogate", raw: bytes.Replace(valid, []byte("case-wang"), []byte(`case-\ud800wang`), 1), code: Malformed, id: "-", msg: "surrogate"},
		{name: "lone low surrogate", raw: bytes.Replace(valid, []byte("case-wang"), []byte(`case-\udc00`), 1), code: Malformed, id: "-"},
		{name: "reversed surrogates", raw: bytes.Replace(valid, []byte("case-wang"), []byte(`\udc00\ud800`), 1), code: Malformed, id: "-"},
		{name: "upper-case lone surrogate", raw: bytes.Replace(valid, []byte("case-wang"), []byte(`\uDBFF`), 1), code: Malformed, id: "-"},
		{name: "upper-case paired surrogates", raw: bytes.Replace(valid, []byte("case-wang"), []byte(`\uD83D\uDE00`), 1)},
		{name: "high surrogate then a plain escape", raw: bytes.Replace(valid, []byte("case-wang"), []byte(`\ud83d\u0041`), 1), code: Malformed, id: "-"},
		{name: "high surrogate at the end of a string", raw: bytes.Replace(valid, []byte("case-wang"), []byte(`x\ud83d`), 1), code: Malformed, id: "-"},
		{name: "paired surrogates are a character", raw: bytes.Replace(valid, []byte("case-wang"), []byte(`case-\ud83d\ude00`), 1)},
		{name: "one byte over the limit", raw: append(padded, ' '), code: TooLarge, msg: "8 MiB"},
		{name: "over the limit without a valid id", raw: append(bytes.Replace(padded, []byte(`"evt-1"`), []byte(`""`), 1), "        "...), code: TooLarge, id: "-"},
		{name: "over the limit beats malformed", raw: bytes.Repeat([]byte("x"), MaxMessageBytes+1), code: TooLarge, id: "-"},
		{name: "exactly the limit", raw: padded},
		{name: "malformed still has the fund", subject: "fund.city-care.grant.approved", raw: []byte("{"), code: Malformed, id: "-", fund: "city-care"},
		{name: "malformed with a bad fund token", subject: "fund.City.grant.approved", raw: []byte("{"), code: Malformed, id: "-", fund: UnknownFundID},
	}
}

func TestDecodeEnvelope(t *testing.T) {
	runDecodeCases(t, envelopeCases(t))
}

func envelopeCases(t testing.TB) []decodeCase {
	long := func(n int, s string) string { return strings.Repeat(s, n) }
	return []decodeCase{
		// id
		{name: "id missing", edits: []edit{env("id", absent)}, code: MissingField, id: "-", msg: "id is missing"},
		{name: "id null", edits: []edit{env("id", nil)}, code: MissingField, id: "-"},
		{name: "id empty", edits: []edit{env("id", "")}, code: MissingField, id: "-", msg: "id is empty"},
		{name: "id number", edits: []edit{env("id", 42)}, code: InvalidField, id: "-", msg: "id must be a string, not the JSON number 42"},
		{name: "id object", edits: []edit{env("id", map[string]any{})}, code: InvalidField, id: "-"},
		{name: "id 128 runes", edits: []edit{env("id", long(128, "号"))}, id: long(128, "号")},
		{name: "id 129 runes", edits: []edit{env("id", long(129, "a"))}, code: InvalidField, id: "-", msg: "129 characters"},
		{name: "id with a newline", edits: []edit{env("id", "evt\n1")}, code: InvalidField, id: "-", msg: "not printable"},
		{name: "id with a zero-width space", edits: []edit{env("id", "evt\u200b1")}, code: InvalidField, id: "-"},
		{name: "id with a bidi override", edits: []edit{env("id", "evt\u202e1")}, code: InvalidField, id: "-"},
		{name: "id with an ascii space", edits: []edit{env("id", "evt 1")}, id: "evt 1"},
		{name: "case matters in keys", edits: []edit{env("id", absent), env("ID", "evt-1")}, code: MissingField, id: "-"},
		// id wins over everything after it
		{name: "bad id and bad type", edits: []edit{env("id", 7), env("type", "grant.approve")}, code: InvalidField, id: "-"},
		{name: "missing id and missing data", edits: []edit{env("id", absent), env("data", absent)}, code: MissingField, id: "-", msg: "id is missing"},

		// specversion
		{name: "specversion missing", edits: []edit{env("specversion", absent)}, code: MissingField, msg: "specversion is missing"},
		{name: "specversion 0.3", edits: []edit{env("specversion", "0.3")}, code: InvalidField, msg: `specversion "0.3"`},
		{name: "specversion number", edits: []edit{env("specversion", 1.0)}, code: InvalidField},
		{name: "bad specversion beats unknown type", edits: []edit{env("specversion", "2.0"), env("type", "x")}, code: InvalidField},

		// type
		{name: "type missing", edits: []edit{env("type", absent)}, code: MissingField, msg: "type is missing"},
		{name: "type empty", edits: []edit{env("type", "")}, code: MissingField},
		{name: "type number", edits: []edit{env("type", 3)}, code: InvalidField},
		{name: "type unknown", subject: "fund.jiangjin-care.grant.approve", edits: []edit{env("type", "grant.approve")}, code: UnsupportedType, msg: `"grant.approve"`},
		{name: "type wrong case", subject: "fund.jiangjin-care.Grant.Approved", edits: []edit{env("type", "Grant.Approved")}, code: UnsupportedType},
		{name: "unknown type beats bad data", edits: []edit{env("type", "grant.rejected"), env("data", "nonsense")}, code: UnsupportedType},
		{name: "unknown type beats bad source", edits: []edit{env("type", "grant.rejected"), env("source", absent)}, code: UnsupportedType},
		{name: "unknown type beats subject mismatch", subject: "fund.jiangjin-care.grant.approved", edits: []edit{env("type", "grant.rejected")}, code: UnsupportedType},

		// source
		{name: "source missing", edits: []edit{env("source", absent)}, code: MissingField, msg: "source is missing"},
		{name: "source empty", edits: []edit{env("source", "")}, code: MissingField},
		{name: "source number", edits: []edit{env("source", 1)}, code: InvalidField},
		{name: "source 1024 chars", edits: []edit{env("source", long(1024, "s"))}},
		{name: "source 1025 chars", edits: []edit{env("source", long(1025, "s"))}, code: InvalidField, msg: "1025 characters"},
		{name: "source with a tab", edits: []edit{env("source", "a\tb")}, code: InvalidField},
		{name: "bad source beats bad time", edits: []edit{env("source", absent), env("time", "yesterday")}, code: MissingField},

		// time
		{name: "time absent", edits: []edit{env("time", absent)}},
		{name: "time null", edits: []edit{env("time", nil)}},
		{name: "time utc", edits: []edit{env("time", "2026-03-02T01:15:00Z")}},
		{name: "time lower case", edits: []edit{env("time", "2026-03-02t01:15:00z")}},
		{name: "time with a space", edits: []edit{env("time", "2026-03-02 01:15:00Z")}, code: InvalidField},
		{name: "time hour 24", edits: []edit{env("time", "2026-03-02T24:00:00Z")}, code: InvalidField},
		{name: "time fractional", edits: []edit{env("time", "2026-03-02T01:15:00.123456Z")}},
		{name: "time without zone", edits: []edit{env("time", "2026-03-02T09:15:00")}, code: InvalidField, msg: "RFC 3339"},
		{name: "time a date", edits: []edit{env("time", "2026-03-02")}, code: InvalidField},
		{name: "time a number", edits: []edit{env("time", 1772414100)}, code: InvalidField},
		{name: "bad time beats bad content type", edits: []edit{env("time", "x"), env("datacontenttype", "text/xml")}, code: InvalidField, msg: "time"},

		// datacontenttype
		{name: "content type absent", edits: []edit{env("datacontenttype", absent)}},
		{name: "content type with charset", edits: []edit{env("datacontenttype", "application/json; charset=utf-8")}},
		{name: "content type upper case", edits: []edit{env("datacontenttype", "Application/JSON")}},
		{name: "content type xml", edits: []edit{env("datacontenttype", "application/xml")}, code: InvalidField, msg: "datacontenttype"},
		{name: "content type garbage", edits: []edit{env("datacontenttype", ";;")}, code: InvalidField},
		{name: "bad content type beats subject", subject: "fund.jiangjin-care.grant.disbursed", edits: []edit{env("datacontenttype", "text/plain")}, code: InvalidField, msg: "datacontenttype"},

		// data
		{name: "data missing", edits: []edit{env("data", absent)}, code: MissingField, msg: "data is missing"},
		{name: "data null", edits: []edit{env("data", nil)}, code: MissingField},
		{name: "data array", edits: []edit{env("data", []any{})}, code: InvalidField, msg: "data must be a JSON object, not the JSON array"},
		{name: "data string", edits: []edit{env("data", "{}")}, code: InvalidField},
		{name: "data empty object", edits: []edit{env("data", map[string]any{})}, code: MissingField, msg: "data.grant_id is missing"},
		{name: "extensions and unknown fields are ignored", edits: []edit{env("traceparent", "00-abc"), data("note", map[string]any{"x": 1})}},
	}
}

func TestDecodeSubject(t *testing.T) {
	runDecodeCases(t, subjectCases())
}

func subjectCases() []decodeCase {
	return []decodeCase{
		{name: "multi-dot type", typ: TypeGrantBatchApproved, subject: "fund.jiangjin-care.grant.batch.approved"},
		{name: "three-part type", typ: TypeProgramSet, subject: "fund.jiangjin-care.fund.program.set"},
		{name: "fund with digits underscore dash", subject: "fund.0_city-care.grant.approved", fund: "0_city-care"},
		{name: "63-char fund", subject: "fund." + strings.Repeat("a", 63) + ".grant.approved", fund: strings.Repeat("a", 63)},
		{name: "64-char fund", subject: "fund." + strings.Repeat("a", 64) + ".grant.approved", code: InvalidField, fund: UnknownFundID, msg: "not a valid fund id"},
		{name: "upper-case fund", subject: "fund.Jiangjin.grant.approved", code: InvalidField, fund: UnknownFundID},
		{name: "fund starting with dash", subject: "fund.-care.grant.approved", code: InvalidField, fund: UnknownFundID},
		{name: "empty fund token", subject: "fund..grant.approved", code: InvalidField, fund: UnknownFundID},
		{name: "no type", subject: "fund.jiangjin-care", code: InvalidField},
		{name: "not a fund subject", subject: "ledger.jiangjin-care.grant.approved", code: InvalidField, fund: UnknownFundID, msg: "not of the form"},
		{name: "empty subject", subject: "-", code: InvalidField, fund: UnknownFundID},
		{name: "type differs", subject: "fund.jiangjin-care.grant.disbursed", code: InvalidField, msg: `carries the type "grant.disbursed" but the envelope's type is "grant.approved"`},
		{name: "type differs in a suffix", subject: "fund.jiangjin-care.grant.approved.x", code: InvalidField},
		{name: "subject beats missing data", subject: "fund.jiangjin-care.grant.disbursed", edits: []edit{env("data", absent)}, code: InvalidField},
		{name: "subject beats bad data", subject: "fund.Bad.grant.approved", edits: []edit{data("amount", 12)}, code: InvalidField, fund: UnknownFundID},
		{name: "bad fund token keeps the id", subject: "fund.BAD.grant.approved", code: InvalidField, id: "evt-1", fund: UnknownFundID},
	}
}

func TestDecodeDataFields(t *testing.T) {
	runDecodeCases(t, dataFieldCases())
}

func dataFieldCases() []decodeCase {
	s129 := strings.Repeat("x", 129)
	return []decodeCase{
		// shared rules, on grant.approved
		{name: "field missing", edits: []edit{data("approved_by", absent)}, code: MissingField, msg: "data.approved_by is missing"},
		{name: "field null", edits: []edit{data("approved_by", nil)}, code: MissingField},
		{name: "field empty", edits: []edit{data("approved_by", "")}, code: MissingField, msg: "data.approved_by is empty"},
		{name: "id field a number", edits: []edit{data("grant_id", 17)}, code: InvalidField, msg: "data.grant_id must be a string"},
		{name: "id field an array", edits: []edit{data("beneficiary_ref", []any{"B-1"})}, code: InvalidField},
		{name: "id field too long", edits: []edit{data("requested_by", s129)}, code: InvalidField},
		{name: "id field with a control char", edits: []edit{data("beneficiary_ref", "B\x001")}, code: InvalidField},
		{name: "text field a bool", edits: []edit{data("category", true)}, code: InvalidField},
		{name: "text field with an ideographic space", edits: []edit{data("category", "医疗\u3000救助")}},
		{name: "text field with a newline", edits: []edit{data("category", "a\nb")}, code: InvalidField},
		{name: "text field 1024 runes", edits: []edit{data("category", strings.Repeat("医", 1024))}},
		{name: "text field 1025 runes", edits: []edit{data("category", strings.Repeat("医", 1025))}, code: InvalidField},
		{name: "same maker and checker is not the decoder's business", edits: []edit{data("approved_by", "case-wang")}},
		// order of the data fields: first failure in table order wins
		{name: "grant_id before amount", edits: []edit{data("grant_id", absent), data("amount", "1.000")}, code: MissingField, msg: "grant_id"},
		{name: "amount before approved_by", edits: []edit{data("amount", "1.000"), data("approved_by", absent)}, code: InvalidAmount},
		{name: "category before amount", edits: []edit{data("category", 5), data("amount", absent)}, code: InvalidField},
		{name: "approved_by before approved_on", edits: []edit{data("approved_by", absent), data("approved_on", "x")}, code: MissingField},
		// money through Decode
		{name: "amount a number", edits: []edit{data("amount", 12)}, code: InvalidAmount, msg: `data.amount must be a string such as "1250.00", not the JSON number 12`},
		{name: "amount a float", edits: []edit{data("amount", 12.5)}, code: InvalidAmount},
		{name: "amount a bool", edits: []edit{data("amount", true)}, code: InvalidAmount},
		{name: "amount missing", edits: []edit{data("amount", absent)}, code: MissingField, msg: "data.amount is missing"},
		{name: "amount null", edits: []edit{data("amount", nil)}, code: MissingField},
		{name: "amount empty", edits: []edit{data("amount", "")}, code: MissingField},
		{name: "amount three places", edits: []edit{data("amount", "1.000")}, code: InvalidAmount, msg: `data.amount "1.000" has more than 2 decimal places`},
		{name: "amount zero", edits: []edit{data("amount", "0.00")}, code: InvalidAmount, msg: "zero"},
		// dates
		{name: "date not real", edits: []edit{data("approved_on", "2026-02-30")}, code: InvalidField, msg: `data.approved_on "2026-02-30" is not a real calendar date`},
		{name: "date not leap", edits: []edit{data("approved_on", "2025-02-29")}, code: InvalidField},
		{name: "date month 13", edits: []edit{data("approved_on", "2026-13-01")}, code: InvalidField},
		{name: "date short", edits: []edit{data("approved_on", "2026-3-2")}, code: InvalidField, msg: "YYYY-MM-DD"},
		{name: "date with time", edits: []edit{data("approved_on", "2026-03-02T00:00:00Z")}, code: InvalidField},
		{name: "date slashes", edits: []edit{data("approved_on", "2026/03/02")}, code: InvalidField},
		{name: "date number", edits: []edit{data("approved_on", 20260302)}, code: InvalidField},

		// fund.opened
		{name: "fund.opened", typ: TypeFundOpened},
		{name: "fund.opened fund_id differs", typ: TypeFundOpened, edits: []edit{data("fund_id", "other-fund")}, code: InvalidField, msg: `data.fund_id "other-fund" differs from the fund "jiangjin-care" of the subject`},
		{name: "fund.opened fund_id invalid", typ: TypeFundOpened, edits: []edit{data("fund_id", "Jiangjin Care")}, code: InvalidField, msg: "not a valid fund id"},
		{name: "fund.opened fund_id missing", typ: TypeFundOpened, edits: []edit{data("fund_id", absent)}, code: MissingField},
		{name: "fund.opened fund_id before name", typ: TypeFundOpened, edits: []edit{data("fund_id", "x"), data("name", absent)}, code: InvalidField},
		{name: "fund.opened name missing", typ: TypeFundOpened, edits: []edit{data("name", absent)}, code: MissingField, msg: "data.name"},
		{name: "fund.opened currency absent", typ: TypeFundOpened, edits: []edit{data("currency", absent)}},
		{name: "fund.opened currency empty", typ: TypeFundOpened, edits: []edit{data("currency", "")}},
		{name: "fund.opened currency lower case", typ: TypeFundOpened, edits: []edit{data("currency", "cny")}, code: InvalidField, msg: "currency"},
		{name: "fund.opened currency long", typ: TypeFundOpened, edits: []edit{data("currency", "CNYX")}, code: InvalidField},
		{name: "fund.opened currency number", typ: TypeFundOpened, edits: []edit{data("currency", 156)}, code: InvalidField},
		{name: "fund.opened currency USD", typ: TypeFundOpened, edits: []edit{data("currency", "USD")}},
		{name: "fund.opened currency of 0 places", typ: TypeFundOpened, edits: []edit{data("currency", "JPY")}, code: InvalidField, msg: "0 decimal places"},
		{name: "fund.opened currency of 3 places", typ: TypeFundOpened, edits: []edit{data("currency", "KWD")}, code: InvalidField, msg: "3 decimal places"},
		{name: "fund.opened currency without minor unit", typ: TypeFundOpened, edits: []edit{data("currency", "XAU")}, code: InvalidField, msg: "no minor unit"},
		{name: "fund.opened programs absent", typ: TypeFundOpened, edits: []edit{data("programs", absent)}},
		{name: "fund.opened programs null", typ: TypeFundOpened, edits: []edit{data("programs", nil)}},
		{name: "fund.opened programs empty", typ: TypeFundOpened, edits: []edit{data("programs", []any{})}},
		{name: "fund.opened programs an object", typ: TypeFundOpened, edits: []edit{data("programs", map[string]any{"code": "x"})}, code: InvalidField},
		{name: "fund.opened program a string", typ: TypeFundOpened, edits: []edit{data("programs", []any{"care_fund"})}, code: InvalidField, msg: "data.programs[0] must be a JSON object"},
		{name: "fund.opened program code missing", typ: TypeFundOpened, edits: []edit{data("programs", []any{map[string]any{"code": "a"}, map[string]any{"annual_cap_per_beneficiary": "1"}})}, code: MissingField, msg: "data.programs[1].code is missing"},
		{name: "fund.opened program code duplicate", typ: TypeFundOpened, edits: []edit{data("programs", []any{map[string]any{"code": "a"}, map[string]any{"code": "b"}, map[string]any{"code": "a"}})}, code: InvalidField, msg: `data.programs[2].code "a" is already used by data.programs[0]`},
		{name: "fund.opened cap bad", typ: TypeFundOpened, edits: []edit{data("programs", []any{map[string]any{"code": "a", "annual_cap_per_beneficiary": "1.000"}})}, code: InvalidAmount, msg: "data.programs[0].annual_cap_per_beneficiary"},
		{name: "fund.opened cap number", typ: TypeFundOpened, edits: []edit{data("programs", []any{map[string]any{"code": "a", "annual_cap_per_beneficiary": 100}})}, code: InvalidAmount},
		{name: "fund.opened cap zero", typ: TypeFundOpened, edits: []edit{data("programs", []any{map[string]any{"code": "a", "annual_cap_per_beneficiary": "0"}})}, code: InvalidAmount},

		// fund.program.set
		{name: "program.set cap absent", typ: TypeProgramSet, edits: []edit{data("annual_cap_per_beneficiary", absent)}},
		{name: "program.set cap null", typ: TypeProgramSet, edits: []edit{data("annual_cap_per_beneficiary", nil)}},
		{name: "program.set cap number", typ: TypeProgramSet, edits: []edit{data("annual_cap_per_beneficiary", 15000)}, code: InvalidAmount},
		{name: "program.set cap negative", typ: TypeProgramSet, edits: []edit{data("annual_cap_per_beneficiary", "-1")}, code: InvalidAmount},
		{name: "program.set program missing", typ: TypeProgramSet, edits: []edit{data("program", absent)}, code: MissingField},
		{name: "program.set program before cap", typ: TypeProgramSet, edits: []edit{data("program", absent), data("annual_cap_per_beneficiary", 1)}, code: MissingField},

		// contribution.received
		{name: "contribution donation", typ: TypeContributionReceived, edits: []edit{data("source_kind", "donation")}},
		{name: "contribution other", typ: TypeContributionReceived, edits: []edit{data("source_kind", "other")}},
		{name: "contribution source_kind unknown", typ: TypeContributionReceived, edits: []edit{data("source_kind", "gift")}, code: InvalidField, msg: `data.source_kind "gift" is not one of fiscal, donation, other`},
		{name: "contribution source_kind case", typ: TypeContributionReceived, edits: []edit{data("source_kind", "Fiscal")}, code: InvalidField},
		{name: "contribution source_kind missing", typ: TypeContributionReceived, edits: []edit{data("source_kind", absent)}, code: MissingField},
		{name: "contribution payer missing", typ: TypeContributionReceived, edits: []edit{data("payer", absent)}, code: MissingField},
		{name: "contribution bank_ref missing", typ: TypeContributionReceived, edits: []edit{data("bank_ref", absent)}, code: MissingField},
		{name: "contribution received_on bad", typ: TypeContributionReceived, edits: []edit{data("received_on", "15/01/2026")}, code: InvalidField},
		{name: "contribution id before kind", typ: TypeContributionReceived, edits: []edit{data("contribution_id", 1), data("source_kind", "gift")}, code: InvalidField, msg: "contribution_id"},
		{name: "contribution bank_ref after amount", typ: TypeContributionReceived, edits: []edit{data("bank_ref", absent), data("amount", "5.")}, code: InvalidAmount},

		// allocation.approved
		{name: "allocation to itself", typ: TypeAllocationApproved, edits: []edit{data("to_fund_id", testFund)}, code: InvalidField, msg: "this fund itself"},
		{name: "allocation to itself beats bad amount", typ: TypeAllocationApproved, edits: []edit{data("to_fund_id", testFund), data("amount", 5)}, code: InvalidField},
		{name: "allocation to an invalid fund", typ: TypeAllocationApproved, edits: []edit{data("to_fund_id", "Yongchuan")}, code: InvalidField},
		{name: "allocation to_fund_id missing", typ: TypeAllocationApproved, edits: []edit{data("to_fund_id", absent)}, code: MissingField},
		{name: "allocation approved_by missing", typ: TypeAllocationApproved, edits: []edit{data("approved_by", absent)}, code: MissingField},
		{name: "allocation amount too big", typ: TypeAllocationApproved, edits: []edit{data("amount", "1000000000000")}, code: InvalidAmount},

		// the others
		{name: "disbursed paid_on missing", typ: TypeGrantDisbursed, edits: []edit{data("paid_on", absent)}, code: MissingField},
		{name: "disbursed payment_id too long", typ: TypeGrantDisbursed, edits: []edit{data("payment_id", s129)}, code: InvalidField},
		{name: "returned reason missing", typ: TypePaymentReturned, edits: []edit{data("reason", absent)}, code: MissingField},
		{name: "returned amount exponent", typ: TypePaymentReturned, edits: []edit{data("amount", "1e3")}, code: InvalidAmount, msg: "exponent"},
		{name: "cancelled cancelled_by missing", typ: TypeGrantCancelled, edits: []edit{data("cancelled_by", absent)}, code: MissingField},
		{name: "cancelled reason empty", typ: TypeGrantCancelled, edits: []edit{data("reason", "")}, code: MissingField},
		// the optional business dates of section 3: absent, null or "" is no date; a bad one is invalid_field
		{name: "returned_on given", typ: TypePaymentReturned, edits: []edit{data("returned_on", "2026-05-31")}},
		{name: "returned_on null", typ: TypePaymentReturned, edits: []edit{data("returned_on", nil)}},
		{name: "returned_on not a date", typ: TypePaymentReturned, edits: []edit{data("returned_on", "2026-02-30")}, code: InvalidField, msg: "data.returned_on"},
		{name: "cancelled_on a number", typ: TypeGrantCancelled, edits: []edit{data("cancelled_on", 20260302)}, code: InvalidField, msg: "data.cancelled_on"},
		{name: "cancelled_on given", typ: TypeGrantCancelled, edits: []edit{data("cancelled_on", "2026-03-02")}},
		{name: "recovered_on with a time", typ: TypeGrantRecovered, edits: []edit{data("recovered_on", "2026-03-02T00:00:00Z")}, code: InvalidField, msg: "data.recovered_on"},
		{name: "recovered_on empty", typ: TypeGrantRecovered, edits: []edit{data("recovered_on", "")}},
		{name: "allocation approved_on given", typ: TypeAllocationApproved, edits: []edit{data("approved_on", "2026-03-02")}},
		{name: "allocation approved_on slashes", typ: TypeAllocationApproved, edits: []edit{data("approved_on", "2026/03/02")}, code: InvalidField, msg: "data.approved_on"},
		{name: "recovered recovery_id a number", typ: TypeGrantRecovered, edits: []edit{data("recovery_id", 9)}, code: InvalidField},
		{name: "recovered bank_ref missing", typ: TypeGrantRecovered, edits: []edit{data("bank_ref", absent)}, code: MissingField},
		{name: "snapshot label absent", typ: TypeSnapshotRequested, edits: []edit{data("label", absent)}},
		{name: "snapshot label null", typ: TypeSnapshotRequested, edits: []edit{data("label", nil)}},
		{name: "snapshot label 128", typ: TypeSnapshotRequested, edits: []edit{data("label", strings.Repeat("月", 128))}},
		{name: "snapshot label 129", typ: TypeSnapshotRequested, edits: []edit{data("label", s129)}, code: InvalidField, msg: "data.label"},
		{name: "snapshot label a number", typ: TypeSnapshotRequested, edits: []edit{data("label", 202606)}, code: InvalidField},
		{name: "snapshot requested_by missing", typ: TypeSnapshotRequested, edits: []edit{data("requested_by", absent)}, code: MissingField},
	}
}

func TestDecodeBatch(t *testing.T) {
	runDecodeCases(t, batchCases())

	// refusedLines lists the lines the decoder marked, as the rejection
	// Apply starts from.
	refusedLines := func(t *testing.T, d Decoded) []LineError {
		t.Helper()
		checkInvariants(t, d)
		if d.Rejection != nil {
			t.Fatalf("refused in the decoder: %v", d.Rejection)
		}
		var out []LineError
		for _, l := range d.Event.(GrantBatchApproved).Lines {
			if l.Refused != nil {
				out = append(out, *l.Refused)
			}
		}
		return out
	}

	t.Run("every bad line is marked", func(t *testing.T) {
		ls := lines(6)
		ls[1].(map[string]any)["amount"] = "1.000"
		delete(ls[3].(map[string]any), "beneficiary_ref")
		ls[4] = 42
		ls[5].(map[string]any)["grant_id"] = "P-0"
		d := Decode(subjectOf(TypeGrantBatchApproved), message(t, TypeGrantBatchApproved, data("lines", ls)))
		want := []LineError{
			{Index: 1, Code: InvalidAmount, Message: `data.lines[1].amount "1.000" has more than 2 decimal places`},
			{Index: 3, Code: MissingField, Message: "data.lines[3].beneficiary_ref is missing"},
			{Index: 4, Code: InvalidField, Message: "data.lines[4] must be a JSON object, not the JSON number 42"},
		}
		if got, w := fmt.Sprint(refusedLines(t, d)), fmt.Sprint(want); got != w {
			t.Fatalf("lines\n got %s\nwant %s", got, w)
		}
		b := d.Event.(GrantBatchApproved)
		if len(b.Lines) != 6 || b.Lines[5].GrantID != "P-0" || b.Lines[5].Refused != nil {
			t.Fatalf("a repeated grant_id is the books' business, not the decoder's: %+v", b.Lines[5])
		}
		if d.ID != "evt-1" {
			t.Fatalf("id %q", d.ID)
		}
	})

	t.Run("a bad line keeps a valid grant_id", func(t *testing.T) {
		ls := lines(3)
		set := func(i int, k string, v any) { ls[i].(map[string]any)[k] = v }
		set(0, "grant_id", "G")
		set(0, "amount", "5.") // bad, but takes the id
		set(1, "grant_id", 7)  // bad from its grant_id on
		set(2, "category", "")
		d := Decode(subjectOf(TypeGrantBatchApproved), message(t, TypeGrantBatchApproved, data("lines", ls)))
		var got []string
		for _, l := range refusedLines(t, d) {
			got = append(got, fmt.Sprintf("%d:%s", l.Index, l.Code))
		}
		if w := "0:invalid_amount 1:invalid_field 2:missing_field"; strings.Join(got, " ") != w {
			t.Fatalf("lines %v, want %s", got, w)
		}
		b := d.Event.(GrantBatchApproved)
		if b.Lines[0].GrantID != "G" || b.Lines[1].GrantID != "" || b.Lines[2].GrantID != "P-2" {
			t.Fatalf("grant ids %q %q %q", b.Lines[0].GrantID, b.Lines[1].GrantID, b.Lines[2].GrantID)
		}
	})

	t.Run("raw lines are kept as received", func(t *testing.T) {
		l0 := `{ "grant_id" : "P-1", "beneficiary_ref":"B-1","category":"living","amount":"1500.00", "note": [1, 2.50] }`
		l1 := `{"amount":"7","category":"living","beneficiary_ref":"B-2","grant_id":"P-2"}`
		raw := `{"specversion":"1.0","id":"evt-9","source":"s","type":"grant.batch.approved","data":{` +
			`"batch_id":"B","program":"p","requested_by":"a","approved_by":"b","approved_on":"2026-01-31",` +
			`"lines":[` + l0 + ",\n  " + l1 + `]}}`
		d := Decode(subjectOf(TypeGrantBatchApproved), []byte(raw))
		checkInvariants(t, d)
		if d.Rejection != nil {
			t.Fatal(d.Rejection)
		}
		b := d.Event.(GrantBatchApproved)
		if len(b.Lines) != 2 || string(b.Lines[0].Raw) != l0 || string(b.Lines[1].Raw) != l1 {
			t.Fatalf("raw lines %+v", b.Lines)
		}
		if !b.Lines[1].Amount.Equal(mustMoney("7")) {
			t.Fatalf("amount %v", b.Lines[1].Amount)
		}
	})
}

func batchCases() []decodeCase {
	const bt = TypeGrantBatchApproved
	return []decodeCase{
		{name: "lines missing", typ: bt, edits: []edit{data("lines", absent)}, code: MissingField, msg: "data.lines is missing"},
		{name: "lines null", typ: bt, edits: []edit{data("lines", nil)}, code: MissingField},
		{name: "lines an object", typ: bt, edits: []edit{data("lines", map[string]any{})}, code: InvalidField},
		{name: "lines empty", typ: bt, edits: []edit{data("lines", []any{})}, code: InvalidField, msg: "empty"},
		{name: "batch fields before lines", typ: bt, edits: []edit{data("approved_on", "2026-02-30"), data("lines", absent)}, code: InvalidField, msg: "approved_on"},
		{name: "batch fields before bad lines", typ: bt, edits: []edit{data("batch_id", absent), line(0, "amount", "0")}, code: MissingField, msg: "batch_id"},
		{name: "10000 lines", typ: bt, edits: []edit{data("lines", lines(MaxBatchLines))}},
		{name: "10001 lines", typ: bt, edits: []edit{data("lines", lines(MaxBatchLines+1))}, code: TooLarge, msg: "10001 lines"},
		{name: "too many lines beats bad lines", typ: bt, edits: []edit{data("lines", append(lines(MaxBatchLines), "x"))}, code: TooLarge},
	}
}

func TestDecodeDataHash(t *testing.T) {
	a := []byte(`{"specversion":"1.0","id":"e1","source":"s","type":"grant.cancelled","data":{"grant_id":"G-1","cancelled_by":"x","reason":"r"}}`)
	b := []byte(`{"data":{ "reason" : "r", "cancelled_by":"x","grant_id":"G\u002d1"},"type":"grant.cancelled","source":"s","id":"e2","specversion":"1.0"}`)
	c := []byte(`{"specversion":"1.0","id":"e3","source":"s","type":"grant.cancelled","data":{"grant_id":"G-1","cancelled_by":"y","reason":"r"}}`)
	sub := subjectOf(TypeGrantCancelled)
	da, db, dc := Decode(sub, a), Decode(sub, b), Decode(sub, c)
	for _, d := range []Decoded{da, db, dc} {
		if d.Rejection != nil {
			t.Fatal(d.Rejection)
		}
	}
	if da.DataHash != db.DataHash {
		t.Fatal("same data in another order hashes differently")
	}
	if da.DataHash == dc.DataHash {
		t.Fatal("different data hashes the same")
	}

	// Set whenever data is an object, even when the message is refused.
	noID := Decode(sub, []byte(`{"data":{"grant_id":"G-1","cancelled_by":"x","reason":"r"}}`))
	if noID.Rejection == nil || noID.Rejection.Code != MissingField || noID.DataHash != da.DataHash {
		t.Fatalf("refused message: %v, hash set %v", noID.Rejection, noID.DataHash == da.DataHash)
	}
	notObj := Decode(sub, []byte(`{"id":"e","data":[1]}`))
	if notObj.DataHash != ([32]byte{}) {
		t.Fatal("hash set for data that is not an object")
	}
}

func TestContentHash(t *testing.T) {
	h := func(s string) [32]byte { return ContentHash(json.RawMessage(s)) }
	same := [][2]string{
		{`{"a":1,"b":"x"}`, `{"b":"x","a":1}`},
		{`{"a":1,"b":"x"}`, " {\n\t\"a\" : 1 ,\r\n \"b\":\"x\" } "},
		{`{"a":"A/é"}`, `{"a":"\u0041\/\u00e9"}`},
		{`{"n":{"y":[1,{"q":null,"p":true}],"x":false}}`, `{"n":{"x":false,"y":[1,{"p":true,"q":null}]}}`},
		{`{"😀":"\ud83d\ude00"}`, `{"\ud83d\ude00":"😀"}`},
	}
	for _, p := range same {
		if h(p[0]) != h(p[1]) {
			t.Errorf("%s and %s hash differently", p[0], p[1])
		}
	}
	differ := [][2]string{
		{`{"a":1}`, `{"a":"1"}`},
		{`{"a":1}`, `{"a":1.0}`},
		{`{"a":"1250.00"}`, `{"a":"1250"}`},
		{`{"a":[1,2]}`, `{"a":[2,1]}`},
		{`{"a":null}`, `{}`},
		{`{"a":"x"}`, `{"A":"x"}`},
		{`{"a":{"b":1}}`, `{"a":"{\"b\":1}"}`},
		{`{"ab":"c"}`, `{"a":"bc"}`},
	}
	for _, p := range differ {
		if h(p[0]) == h(p[1]) {
			t.Errorf("%s and %s hash the same", p[0], p[1])
		}
	}

	// The canonical form is documented byte for byte; pin it.
	canon := []struct{ in, out string }{
		{`{"b":1e3,"a":"x\n\u0001<&>\u2028\t\"\\"}`, "{\"a\":\"x\\n\\u0001<&>\u2028\\t\\\"\\\\\",\"b\":1e3}"},
		{`[ true , false , null , -0.50 ]`, `[true,false,null,-0.50]`},
		{`{"é":1,"z":2,"Z":3}`, `{"Z":3,"z":2,"é":1}`},
		{`"\b\f\r\u001f"`, `"\b\f\r\u001f"`},
	}
	for _, c := range canon {
		if h(c.in) != sha256.Sum256([]byte(c.out)) {
			t.Errorf("canonical form of %s is not %s", c.in, c.out)
		}
	}

	// Not JSON: the hash of the bytes, still deterministic.
	for _, bad := range []string{`{"a":`, `{} {}`, `{} x`, ``} {
		if h(bad) != sha256.Sum256([]byte(bad)) {
			t.Errorf("hash of invalid %q is not of its bytes", bad)
		}
	}
}

func TestParseMoney(t *testing.T) {
	cases := []struct {
		in   string
		want string // the value, or "" when refused
		msg  string // a substring of the message when refused
	}{
		{"1250.00", "1250", ""},
		{"300", "300", ""},
		{"0.5", "0.5", ""},
		{"0.01", "0.01", ""},
		{"1.1", "1.1", ""},
		{"007.50", "7.5", ""},
		{"999999999999.99", "999999999999.99", ""},
		{"000999999999999.99", "999999999999.99", ""},
		{"1000000000000.00", "", "largest amount"},
		{"1000000000000", "", "largest amount"},
		{"1.000", "", "more than 2 decimal places"},
		{"0.001", "", "more than 2 decimal places"},
		{".5", "", "digit before the decimal point"},
		{"5.", "", "digits after the decimal point"},
		{"-1", "", "sign"},
		{"+1", "", "sign"},
		{"-0.5", "", "sign"},
		{"1e3", "", "exponent"},
		{"1E3", "", "exponent"},
		{"1.5e2", "", "exponent"},
		{"0", "", "zero"},
		{"0.00", "", "zero"},
		{"000.0", "", "zero"},
		{"", "", "empty"},
		{" 1", "", "not a plain decimal"},
		{"1 ", "", "not a plain decimal"},
		{"1,000.00", "", "not a plain decimal"},
		{"1.2.3", "", "not a plain decimal"},
		{".", "", "not a plain decimal"},
		{"１", "", "not a plain decimal"},
		{"NaN", "", "not a plain decimal"},
		{"0x10", "", "not a plain decimal"},
		{"e", "", "exponent"},
	}
	for _, c := range cases {
		got, err := ParseMoney(c.in)
		if c.want != "" {
			if err != nil {
				t.Errorf("ParseMoney(%q): %v", c.in, err)
			} else if !got.Equal(mustMoney(c.want)) {
				t.Errorf("ParseMoney(%q) = %s, want %s", c.in, got, c.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("ParseMoney(%q) = %s, want an error", c.in, got)
			continue
		}
		r, ok := err.(*Rejection)
		if !ok || r.Code != InvalidAmount {
			t.Errorf("ParseMoney(%q) error %#v is not an invalid_amount Rejection", c.in, err)
			continue
		}
		if !strings.HasPrefix(r.Message, quote(c.in)+" ") || !strings.Contains(r.Message, c.msg) {
			t.Errorf("ParseMoney(%q) message %q, want it to start with the value and contain %q", c.in, r.Message, c.msg)
		}
	}
	if got, _ := ParseMoney("1250.00"); got.StringFixed(2) != "1250.00" || !got.Equal(mustMoney("1250")) {
		t.Fatalf("1250.00 parsed as %s", got)
	}
}

func TestParseDate(t *testing.T) {
	good := map[string]time.Time{
		"2026-03-02": time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC),
		"2024-02-29": time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC),
		"2026-12-31": time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC),
	}
	for in, want := range good {
		got, err := ParseDate(in)
		if err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("ParseDate(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "2026-02-30", "2025-02-29", "2026-00-10", "2026-01-00", "2026-1-01", "26-01-01", "2026-01-01 ", "2026_01_01", "+2026-01-01", "2026-01-01T00:00:00Z", "２０２６-01-01"} {
		if _, err := ParseDate(in); err == nil {
			t.Errorf("ParseDate(%q) accepted", in)
		} else if r := err.(*Rejection); r.Code != InvalidField {
			t.Errorf("ParseDate(%q) code %q", in, r.Code)
		}
	}
}

func TestValidFundID(t *testing.T) {
	good := []string{"a", "0", "jiangjin-care", "city_fund", "a-_", strings.Repeat("z", 63)}
	bad := []string{"", "-a", "_a", "A", "jiangjin.care", "jiangjin care", "jiang*", ">", strings.Repeat("z", 64), "é", UnknownFundID}
	for _, s := range good {
		if !ValidFundID(s) {
			t.Errorf("ValidFundID(%q) = false", s)
		}
	}
	for _, s := range bad {
		if ValidFundID(s) {
			t.Errorf("ValidFundID(%q) = true", s)
		}
	}
}

func TestValidID(t *testing.T) {
	good := []string{"a", "G-2026/03 #1", "受益人-01", strings.Repeat("x", 128), strings.Repeat("号", 128), "😀"}
	bad := []string{"", strings.Repeat("x", 129), "a\tb", "a\nb", "a\x00", "a\u200bb", "a\u00a0b", "a\u3000b", "\xff", "a\u2028b", "\ufeffa"}
	for _, s := range good {
		if !ValidID(s) {
			t.Errorf("ValidID(%q) = false", s)
		}
	}
	for _, s := range bad {
		if ValidID(s) {
			t.Errorf("ValidID(%q) = true", s)
		}
	}
}

func TestQuoteCutsLongValues(t *testing.T) {
	d := Decode(subjectOf(TypeGrantApproved), message(t, TypeGrantApproved, data("amount", strings.Repeat("9", 5000))))
	if d.Rejection == nil || d.Rejection.Code != InvalidAmount || len(d.Rejection.Message) > 300 {
		t.Fatalf("rejection %v", d.Rejection)
	}
	d = Decode(subjectOf(TypeGrantApproved), message(t, TypeGrantApproved, data("amount", []any{strings.Repeat("医", 5000)})))
	if d.Rejection == nil || d.Rejection.Code != InvalidAmount || len(d.Rejection.Message) > 300 {
		t.Fatalf("rejection %v", d.Rejection)
	}
}
