package events

import (
	"crypto/sha256"
	"mime"
	"strings"
	"time"
)

// Decode parses and validates one inbound message in CloudEvents structured
// content mode (the whole message is the JSON envelope) received on
// subject; DecodeMessage takes binary content mode too. It runs the checks
// of CONTRACT.md in the contract's order and stops at the first failure,
// except that the lines of a grant.batch.approved are each checked on their
// own: a bad line does not refuse the event here but is marked
// (BatchLine.Refused), so that Apply can name it together with the lines
// the books refuse (see GrantBatchApproved):
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
// The message is read once: one pass checks the JSON and records where
// every value is, the checks read the fields from that, and the content
// hash of the data (and of each batch line) is computed from it too.
//
// Decoded.FundID is always set, even for a message that is not JSON.
// Exactly one of Decoded.Event and Decoded.Rejection is non-nil. Nothing in
// the result shares memory with raw.
func Decode(subject string, raw []byte) Decoded {
	p := getDoc()
	defer putDoc(p)
	return decodeStructured(p, subject, raw)
}

// DecodeMessage decodes an inbound message in either CloudEvents content
// mode (CONTRACT.md section 2). A message with a ce-specversion header (any
// case) is in binary mode: its attributes are the headers ce-specversion,
// ce-id, ce-source, ce-type, ce-time and ce-datacontenttype or
// Content-Type, and its body is the data alone. Any other message is in
// structured mode and is decoded as Decode does, its headers ignored.
//
// In binary mode the checks, their order, the codes, the Event and the
// DataHash are those of the same event sent structured; the differences,
// all written down in docs/design.md, follow from the attributes being
// headers:
//   - the envelope id is readable even when the body is not JSON, so
//     Decoded.ID is set whenever ce-id is a valid id, also when the body is
//     malformed or over MaxMessageBytes (one outcome per envelope id);
//   - a body that is empty (or only whitespace) is an event without data
//     (missing_field when the checks reach data); a body that is JSON but
//     not an object is invalid_field there, as a data that is not an object
//     is in structured mode; a body that is not JSON is malformed;
//   - an attribute given twice (two values, or two header names differing
//     only in case, or Content-Type and ce-datacontenttype) with different
//     values is invalid_field when its turn comes in the check order; the
//     same value twice is one value;
//   - other headers (Nats-Msg-Id, extension attributes ce-*) are ignored,
//     as unknown envelope fields are in structured mode.
func DecodeMessage(m Message) Decoded {
	p := getDoc()
	defer putDoc(p)
	if !binaryMode(m.Header) {
		return decodeStructured(p, m.Subject, m.Data)
	}
	return decodeBinary(p, m.Subject, m.Header, m.Data)
}

func decodeStructured(p *doc, subject string, raw []byte) (out Decoded) {
	subj := parseSubject(subject)
	out.FundID = subj.fundID()
	if len(raw) > MaxMessageBytes {
		out.Rejection = Reject(TooLarge, "the message is %d bytes; at most %d bytes (8 MiB) are accepted", len(raw), MaxMessageBytes)
		// Its envelope id still counts when it can be read: one outcome
		// per envelope id, ever, so a later copy of the same event is a
		// silent no-op rather than a second outcome.
		if p.messageProblem(raw) == "" {
			a := jsonAttrs(p)
			var e envChecks
			if id := e.printable(a.id, MaxIDRunes); e.rej == nil {
				out.ID = id
				out.Envelope = a.envelope(p.dataCopy(p.member(0, "data")))
				out.Type = out.Envelope.Type
			}
		}
		return out
	}
	if msg := p.messageProblem(raw); msg != "" {
		out.Rejection = &Rejection{Code: Malformed, Message: msg}
		return out
	}
	a := jsonAttrs(p)
	data := p.member(0, "data")
	out.Envelope = a.envelope(p.dataCopy(data))
	out.Type = out.Envelope.Type
	out.check(p, &a, subj, data)
	return out
}

func decodeBinary(p *doc, subject string, h map[string][]string, body []byte) (out Decoded) {
	subj := parseSubject(subject)
	out.FundID = subj.fundID()
	a := headerAttrs(h)
	var e envChecks
	id := e.printable(a.id, MaxIDRunes)
	if e.rej != nil {
		id = ""
	}
	out.Envelope = a.envelope(nil)
	out.Type = out.Envelope.Type
	if len(body) > MaxMessageBytes {
		out.Rejection = Reject(TooLarge, "the message body is %d bytes; at most %d bytes (8 MiB) are accepted", len(body), MaxMessageBytes)
		out.ID = id
		return out
	}
	data := int32(-1)
	if skipWS(body, 0) < len(body) {
		if !p.parse(body) {
			what := "not valid JSON"
			if p.ambig {
				what = "ambiguous JSON"
			}
			out.Rejection = Reject(Malformed, "the message body, which is the event's data in binary content mode, is %s: %s", what, p.err)
			out.ID = id
			return out
		}
		data = 0
		out.Envelope.Data = p.dataCopy(data)
	}
	out.check(p, &a, subj, data)
	return out
}

// check runs the checks after the JSON one: the envelope id, the other
// envelope attributes, the subject, the data fields. data is the node of
// the data value, -1 when there is none.
func (out *Decoded) check(p *doc, a *envAttrs, subj subjectParts, data int32) {
	if data >= 0 && p.nodes[data].kind == kindObject {
		p.linesArr = -1
		if l := p.member(data, "lines"); l >= 0 && p.nodes[l].kind == kindArray {
			p.linesArr = l
		}
		out.DataHash = p.hash(data)
	}
	var e envChecks
	id := e.printable(a.id, MaxIDRunes)
	if e.rej != nil {
		out.Rejection = e.rej
		return
	}
	out.ID = id
	ev := decodeEnvelope(&e, p, a, subj, data)
	if e.rej != nil {
		out.Rejection = e.rej
		return
	}
	out.Event = ev
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

// fundID is the fund of the event: the subject's fund token when it is a
// valid fund id, else UnknownFundID.
func (s subjectParts) fundID() string {
	if ValidFundID(s.fund) {
		return s.fund
	}
	return UnknownFundID
}

// attr is one envelope attribute as received, from a JSON member or from
// headers, with the name that messages call it by.
type attr struct {
	name   string
	state  attrState
	s      string   // attrString
	kind   kind     // attrOther
	raw    []byte   // attrOther: the JSON value, for the message
	values []string // attrTwice: the different values given
}

type attrState uint8

const (
	attrAbsent attrState = iota // absent or null
	attrString
	attrOther // a JSON value that is not a string
	attrTwice // headers that give different values
)

// envAttrs are the envelope attributes the ledger reads.
type envAttrs struct {
	specversion, id, source, typ, time, contentType attr
	// typeWhere names where the type came from, in a message about the
	// subject.
	typeWhere string
}

// jsonAttrs reads the attributes of a structured envelope, the object p
// holds.
func jsonAttrs(p *doc) envAttrs {
	get := func(name string) attr {
		a := attr{name: name}
		n := p.member(0, name)
		if n < 0 {
			return a
		}
		switch k := p.nodes[n].kind; k {
		case kindNull:
		case kindString:
			a.state, a.s = attrString, p.stringOf(n)
		default:
			a.state, a.kind, a.raw = attrOther, k, p.raw(n)
		}
		return a
	}
	return envAttrs{
		specversion: get("specversion"), id: get("id"), source: get("source"), typ: get("type"),
		time: get("time"), contentType: get("datacontenttype"), typeWhere: "the envelope's type",
	}
}

// envelope fills an Envelope with whatever attributes are strings, for
// the rejection record; the checks come later.
func (a *envAttrs) envelope(data []byte) Envelope {
	str := func(a attr) string {
		if a.state == attrString {
			return a.s
		}
		return ""
	}
	return Envelope{
		SpecVersion:     str(a.specversion),
		ID:              str(a.id),
		Source:          str(a.source),
		Type:            str(a.typ),
		Time:            str(a.time),
		DataContentType: str(a.contentType),
		Data:            data,
	}
}

// envChecks checks envelope attributes and records the first failure, as
// fields does for data fields.
type envChecks struct{ rej *Rejection }

func (e *envChecks) fail(code Code, format string, args ...any) {
	if e.rej == nil {
		e.rej = Reject(code, format, args...)
	}
}

// optional returns a string attribute, "" when it is absent, null or
// empty. Another JSON type, or two different values, is invalid_field.
func (e *envChecks) optional(a attr) string {
	if e.rej != nil {
		return ""
	}
	switch a.state {
	case attrOther:
		e.fail(InvalidField, "%s must be a string, not the JSON %s %s", a.name, a.kind, snippet(a.raw))
	case attrTwice:
		q := make([]string, len(a.values))
		for i, v := range a.values {
			q[i] = quote(v)
		}
		e.fail(InvalidField, "%s is given more than once, with different values: %s", a.name, strings.Join(q, ", "))
	}
	return a.s
}

// required is optional for an attribute that must be there: absent, null
// and "" are missing_field.
func (e *envChecks) required(a attr) string {
	if e.rej != nil {
		return ""
	}
	if a.state == attrAbsent {
		e.fail(MissingField, "%s is missing", a.name)
		return ""
	}
	s := e.optional(a)
	if e.rej == nil && s == "" {
		e.fail(MissingField, "%s is empty", a.name)
	}
	return s
}

// printable is a required attribute of 1 to max printable characters.
func (e *envChecks) printable(a attr, max int) string {
	s := e.required(a)
	if e.rej != nil {
		return ""
	}
	if p := idProblem(s, max); p != "" {
		e.fail(InvalidField, "%s %s %s", a.name, quote(s), p)
		return ""
	}
	return s
}

// decoder validates the data fields of one event type. fund is the
// subject's fund token, already known to be a valid fund id.
type decoder func(f *fields, fund string) Event

var decoders = map[string]decoder{
	TypeFundOpened:              decodeFundOpened,
	TypeProgramSet:              decodeProgramSet,
	TypeContributionReceived:    decodeContributionReceived,
	TypeAllocationApproved:      decodeAllocationApproved,
	TypeGrantApproved:           decodeGrantApproved,
	TypeGrantBatchApproved:      decodeGrantBatchApproved,
	TypeGrantDisbursed:          decodeGrantDisbursed,
	TypePaymentReturned:         decodePaymentReturned,
	TypeGrantCancelled:          decodeGrantCancelled,
	TypeGrantRecovered:          decodeGrantRecovered,
	TypeSnapshotRequested:       decodeSnapshotRequested,
	TypePeriodClosed:            decodePeriodClosed,
	TypeBankStatementReceived:   decodeBankStatement,
	TypeReconciliationRequested: decodeReconciliationRequested,
	TypeBankChargeRecorded:      decodeBankCharge,
}

// decodeEnvelope checks the envelope attributes after the id, the subject,
// then the data, whose node is data (-1: none).
func decodeEnvelope(e *envChecks, p *doc, a *envAttrs, subj subjectParts, data int32) Event {
	spec := e.required(a.specversion)
	if e.rej == nil && spec != "1.0" {
		e.fail(InvalidField, `%s %s is not "1.0"`, a.specversion.name, quote(spec))
	}
	typ := e.required(a.typ)
	var dec decoder
	if e.rej == nil {
		if dec = decoders[typ]; dec == nil {
			e.fail(UnsupportedType, "%s %s is not an event type this ledger accepts", a.typ.name, quote(typ))
		}
	}
	e.printable(a.source, MaxTextRunes)
	if t := e.optional(a.time); t != "" {
		// RFC 3339 allows a lower-case "t" and "z"; Go's layout does not.
		if _, err := time.Parse(time.RFC3339, strings.ToUpper(t)); err != nil {
			e.fail(InvalidField, `%s %s is not an RFC 3339 timestamp such as "2026-03-02T09:15:00+08:00"`, a.time.name, quote(t))
		}
	}
	if ct := e.optional(a.contentType); ct != "" && ct != "application/json" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			e.fail(InvalidField, `%s %s is not "application/json"`, a.contentType.name, quote(ct))
		}
	}
	if e.rej != nil {
		return nil
	}
	switch {
	case !subj.prefixed:
		e.fail(InvalidField, "subject %s is not of the form fund.<fund_id>.<type>", quote(subj.raw))
	case !ValidFundID(subj.fund):
		e.fail(InvalidField, "subject %s names the fund %s, which %s", quote(subj.raw), quote(subj.fund), fundIDRule)
	case subj.typ != typ:
		e.fail(InvalidField, "subject %s carries the type %s but %s is %s", quote(subj.raw), quote(subj.typ), a.typeWhere, quote(typ))
	}
	if e.rej != nil {
		return nil
	}
	if data < 0 || p.nodes[data].kind == kindNull {
		e.fail(MissingField, "data is missing")
		return nil
	}
	if k := p.nodes[data].kind; k != kindObject {
		e.fail(InvalidField, "data must be a JSON object, not the JSON %s %s", k, snippet(p.raw(data)))
		return nil
	}
	// The fields live in the pooled doc: dec is called through a func
	// value, so a local would escape to the heap on every message.
	p.data = fields{d: p, obj: data, path: "data.", elem: -1}
	ev := dec(&p.data, subj.fund)
	if p.data.rej != nil {
		e.rej = p.data.rej
		return nil
	}
	return ev
}

// lineHash is the content hash of element i of the array arr, taken from
// the canonical form of the data that Decode hashed; ok is false when that
// array was not the one recorded.
func (d *doc) lineHash(arr int32, i int) (h [32]byte, ok bool) {
	if arr != d.linesArr || i >= len(d.spans) {
		return h, false
	}
	s := d.spans[i]
	return sha256.Sum256(d.out[s[0]:s[1]]), true
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
		ApprovedOn:   f.optDate("approved_on"),
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
	arr := f.lookup("lines")
	if arr < 0 {
		f.fail(MissingField, "data.lines is missing")
		return nil
	}
	if k := f.d.nodes[arr].kind; k != kindArray {
		f.fail(InvalidField, "data.lines must be a JSON array of lines, not the JSON %s %s", k, snippet(f.d.raw(arr)))
		return nil
	}
	switch n := f.d.count(arr); {
	case n == 0:
		f.fail(InvalidField, "data.lines is empty; a batch needs at least one line")
		return nil
	case n > MaxBatchLines:
		f.fail(TooLarge, "data.lines has %d lines; at most %d are accepted in one batch", n, MaxBatchLines)
		return nil
	}

	lines := make([]BatchLine, f.d.count(arr))
	path := f.path + "lines"
	i := 0
	for c := arr + 1; c < f.d.nodes[arr].after; c = f.d.nodes[c].after {
		lf := f.element(path, i, c)
		// GrantID is read first, so it is kept when only a later field of
		// the line is bad: a line repeating it is still a duplicate.
		lines[i] = BatchLine{
			GrantID:        lf.id("grant_id"),
			BeneficiaryRef: lf.id("beneficiary_ref"),
			Category:       lf.text("category", MaxTextRunes),
			Amount:         lf.money("amount"),
			Raw:            f.d.rawCopy(c),
		}
		if h, ok := f.d.lineHash(arr, i); ok {
			lines[i].DataHash = h
		} else {
			lines[i].DataHash = ContentHash(lines[i].Raw)
		}
		if lf.rej != nil {
			lines[i].Refused = &LineError{Index: i, Code: lf.rej.Code, Message: lf.rej.Message}
		}
		i++
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
		GrantID:    f.id("grant_id"),
		PaymentID:  f.id("payment_id"),
		Amount:     f.money("amount"),
		Reason:     f.text("reason", MaxTextRunes),
		ReturnedOn: f.optDate("returned_on"),
	})
}

func decodeGrantCancelled(f *fields, _ string) Event {
	return f.done(GrantCancelled{
		GrantID:     f.id("grant_id"),
		CancelledBy: f.id("cancelled_by"),
		Reason:      f.text("reason", MaxTextRunes),
		CancelledOn: f.optDate("cancelled_on"),
	})
}

func decodeGrantRecovered(f *fields, _ string) Event {
	return f.done(GrantRecovered{
		GrantID:     f.id("grant_id"),
		RecoveryID:  f.id("recovery_id"),
		Amount:      f.money("amount"),
		BankRef:     f.text("bank_ref", MaxTextRunes),
		Reason:      f.text("reason", MaxTextRunes),
		RecoveredOn: f.optDate("recovered_on"),
	})
}

func decodeSnapshotRequested(f *fields, _ string) Event {
	return f.done(SnapshotRequested{
		RequestedBy: f.id("requested_by"),
		Label:       f.optText("label", MaxLabelRunes),
	})
}
