package decodev1

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// Decode parses and validates one inbound message received on subject. It
// runs the checks of CONTRACT.md in the contract's order and stops at the
// first failure, except that the lines of a grant.batch.approved are each
// checked on their own: a bad line does not refuse the event here but is
// marked (BatchLine.Refused), so that Apply can name it together with the
// lines the books refuse (see GrantBatchApproved):
//
//  1. size: more than MaxMessageBytes is too_large, whatever else is wrong
//     (Decoded.ID is set when the message is JSON with a valid envelope id);
//  2. JSON: one JSON object, valid UTF-8, no key twice in one object, no
//     unpaired surrogate escape; else malformed;
//  3. the envelope id; on success Decoded.ID is set, and it stays set when a
//     later check fails, because the caller must look the id up in its inbox
//     before it acts on the Rejection;
//  4. the other envelope fields: specversion, type, source, time,
//     datacontenttype, then the subject against the envelope, then data;
//  5. the data fields of the type, in the order of the contract's table.
//
// Decoded.FundID is always set, even for a message that is not JSON.
// Exactly one of Decoded.Event and Decoded.Rejection is non-nil.
func Decode(subject string, raw []byte) Decoded {
	var d Decoded
	subj := parseSubject(subject)
	d.FundID = UnknownFundID
	if ValidFundID(subj.fund) {
		d.FundID = subj.fund
	}
	if len(raw) > MaxMessageBytes {
		d.Rejection = Reject(TooLarge, "the message is %d bytes; at most %d bytes (8 MiB) are accepted", len(raw), MaxMessageBytes)
		// Its envelope id still counts when it can be read: one outcome
		// per envelope id, ever, so a later copy of the same event is a
		// silent no-op rather than a second outcome.
		if env, rej := parseMessage(raw); rej == nil {
			f := &fields{obj: env}
			if id := f.id("id"); f.rej == nil {
				d.ID = id
				d.Envelope = envelopeOf(env)
				d.Type = d.Envelope.Type
			}
		}
		return d
	}
	env, rej := parseMessage(raw)
	if rej != nil {
		d.Rejection = rej
		return d
	}
	d.Envelope = envelopeOf(env)
	d.Type = d.Envelope.Type
	if data := env["data"]; jsonKind(data) == "object" {
		d.DataHash = ContentHash(data)
	}

	f := &fields{obj: env}
	id := f.id("id")
	if f.rej != nil {
		d.Rejection = f.rej
		return d
	}
	d.ID = id

	ev := decodeEnvelope(f, subj)
	if f.rej != nil {
		d.Rejection = f.rej
		return d
	}
	d.Event = ev
	return d
}

// subjectParts is an inbound subject `fund.<fund_id>.<type>` taken apart.
// The type may itself contain dots (grant.batch.approved), so the fund is
// the token after "fund." and the type is all the rest.
type subjectParts struct {
	raw      string
	prefixed bool // starts with "fund."
	fund     string
	typ      string
}

func parseSubject(s string) subjectParts {
	p := subjectParts{raw: s}
	rest, ok := strings.CutPrefix(s, "fund.")
	if !ok {
		return p
	}
	p.prefixed = true
	p.fund, p.typ, _ = strings.Cut(rest, ".")
	return p
}

// envelopeOf fills an Envelope with whatever fields are strings, for the
// rejection record; the checks come later.
func envelopeOf(env object) Envelope {
	str := func(k string) string {
		s, _ := stringValue(env[k])
		return s
	}
	return Envelope{
		SpecVersion:     str("specversion"),
		ID:              str("id"),
		Source:          str("source"),
		Type:            str("type"),
		Time:            str("time"),
		DataContentType: str("datacontenttype"),
		Data:            env["data"],
	}
}

// decoder validates the data fields of one event type. fund is the
// subject's fund token, already known to be a valid fund id.
type decoder func(f *fields, fund string) Event

var decoders = map[string]decoder{
	TypeFundOpened:           decodeFundOpened,
	TypeProgramSet:           decodeProgramSet,
	TypeContributionReceived: decodeContributionReceived,
	TypeAllocationApproved:   decodeAllocationApproved,
	TypeGrantApproved:        decodeGrantApproved,
	TypeGrantBatchApproved:   decodeGrantBatchApproved,
	TypeGrantDisbursed:       decodeGrantDisbursed,
	TypePaymentReturned:      decodePaymentReturned,
	TypeGrantCancelled:       decodeGrantCancelled,
	TypeGrantRecovered:       decodeGrantRecovered,
	TypeSnapshotRequested:    decodeSnapshotRequested,
}

// decodeEnvelope checks the envelope fields after the id, then the data.
func decodeEnvelope(f *fields, subj subjectParts) Event {
	spec := f.required("specversion")
	if f.rej == nil && spec != "1.0" {
		f.fail(InvalidField, `specversion %s is not "1.0"`, quote(spec))
	}
	typ := f.required("type")
	var dec decoder
	if f.rej == nil {
		if dec = decoders[typ]; dec == nil {
			f.fail(UnsupportedType, "type %s is not an event type this ledger accepts", quote(typ))
		}
	}
	f.printable("source", MaxTextRunes)
	if t := f.optional("time"); t != "" {
		// RFC 3339 allows a lower-case "t" and "z"; Go's layout does not.
		if _, err := time.Parse(time.RFC3339, strings.ToUpper(t)); err != nil {
			f.fail(InvalidField, `time %s is not an RFC 3339 timestamp such as "2026-03-02T09:15:00+08:00"`, quote(t))
		}
	}
	if ct := f.optional("datacontenttype"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			f.fail(InvalidField, `datacontenttype %s is not "application/json"`, quote(ct))
		}
	}
	if f.rej != nil {
		return nil
	}
	switch {
	case !subj.prefixed:
		f.fail(InvalidField, "subject %s is not of the form fund.<fund_id>.<type>", quote(subj.raw))
	case !ValidFundID(subj.fund):
		f.fail(InvalidField, "subject %s names the fund %s, which %s", quote(subj.raw), quote(subj.fund), fundIDRule)
	case subj.typ != typ:
		f.fail(InvalidField, "subject %s carries the type %s but the envelope's type is %s", quote(subj.raw), quote(subj.typ), quote(typ))
	}
	if f.rej != nil {
		return nil
	}
	raw := f.lookup("data")
	if raw == nil {
		f.fail(MissingField, "data is missing")
		return nil
	}
	data := f.object("data", raw)
	if data == nil {
		return nil
	}
	ev := dec(data, subj.fund)
	if data.rej != nil {
		f.rej = data.rej
		return nil
	}
	return ev
}

// fundIDRule ends a message about a bad fund id.
const fundIDRule = `is not a valid fund id (1 to 63 characters of a-z, 0-9, "-" and "_", starting with a letter or digit)`

// The decoders build their event in a composite literal: Go evaluates the
// method calls in it left to right, which is the contract's field order, and
// every fields method does nothing once a check has failed, so the first
// failure is the one reported.

func decodeFundOpened(f *fields, fund string) Event {
	id := f.fundID("fund_id")
	if f.rej == nil && id != fund {
		f.fail(InvalidField, "data.fund_id %s differs from the fund %s of the subject", quote(id), quote(fund))
	}
	return f.done(FundOpened{
		FundID:   id,
		Name:     f.text("name", MaxTextRunes),
		Currency: f.currency("currency"),
		Programs: f.programs("programs"),
	})
}

func decodeProgramSet(f *fields, _ string) Event {
	return f.done(ProgramSet{
		Program: f.id("program"),
		Cap:     f.optMoney("annual_cap_per_beneficiary"),
	})
}

func decodeContributionReceived(f *fields, _ string) Event {
	return f.done(ContributionReceived{
		ContributionID: f.id("contribution_id"),
		SourceKind:     f.oneOf("source_kind", "fiscal", "donation", "other"),
		Payer:          f.text("payer", MaxTextRunes),
		Amount:         f.money("amount"),
		BankRef:        f.text("bank_ref", MaxTextRunes),
		ReceivedOn:     f.date("received_on"),
	})
}

func decodeAllocationApproved(f *fields, fund string) Event {
	id := f.id("allocation_id")
	to := f.fundID("to_fund_id")
	if f.rej == nil && to == fund {
		f.fail(InvalidField, "data.to_fund_id %s is this fund itself; an allocation must go to another fund", quote(to))
	}
	return f.done(AllocationApproved{
		AllocationID: id,
		ToFundID:     to,
		Amount:       f.money("amount"),
		ApprovedBy:   f.id("approved_by"),
	})
}

func decodeGrantApproved(f *fields, _ string) Event {
	return f.done(GrantApproved{
		GrantID:        f.id("grant_id"),
		BeneficiaryRef: f.id("beneficiary_ref"),
		Program:        f.id("program"),
		Category:       f.text("category", MaxTextRunes),
		Amount:         f.money("amount"),
		RequestedBy:    f.id("requested_by"),
		ApprovedBy:     f.id("approved_by"),
		ApprovedOn:     f.date("approved_on"),
	})
}

func decodeGrantBatchApproved(f *fields, _ string) Event {
	e := GrantBatchApproved{
		BatchID:     f.id("batch_id"),
		Program:     f.id("program"),
		RequestedBy: f.id("requested_by"),
		ApprovedBy:  f.id("approved_by"),
		ApprovedOn:  f.date("approved_on"),
	}
	if f.rej != nil {
		return nil
	}
	raw := f.lookup("lines")
	if raw == nil {
		f.fail(MissingField, "data.lines is missing")
		return nil
	}
	if k := jsonKind(raw); k != "array" {
		f.fail(InvalidField, "data.lines must be a JSON array of lines, not the JSON %s %s", k, snippet(raw))
		return nil
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(raw, &raws); err != nil {
		f.fail(InvalidField, "data.lines cannot be read: %s", err.Error())
		return nil
	}
	switch {
	case len(raws) == 0:
		f.fail(InvalidField, "data.lines is empty; a batch needs at least one line")
		return nil
	case len(raws) > MaxBatchLines:
		f.fail(TooLarge, "data.lines has %d lines; at most %d are accepted in one batch", len(raws), MaxBatchLines)
		return nil
	}

	lines := make([]BatchLine, len(raws))
	for i, lr := range raws {
		lf := f.element("lines", i, lr)
		// GrantID is read first, so it is kept when only a later field of
		// the line is bad: a line repeating it is still a duplicate.
		lines[i] = BatchLine{
			GrantID:        lf.id("grant_id"),
			BeneficiaryRef: lf.id("beneficiary_ref"),
			Category:       lf.text("category", MaxTextRunes),
			Amount:         lf.money("amount"),
			Raw:            lr,
		}
		if lf.rej != nil {
			lines[i].Refused = &LineError{Index: i, Code: lf.rej.Code, Message: lf.rej.Message}
		}
	}
	e.Lines = lines
	return e
}

func decodeGrantDisbursed(f *fields, _ string) Event {
	return f.done(GrantDisbursed{
		GrantID:   f.id("grant_id"),
		PaymentID: f.id("payment_id"),
		Amount:    f.money("amount"),
		BankRef:   f.text("bank_ref", MaxTextRunes),
		PaidOn:    f.date("paid_on"),
	})
}

func decodePaymentReturned(f *fields, _ string) Event {
	return f.done(PaymentReturned{
		GrantID:   f.id("grant_id"),
		PaymentID: f.id("payment_id"),
		Amount:    f.money("amount"),
		Reason:    f.text("reason", MaxTextRunes),
	})
}

func decodeGrantCancelled(f *fields, _ string) Event {
	return f.done(GrantCancelled{
		GrantID:     f.id("grant_id"),
		CancelledBy: f.id("cancelled_by"),
		Reason:      f.text("reason", MaxTextRunes),
	})
}

func decodeGrantRecovered(f *fields, _ string) Event {
	return f.done(GrantRecovered{
		GrantID:    f.id("grant_id"),
		RecoveryID: f.id("recovery_id"),
		Amount:     f.money("amount"),
		BankRef:    f.text("bank_ref", MaxTextRunes),
		Reason:     f.text("reason", MaxTextRunes),
	})
}

func decodeSnapshotRequested(f *fields, _ string) Event {
	return f.done(SnapshotRequested{
		RequestedBy: f.id("requested_by"),
		Label:       f.optText("label", MaxLabelRunes),
	})
}

// fields reads the fields of one JSON object and records the first failed
// check. Once a check has failed every method returns a zero value and
// checks nothing, so callers can chain them and look at rej once.
type fields struct {
	obj  object
	path string // prefix of field names in messages: "", "data.", "data.lines[3]."
	rej  *Rejection
}

func (f *fields) fail(code Code, format string, args ...any) {
	if f.rej == nil {
		f.rej = Reject(code, format, args...)
	}
}

// done returns e, or nil when a check failed.
func (f *fields) done(e Event) Event {
	if f.rej != nil {
		return nil
	}
	return e
}

// lookup returns the field's raw value; nil when it is absent or null,
// which the contract treats alike.
func (f *fields) lookup(name string) json.RawMessage {
	v, ok := f.obj[name]
	if !ok || jsonKind(v) == "null" {
		return nil
	}
	return v
}

// stringValue decodes a raw JSON string; ok is false when v is not one.
func stringValue(v json.RawMessage) (s string, ok bool) {
	v = bytes.TrimSpace(v)
	if jsonKind(v) != "string" {
		return "", false
	}
	// The message is valid JSON and UTF-8 by now, so a string without
	// escapes is its bytes between the quotes.
	if inner := v[1 : len(v)-1]; bytes.IndexByte(inner, '\\') < 0 {
		return string(inner), true
	}
	if err := json.Unmarshal(v, &s); err != nil {
		return "", false
	}
	return s, true
}

// optional returns a string field, "" when it is absent, null or empty.
// Another JSON type is invalid_field.
func (f *fields) optional(name string) string {
	if f.rej != nil {
		return ""
	}
	v := f.lookup(name)
	if v == nil {
		return ""
	}
	s, ok := stringValue(v)
	if !ok {
		f.fail(InvalidField, "%s%s must be a string, not the JSON %s %s", f.path, name, jsonKind(v), snippet(v))
		return ""
	}
	return s
}

// required is optional for a field that must be there: absent, null and ""
// are missing_field.
func (f *fields) required(name string) string {
	if f.rej != nil {
		return ""
	}
	if _, present := f.obj[name]; !present || jsonKind(f.obj[name]) == "null" {
		f.fail(MissingField, "%s%s is missing", f.path, name)
		return ""
	}
	s := f.optional(name)
	if f.rej == nil && s == "" {
		f.fail(MissingField, "%s%s is empty", f.path, name)
	}
	return s
}

// printable is a required string of 1 to max printable characters
// (unicode.IsPrint): ids, people, the envelope source.
func (f *fields) printable(name string, max int) string {
	s := f.required(name)
	if f.rej != nil {
		return ""
	}
	if p := idProblem(s, max); p != "" {
		f.fail(InvalidField, "%s%s %s %s", f.path, name, quote(s), p)
		return ""
	}
	return s
}

// id is a required id of CONTRACT.md section 2 (see ValidID).
func (f *fields) id(name string) string { return f.printable(name, MaxIDRunes) }

// text is required free text of at most max characters: printable, and
// Unicode spaces are allowed (see textProblem).
func (f *fields) text(name string, max int) string {
	s := f.required(name)
	if f.rej != nil {
		return ""
	}
	return f.checkText(name, s, max)
}

// optText is text that may be absent, null or empty.
func (f *fields) optText(name string, max int) string {
	s := f.optional(name)
	if f.rej != nil || s == "" {
		return ""
	}
	return f.checkText(name, s, max)
}

func (f *fields) checkText(name, s string, max int) string {
	if p := textProblem(s, max); p != "" {
		f.fail(InvalidField, "%s%s %s %s", f.path, name, quote(s), p)
		return ""
	}
	return s
}

func (f *fields) fundID(name string) string {
	s := f.required(name)
	if f.rej != nil {
		return ""
	}
	if !ValidFundID(s) {
		f.fail(InvalidField, "%s%s %s %s", f.path, name, quote(s), fundIDRule)
		return ""
	}
	return s
}

func (f *fields) oneOf(name string, allowed ...string) string {
	s := f.required(name)
	if f.rej != nil {
		return ""
	}
	for _, a := range allowed {
		if s == a {
			return s
		}
	}
	f.fail(InvalidField, "%s%s %s is not one of %s", f.path, name, quote(s), strings.Join(allowed, ", "))
	return ""
}

// currency is an optional ISO 4217-style code, "CNY" when absent.
func (f *fields) currency(name string) string {
	s := f.optional(name)
	if f.rej != nil {
		return ""
	}
	if s == "" {
		return "CNY"
	}
	if len(s) != 3 || strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		f.fail(InvalidField, "%s%s %s is not a currency code of 3 capital letters such as \"CNY\"", f.path, name, quote(s))
		return ""
	}
	if places, odd := notTwoPlaces[s]; odd {
		f.fail(InvalidField, "%s%s %s has %s (ISO 4217); this ledger keeps books only in currencies of 2 decimal places, such as \"CNY\"",
			f.path, name, quote(s), places)
		return ""
	}
	return s
}

// notTwoPlaces are the ISO 4217 codes whose minor unit is not 2 decimal
// places. The ledger writes and checks every amount with exactly two
// places (numeric(20,2) in the database, the hashed and signed bytes of
// docs/audit.md), so a fund in one of these would print "300.00" where
// the contract wants the currency's own places ("300" for JPY): such a
// fund is refused when it is opened instead.
var notTwoPlaces = map[string]string{
	"BIF": "0 decimal places", "CLP": "0 decimal places", "DJF": "0 decimal places", "GNF": "0 decimal places",
	"ISK": "0 decimal places", "JPY": "0 decimal places", "KMF": "0 decimal places", "KRW": "0 decimal places",
	"PYG": "0 decimal places", "RWF": "0 decimal places", "UGX": "0 decimal places", "UYI": "0 decimal places",
	"VND": "0 decimal places", "VUV": "0 decimal places", "XAF": "0 decimal places", "XOF": "0 decimal places",
	"XPF": "0 decimal places",
	"BHD": "3 decimal places", "IQD": "3 decimal places", "JOD": "3 decimal places", "KWD": "3 decimal places",
	"LYD": "3 decimal places", "OMR": "3 decimal places", "TND": "3 decimal places",
	"CLF": "4 decimal places", "UYW": "4 decimal places",
	"XAG": "no minor unit", "XAU": "no minor unit", "XBA": "no minor unit", "XBB": "no minor unit",
	"XBC": "no minor unit", "XBD": "no minor unit", "XDR": "no minor unit", "XPD": "no minor unit",
	"XPT": "no minor unit", "XSU": "no minor unit", "XTS": "no minor unit", "XUA": "no minor unit",
	"XXX": "no minor unit",
}

// money is a required amount (see ParseMoney). Any value that is not a
// string, a JSON number above all, is invalid_amount: the field is money,
// and the contract names numbers there as invalid_amount.
func (f *fields) money(name string) decimal.Decimal {
	if f.rej != nil {
		return decimal.Decimal{}
	}
	if f.lookup(name) == nil {
		f.fail(MissingField, "%s%s is missing", f.path, name)
		return decimal.Decimal{}
	}
	d := f.optMoney(name)
	if f.rej != nil {
		return decimal.Decimal{}
	}
	if d == nil {
		f.fail(MissingField, "%s%s is empty", f.path, name)
		return decimal.Decimal{}
	}
	return *d
}

// optMoney is an amount that may be absent, null or empty (nil).
func (f *fields) optMoney(name string) *decimal.Decimal {
	if f.rej != nil {
		return nil
	}
	v := f.lookup(name)
	if v == nil {
		return nil
	}
	s, ok := stringValue(v)
	if !ok {
		f.fail(InvalidAmount, "%s%s must be a string such as \"1250.00\", not the JSON %s %s", f.path, name, jsonKind(v), snippet(v))
		return nil
	}
	if s == "" {
		return nil
	}
	d, err := ParseMoney(s)
	if err != nil {
		f.fail(InvalidAmount, "%s%s %s", f.path, name, err.(*Rejection).Message)
		return nil
	}
	return &d
}

// date is a required date, YYYY-MM-DD, at UTC midnight.
func (f *fields) date(name string) time.Time {
	s := f.required(name)
	if f.rej != nil {
		return time.Time{}
	}
	t, err := ParseDate(s)
	if err != nil {
		f.fail(InvalidField, "%s%s %s", f.path, name, err.(*Rejection).Message)
		return time.Time{}
	}
	return t
}

// object reads the field name, whose raw value is v, as a nested object; on
// failure it records invalid_field and returns nil.
func (f *fields) object(name string, v json.RawMessage) *fields {
	if k := jsonKind(v); k != "object" {
		f.fail(InvalidField, "%s%s must be a JSON object, not the JSON %s %s", f.path, name, k, snippet(v))
		return nil
	}
	sub := &fields{path: f.path + name + "."}
	if err := json.Unmarshal(v, &sub.obj); err != nil {
		f.fail(InvalidField, "%s%s cannot be read: %s", f.path, name, err.Error())
		return nil
	}
	return sub
}

// element reads element i of the array field name as an object. A failure
// is recorded in the returned fields, not in f, so a batch can go on with
// its other lines.
func (f *fields) element(name string, i int, v json.RawMessage) *fields {
	path := fmt.Sprintf("%s%s[%d]", f.path, name, i)
	sub := &fields{path: path + "."}
	if k := jsonKind(v); k != "object" {
		sub.fail(InvalidField, "%s must be a JSON object, not the JSON %s %s", path, k, snippet(v))
		return sub
	}
	if err := json.Unmarshal(v, &sub.obj); err != nil {
		sub.fail(InvalidField, "%s cannot be read: %s", path, err.Error())
	}
	return sub
}

// programs reads fund.opened's list of programs; absent, null or [] is no
// program. A program code given twice is invalid_field.
func (f *fields) programs(name string) []Program {
	if f.rej != nil {
		return nil
	}
	v := f.lookup(name)
	if v == nil {
		return nil
	}
	if k := jsonKind(v); k != "array" {
		f.fail(InvalidField, "%s%s must be a JSON array of {code, annual_cap_per_beneficiary}, not the JSON %s %s", f.path, name, k, snippet(v))
		return nil
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(v, &raws); err != nil {
		f.fail(InvalidField, "%s%s cannot be read: %s", f.path, name, err.Error())
		return nil
	}
	out := make([]Program, 0, len(raws))
	firstUse := make(map[string]int, len(raws))
	for i, pr := range raws {
		pf := f.element(name, i, pr)
		p := Program{
			Code: pf.id("code"),
			Cap:  pf.optMoney("annual_cap_per_beneficiary"),
		}
		if pf.rej == nil {
			if j, dup := firstUse[p.Code]; dup {
				pf.fail(InvalidField, "%s%s[%d].code %s is already used by %s%s[%d]", f.path, name, i, quote(p.Code), f.path, name, j)
			}
		}
		if pf.rej != nil {
			f.rej = pf.rej
			return nil
		}
		firstUse[p.Code] = i
		out = append(out, p)
	}
	return out
}
