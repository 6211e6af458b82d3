package ledger_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fundledger/fundledger/events"
	"github.com/fundledger/fundledger/ledger"
	"github.com/shopspring/decimal"
	"pgregory.net/rapid"
)

// These tests drive the apply stage of the intake (ledger.ApplyBatch) over
// the in-memory store of memstore_test.go with messages built as a
// publisher sends them, one batch or several, and check what the contract
// says of the outcome (CONTRACT.md sections 2 to 4 and 6). The same rules
// are tested end to end, with PostgreSQL and JetStream, in service/.

const itSource = "approvals/test"

var itT0 = time.Date(2026, 3, 2, 1, 15, 0, 123456000, time.UTC)

// itSignerKey signs snapshots with a fixed Ed25519 key.
type itSignerKey struct{ priv ed25519.PrivateKey }

func (s itSignerKey) pub() ed25519.PublicKey { return s.priv.Public().(ed25519.PublicKey) }
func (s itSignerKey) KeyID() string          { return ledger.SigningKeyID(s.pub()) }
func (s itSignerKey) Sign(msg []byte) []byte { return ed25519.Sign(s.priv, msg) }
func newItSigner(seed byte) itSignerKey {
	return itSignerKey{ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32))}
}
func (s itSignerKey) verify(b, sig []byte) bool { return ed25519.Verify(s.pub(), b, sig) }

// Messages as publishers build them.

// itData is an event's data object.
type itData map[string]any

// with is a copy of d with fields set; a nil value removes the field.
func (d itData) with(kv ...any) itData {
	out := itData{}
	for k, v := range d {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

func itJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// itEnvelope is an event in CloudEvents structured mode.
func itEnvelope(id, typ string, data any) []byte {
	return itJSON(map[string]any{"specversion": "1.0", "id": id, "source": itSource, "type": typ,
		"time": "2026-03-02T09:15:00+08:00", "datacontenttype": "application/json", "data": data})
}

// itEvent is an event on fund.<fund>.<typ> in structured mode.
func itEvent(fund, typ, id string, data any) events.Message {
	return events.Message{Subject: events.InboundSubject(fund, typ), Data: itEnvelope(id, typ, data)}
}

// itBinary is the same event in binary mode, as the CloudEvents NATS
// binding sends it: attributes in headers, data alone in the body.
func itBinary(fund, typ, id string, data any) events.Message {
	return events.Message{Subject: events.InboundSubject(fund, typ), Data: itJSON(data), Header: map[string][]string{
		"ce-specversion": {"1.0"}, "ce-id": {id}, "ce-source": {itSource}, "ce-type": {typ},
		"ce-time": {"2026-03-02T09:15:00+08:00"}, "Content-Type": {"application/json"}, "Nats-Msg-Id": {id}}}
}

func itRaw(subject, raw string) events.Message {
	return events.Message{Subject: subject, Data: []byte(raw)}
}

func itOpenData(fund string) itData {
	return itData{"fund_id": fund, "name": "Care fund " + fund, "currency": "CNY", "programs": []any{
		map[string]any{"code": "care_fund", "annual_cap_per_beneficiary": "5000.00"}, map[string]any{"code": "pension_subsidy"}}}
}

func itOpen(fund string) events.Message {
	return itEvent(fund, "fund.opened", "open-"+fund, itOpenData(fund))
}

func itContribData(cid, amount string) itData {
	return itData{"contribution_id": cid, "source_kind": "fiscal", "payer": "District finance bureau", "amount": amount,
		"bank_ref": "BR-" + cid, "received_on": "2026-01-05"}
}

func itContrib(fund, id, cid, amount string) events.Message {
	return itEvent(fund, "contribution.received", id, itContribData(cid, amount))
}

func itGrantData(gid, ben, amount, on string) itData {
	return itData{"grant_id": gid, "beneficiary_ref": ben, "program": "care_fund", "category": "medical", "amount": amount,
		"requested_by": "caseworker-1", "approved_by": "officer-7", "approved_on": on}
}

func itGrant(fund, id, gid, ben, amount, on string) events.Message {
	return itEvent(fund, "grant.approved", id, itGrantData(gid, ben, amount, on))
}

func itDisbData(gid, pid, amount string) itData {
	return itData{"grant_id": gid, "payment_id": pid, "amount": amount, "bank_ref": "BANK-" + pid, "paid_on": "2026-03-05"}
}

func itDisb(fund, id, gid, pid, amount string) events.Message {
	return itEvent(fund, "grant.disbursed", id, itDisbData(gid, pid, amount))
}

func itRetData(gid, pid, amount string) itData {
	return itData{"grant_id": gid, "payment_id": pid, "amount": amount, "reason": "account closed"}
}

func itRet(fund, id, gid, pid, amount string) events.Message {
	return itEvent(fund, "payment.returned", id, itRetData(gid, pid, amount))
}

func itCancel(fund, id, gid string) events.Message {
	return itEvent(fund, "grant.cancelled", id, itData{"grant_id": gid, "cancelled_by": "officer-2", "reason": "moved away"})
}

func itRecovData(gid, rid, amount string) itData {
	return itData{"grant_id": gid, "recovery_id": rid, "amount": amount, "bank_ref": "BR-" + rid, "reason": "overpaid"}
}

func itRecov(fund, id, gid, rid, amount string) events.Message {
	return itEvent(fund, "grant.recovered", id, itRecovData(gid, rid, amount))
}

func itAllocData(aid, to, amount string) itData {
	return itData{"allocation_id": aid, "to_fund_id": to, "amount": amount, "approved_by": "director"}
}

func itAlloc(fund, id, aid, to, amount string) events.Message {
	return itEvent(fund, "allocation.approved", id, itAllocData(aid, to, amount))
}

func itLine(gid, ben, amount string) itData {
	return itData{"grant_id": gid, "beneficiary_ref": ben, "category": "living", "amount": amount}
}

func itBatchData(bid, program, requester string, lines ...itData) itData {
	ls := make([]any, len(lines))
	for i, l := range lines {
		ls[i] = l
	}
	return itData{"batch_id": bid, "program": program, "requested_by": requester, "approved_by": "b",
		"approved_on": "2026-02-01", "lines": ls}
}

func itBatch(fund, id, bid string, lines ...itData) events.Message {
	return itEvent(fund, "grant.batch.approved", id, itBatchData(bid, "care_fund", "a", lines...))
}

func itManyLines(n int) []itData {
	lines := make([]itData, n)
	for i := range lines {
		lines[i] = itLine(fmt.Sprintf("line-%05d", i), fmt.Sprintf("hh-%05d", i), "1.00")
	}
	return lines
}

func itProgramSet(fund, id, program string, capv any) events.Message {
	return itEvent(fund, "fund.program.set", id, itData{"program": program, "annual_cap_per_beneficiary": capv})
}

func itSnapReq(fund, id, label string) events.Message {
	return itEvent(fund, "snapshot.requested", id, itData{"requested_by": "auditor", "label": label})
}

// The ledger under test.

// itLedger is the apply stage over a memStore, with a stream sequence and
// a clock of its own.
type itLedger struct {
	t   itTB
	st  *memStore
	set ledger.IntakeSettings
	now time.Time
	seq uint64 // last stream sequence handed out
}

// itTB is what the ledger needs of *testing.T and *rapid.T.
type itTB interface {
	Helper()
	Fatalf(format string, args ...any)
}

var itKey = newItSigner(9)

func newItLedger(t itTB, window time.Duration) *itLedger {
	return &itLedger{t: t, st: newMemStore(), now: itT0, set: ledger.IntakeSettings{HoldWindow: window, Signer: itKey}}
}

// batch applies msgs as one batch at the ledger's clock, giving each the
// next stream sequence, and checks the books' invariants after it.
func (l *itLedger) batch(msgs ...events.Message) *ledger.BatchOutput {
	l.t.Helper()
	return l.apply(false, msgs...)
}

// timer is batch with the SNAPSHOT_INTERVAL timer firing.
func (l *itLedger) timer(msgs ...events.Message) *ledger.BatchOutput {
	l.t.Helper()
	return l.apply(true, msgs...)
}

func (l *itLedger) apply(snapshotAll bool, msgs ...events.Message) *ledger.BatchOutput {
	l.t.Helper()
	msgs = slices.Clone(msgs)
	for i := range msgs {
		l.seq++
		msgs[i].StreamSeq = l.seq
	}
	out, err := l.st.apply(ledger.DecodeAll(msgs), l.now, l.set, snapshotAll)
	if err != nil {
		l.t.Fatalf("batch of %d messages: %v", len(msgs), err)
	}
	if err := l.st.invariants(); err != nil {
		l.t.Fatalf("after a batch of %d messages: %v", len(msgs), err)
	}
	return out
}

// each applies every message as a batch of its own.
func (l *itLedger) each(msgs ...events.Message) {
	l.t.Helper()
	for _, m := range msgs {
		l.batch(m)
	}
}

// later moves the clock on by d and applies an empty batch, which refuses
// the held events whose window has passed.
func (l *itLedger) later(d time.Duration) *ledger.BatchOutput {
	l.t.Helper()
	l.now = l.now.Add(d)
	return l.batch()
}

// invariants are what must hold of the stored books after every batch:
// each fund's journal is a gapless hash chain of balanced transactions,
// the kept balances are the sums of its postings, and neither cash nor
// available is negative.
func (s *memStore) invariants() error {
	sums := map[msAccount]*msBalance{}
	for id, f := range s.funds {
		prev := ledger.GenesisHash
		txns := s.txns(id)
		for i, t := range txns {
			if t.Seq != int64(i+1) || !bytes.Equal(t.PrevHash, prev) || !bytes.Equal(t.Hash, ledger.HashTxn(t)) {
				return fmt.Errorf("fund %s: chain broken at transaction %d (seq %d)", id, i+1, t.Seq)
			}
			prev = t.Hash
			for _, p := range t.Postings {
				k := msAccount{id, p.Account}
				b := sums[k]
				if b == nil {
					b = &msBalance{}
					sums[k] = b
				}
				if p.Side == ledger.Debit {
					b.debits = b.debits.Add(p.Amount)
				} else {
					b.credits = b.credits.Add(p.Amount)
				}
			}
		}
		if f.headSeq != int64(len(txns)) || (len(txns) > 0 && !bytes.Equal(f.headHash, prev)) {
			return fmt.Errorf("fund %s: head %d, journal %d", id, f.headSeq, len(txns))
		}
		cash := decimal.RequireFromString(s.balance(id, ledger.AccountCash))
		avail := cash.Sub(decimal.RequireFromString(s.balance(id, ledger.AccountGrantsPayable)))
		if cash.IsNegative() || avail.IsNegative() {
			return fmt.Errorf("fund %s: cash %s, available %s", id, cash, avail)
		}
	}
	for k, b := range s.balances {
		want := sums[k]
		if want == nil {
			want = &msBalance{}
		}
		if !b.debits.Equal(want.debits) || !b.credits.Equal(want.credits) {
			return fmt.Errorf("%s %s: kept %s/%s, journal %s/%s", k.fund, k.account, b.debits, b.credits, want.debits, want.credits)
		}
	}
	if len(sums) != len(s.balances) {
		return fmt.Errorf("%d accounts in the journal, %d kept", len(sums), len(s.balances))
	}
	return nil
}

// fingerprint is every stored balance and journal head, to see that a
// refused event changed nothing.
func (s *memStore) fingerprint() string {
	var lines []string
	for k, b := range s.balances {
		lines = append(lines, fmt.Sprintf("%s %s %s %s", k.fund, k.account, b.debits.StringFixed(2), b.credits.StringFixed(2)))
	}
	for id, f := range s.funds {
		lines = append(lines, fmt.Sprintf("%s head %d %x", id, f.headSeq, f.headHash))
	}
	for k, g := range s.grants {
		lines = append(lines, fmt.Sprintf("%v %s %s %s %s %v", k, g.Paid, g.Returned, g.Cancelled, g.Recovered, g.Closed))
	}
	for k, u := range s.caps {
		if !u.IsZero() { // a row at zero is no usage, as no row is
			lines = append(lines, fmt.Sprintf("%v %s", k, u.StringFixed(2)))
		}
	}
	lines = append(lines, fmt.Sprintf("biz %d payments %d", len(s.biz), len(s.payments)))
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// journalIDs is a fund's journal as the event ids of its transactions.
func (s *memStore) journalIDs(fund string) string {
	var ids []string
	for _, t := range s.txns(fund) {
		ids = append(ids, t.EventID)
	}
	return strings.Join(ids, ",")
}

// rejectionAt is the stored rejection of the message at stream seq.
func (s *memStore) rejectionAt(seq uint64) []*ledger.RejectionRecord {
	var out []*ledger.RejectionRecord
	for _, r := range s.rejections {
		if r.rec.StreamSeq == seq {
			out = append(out, r.rec)
		}
	}
	return out
}

func lineCodes(r *ledger.RejectionRecord) string {
	var got []string
	for _, le := range r.Rejection.Lines {
		got = append(got, fmt.Sprintf("%d:%s", le.Index, le.Code))
	}
	return strings.Join(got, " ")
}

// itBase is the books most cases start from: fund f (care_fund capped at
// 5000.00 a beneficiary a year, pension_subsidy uncapped) with cash
// 4800.00 and grants payable 800.00, so 4000.00 available; grant g-1
// (ben-1, 1000.00, 200.00 of it paid as p-1); grant g-closed cancelled;
// fund north, empty.
func itBase(l *itLedger) {
	l.t.Helper()
	l.batch(itOpen("f"), itOpen("north"), itContrib("f", "e-c1", "c-1", "5000.00"),
		itGrant("f", "e-g1", "g-1", "ben-1", "1000.00", "2026-02-01"), itDisb("f", "e-p1", "g-1", "p-1", "200.00"),
		itGrant("f", "e-gc", "g-closed", "ben-2", "100.00", "2026-02-01"), itCancel("f", "e-cancel", "g-closed"),
		itAlloc("f", "e-a1", "a-1", "north", "0.01"))
	if r := l.st.rejections; len(r) != 0 {
		l.t.Fatalf("base refused %s: %s", r[0].rec.EventID, r[0].rec.Rejection)
	}
	if got := l.st.balance("f", "cash"); got != "4799.99" {
		l.t.Fatalf("base cash %s", got)
	}
}

// itAllCodes are the codes of CONTRACT.md section 4 that the apply stage
// gives (the others belong to bank statements and period closes).
var itAllCodes = []events.Code{events.Malformed, events.UnsupportedType, events.MissingField, events.InvalidField,
	events.InvalidAmount, events.UnknownFund, events.FundExists, events.UnknownProgram, events.InsufficientFunds,
	events.SameMakerChecker, events.BeneficiaryCapExceeded, events.DuplicateID, events.UnknownGrant,
	events.ExceedsOutstanding, events.GrantClosed, events.UnknownPayment, events.TooLarge}

const itWindow = time.Minute

// TestIntakeRejectionCodes drives each refusal the apply stage makes, one
// case at a time over fresh base books: its code, fund, type and message;
// one stored rejection, one outbox message under its Nats-Msg-Id, the
// inbox outcome, and books that did not move.
func TestIntakeRejectionCodes(t *testing.T) {
	grantData := func(kv ...any) itData {
		return itGrantData("g-new", "ben-9", "10.00", "2026-02-02").with(kv...)
	}
	grant := func(kv ...any) events.Message { return itEvent("f", "grant.approved", "e-case", grantData(kv...)) }
	bigLabel := strings.Repeat("x", events.MaxMessageBytes)
	cases := []struct {
		name  string
		msg   events.Message
		code  events.Code
		fund  string // of the rejection; "f" when empty
		typ   string // of the rejection; the subject's when empty
		inMsg string
		held  bool // refused when the hold window has passed
	}{
		{name: "not JSON", msg: itRaw("fund.f.grant.approved", `{"specversion": "1.0", "id": `), code: events.Malformed},
		{name: "not UTF-8", msg: itRaw("fund.f.grant.approved", "\xff\xfe{}"), code: events.Malformed},
		{name: "a key twice", msg: itRaw("fund.f.grant.approved", `{"id":"e-case","id":"e-other"}`), code: events.Malformed},
		{name: "unsupported type", msg: itEvent("f", "grant.teleported", "e-case", itData{}), code: events.UnsupportedType, inMsg: `"grant.teleported"`},
		{name: "missing field", msg: grant("beneficiary_ref", nil), code: events.MissingField, inMsg: "data.beneficiary_ref is missing"},
		{name: "empty string is missing", msg: grant("approved_by", ""), code: events.MissingField, inMsg: "data.approved_by is empty"},
		{name: "no data", msg: itRaw("fund.f.grant.approved", `{"specversion":"1.0","id":"e-case","source":"s","type":"grant.approved"}`), code: events.MissingField},
		{name: "no envelope id", msg: itRaw("fund.f.grant.approved", `{"specversion":"1.0","source":"s","type":"grant.approved","data":{}}`), code: events.MissingField},
		{name: "bad date", msg: grant("approved_on", "2026-02-30"), code: events.InvalidField},
		{name: "subject type differs", msg: events.Message{Subject: "fund.f.grant.disbursed", Data: itEnvelope("e-case", "grant.approved", grantData())},
			code: events.InvalidField, typ: "grant.approved"},
		{name: "subject fund not a fund id", msg: events.Message{Subject: "fund.F!.grant.approved", Data: itEnvelope("e-case", "grant.approved", grantData())},
			code: events.InvalidField, fund: events.UnknownFundID},
		{name: "fund.opened for another fund", msg: itEvent("f", "fund.opened", "e-case", itOpenData("other")), code: events.InvalidField},
		{name: "source kind", msg: itEvent("f", "contribution.received", "e-case", itContribData("c-9", "1.00").with("source_kind", "gift")), code: events.InvalidField},
		{name: "allocation to itself", msg: itAlloc("f", "e-case", "a-9", "f", "1.00"), code: events.InvalidField},
		{name: "amount a number", msg: grant("amount", 10), code: events.InvalidAmount},
		{name: "three places", msg: grant("amount", "1.000"), code: events.InvalidAmount},
		{name: "exponent", msg: grant("amount", "1e3"), code: events.InvalidAmount},
		{name: "sign", msg: grant("amount", "-1.00"), code: events.InvalidAmount},
		{name: "leading point", msg: grant("amount", ".5"), code: events.InvalidAmount},
		{name: "trailing point", msg: grant("amount", "5."), code: events.InvalidAmount},
		{name: "zero", msg: grant("amount", "0.00"), code: events.InvalidAmount},
		{name: "too much", msg: grant("amount", "1000000000000.00"), code: events.InvalidAmount},
		{name: "unknown fund", msg: itEvent("nowhere", "grant.approved", "e-case", grantData()), code: events.UnknownFund, fund: "nowhere", inMsg: `fund "nowhere" is not open`},
		{name: "allocation to an unknown fund", msg: itAlloc("f", "e-case", "a-9", "ghost", "1.00"), code: events.UnknownFund, inMsg: `"ghost"`},
		{name: "fund exists", msg: itEvent("f", "fund.opened", "e-case", itOpenData("f").with("name", "again")), code: events.FundExists, inMsg: "open-f"},
		{name: "unknown program", msg: grant("program", "space_program"), code: events.UnknownProgram, inMsg: `"space_program"`},
		{name: "same maker and checker", msg: grant("approved_by", "caseworker-1"), code: events.SameMakerChecker},
		{name: "cap", msg: grant("beneficiary_ref", "ben-1", "amount", "4000.01"), code: events.BeneficiaryCapExceeded,
			inMsg: `beneficiary "ben-1" has 1000.00 approved in program "care_fund" in 2026; 4000.01 more would pass the cap of 5000.00`},
		{name: "available", msg: grant("program", "pension_subsidy", "amount", "999999.00"), code: events.InsufficientFunds, inMsg: "available 3999.99 < amount 999999.00"},
		{name: "allocation short", msg: itAlloc("f", "e-case", "a-9", "north", "4000.00"), code: events.InsufficientFunds, inMsg: "available 3999.99 < amount 4000.00"},
		{name: "grant id taken", msg: grant("grant_id", "g-1"), code: events.DuplicateID, inMsg: `grant_id "g-1" was already used by event e-g1`},
		{name: "contribution id taken", msg: itContrib("f", "e-case", "c-1", "5000.01"), code: events.DuplicateID},
		{name: "payment id taken", msg: itDisb("f", "e-case", "g-1", "p-1", "1.00"), code: events.DuplicateID},
		{name: "allocation id taken", msg: itAlloc("f", "e-case", "a-1", "north", "0.02"), code: events.DuplicateID},
		{name: "batch line takes a grant id", msg: itBatch("f", "e-case", "m-1", itLine("b-0", "ben-7", "1.00"), itLine("g-1", "ben-8", "1.00")),
			code: events.DuplicateID, inMsg: "line 1"},
		{name: "pay more than outstanding", msg: itDisb("f", "e-case", "g-1", "p-2", "800.01"), code: events.ExceedsOutstanding,
			inMsg: `amount 800.01 > outstanding 800.00 on grant "g-1"`},
		{name: "return more than paid", msg: itRet("f", "e-case", "g-1", "p-1", "200.01"), code: events.ExceedsOutstanding},
		{name: "recover more than paid", msg: itRecov("f", "e-case", "g-1", "r-1", "200.01"), code: events.ExceedsOutstanding},
		{name: "pay a cancelled grant", msg: itDisb("f", "e-case", "g-closed", "p-9", "1.00"), code: events.GrantClosed, inMsg: `grant "g-closed" is cancelled`},
		{name: "return on a cancelled grant", msg: itRet("f", "e-case", "g-closed", "p-9", "1.00"), code: events.GrantClosed},
		{name: "second cancellation", msg: itCancel("f", "e-case", "g-closed"), code: events.GrantClosed},
		{name: "grant never approved", msg: itDisb("f", "e-case", "g-never", "p-8", "1.00"), code: events.UnknownGrant, held: true,
			inMsg: "still unknown after the hold window of 1m0s"},
		{name: "return of a grant never approved", msg: itRet("f", "e-case", "g-never", "p-8", "1.00"), code: events.UnknownGrant, held: true},
		{name: "cancellation of a grant never approved", msg: itCancel("f", "e-case", "g-never"), code: events.UnknownGrant, held: true},
		{name: "recovery of a grant never approved", msg: itRecov("f", "e-case", "g-never", "r-8", "1.00"), code: events.UnknownGrant, held: true},
		{name: "payment never made", msg: itRet("f", "e-case", "g-1", "p-never", "1.00"), code: events.UnknownPayment, held: true},
		{name: "too many lines", msg: itEvent("f", "grant.batch.approved", "e-case", itBatchData("big", "care_fund", "a", itManyLines(events.MaxBatchLines+1)...)),
			code: events.TooLarge},
		{name: "over 8 MiB", msg: itSnapReq("f", "e-case", bigLabel), code: events.TooLarge},
	}
	covered := map[events.Code]bool{}
	for _, c := range cases {
		covered[c.code] = true
		t.Run(c.name, func(t *testing.T) {
			l := newItLedger(t, itWindow)
			itBase(l)
			before, journal, outbox := l.st.fingerprint(), len(l.st.journal), len(l.st.outbox)
			out := l.batch(c.msg)
			seq := l.seq
			d := events.DecodeMessage(c.msg)
			if c.held {
				if len(out.Rejections) != 0 || l.st.outcome(d.ID) != ledger.OutcomeHeld {
					t.Fatalf("outcome %s, rejections %d: want held", l.st.outcome(d.ID), len(out.Rejections))
				}
				l.later(itWindow)
			} else if out.Result.Rejects[c.code] != 1 || out.Result.Rejected != 1 {
				t.Errorf("batch result %+v, want one %s", out.Result, c.code)
			}
			rs := l.st.rejectionAt(seq)
			if len(rs) != 1 {
				t.Fatalf("%d rejections (outcome %s), want 1", len(rs), l.st.outcome(d.ID))
			}
			r := rs[0]
			fund, typ := c.fund, c.typ
			if fund == "" {
				fund = "f"
			}
			if typ == "" {
				typ = events.SubjectType(c.msg.Subject)
			}
			if r.Rejection.Code != c.code || r.FundID != fund || r.Type != typ || r.EventID != d.ID {
				t.Errorf("rejection %s (%s) fund %s type %s event %q; want %s fund %s type %s event %q",
					r.Rejection.Code, r.Rejection.Message, r.FundID, r.Type, r.EventID, c.code, fund, typ, d.ID)
			}
			if !strings.Contains(r.Rejection.Message, c.inMsg) {
				t.Errorf("message %q lacks %q", r.Rejection.Message, c.inMsg)
			}
			if !bytes.Equal(r.Raw, c.msg.Data) || !r.ReceivedAt.Equal(itT0) {
				t.Errorf("rejection keeps %d raw bytes of %d, received %s", len(r.Raw), len(c.msg.Data), r.ReceivedAt)
			}
			if d.ID != "" {
				if o := l.st.outcome(d.ID); o != ledger.OutcomeRejected {
					t.Errorf("inbox outcome %s, want rejected", o)
				}
			}
			if got := l.st.fingerprint(); got != before || len(l.st.journal) != journal {
				t.Errorf("a refused event changed the books:\n%s\n---\n%s", before, got)
			}
			var published []ledger.Outbound
			for _, o := range l.st.outbox[outbox:] {
				if strings.HasSuffix(o.Subject, ".rejected") {
					published = append(published, o)
				}
			}
			if len(published) != 1 || published[0].Subject != events.RejectedSubject(fund) ||
				published[0].MsgID != events.RejectedMsgID(d.ID, seq) {
				t.Fatalf("published %+v, want one on %s as %s", published, events.RejectedSubject(fund), events.RejectedMsgID(d.ID, seq))
			}
			var v events.RejectionView
			if err := json.Unmarshal(published[0].Payload, &v); err != nil || v.Code != c.code || v.EventID != d.ID || v.FundID != fund {
				t.Errorf("payload %s (%v)", published[0].Payload[:min(200, len(published[0].Payload))], err)
			}
		})
	}
	for _, c := range itAllCodes {
		if !covered[c] {
			t.Errorf("no case for code %s", c)
		}
	}
}

// TestIntakeCheckOrder: an event that fails several checks is refused with
// the first in the contract's order (CONTRACT.md section 3, "Details that
// matter at the edges"); an envelope id seen before is a silent no-op
// whatever else is wrong with the message.
func TestIntakeCheckOrder(t *testing.T) {
	grantData := func(kv ...any) itData {
		return itGrantData("g-new", "ben-9", "10.00", "2026-02-02").with(kv...)
	}
	env := func(kv ...any) map[string]any {
		e := map[string]any{"specversion": "1.0", "id": "e-case", "source": itSource, "type": "grant.approved", "data": grantData()}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(e, kv[i].(string))
			} else {
				e[kv[i].(string)] = kv[i+1]
			}
		}
		return e
	}
	msg := func(subject string, e map[string]any) events.Message {
		return events.Message{Subject: subject, Data: itJSON(e)}
	}
	const subj = "fund.f.grant.approved"
	cases := []struct {
		name    string
		msg     events.Message
		code    events.Code // "" means a silent no-op
		outcome string      // inbox outcome of e-case (or of the id seen) after it
		inMsg   string
	}{
		{"JSON before the id", itRaw("fund.nowhere.x", `{"id": 5, "type": "nope", `), events.Malformed, "", ""},
		{"the id before the other envelope fields", msg(subj, env("id", nil, "type", "nope", "specversion", "0.3")), events.MissingField, "", "id"},
		{"an id that is not a string", msg(subj, env("id", 7, "type", "nope")), events.InvalidField, "", "id"},
		{"seen id before the other envelope fields", msg(subj, env("id", "e-g1", "type", "nope")), "", ledger.OutcomePosted, ""},
		{"seen id before the data fields", msg(subj, env("id", "e-g1", "data", grantData("amount", "1.000"))), "", ledger.OutcomePosted, ""},
		{"seen id of a refused event", msg(subj, env("id", "e-refused")), "", ledger.OutcomeRejected, ""},
		{"seen id of a held event", msg(subj, env("id", "e-held")), "", ledger.OutcomeHeld, ""},
		{"seen id before a subject that differs", msg("fund.north.contribution.received", env("id", "e-g1")), "", ledger.OutcomePosted, ""},
		{"specversion before type", msg(subj, env("specversion", "0.3", "type", "nope")), events.InvalidField, ledger.OutcomeRejected, "specversion"},
		{"type before source", msg(subj, env("type", "nope", "source", nil)), events.UnsupportedType, ledger.OutcomeRejected, ""},
		{"source before time", msg(subj, env("source", nil, "time", "yesterday")), events.MissingField, ledger.OutcomeRejected, "source"},
		{"time before content type", msg(subj, env("time", "yesterday", "datacontenttype", "text/xml")), events.InvalidField, ledger.OutcomeRejected, "time"},
		{"envelope before the subject", msg("fund.f.grant.disbursed", env("datacontenttype", "text/xml")), events.InvalidField, ledger.OutcomeRejected, "text/xml"},
		{"subject before data", msg("fund.f.grant.disbursed", env("data", nil)), events.InvalidField, ledger.OutcomeRejected, "subject"},
		{"data fields in the table's order", msg(subj, env("data", grantData("program", nil, "amount", "1.000"))), events.MissingField, ledger.OutcomeRejected, "data.program"},
		{"data fields before the fund", msg("fund.nowhere.grant.approved", env("data", grantData("amount", "1.000"))), events.InvalidAmount, ledger.OutcomeRejected, ""},
		{"empty string before the fund", msg("fund.nowhere.grant.approved", env("data", grantData("category", ""))), events.MissingField, ledger.OutcomeRejected, ""},
		{"the fund before fund_exists", itEvent("f", "fund.opened", "e-case", itOpenData("f").with("name", nil)), events.MissingField, ledger.OutcomeRejected, "data.name"},
		{"the fund before the business id", itEvent("nowhere", "contribution.received", "e-case", itContribData("c-1", "1.00")), events.UnknownFund, ledger.OutcomeRejected, ""},
		{"target fund before the business id", itAlloc("f", "e-case", "a-1", "ghost", "0.02"), events.UnknownFund, ledger.OutcomeRejected, "ghost"},
		{"target fund before available", itAlloc("f", "e-case", "a-9", "ghost", "999999.00"), events.UnknownFund, ledger.OutcomeRejected, ""},
		{"business id before the program", msg(subj, env("data", grantData("grant_id", "g-1", "program", "space"))), events.DuplicateID, ledger.OutcomeRejected, ""},
		{"same content is a no-op before available", itGrant("f", "e-case", "g-1", "ben-1", "1000.00", "2026-02-01"), "", ledger.OutcomeDuplicate, ""},
		{"payment id before the grant is looked up", itDisb("f", "e-case", "g-never", "p-1", "1.00"), events.DuplicateID, ledger.OutcomeRejected, ""},
		{"program before maker-checker", msg(subj, env("data", grantData("program", "space", "approved_by", "caseworker-1"))), events.UnknownProgram, ledger.OutcomeRejected, ""},
		{"maker-checker before the cap", msg(subj, env("data", grantData("approved_by", "caseworker-1", "beneficiary_ref", "ben-1", "amount", "4000.01"))), events.SameMakerChecker, ledger.OutcomeRejected, ""},
		{"cap before available", msg(subj, env("data", grantData("beneficiary_ref", "ben-1", "amount", "4000.01"))), events.BeneficiaryCapExceeded, ledger.OutcomeRejected, ""},
		{"within the cap and available", msg(subj, env("data", grantData("beneficiary_ref", "ben-1", "amount", "3999.99"))), "", ledger.OutcomePosted, ""},
		{"a cancelled grant before the payment is looked up", itRet("f", "e-case", "g-closed", "p-never", "1.00"), events.GrantClosed, ledger.OutcomeRejected, ""},
		{"a cancelled grant before the amount", itDisb("f", "e-case", "g-closed", "p-9", "999999.00"), events.GrantClosed, ledger.OutcomeRejected, ""},
		{"batch line fields before the fund", itBatch("nowhere", "e-case", "m-1", itLine("n-0", "ben-1", "1.00"), itLine("n-1", "ben-2", "-1")),
			events.InvalidAmount, ledger.OutcomeRejected, "line 1"},
		{"a line repeated within the batch is a business id, after the fund", itBatch("nowhere", "e-case", "m-1", itLine("n-0", "ben-1", "1.00"), itLine("n-0", "ben-2", "1.00")),
			events.UnknownFund, ledger.OutcomeRejected, ""},
		{"batch line fields before the program", itEvent("f", "grant.batch.approved", "e-case", itBatchData("m-1", "space", "a", itLine("n-0", "ben-1", "0"))),
			events.InvalidAmount, ledger.OutcomeRejected, ""},
		{"taken line grant_id before the program", itEvent("f", "grant.batch.approved", "e-case", itBatchData("m-1", "space", "a", itLine("n-0", "ben-1", "1.00"), itLine("g-1", "ben-2", "1.00"))),
			events.DuplicateID, ledger.OutcomeRejected, "line 1"},
		{"taken line grant_id before maker-checker", itEvent("f", "grant.batch.approved", "e-case", itBatchData("m-1", "care_fund", "b", itLine("g-1", "ben-2", "1.00"))),
			events.DuplicateID, ledger.OutcomeRejected, "line 0"},
		{"program alone", itEvent("f", "grant.batch.approved", "e-case", itBatchData("m-1", "space", "a", itLine("n-0", "ben-1", "1.00"))),
			events.UnknownProgram, ledger.OutcomeRejected, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newItLedger(t, itWindow)
			itBase(l)
			l.batch(itGrant("f", "e-refused", "g-r", "ben-1", "1.000", "2026-02-01"), itDisb("f", "e-held", "g-later", "p-h", "1.00"))
			before, rejections := l.st.fingerprint(), len(l.st.rejections)
			out := l.batch(c.msg)
			rs := l.st.rejectionAt(l.seq)
			d := events.DecodeMessage(c.msg)
			switch {
			case c.code == "" && len(rs) != 0:
				t.Fatalf("refused %s (%s), want no rejection", rs[0].Rejection.Code, rs[0].Rejection.Message)
			case d.ID != "e-case" && d.ID != "": // an id seen before
				if out.Result.Seen != 1 || len(out.Inbox) != 0 || l.st.fingerprint() != before {
					t.Errorf("result %+v, inbox %d: want a silent no-op", out.Result, len(out.Inbox))
				}
			case c.outcome == ledger.OutcomeDuplicate:
				if l.st.fingerprint() != before {
					t.Error("a duplicate moved the books")
				}
			case c.code != "":
				if len(rs) != 1 {
					t.Fatalf("%d rejections (outcome %s), want one %s", len(rs), l.st.outcome(d.ID), c.code)
				}
				if rs[0].Rejection.Code != c.code || !strings.Contains(rs[0].Rejection.Message, c.inMsg) {
					t.Errorf("refused %s (%s), want %s mentioning %q", rs[0].Rejection.Code, rs[0].Rejection.Message, c.code, c.inMsg)
				}
				if l.st.fingerprint() != before {
					t.Error("a refused event moved the books")
				}
			}
			if c.outcome != "" && d.ID != "" {
				if o := l.st.outcome(d.ID); o != c.outcome {
					t.Errorf("inbox outcome of %s: %s, want %s", d.ID, o, c.outcome)
				}
			}
			if c.code == "" && len(l.st.rejections) != rejections {
				t.Errorf("%d rejections stored, had %d", len(l.st.rejections), rejections)
			}
		})
	}
}

// itStep is one batch of a scenario, applied after the clock moved on.
type itStep struct {
	after    time.Duration
	msgs     []events.Message
	outcomes map[string]string // envelope id → inbox outcome right after the batch
}

// itScenario is a stream applied in batches and what the books say at the
// end.
type itScenario struct {
	name     string
	window   time.Duration
	steps    []itStep
	codes    map[string]events.Code // envelope id → the code it was refused with
	lines    map[string]string      // envelope id → its refused lines, "index:code ..."
	outcomes map[string]string      // envelope id → inbox outcome at the end
	journal  map[string]string      // fund → the event ids of its transactions, in order
	balances map[string]string      // "fund account" → balance
	held     int                    // events still held at the end
}

func itRunScenarios(t *testing.T, cases []itScenario) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newItLedger(t, c.window)
			for i, s := range c.steps {
				l.now = l.now.Add(s.after)
				l.batch(s.msgs...)
				for id, want := range s.outcomes {
					if got := l.st.outcome(id); got != want {
						t.Errorf("after batch %d: %s is %s, want %s", i, id, got, want)
					}
				}
			}
			for id, want := range c.outcomes {
				if got := l.st.outcome(id); got != want {
					var why *events.Rejection
					if r := l.st.rejectionOf(id); r != nil {
						why = r.Rejection
					}
					t.Errorf("%s is %s, want %s (%v)", id, got, want, why)
				}
			}
			for id, want := range c.codes {
				r := l.st.rejectionOf(id)
				if r == nil {
					t.Errorf("%s: %s, want refused as %s", id, l.st.outcome(id), want)
					continue
				}
				if r.Rejection.Code != want {
					t.Errorf("%s refused as %s (%s), want %s", id, r.Rejection.Code, r.Rejection.Message, want)
				}
				if got := l.st.outcome(id); got != ledger.OutcomeRejected {
					t.Errorf("%s refused, but its inbox outcome is %s", id, got)
				}
			}
			for id, want := range c.lines {
				if r := l.st.rejectionOf(id); r == nil || lineCodes(r) != want {
					t.Errorf("%s: lines %v, want %s", id, r, want)
				}
			}
			for _, r := range l.st.rejections {
				id := r.rec.EventID
				if id == "" {
					continue
				}
				if _, ok := c.codes[id]; !ok {
					t.Errorf("%s refused unexpectedly: %s (%s)", id, r.rec.Rejection.Code, r.rec.Rejection.Message)
				}
				if n := l.st.rejectionsOf(id); n != 1 {
					t.Errorf("%s refused %d times", id, n)
				}
			}
			for fund, want := range c.journal {
				if got := l.st.journalIDs(fund); got != want {
					t.Errorf("journal of %s: %s, want %s", fund, got, want)
				}
			}
			for k, want := range c.balances {
				fund, acct, _ := strings.Cut(k, " ")
				if got := l.st.balance(fund, acct); got != want {
					t.Errorf("%s = %s, want %s", k, got, want)
				}
			}
			if len(l.st.held) != c.held {
				t.Errorf("%d events held, want %d", len(l.st.held), c.held)
			}
		})
	}
}

func one(msgs ...events.Message) []itStep { return []itStep{{msgs: msgs}} }

// TestIntakeHolds: an event naming a grant or payment not seen yet is held
// and applied right after what it waits for arrives, in stream order, in
// the same batch or a later one; events behind it are not held up; when
// the window passes it is refused as unknown_grant or unknown_payment; a
// zero window refuses at once.
func TestIntakeHolds(t *testing.T) {
	open := []events.Message{itOpen("f"), itContrib("f", "c1", "c-1", "1000.00")}
	with := func(msgs ...events.Message) []events.Message { return append(slices.Clone(open), msgs...) }
	itRunScenarios(t, []itScenario{
		{name: "approval later in the same batch", window: itWindow,
			steps: one(with(itDisb("f", "early", "g-late", "p-1", "300.00"), itRet("f", "ret", "g-late", "p-1", "50.00"),
				itContrib("f", "behind", "c-2", "5.00"), itGrant("f", "g", "g-late", "ben-1", "300.00", "2026-03-01"))...),
			outcomes: map[string]string{"early": "posted", "ret": "posted", "behind": "posted", "g": "posted"},
			journal:  map[string]string{"f": "c1,behind,g,early,ret"},
			balances: map[string]string{"f cash": "755.00", "f grants_payable": "50.00"}},
		{name: "approval in a later batch", window: itWindow,
			steps: []itStep{
				{msgs: with(itDisb("f", "early", "g-late", "p-1", "300.00"), itRet("f", "ret", "g-late", "p-1", "50.00"),
					itDisb("f", "never", "g-never", "p-2", "10.00"), itContrib("f", "behind", "c-2", "5.00")),
					outcomes: map[string]string{"early": "held", "ret": "held", "never": "held", "behind": "posted"}},
				{after: time.Second, msgs: []events.Message{itGrant("f", "g", "g-late", "ben-1", "300.00", "2026-03-01")},
					outcomes: map[string]string{"early": "posted", "ret": "posted", "never": "held"}},
				{after: itWindow},
			},
			codes:    map[string]events.Code{"never": events.UnknownGrant},
			journal:  map[string]string{"f": "c1,behind,g,early,ret"},
			balances: map[string]string{"f cash": "755.00", "f grants_payable": "50.00"}},
		{name: "held in several batches, released in stream order", window: itWindow,
			steps: []itStep{{msgs: open},
				{msgs: []events.Message{itDisb("f", "d1", "g-x", "p-1", "10.00")}},
				{msgs: []events.Message{itDisb("f", "d2", "g-x", "p-2", "20.00")}},
				{msgs: []events.Message{itDisb("f", "d3", "g-x", "p-3", "30.00"), itContrib("f", "c2", "c-2", "1.00")}},
				{msgs: []events.Message{itDisb("f", "d4", "g-x", "p-4", "40.00"), itGrant("f", "g", "g-x", "ben-1", "100.00", "2026-03-01"),
					itDisb("f", "d5", "g-x", "p-5", "0.01")}},
			},
			journal: map[string]string{"f": "c1,c2,g,d1,d2,d3,d4"}, codes: map[string]events.Code{"d5": events.ExceedsOutstanding},
			balances: map[string]string{"f cash": "901.00", "f grants_payable": "0.00"}},
		{name: "expiry exactly at the window", window: itWindow,
			steps: []itStep{{msgs: with(itDisb("f", "d", "g-x", "p-1", "1.00"))},
				{after: itWindow - time.Microsecond, outcomes: map[string]string{"d": "held"}},
				{after: time.Microsecond, outcomes: map[string]string{"d": "rejected"}},
				{after: time.Second, msgs: []events.Message{itGrant("f", "g", "g-x", "ben-1", "100.00", "2026-03-01")}},
			},
			codes: map[string]events.Code{"d": events.UnknownGrant}, journal: map[string]string{"f": "c1,g"}},
		{name: "a known grant with a payment never made", window: itWindow,
			steps: []itStep{{msgs: with(itGrant("f", "g", "g-1", "ben-1", "100.00", "2026-03-01"), itRet("f", "ret", "g-1", "p-9", "1.00"))},
				{after: itWindow}},
			codes: map[string]events.Code{"ret": events.UnknownPayment}},
		{name: "a return waits for its grant, then for its payment", window: itWindow,
			steps: []itStep{{msgs: with(itRet("f", "ret", "g-2", "p-9", "1.00"))},
				{after: time.Second, msgs: []events.Message{itGrant("f", "g", "g-2", "ben-1", "100.00", "2026-03-01")},
					outcomes: map[string]string{"ret": "held"}},
				{after: itWindow - time.Second, outcomes: map[string]string{"ret": "rejected"}}},
			codes: map[string]events.Code{"ret": events.UnknownPayment}},
		{name: "a return waits for its grant, then its payment, in one batch", window: itWindow,
			steps: []itStep{{msgs: with(itRet("f", "ret", "g-2", "p-9", "1.00"), itGrant("f", "g", "g-2", "ben-1", "100.00", "2026-03-01"),
				itDisb("f", "d", "g-2", "p-9", "5.00"))}},
			journal: map[string]string{"f": "c1,g,d,ret"}},
		{name: "a return of another grant's payment", window: itWindow,
			steps: []itStep{{msgs: with(itGrant("f", "ga", "g-a", "ben-1", "100.00", "2026-03-01"), itGrant("f", "gb", "g-b", "ben-2", "100.00", "2026-03-01"),
				itDisb("f", "pa", "g-a", "p-a", "10.00"), itRet("f", "ret", "g-b", "p-a", "1.00"))},
				{after: itWindow}},
			codes: map[string]events.Code{"ret": events.UnknownPayment}},
		{name: "zero window refuses at once", window: 0,
			steps: one(with(itDisb("f", "d", "g-x", "p-1", "1.00"), itRet("f", "ret", "g-1", "p-1", "1.00"))...),
			codes: map[string]events.Code{"d": events.UnknownGrant, "ret": events.UnknownGrant}},
		{name: "zero window refuses at once, even when the grant follows in the batch", window: 0,
			steps: one(with(itDisb("f", "d", "g-x", "p-1", "1.00"), itGrant("f", "g", "g-x", "ben-1", "100.00", "2026-03-01"))...),
			codes: map[string]events.Code{"d": events.UnknownGrant}, journal: map[string]string{"f": "c1,g"}},
		{name: "a released event can be refused", window: itWindow,
			steps: one(with(itDisb("f", "d", "g-x", "p-1", "500.00"), itGrant("f", "g", "g-x", "ben-1", "300.00", "2026-03-01"))...),
			codes: map[string]events.Code{"d": events.ExceedsOutstanding}, journal: map[string]string{"f": "c1,g"}},
		{name: "a recovery before its grant", window: itWindow,
			steps: one(with(itRecov("f", "r", "g-x", "r-1", "1.00"), itGrant("f", "g", "g-x", "ben-1", "300.00", "2026-03-01"))...),
			codes: map[string]events.Code{"r": events.ExceedsOutstanding}},
		{name: "a cancellation before its grant", window: itWindow,
			steps: []itStep{{msgs: with(itCancel("f", "x", "g-x"))},
				{msgs: []events.Message{itContrib("f", "c2", "c-2", "10000.00"), itGrant("f", "g", "g-x", "ben-1", "5000.00", "2026-03-01")},
					outcomes: map[string]string{"g": "posted", "x": "posted"}},
				// The cancellation gave the cap's room back.
				{msgs: []events.Message{itGrant("f", "g2", "g-y", "ben-1", "1000.00", "2026-03-01")}}},
			journal: map[string]string{"f": "c1,c2,g,x,g2"}, balances: map[string]string{"f grants_payable": "1000.00"}},
		{name: "a hold does not cross funds", window: itWindow,
			steps: []itStep{{msgs: with(itOpen("north"), itContrib("north", "c-n", "c-1", "100.00"), itDisb("f", "d", "g-x", "p-1", "1.00"),
				itGrant("north", "g", "g-x", "ben-1", "50.00", "2026-03-01"))}, {after: itWindow}},
			codes: map[string]events.Code{"d": events.UnknownGrant}},
		{name: "released by a batch line", window: itWindow,
			steps: []itStep{{msgs: with(itDisb("f", "d", "b-1", "p-1", "1.00"))},
				{msgs: []events.Message{itBatch("f", "b", "m-1", itLine("b-0", "ben-1", "1.00"), itLine("b-1", "ben-2", "2.00"))}}},
			journal: map[string]string{"f": "c1,b,b,d"}},
		{name: "two copies of a held payment", window: itWindow,
			steps: []itStep{{msgs: with(itDisb("f", "d1", "g-x", "p-1", "1.00"), itDisb("f", "d1-again", "g-x", "p-1", "1.00"),
				itDisb("f", "d1-other", "g-x", "p-1", "2.00"))},
				{msgs: []events.Message{itGrant("f", "g", "g-x", "ben-1", "100.00", "2026-03-01")}}},
			outcomes: map[string]string{"d1": "posted", "d1-again": "duplicate"},
			codes:    map[string]events.Code{"d1-other": events.DuplicateID}, journal: map[string]string{"f": "c1,g,d1"}},
	})
}

// TestIntakeDedupe: one outcome per envelope id, ever: the same id again,
// in the same batch or a later one, is a silent no-op whatever the first
// copy's outcome was (posted, refused, duplicate, held, refused after the
// window) and whatever the second copy holds.
func TestIntakeDedupe(t *testing.T) {
	open := []events.Message{itOpen("f"), itContrib("f", "c1", "c-1", "1000.00")}
	with := func(msgs ...events.Message) []events.Message { return append(slices.Clone(open), msgs...) }
	good := itContrib("f", "e", "c-2", "10.00")
	bad := itContrib("f", "e", "c-2", "10.000")
	other := itContrib("f", "e", "c-3", "99.00")
	tooLarge := itSnapReq("f", "e", strings.Repeat("x", events.MaxMessageBytes))
	binaryBroken := itBinary("f", "contribution.received", "e", itContribData("c-2", "10.00"))
	binaryBroken.Data = []byte(`{"contribution_id": `)
	itRunScenarios(t, []itScenario{
		{name: "posted, then again later", steps: []itStep{{msgs: with(good)}, {msgs: []events.Message{good, other}}},
			outcomes: map[string]string{"e": "posted"}, balances: map[string]string{"f cash": "1010.00"}},
		{name: "posted, then again in the batch", steps: one(with(good, other, good)...),
			outcomes: map[string]string{"e": "posted"}, balances: map[string]string{"f cash": "1010.00"}},
		{name: "refused, then corrected under the same id", steps: []itStep{{msgs: with(bad)}, {msgs: []events.Message{good}}},
			codes: map[string]events.Code{"e": events.InvalidAmount}, balances: map[string]string{"f cash": "1000.00"}},
		{name: "refused, then corrected in the batch", steps: one(with(bad, good)...),
			codes: map[string]events.Code{"e": events.InvalidAmount}, balances: map[string]string{"f cash": "1000.00"}},
		{name: "a business duplicate, then again", steps: []itStep{{msgs: with(itContrib("f", "e", "c-1", "1000.00"))}, {msgs: []events.Message{other}}},
			outcomes: map[string]string{"e": "duplicate"}, balances: map[string]string{"f cash": "1000.00"}},
		{name: "held, then again, then released", window: itWindow,
			steps: []itStep{{msgs: with(itDisb("f", "e", "g-x", "p-1", "5.00"))},
				{msgs: []events.Message{itDisb("f", "e", "g-x", "p-1", "5.00"), itDisb("f", "e", "g-x", "p-2", "6.00")}, outcomes: map[string]string{"e": "held"}},
				{msgs: []events.Message{itGrant("f", "g", "g-x", "ben-1", "100.00", "2026-03-01"), itDisb("f", "e", "g-x", "p-1", "5.00")}}},
			outcomes: map[string]string{"e": "posted"}, journal: map[string]string{"f": "c1,g,e"}},
		{name: "held and refused after the window, then again", window: itWindow,
			steps: []itStep{{msgs: with(itDisb("f", "e", "g-x", "p-1", "5.00"))}, {after: itWindow},
				{msgs: []events.Message{itGrant("f", "g", "g-x", "ben-1", "100.00", "2026-03-01"), itDisb("f", "e", "g-x", "p-1", "5.00")}}},
			codes: map[string]events.Code{"e": events.UnknownGrant}, journal: map[string]string{"f": "c1,g"}},
		{name: "too large with a readable id, then small", steps: []itStep{{msgs: with(tooLarge)}, {msgs: []events.Message{good}}},
			codes: map[string]events.Code{"e": events.TooLarge}, balances: map[string]string{"f cash": "1000.00"}},
		{name: "binary body not JSON, then good", steps: []itStep{{msgs: with(binaryBroken)}, {msgs: []events.Message{good}}},
			codes: map[string]events.Code{"e": events.Malformed}, balances: map[string]string{"f cash": "1000.00"}},
		{name: "structured, then the same id in binary mode", steps: one(with(good, itBinary("f", "contribution.received", "e", itContribData("c-3", "1.00")))...),
			outcomes: map[string]string{"e": "posted"}, balances: map[string]string{"f cash": "1010.00"}},
	})
}

// TestIntakeBusinessIDs: a business id again under a new envelope id is a
// no-op with the same data (the same JSON values, whatever their order and
// spacing) and duplicate_id with other data; only an applied event takes
// an id; returns and cancellations carry none.
func TestIntakeBusinessIDs(t *testing.T) {
	base := []events.Message{itOpen("f"), itOpen("north"), itContrib("f", "c1", "c-1", "1000.00"),
		itGrant("f", "g1", "g-1", "ben-1", "100.00", "2026-02-01"), itDisb("f", "p1", "g-1", "p-1", "50.00")}
	type pair struct {
		name        string
		first, then events.Message
		code        events.Code // "" : the second is a duplicate
	}
	pairs := []pair{
		{"contribution", itContrib("f", "x1", "c-2", "5.00"), itContrib("f", "x2", "c-2", "5.00"), ""},
		{"contribution, other amount", itContrib("f", "x1", "c-2", "5.00"), itContrib("f", "x2", "c-2", "5.01"), events.DuplicateID},
		{"contribution, keys in another order", itContrib("f", "x1", "c-2", "5.00"), itRaw("fund.f.contribution.received",
			`{"data": { "received_on":"2026-01-05", "bank_ref":"BR-c-2","amount":"5.00", "payer":"District finance bureau","source_kind":"fiscal","contribution_id":"c-2" },
			  "type":"contribution.received","id":"x2","source":"elsewhere","specversion":"1.0"}`), ""},
		{"allocation", itAlloc("f", "x1", "a-1", "north", "5.00"), itAlloc("f", "x2", "a-1", "north", "5.00"), ""},
		{"allocation, other fund", itAlloc("f", "x1", "a-1", "north", "5.00"), itAlloc("f", "x2", "a-1", "f2", "5.00"), events.UnknownFund},
		{"allocation, other amount", itAlloc("f", "x1", "a-1", "north", "5.00"), itAlloc("f", "x2", "a-1", "north", "6.00"), events.DuplicateID},
		{"grant", itGrant("f", "x1", "g-2", "ben-2", "5.00", "2026-02-01"), itGrant("f", "x2", "g-2", "ben-2", "5.00", "2026-02-01"), ""},
		{"grant, other beneficiary", itGrant("f", "x1", "g-2", "ben-2", "5.00", "2026-02-01"), itGrant("f", "x2", "g-2", "ben-3", "5.00", "2026-02-01"), events.DuplicateID},
		{"grant, id taken by a batch line", itBatch("f", "x1", "m-1", itLine("g-2", "ben-2", "5.00")), itGrant("f", "x2", "g-2", "ben-2", "5.00", "2026-02-01"), events.DuplicateID},
		{"batch", itBatch("f", "x1", "m-1", itLine("g-2", "ben-2", "5.00")), itBatch("f", "x2", "m-1", itLine("g-2", "ben-2", "5.00")), ""},
		{"batch, other lines", itBatch("f", "x1", "m-1", itLine("g-2", "ben-2", "5.00")), itBatch("f", "x2", "m-1", itLine("g-3", "ben-2", "5.00")), events.DuplicateID},
		{"batch line, grant id taken by a grant", itGrant("f", "x1", "g-2", "ben-2", "5.00", "2026-02-01"), itBatch("f", "x2", "m-1", itLine("g-2", "ben-2", "5.00")), events.DuplicateID},
		{"payment", itDisb("f", "x1", "g-1", "p-2", "5.00"), itDisb("f", "x2", "g-1", "p-2", "5.00"), ""},
		{"payment, other grant", itDisb("f", "x1", "g-1", "p-2", "5.00"), itDisb("f", "x2", "g-9", "p-2", "5.00"), events.DuplicateID},
		{"recovery", itRecov("f", "x1", "g-1", "r-1", "5.00"), itRecov("f", "x2", "g-1", "r-1", "5.00"), ""},
		{"recovery, other amount", itRecov("f", "x1", "g-1", "r-1", "5.00"), itRecov("f", "x2", "g-1", "r-1", "4.00"), events.DuplicateID},
		{"structured, then binary", itContrib("f", "x1", "c-2", "5.00"), itBinary("f", "contribution.received", "x2", itContribData("c-2", "5.00")), ""},
	}
	var cases []itScenario
	for _, p := range pairs {
		for _, same := range []bool{true, false} {
			c := itScenario{name: p.name, outcomes: map[string]string{"x1": "posted", "x2": "duplicate"}}
			if p.code != "" {
				c.outcomes = map[string]string{"x1": "posted"}
				c.codes = map[string]events.Code{"x2": p.code}
			}
			if same {
				c.name += " (one batch)"
				c.steps = one(append(slices.Clone(base), p.first, p.then)...)
			} else {
				c.steps = []itStep{{msgs: append(slices.Clone(base), p.first)}, {msgs: []events.Message{p.then}}}
			}
			cases = append(cases, c)
		}
	}
	cases = append(cases,
		itScenario{name: "a refused event does not take its id", steps: one(append(slices.Clone(base),
			itGrant("f", "x1", "g-2", "ben-2", "5000.00", "2026-02-01"), itGrant("f", "x2", "g-2", "ben-2", "5.00", "2026-02-01"))...),
			codes: map[string]events.Code{"x1": events.InsufficientFunds}, outcomes: map[string]string{"x2": "posted"}},
		itScenario{name: "a held event does not take its id", window: itWindow, steps: one(append(slices.Clone(base),
			itDisb("f", "x1", "g-9", "p-2", "5.00"), itDisb("f", "x2", "g-1", "p-2", "5.00"))...),
			outcomes: map[string]string{"x1": "held", "x2": "posted"}, held: 1},
		itScenario{name: "returns carry no business id", steps: one(append(slices.Clone(base),
			itRet("f", "x1", "g-1", "p-1", "5.00"), itRet("f", "x2", "g-1", "p-1", "5.00"))...),
			outcomes: map[string]string{"x1": "posted", "x2": "posted"}, balances: map[string]string{"f grants_payable": "60.00"}},
		itScenario{name: "a batch id taken, then again with a bad line: the line's fields come first", steps: one(append(slices.Clone(base),
			itBatch("f", "x1", "m-1", itLine("g-2", "ben-2", "5.00")), itBatch("f", "x2", "m-1", itLine("g-3", "ben-2", "5.001")))...),
			codes: map[string]events.Code{"x2": events.InvalidAmount}, lines: map[string]string{"x2": "0:invalid_amount"}},
		itScenario{name: "a second fund.opened is fund_exists whatever its content", steps: one(append(slices.Clone(base),
			itEvent("f", "fund.opened", "x1", itOpenData("f")))...),
			codes: map[string]events.Code{"x1": events.FundExists}},
	)
	itRunScenarios(t, cases)
}

// TestIntakePostingRules posts one of each event type and checks every
// account it touches (service.TestPostingRules without the database).
func TestIntakePostingRules(t *testing.T) {
	itRunScenarios(t, []itScenario{{name: "one of each", window: itWindow,
		steps: one(itOpen("city"), itOpen("north"), itContrib("city", "c1", "c-1", "100000.00"),
			itEvent("city", "contribution.received", "d1", itContribData("d-1", "800.50").with("source_kind", "donation")),
			itEvent("city", "contribution.received", "o1", itContribData("o-1", "0.5").with("source_kind", "other")),
			itAlloc("city", "a1", "a-1", "north", "30000"),
			itGrant("north", "g1", "g-1", "ben-1", "1200.00", "2026-03-02"),
			itDisb("north", "p1", "g-1", "p-1", "1000.00"),
			itRet("north", "r1", "g-1", "p-1", "400.00"),
			itRecov("north", "rc1", "g-1", "r-1", "100.00"),
			itCancel("north", "x1", "g-1"),
			itSnapReq("north", "s1", "2026-03"),
			itCancel("north", "x2", "g-none")),
		outcomes: map[string]string{"open-city": "applied", "s1": "applied", "x1": "posted", "x2": "held"},
		held:     1,
		journal:  map[string]string{"city": "c1,d1,o1,a1", "north": "a1,g1,p1,r1,rc1,x1"},
		balances: map[string]string{"city cash": "70801.00", "city contributions:fiscal": "100000.00",
			"city contributions:donation": "800.50", "city contributions:other": "0.50", "city allocations:out": "30000.00",
			"north cash": "29500.00", "north allocations:in": "30000.00", "north grants_payable": "0.00",
			"north grant_expense:care_fund": "500.00"}}})
}

// TestIntakeCapsAndAllocations: caps count approved less cancelled per
// beneficiary, program and calendar year of approved_on, equal allowed,
// program changes from then on; an allocation posts in both funds.
func TestIntakeCapsAndAllocations(t *testing.T) {
	itRunScenarios(t, []itScenario{
		{name: "caps per calendar year",
			steps: one(itOpen("f"), itContrib("f", "c1", "c-1", "100000.00"),
				itGrant("f", "a", "g-1", "ben-1", "3000.00", "2025-12-31"),
				itGrant("f", "b", "g-2", "ben-1", "2000.00", "2025-06-01"), // reaches the cap exactly
				itGrant("f", "c", "g-3", "ben-1", "0.01", "2025-01-01"),    // one cent over
				itGrant("f", "d", "g-4", "ben-1", "5000.00", "2026-01-01"), // a new year
				itGrant("f", "d2", "g-4b", "ben-2", "5000.00", "2025-01-01"),
				itCancel("f", "x", "g-2"),
				itGrant("f", "e", "g-5", "ben-1", "2000.00", "2025-07-01"), // room again after the cancellation
				itProgramSet("f", "ps1", "care_fund", "5500.00"),
				itGrant("f", "g", "g-6", "ben-1", "500.00", "2026-02-01"),
				itGrant("f", "g2", "g-7", "ben-1", "0.01", "2026-02-01"),
				itProgramSet("f", "ps2", "care_fund", nil),
				itGrant("f", "h", "g-8", "ben-1", "50000.00", "2026-03-01"),
				itProgramSet("f", "ps3", "new_program", "1.00"),
				itEvent("f", "grant.approved", "i", itGrantData("g-9", "ben-1", "1.01", "2026-03-01").with("program", "new_program"))),
			codes:    map[string]events.Code{"c": events.BeneficiaryCapExceeded, "g2": events.BeneficiaryCapExceeded, "i": events.BeneficiaryCapExceeded},
			outcomes: map[string]string{"a": "posted", "b": "posted", "d": "posted", "d2": "posted", "e": "posted", "g": "posted", "h": "posted", "ps1": "applied"}},
		{name: "a program change alone in its batch",
			steps: []itStep{{msgs: []events.Message{itOpen("f"), itContrib("f", "c1", "c-1", "100000.00")}},
				{msgs: []events.Message{itProgramSet("f", "ps1", "care_fund", "100.00")}},
				{msgs: []events.Message{itGrant("f", "a", "g-1", "ben-1", "100.01", "2026-01-01")}},
				{msgs: []events.Message{itProgramSet("f", "ps2", "care_fund", nil)}},
				{msgs: []events.Message{itProgramSet("f", "ps3", "new_program", "1.00")}},
				{msgs: []events.Message{itGrant("f", "b", "g-2", "ben-1", "9000.00", "2026-01-01"),
					itEvent("f", "grant.approved", "c", itGrantData("g-3", "ben-1", "1.00", "2026-01-01").with("program", "new_program"))}}},
			codes:    map[string]events.Code{"a": events.BeneficiaryCapExceeded},
			outcomes: map[string]string{"ps1": "applied", "b": "posted", "c": "posted"}},
		{name: "batch caps and available are cumulative over the lines",
			steps: one(itOpen("f"), itContrib("f", "c1", "c-1", "1000.00"),
				itBatch("f", "b1", "m-1", itLine("b-0", "ben-1", "3000.00"), itLine("b-1", "ben-1", "2000.00")),
				itBatch("f", "b2", "m-2", itLine("b-0", "ben-1", "500.00"), itLine("b-1", "ben-1", "400.00"), itLine("b-2", "ben-1", "100.01")),
				itContrib("f", "c2", "c-2", "10000.00"),
				itBatch("f", "b3", "m-3", itLine("b-0", "ben-1", "4000.00"), itLine("b-1", "ben-1", "1000.00"), itLine("b-2", "ben-1", "0.01"),
					itLine("b-3", "ben-2", "0.01"))),
			codes: map[string]events.Code{"b1": events.InsufficientFunds, "b2": events.InsufficientFunds, "b3": events.BeneficiaryCapExceeded},
			lines: map[string]string{"b1": "0:insufficient_funds 1:insufficient_funds", "b2": "2:insufficient_funds", "b3": "2:beneficiary_cap_exceeded"}},
		{name: "allocation between funds",
			steps: one(itOpen("city"), itOpen("district"), itContrib("city", "c1", "c-1", "1000.00"),
				itGrant("city", "g1", "g-1", "ben-1", "400.00", "2026-01-02"),
				itAlloc("city", "ok", "a-1", "district", "600.00"), itAlloc("city", "short", "a-2", "district", "0.01"),
				itAlloc("district", "back", "a-1", "city", "100.00")),
			codes:   map[string]events.Code{"short": events.InsufficientFunds},
			journal: map[string]string{"city": "c1,g1,ok,back", "district": "ok,back"},
			balances: map[string]string{"city cash": "500.00", "city allocations:out": "600.00", "city allocations:in": "100.00",
				"city grants_payable": "400.00", "district cash": "500.00", "district allocations:in": "600.00", "district allocations:out": "100.00"}},
	})
}

// TestIntakeBatchAllOrNothing: a batch with a bad line posts nothing and
// names every bad line in order, its code that of the first; a good batch
// posts a transaction per line.
func TestIntakeBatchAllOrNothing(t *testing.T) {
	base := []events.Message{itOpen("f"), itContrib("f", "c1", "c-1", "1000.00"), itGrant("f", "g-old", "g-old", "ben-1", "100.00", "2026-01-10")}
	good := itEvent("f", "grant.batch.approved", "good", itBatchData("m-02", "pension_subsidy", "a", itManyLines(300)...))
	var goodJournal []string
	for range 300 {
		goodJournal = append(goodJournal, "good")
	}
	itRunScenarios(t, []itScenario{
		{name: "lines the books refuse",
			steps: []itStep{{msgs: append(slices.Clone(base), itBatch("f", "bad", "m-01",
				itLine("b-1", "ben-2", "100.00"), itLine("g-old", "ben-3", "100.00"), itLine("b-3", "ben-4", "4000.00"),
				itLine("b-4", "ben-5", "700.00"), itLine("b-5", "ben-6", "200.00")))}, {msgs: []events.Message{good}}},
			codes:    map[string]events.Code{"bad": events.DuplicateID},
			lines:    map[string]string{"bad": "1:duplicate_id 2:insufficient_funds 4:insufficient_funds"},
			journal:  map[string]string{"f": "c1,g-old," + strings.Join(goodJournal, ",")},
			balances: map[string]string{"f grants_payable": "400.00", "f grant_expense:pension_subsidy": "300.00"}},
		{name: "every bad line named",
			steps: one(append(slices.Clone(base), itBatch("f", "mixed", "m-1",
				itLine("b-0", "ben-1", "4900.01"), // 100 used + 4900.01 passes the 5000 cap
				itLine("g-old", "ben-2", "1.00"),  // taken before
				itLine("b-2", "ben-3", "1.000"),   // three places
				itLine("b-3", "ben-4", "5.00"),    // good
				itLine("b-3", "ben-5", "5.00"),    // repeats line 3
				itLine("b-5", "ben-6", "0"),       // zero
				itLine("b-6", "", "1.00"),         // empty is missing
				itData{"grant_id": "b-7"},         // no amount
			))...),
			codes: map[string]events.Code{"mixed": events.BeneficiaryCapExceeded},
			lines: map[string]string{"mixed": "0:beneficiary_cap_exceeded 1:duplicate_id 2:invalid_amount 4:duplicate_id 5:invalid_amount 6:missing_field 7:missing_field"}},
	})
}

// TestIntakeRejectedPayload: what is published on ledger.<fund>.rejected
// (CONTRACT.md section 4) and under which Nats-Msg-Id.
func TestIntakeRejectedPayload(t *testing.T) {
	l := newItLedger(t, itWindow)
	l.batch(itOpen("f"), itContrib("f", "c0", "c-0", "100.00"))
	batch := itBatch("f", "e-batch", "m-1", itLine("b-0", "ben-1", "1.00"), itLine("b-1", "ben-2", "1.000"))
	out := l.batch(itContrib("f", "e-amount", "c-1", "1.000"), itRaw("fund.f.grant.approved", "\xff\x00not utf-8"),
		itRaw("fund.F!.grant.approved", "{"), batch)
	if len(out.Outbox) != 4 {
		t.Fatalf("%d outbox records, want 4", len(out.Outbox))
	}
	wantSubject := []string{"ledger.f.rejected", "ledger.f.rejected", "ledger._unknown.rejected", "ledger.f.rejected"}
	wantMsgID := []string{"rejected:e-amount", fmt.Sprintf("rejected:stream:%d", l.seq-2), fmt.Sprintf("rejected:stream:%d", l.seq-1), "rejected:e-batch"}
	for i, o := range out.Outbox {
		if o.Subject != wantSubject[i] || o.MsgID != wantMsgID[i] {
			t.Errorf("outbox %d: %s %s, want %s %s", i, o.Subject, o.MsgID, wantSubject[i], wantMsgID[i])
		}
	}
	var m map[string]any
	if err := json.Unmarshal(out.Outbox[0].Payload, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if got := strings.Join(keys, " "); got != "code event_id fund_id lines message raw raw_encoding received_at type" {
		t.Errorf("payload keys %s", got)
	}
	raw := string(itContrib("f", "e-amount", "c-1", "1.000").Data)
	if m["event_id"] != "e-amount" || m["type"] != "contribution.received" || m["fund_id"] != "f" || m["code"] != "invalid_amount" ||
		m["received_at"] != "2026-03-02T01:15:00.123456Z" || m["raw"] != raw || m["raw_encoding"] != "utf-8" ||
		fmt.Sprint(m["lines"]) != "[]" || !strings.Contains(m["message"].(string), "data.amount") {
		t.Errorf("payload %s", out.Outbox[0].Payload)
	}
	var bin events.RejectionView
	if err := json.Unmarshal(out.Outbox[1].Payload, &bin); err != nil {
		t.Fatal(err)
	}
	if bin.EventID != "" || bin.Code != events.Malformed || bin.RawEncoding != "base64" || bin.Raw != base64.StdEncoding.EncodeToString([]byte("\xff\x00not utf-8")) {
		t.Errorf("non-UTF-8 payload %+v", bin)
	}
	if l.st.rejections[1].raw != bin.Raw || !l.st.rejections[1].b64 {
		t.Errorf("stored raw %q base64 %v", l.st.rejections[1].raw, l.st.rejections[1].b64)
	}
	var bv events.RejectionView
	if err := json.Unmarshal(out.Outbox[3].Payload, &bv); err != nil {
		t.Fatal(err)
	}
	if bv.Code != events.InvalidAmount || len(bv.Lines) != 1 || bv.Lines[0].Index != 1 || bv.Lines[0].Code != events.InvalidAmount ||
		!strings.Contains(bv.Lines[0].Message, "data.lines[1].amount") || !strings.Contains(bv.Message, "1 of 2 lines refused") {
		t.Errorf("batch payload %+v", bv)
	}
	if out.Result.Rejected != 4 || out.Result.Rejects[events.Malformed] != 2 || out.Result.Outbox != 4 {
		t.Errorf("result %+v", out.Result)
	}
}

// TestIntakeHeldRefusal: a held event refused later (its window passed, or
// it was released and refused) keeps the time it was first received, its
// raw bytes and, in binary mode, its headers; it goes out under its
// envelope id.
func TestIntakeHeldRefusal(t *testing.T) {
	l := newItLedger(t, itWindow)
	l.batch(itOpen("f"), itContrib("f", "c1", "c-1", "1000.00"))
	early := itBinary("f", "grant.disbursed", "early", itDisbData("g-x", "p-1", "500.00"))
	never := itBinary("f", "grant.disbursed", "never", itDisbData("g-never", "p-2", "5.00"))
	l.batch(early, never)
	first := l.now
	l.now = l.now.Add(time.Second)
	out := l.batch(itGrant("f", "g", "g-x", "ben-1", "300.00", "2026-03-01"))
	if out.Result.Released != 1 || len(out.HeldGone) != 1 || out.HeldGone[0] != "early" {
		t.Errorf("release: result %+v, gone %v", out.Result, out.HeldGone)
	}
	out2 := l.later(itWindow)
	if out2.Result.Expired != 1 || len(out2.HeldGone) != 1 || out2.HeldGone[0] != "never" {
		t.Errorf("expiry: result %+v, gone %v", out2.Result, out2.HeldGone)
	}
	for _, c := range []struct {
		id   string
		msg  events.Message
		code events.Code
		out  *ledger.BatchOutput
	}{{"early", early, events.ExceedsOutstanding, out}, {"never", never, events.UnknownGrant, out2}} {
		r := l.st.rejectionOf(c.id)
		if r == nil || r.Rejection.Code != c.code {
			t.Fatalf("%s: %+v, want %s", c.id, r, c.code)
		}
		if !r.ReceivedAt.Equal(first) || !bytes.Equal(r.Raw, c.msg.Data) || fmt.Sprint(r.Header) != fmt.Sprint(c.msg.Header) ||
			r.Type != "grant.disbursed" || r.FundID != "f" {
			t.Errorf("%s: received %s (want %s), raw %q, header %v", c.id, r.ReceivedAt, first, r.Raw, r.Header)
		}
		if len(c.out.Outbox) != 1 || c.out.Outbox[0].MsgID != "rejected:"+c.id {
			t.Fatalf("%s: outbox %+v", c.id, c.out.Outbox)
		}
		var v events.RejectionView
		if err := json.Unmarshal(c.out.Outbox[0].Payload, &v); err != nil {
			t.Fatal(err)
		}
		if v.ReceivedAt != ledger.TimeText(first) || fmt.Sprint(v.RawHeaders) != fmt.Sprint(c.msg.Header) || v.Raw != string(c.msg.Data) {
			t.Errorf("%s: payload %s", c.id, c.out.Outbox[0].Payload)
		}
	}
	if o := l.st.outcome("early"); o != "rejected" {
		t.Errorf("early: %s", o)
	}
}

// TestIntakeBinaryMode: an event in binary content mode posts exactly what
// the same event structured posts; its rejection keeps its headers beside
// the body, a structured one has none.
func TestIntakeBinaryMode(t *testing.T) {
	type ev struct {
		fund, typ, id string
		data          itData
	}
	stream := []ev{
		{"f", "fund.opened", "open-f", itOpenData("f")},
		{"north", "fund.opened", "open-n", itOpenData("north")},
		{"f", "contribution.received", "c1", itContribData("c-1", "1000.00")},
		{"f", "grant.disbursed", "early", itDisbData("g-1", "p-1", "100.00")},
		{"f", "grant.approved", "g1", itGrantData("g-1", "ben-1", "300.00", "2026-03-01")},
		{"f", "payment.returned", "r1", itRetData("g-1", "p-1", "10.00")},
		{"f", "grant.batch.approved", "b1", itBatchData("m-1", "care_fund", "a", itLine("b-0", "ben-2", "1.00"), itLine("b-1", "ben-3", "2.00"))},
		{"f", "allocation.approved", "a1", itAllocData("a-1", "north", "50.00")},
		{"f", "grant.recovered", "rc1", itRecovData("g-1", "r-1", "5.00")},
		{"f", "grant.cancelled", "x1", itData{"grant_id": "g-1", "cancelled_by": "officer-2", "reason": "moved away"}},
		{"f", "snapshot.requested", "s1", itData{"requested_by": "auditor", "label": "2026-03"}},
		{"f", "grant.approved", "bad", itGrantData("g-2", "ben-1", "1.000", "2026-03-01")},
		{"f", "grant.teleported", "odd", itData{}},
	}
	// Structured one event a batch, binary three: the same books either way.
	structured, binary := newItLedger(t, itWindow), newItLedger(t, itWindow)
	var bins []events.Message
	for _, e := range stream {
		structured.batch(itEvent(e.fund, e.typ, e.id, e.data))
		bins = append(bins, itBinary(e.fund, e.typ, e.id, e.data))
	}
	for i := 0; i < len(bins); i += 3 {
		binary.batch(bins[i:min(i+3, len(bins))]...)
	}
	for _, fund := range []string{"f", "north"} {
		st, bt := structured.st.txns(fund), binary.st.txns(fund)
		if len(st) == 0 || len(st) != len(bt) {
			t.Fatalf("%s: %d transactions structured, %d binary", fund, len(st), len(bt))
		}
		for i := range st {
			if !bytes.Equal(st[i].Hash, bt[i].Hash) {
				t.Errorf("%s/%d: hashes differ", fund, st[i].Seq)
			}
		}
	}
	if structured.st.fingerprint() != binary.st.fingerprint() {
		t.Error("books differ")
	}
	if sb, bb := structured.st.snapshots["f"], binary.st.snapshots["f"]; len(sb) != 1 || len(bb) != 1 || !bytes.Equal(sb[0].body, bb[0].body) {
		t.Error("snapshots differ")
	}
	for _, id := range []string{"bad", "odd"} {
		s, b := structured.st.rejectionOf(id), binary.st.rejectionOf(id)
		if s == nil || b == nil || s.Rejection.Code != b.Rejection.Code {
			t.Fatalf("%s: structured %+v, binary %+v", id, s, b)
		}
		if s.Header != nil {
			t.Errorf("%s: structured rejection has headers %v", id, s.Header)
		}
		if b.Header["ce-id"][0] != id || b.Header["ce-specversion"][0] != "1.0" || b.Header["Nats-Msg-Id"][0] != id {
			t.Errorf("%s: binary rejection headers %v", id, b.Header)
		}
	}
	e := stream[11]
	if r := binary.st.rejectionOf("bad"); !bytes.Equal(r.Raw, itJSON(e.data)) {
		t.Errorf("binary rejection raw %s, want the body", r.Raw)
	}
	for _, o := range structured.st.outbox {
		if bytes.Contains(o.Payload, []byte("raw_headers")) {
			t.Errorf("structured rejection published with raw_headers: %s", o.Payload)
		}
	}
	n := 0
	for _, o := range binary.st.outbox {
		var v events.RejectionView
		if strings.HasSuffix(o.Subject, ".rejected") && json.Unmarshal(o.Payload, &v) == nil && v.RawHeaders["ce-type"] != nil {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d binary rejections published with their headers, want 2", n)
	}
}

// TestIntakePosition: messages at or below the stored position were
// applied before and are skipped; the position moves to the last message
// applied.
func TestIntakePosition(t *testing.T) {
	l := newItLedger(t, itWindow)
	l.batch(itOpen("f"))
	l.st.position = 5
	msgs := []events.Message{itContrib("f", "old", "c-1", "1.00"), itContrib("f", "at", "c-2", "2.00"),
		itContrib("f", "new", "c-3", "3.00"), itRaw("fund.f.grant.approved", "{")}
	for i := range msgs {
		msgs[i].StreamSeq = uint64(4 + i)
	}
	out, err := l.st.apply(ledger.DecodeAll(msgs), l.now, l.set, false)
	if err != nil {
		t.Fatal(err)
	}
	if out.Result.Skipped != 2 || out.Result.Position != 7 || l.st.position != 7 || out.Result.Messages != 4 {
		t.Errorf("result %+v, position %d", out.Result, l.st.position)
	}
	if l.st.outcome("old") != "none" || l.st.outcome("at") != "none" || l.st.outcome("new") != "posted" || len(l.st.rejections) != 1 {
		t.Errorf("outcomes %s %s %s, %d rejections", l.st.outcome("old"), l.st.outcome("at"), l.st.outcome("new"), len(l.st.rejections))
	}
	if got := l.st.balance("f", "cash"); got != "3.00" {
		t.Errorf("cash %s", got)
	}
	out, err = l.st.apply(ledger.DecodeAll(msgs), l.now, l.set, false)
	if err != nil {
		t.Fatal(err)
	}
	if out.Result.Skipped != 4 || out.Result.Position != 7 || len(out.Outbox) != 0 || len(out.Inbox) != 0 {
		t.Errorf("replay: result %+v", out.Result)
	}
}

// TestIntakeSnapshots: a snapshot every N transactions of a fund (an
// allocation counts in both), on snapshot.requested, and on the timer for
// every fund changed since its last one; each published as
// snapshot:<fund>:<n>, signed.
func TestIntakeSnapshots(t *testing.T) {
	l := newItLedger(t, itWindow)
	l.set.SnapshotEvery = 3
	l.batch(itOpen("f"), itOpen("north"), itOpen("idle"), itContrib("f", "c1", "c-1", "100.00"), itContrib("f", "c2", "c-2", "100.00"))
	out := l.batch(itContrib("f", "c3", "c-3", "100.00"), itAlloc("f", "a1", "a-1", "north", "10.00"), itContrib("north", "n1", "c-1", "1.00"))
	want := []string{"snapshot:f:1"}
	check := func(what string, out *ledger.BatchOutput, want []string) {
		t.Helper()
		var got []string
		for _, o := range out.Outbox {
			if strings.HasSuffix(o.Subject, ".snapshot") {
				got = append(got, o.MsgID)
				var s ledger.Snapshot
				if err := json.Unmarshal(o.Payload, &s); err != nil {
					t.Fatal(err)
				}
				sig, _ := base64.StdEncoding.DecodeString(s.Signature)
				if o.Subject != events.SnapshotSubject(s.FundID) || o.MsgID != events.SnapshotMsgID(s.FundID, s.SnapshotSeq) ||
					!s.Balanced || s.KeyID != itKey.KeyID() || !itKey.verify(ledger.SnapshotSigningInput(&s), sig) {
					t.Errorf("%s: snapshot %s on %s: %s", what, o.MsgID, o.Subject, o.Payload)
				}
			}
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s: snapshots %v, want %v", what, got, want)
		}
	}
	check("every 3", out, want)
	if s := l.st.snapshots["f"]; len(s) != 1 || s[0].asOf != 3 {
		t.Errorf("f snapshots %+v", s)
	}
	out = l.batch(itContrib("north", "n2", "c-2", "1.00"), itContrib("f", "c4", "c-4", "1.00"))
	check("north's third, from an allocation", out, []string{"snapshot:north:1"})
	out = l.batch(itSnapReq("idle", "s1", "2026-03"))
	check("requested", out, []string{"snapshot:idle:1"})
	if s := l.st.snapshots["idle"]; len(s) != 1 || s[0].label != "2026-03" || s[0].asOf != 0 {
		t.Errorf("idle snapshots %+v", s)
	}
	// f moved (c4) since its snapshot; north did not; idle has nothing.
	out = l.timer(itContrib("north", "n3", "c-3", "1.00"))
	check("timer", out, []string{"snapshot:f:2", "snapshot:north:2"})
	out = l.timer()
	check("timer, nothing moved", out, nil)
	var s ledger.Snapshot
	body := l.st.snapshots["f"][1].body
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatal(err)
	}
	if s.AsOfJournalSeq != 5 || s.Available != "291.00" || s.ChainHead != fmt.Sprintf("%x", l.st.txns("f")[4].Hash) {
		t.Errorf("f snapshot 2: %s", body)
	}
}

// TestIntakeRefuseUnstorable: a message the database will not store is
// refused as invalid_field with the reason, once per envelope id.
func TestIntakeRefuseUnstorable(t *testing.T) {
	l := newItLedger(t, itWindow)
	l.batch(itOpen("f"))
	m := itContrib("f", "e", "c-1", "1.00")
	m.StreamSeq = 9
	out, err := ledger.RefuseUnstorable(t.Context(), l.st, m, l.now, []byte("cmF3"), fmt.Errorf("numeric field overflow"))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.st.write(out, l.now); err != nil {
		t.Fatal(err)
	}
	r := l.st.rejectionOf("e")
	if r == nil || r.Rejection.Code != events.InvalidField || !strings.Contains(r.Rejection.Message, "numeric field overflow") ||
		l.st.outcome("e") != "rejected" || out.Result.Position != 9 {
		t.Fatalf("rejection %+v, outcome %s, result %+v", r, l.st.outcome("e"), out.Result)
	}
	out, err = ledger.RefuseUnstorable(t.Context(), l.st, m, l.now, nil, fmt.Errorf("again"))
	if err != nil {
		t.Fatal(err)
	}
	if out.Result.Seen != 1 || len(out.Rejections) != 0 {
		t.Errorf("second refusal: %+v", out.Result)
	}
}

// itDrawStream draws a stream as approval systems might send it: good
// events of every type in both content modes, business ids used again with
// the same or other data, disbursements and returns before their grant,
// envelope ids sent twice, and bad messages.
func itDrawStream(t *rapid.T) []events.Message {
	type sent struct {
		fund, typ string
		data      itData
	}
	var msgs []events.Message
	var good []sent
	pick := func(label string, pool ...string) string { return rapid.SampledFrom(pool).Draw(t, label) }
	amount := func() string { return pick("amount", "0.01", "5.00", "50.00", "120.00", "300.00", "999.99", "2500.00") }
	gid := func() string { return pick("grant", "g0", "g1", "g2", "g3", "g4", "g5") }
	pid := func() string { return pick("payment", "p0", "p1", "p2", "p3") }
	add := func(fund, typ string, data itData) {
		id := fmt.Sprintf("e%d", len(msgs))
		if rapid.IntRange(0, 3).Draw(t, "binary") == 0 {
			msgs = append(msgs, itBinary(fund, typ, id, data))
		} else {
			msgs = append(msgs, itEvent(fund, typ, id, data))
		}
		good = append(good, sent{fund, typ, data})
	}
	add("f1", "fund.opened", itOpenData("f1"))
	add("f1", "contribution.received", itContribData("c0", "3000.00"))
	n := rapid.IntRange(1, 60).Draw(t, "events")
	for range n {
		fund := pick("fund", "f1", "f1", "f1", "f2", "f2", "f3")
		switch rapid.IntRange(0, 17).Draw(t, "kind") {
		case 0:
			add(fund, "fund.opened", itOpenData(fund))
		case 1, 2:
			add(fund, "contribution.received", itContribData(pick("contribution", "c1", "c2", "c3"), pick("amount", "100.00", "500.00", "2000.00")).
				with("source_kind", pick("source", "fiscal", "donation", "other")))
		case 3:
			add(fund, "allocation.approved", itAllocData(pick("allocation", "a0", "a1"), pick("to", "f1", "f2", "f9"), amount()))
		case 4, 5:
			add(fund, "grant.approved", itGrantData(gid(), pick("ben", "b0", "b1", "b2"), amount(), pick("on", "2025-12-31", "2026-01-01")).
				with("program", pick("program", "care_fund", "care_fund", "pension_subsidy", "nope"),
					"approved_by", pick("approver", "officer-7", "officer-7", "caseworker-1")))
		case 6:
			var lines []itData
			for range rapid.IntRange(1, 3).Draw(t, "lines") {
				a := amount()
				if rapid.IntRange(0, 5).Draw(t, "bad line") == 0 {
					a = "1.000"
				}
				lines = append(lines, itLine(gid(), pick("ben", "b0", "b1", "b2"), a))
			}
			add(fund, "grant.batch.approved", itBatchData(pick("batch", "m0", "m1"), pick("program", "care_fund", "pension_subsidy"), "a", lines...))
		case 7, 8:
			add(fund, "grant.disbursed", itDisbData(gid(), pid(), amount()))
		case 9:
			add(fund, "payment.returned", itRetData(gid(), pid(), amount()))
		case 10:
			add(fund, "grant.cancelled", itData{"grant_id": gid(), "cancelled_by": "officer-2", "reason": "moved away"})
		case 11:
			add(fund, "grant.recovered", itRecovData(gid(), pick("recovery", "r0", "r1"), amount()))
		case 12:
			var capv any
			if c := pick("cap", "5000.00", "300.00", ""); c != "" {
				capv = c
			}
			add(fund, "fund.program.set", itData{"program": "care_fund", "annual_cap_per_beneficiary": capv})
		case 13:
			add(fund, "snapshot.requested", itData{"requested_by": "auditor", "label": "2026-03"})
		case 14: // bad messages
			id := fmt.Sprintf("e%d", len(msgs))
			switch rapid.IntRange(0, 4).Draw(t, "bad") {
			case 0:
				msgs = append(msgs, itRaw("fund."+fund+".grant.approved", `{"specversion": "1.0", "id": `))
			case 1:
				msgs = append(msgs, itContrib(fund, id, "c9", "1.000"))
			case 2:
				msgs = append(msgs, itEvent(fund, "grant.approved", id, itGrantData(gid(), "b0", "1.00", "2026-01-01").with("category", "")))
			case 3:
				msgs = append(msgs, itEvent(fund, "grant.teleported", id, itData{}))
			default:
				msgs = append(msgs, events.Message{Subject: "fund.F!.contribution.received", Data: itEnvelope(id, "contribution.received", itContribData("c9", "1.00"))})
			}
		case 15: // the same envelope id again
			m := msgs[rapid.IntRange(0, len(msgs)-1).Draw(t, "resend")]
			m.StreamSeq = 0
			msgs = append(msgs, m)
		default: // the same data under a new envelope id
			g := good[rapid.IntRange(0, len(good)-1).Draw(t, "again")]
			add(g.fund, g.typ, g.data)
		}
	}
	return msgs
}

// itBooks is what a ledger ended with, to compare two runs.
func itBooks(l *itLedger) map[string]string {
	b := map[string]string{"books": l.st.fingerprint()}
	for id := range l.st.funds {
		var hashes []string
		for _, t := range l.st.txns(id) {
			hashes = append(hashes, fmt.Sprintf("%d:%x", t.Seq, t.Hash))
		}
		b["journal "+id] = strings.Join(hashes, " ")
		var snaps []string
		for _, s := range l.st.snapshots[id] {
			snaps = append(snaps, string(s.body))
		}
		b["snapshots "+id] = strings.Join(snaps, "\n")
	}
	for _, r := range l.st.rejections {
		k := "rejected " + r.rec.EventID
		if r.rec.EventID == "" {
			k = fmt.Sprintf("rejected stream:%d", r.rec.StreamSeq)
		}
		b[k] += fmt.Sprintf("%s %s %s %s %d|", r.rec.Rejection.Code, r.rec.Rejection.Message, lineCodes(r.rec), r.rec.ReceivedAt, r.rec.StreamSeq)
	}
	for id, r := range l.st.inbox {
		b["inbox "+id] = r.outcome
	}
	for _, o := range l.st.outbox {
		b["outbox "+o.MsgID] += o.Subject + " " + string(o.Payload) + "|"
	}
	b["held"] = fmt.Sprint(len(l.st.held))
	return b
}

// TestIntakeBatchBoundaries: a stream applied in batches cut anywhere gives
// the books it gives applied one event a batch: the same balances,
// journal hashes, snapshots, rejections (by event and code), inbox
// outcomes and outbox; every transaction balances and no fund's cash or
// available goes negative, after every batch (itLedger.batch checks).
func TestIntakeBatchBoundaries(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		msgs := itDrawStream(t)
		window := rapid.SampledFrom([]time.Duration{0, itWindow}).Draw(t, "window")
		every := rapid.SampledFrom([]int64{0, 2, 5}).Draw(t, "snapshot every")
		one, cut := newItLedger(t, window), newItLedger(t, window)
		one.set.SnapshotEvery, cut.set.SnapshotEvery = every, every
		one.each(msgs...)
		for start := 0; start < len(msgs); {
			n := rapid.IntRange(1, len(msgs)-start).Draw(t, "batch")
			cut.batch(msgs[start : start+n]...)
			start += n
		}
		for _, l := range []*itLedger{one, cut} {
			l.later(itWindow) // refuses what is still held
			l.now = l.now.Add(time.Second)
			l.timer()
			if len(l.st.held) != 0 {
				t.Fatalf("%d events still held after the window", len(l.st.held))
			}
		}
		a, b := itBooks(one), itBooks(cut)
		var keys []string
		for k := range a {
			keys = append(keys, k)
		}
		for k := range b {
			if _, ok := a[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			if a[k] != b[k] {
				t.Fatalf("%s differs:\none event a batch: %s\ncut in batches:   %s", k, itShort(a[k]), itShort(b[k]))
			}
		}
	})
}

func itShort(s string) string {
	if len(s) > 3000 {
		return s[:3000] + "..."
	}
	return s
}
