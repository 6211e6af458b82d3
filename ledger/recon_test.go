package ledger_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fundledger/fundledger/events"
	"github.com/fundledger/fundledger/ledger"
	"github.com/shopspring/decimal"
	"pgregory.net/rapid"
)

// These tests drive the bank reconciliation (CONTRACT.md section 10)
// through the apply stage over the in-memory store, as every other event.

func rcEntry(ref, on, dir, amount, bankRef string) itData {
	e := itData{"entry_ref": ref, "booked_on": on, "direction": dir, "amount": amount}
	if bankRef != "" {
		e["bank_ref"] = bankRef
	}
	return e
}

func rcStatementData(sid, start, end, opening, closing string, entries ...itData) itData {
	es := make([]any, len(entries))
	for i, e := range entries {
		es[i] = e
	}
	return itData{"statement_id": sid, "bank_account": "ICBC-3100-0001", "period_start": start, "period_end": end,
		"opening_balance": opening, "closing_balance": closing, "entries": es}
}

func rcStatement(fund, id string, d itData) events.Message {
	return itEvent(fund, events.TypeBankStatementReceived, id, d)
}

func rcRequest(fund, id string) events.Message {
	return itEvent(fund, events.TypeReconciliationRequested, id, itData{"requested_by": "auditor-chen"})
}

func rcChargeData(cid, amount, bankRef, on string) itData {
	return itData{"charge_id": cid, "amount": amount, "bank_ref": bankRef, "charged_on": on, "description": "account fee",
		"requested_by": "clerk-wu", "approved_by": "officer-li"}
}

func rcCharge(fund, id string, d itData) events.Message {
	return itEvent(fund, events.TypeBankChargeRecorded, id, d)
}

func rcDisb(fund, id, gid, pid, amount, bankRef, on string) events.Message {
	return itEvent(fund, "grant.disbursed", id, itDisbData(gid, pid, amount).with("bank_ref", bankRef, "paid_on", on))
}

func newRcLedger(t itTB) *itLedger {
	l := newItLedger(t, time.Hour)
	l.set.Recon = ledger.ReconSettings{DateWindow: 3}
	return l
}

// reports are the fund's stored reports, decoded.
func (l *itLedger) reports(fund string) []ledger.Reconciliation {
	var out []ledger.Reconciliation
	for _, b := range l.st.recon.reports[fund] {
		var r ledger.Reconciliation
		if err := json.Unmarshal(b, &r); err != nil {
			l.t.Fatalf("report: %v", err)
		}
		out = append(out, r)
	}
	return out
}

func (l *itLedger) lastReport(fund string) ledger.Reconciliation {
	l.t.Helper()
	rs := l.reports(fund)
	if len(rs) == 0 {
		l.t.Fatalf("fund %s has no reconciliation report", fund)
	}
	return rs[len(rs)-1]
}

func unmatchedRefs(r ledger.Reconciliation) (bank, book []string) {
	for _, e := range r.UnmatchedBank {
		bank = append(bank, e.EntryRef)
	}
	for _, i := range r.UnmatchedBook {
		book = append(book, fmt.Sprint(i.JournalSeq))
	}
	return bank, book
}

// rcHandFund is a fund with the postings of the hand-computed case.
func rcHandFund(l *itLedger, f string) {
	l.t.Helper()
	l.batch(itOpen(f),
		itContrib(f, "c1", "C1", "10000.00"),                                                                                     // seq 1: credit 10000, BR-C1, 2026-01-05
		itGrant(f, "g1", "G1", "hh-1", "1000.00", "2026-03-01"),                                                                  // seq 2
		rcDisb(f, "d1", "G1", "P1", "400.00", "BANK-P1", "2026-03-05"),                                                           // seq 3
		itEvent(f, "grant.approved", "g2", itGrantData("G2", "hh-2", "600.00", "2026-03-01").with("program", "pension_subsidy")), // seq 4
		rcDisb(f, "d2", "G2", "P2", "300.00", "BULK-1", "2026-03-06"),                                                            // seq 5
		rcDisb(f, "d3", "G2", "P3", "200.00", "BULK-1", "2026-03-06"),                                                            // seq 6
		rcDisb(f, "d4", "G1", "P4", "250.00", "BANK-P4", "2026-03-06"),                                                           // seq 7
		rcDisb(f, "d5", "G1", "P5", "100.00", "BANK-P5", "2026-03-30"),                                                           // seq 8: not cleared
		rcCharge(f, "fee1", rcChargeData("FEE-1", "15.00", "FEE-0331", "2026-03-31")),                                            // seq 9
	)
}

func rcHandStatement(f string) events.Message {
	return rcStatement(f, "s1", rcStatementData("S1", "2026-01-01", "2026-03-31", "0", "8838.21",
		rcEntry("E1", "2026-01-05", "credit", "10000.00", "BR-C1"),
		rcEntry("E2", "2026-03-05", "debit", "400.00", "BANK-P1"),
		rcEntry("E3", "2026-03-06", "debit", "500.00", "BULK-1"),
		rcEntry("E4", "2026-03-08", "debit", "250.00", ""),
		rcEntry("E5", "2026-03-31", "debit", "15.00", "FEE-0331"),
		rcEntry("E6", "2026-03-21", "credit", "3.21", "INT-Q1").with("description", "interest"),
	))
}

func TestReconcileHandComputed(t *testing.T) {
	l := newRcLedger(t)
	const f = "recon-fund"
	rcHandFund(l, f)
	if got := l.st.balance(f, ledger.AccountBankCharges); got != "15.00" {
		t.Fatalf("expenses:bank_charges %s, want 15.00", got)
	}
	l.batch(rcHandStatement(f))
	if got := l.st.outcome("s1"); got != ledger.OutcomeApplied {
		t.Fatalf("statement: %s (%v)", got, l.st.rejectionOf("s1"))
	}
	r := l.lastReport(f)
	want := ledger.Reconciliation{FundID: f, ReconciliationSeq: 1, StatementID: "S1", BankAccount: "ICBC-3100-0001",
		PeriodEnd: "2026-03-31", AsOfJournalSeq: 9, OpeningBankBalance: "0.00", OpeningBookBalance: "0.00",
		BankBalance: "8838.21", BookBalance: "8735.00", Matched: ledger.ReconMatched{Count: 5, Amount: "11165.00"},
		AdjustedBankBalance: "8738.21", AdjustedBookBalance: "8738.21", Difference: "0.00", Reconciled: true}
	got := r
	got.UnmatchedBank, got.UnmatchedBook, got.KeyID, got.Signature = nil, nil, "", ""
	if g, w := itJSON(got), itJSON(want); string(g) != string(w) {
		t.Fatalf("report\n got %s\nwant %s", g, w)
	}
	if g := string(itJSON(r.UnmatchedBank)); g != `[{"statement_id":"S1","entry_ref":"E6","booked_on":"2026-03-21","direction":"credit","amount":"3.21","bank_ref":"INT-Q1","description":"interest"}]` {
		t.Fatalf("unmatched bank %s", g)
	}
	if g := string(itJSON(r.UnmatchedBook)); g != `[{"journal_seq":8,"type":"grant.disbursed","date":"2026-03-30","direction":"debit","amount":"100.00","bank_ref":"BANK-P5"}]` {
		t.Fatalf("unmatched book %s", g)
	}
	rules := map[int64]string{}
	for k, m := range l.st.recon.matches {
		rules[k.seq] = m.Rule + "/" + m.EntryRef
	}
	wantRules := map[int64]string{1: "reference/E1", 3: "reference/E2", 5: "reference_group/E3", 6: "reference_group/E3",
		7: "amount_date/E4", 9: "reference/E5"}
	if fmt.Sprint(rules) != fmt.Sprint(wantRules) {
		t.Fatalf("matches %v, want %v", rules, wantRules)
	}
	// The signature covers the bytes docs/audit.md specifies.
	sig, _ := base64.StdEncoding.DecodeString(r.Signature)
	if r.KeyID != itKey.KeyID() || !itKey.verify(ledger.ReconciliationSigningInput(&r), sig) {
		t.Fatal("the report's signature does not verify")
	}
	tampered := r
	tampered.Difference = "0.01"
	if itKey.verify(ledger.ReconciliationSigningInput(&tampered), sig) {
		t.Fatal("a changed report still verifies")
	}
	// Published on ledger.<fund>.reconciliation with its id.
	var published bool
	for _, o := range l.st.outbox {
		if o.Subject == "ledger."+f+".reconciliation" && o.MsgID == "reconciliation:"+f+":1" {
			published = true
		}
	}
	if !published {
		t.Fatal("report 1 was not queued on ledger.<fund>.reconciliation")
	}

	// The interest is booked; asking again matches it.
	l.batch(itEvent(f, "contribution.received", "int1", itContribData("INT-Q1", "3.21").with("source_kind", "other",
		"bank_ref", "INT-Q1", "received_on", "2026-03-21")), rcRequest(f, "r1"))
	r = l.lastReport(f)
	if r.ReconciliationSeq != 2 || r.Matched.Count != 6 || r.Matched.Amount != "11168.21" || len(r.UnmatchedBank) != 0 ||
		r.BookBalance != "8738.21" || r.AdjustedBankBalance != "8738.21" || r.AdjustedBookBalance != "8738.21" || !r.Reconciled {
		t.Fatalf("report 2: %s", itJSON(r))
	}
	// The next statement continues the first (starting the day after)
	// and clears the payment.
	l.batch(rcStatement(f, "s2", rcStatementData("S2", "2026-04-01", "2026-04-30", "8838.21", "8738.21",
		rcEntry("E7", "2026-04-01", "debit", "100.00", "BANK-P5"))))
	r = l.lastReport(f)
	if r.ReconciliationSeq != 3 || r.StatementID != "S2" || r.PeriodEnd != "2026-04-30" || r.Matched.Count != 7 ||
		len(r.UnmatchedBank)+len(r.UnmatchedBook) != 0 || r.BankBalance != "8738.21" || r.Difference != "0.00" {
		t.Fatalf("report 3: %s", itJSON(r))
	}
}

func TestReconcileRules(t *testing.T) {
	const f = "rules-fund"
	setup := func(t *testing.T) *itLedger {
		l := newRcLedger(t)
		l.batch(itOpen(f), itContrib(f, "c1", "C1", "10000.00"), // seq 1, 2026-01-05, BR-C1
			itEvent(f, "grant.approved", "g1", itGrantData("G1", "hh-1", "9000.00", "2026-03-01").with("program", "pension_subsidy"))) // seq 2
		return l
	}
	const start, end = "2026-01-01", "2026-03-31"
	t.Run("reference takes the lowest journal_seq, entries in booked_on order", func(t *testing.T) {
		l := setup(t)
		l.batch(rcDisb(f, "d1", "G1", "P1", "50.00", "SAME", "2026-03-02"), // seq 3
			rcDisb(f, "d2", "G1", "P2", "50.00", "SAME", "2026-03-09")) // seq 4
		// The later-listed entry is booked first: it takes seq 3.
		l.batch(rcStatement(f, "s1", rcStatementData("S1", start, end, "10000.00", "9900.00",
			rcEntry("LATE", "2026-03-20", "debit", "50.00", "SAME"),
			rcEntry("EARLY", "2026-03-01", "debit", "50.00", "SAME"))))
		if m := l.st.recon.matches[msItemKey{f, 3, 1}]; m.EntryRef != "EARLY" || m.Rule != ledger.RuleReference {
			t.Fatalf("seq 3 matched %+v, want EARLY by reference", m)
		}
		if m := l.st.recon.matches[msItemKey{f, 4, 1}]; m.EntryRef != "LATE" {
			t.Fatalf("seq 4 matched %+v, want LATE", m)
		}
	})
	t.Run("reference before group before amount_date", func(t *testing.T) {
		l := setup(t)
		l.batch(rcDisb(f, "d1", "G1", "P1", "30.00", "B", "2026-03-02"), // seq 3
			rcDisb(f, "d2", "G1", "P2", "30.00", "B", "2026-03-02"), // seq 4
			rcDisb(f, "d3", "G1", "P3", "60.00", "B", "2026-03-02")) // seq 5
		// Rule 1 takes seq 5 for the 60.00 entry; the group entry of 60.00
		// is then made of seq 3 and 4 together.
		l.batch(rcStatement(f, "s1", rcStatementData("S1", start, end, "10000.00", "9880.00",
			rcEntry("GROUP", "2026-03-01", "debit", "60.00", "B"),
			rcEntry("ONE", "2026-03-05", "debit", "60.00", "B"))))
		r := l.lastReport(f)
		if len(r.UnmatchedBank)+len(r.UnmatchedBook) != 1 { // seq 1's contribution only
			t.Fatalf("unmatched: %s", itJSON(r))
		}
		if m := l.st.recon.matches[msItemKey{f, 5, 1}]; m.EntryRef != "GROUP" || m.Rule != ledger.RuleReference {
			t.Fatalf("seq 5: %+v; rule 1 runs over every entry first, in booked_on order", m)
		}
		for _, seq := range []int64{3, 4} {
			if m := l.st.recon.matches[msItemKey{f, seq, 1}]; m.EntryRef != "ONE" || m.Rule != ledger.RuleReferenceGroup {
				t.Fatalf("seq %d: %+v", seq, m)
			}
		}
	})
	t.Run("no subset is searched", func(t *testing.T) {
		l := setup(t)
		l.batch(rcDisb(f, "d1", "G1", "P1", "30.00", "B", "2026-03-02"),
			rcDisb(f, "d2", "G1", "P2", "30.00", "B", "2026-03-02"),
			rcDisb(f, "d3", "G1", "P3", "40.00", "B", "2026-03-02"))
		l.batch(rcStatement(f, "s1", rcStatementData("S1", start, end, "10000.00", "9940.00",
			rcEntry("E", "2026-03-03", "debit", "60.00", "B"))))
		if bank, book := unmatchedRefs(l.lastReport(f)); fmt.Sprint(bank, book) != "[E] [1 3 4 5]" {
			t.Fatalf("unmatched %v %v", bank, book)
		}
	})
	t.Run("amount_date needs a unique pair within the window, edges included", func(t *testing.T) {
		l := setup(t)
		l.batch(rcDisb(f, "d1", "G1", "P1", "70.00", "X1", "2026-03-10"), // seq 3: E3 days before
			rcDisb(f, "d2", "G1", "P2", "80.00", "X2", "2026-03-10"), // seq 4: E4 days after, out
			rcDisb(f, "d3", "G1", "P3", "90.00", "X3", "2026-03-10"), // seq 5
			rcDisb(f, "d4", "G1", "P4", "90.00", "X4", "2026-03-11")) // seq 6: two items for A90
		l.batch(rcStatement(f, "s1", rcStatementData("S1", start, end, "10000.00", "9670.00",
			rcEntry("A70", "2026-03-13", "debit", "70.00", ""),
			rcEntry("A80", "2026-03-14", "debit", "80.00", ""),
			rcEntry("A90", "2026-03-10", "debit", "90.00", ""),
			rcEntry("B90", "2026-03-30", "debit", "90.00", ""))))
		bank, book := unmatchedRefs(l.lastReport(f))
		if fmt.Sprint(bank, book) != "[A90 A80 B90] [1 4 5 6]" {
			t.Fatalf("unmatched %v %v", bank, book)
		}
		if m := l.st.recon.matches[msItemKey{f, 3, 1}]; m.EntryRef != "A70" || m.Rule != ledger.RuleAmountDate {
			t.Fatalf("seq 3: %+v", m)
		}
	})
	t.Run("amount_date refuses an item two entries could take", func(t *testing.T) {
		l := setup(t)
		l.batch(rcDisb(f, "d1", "G1", "P1", "70.00", "X1", "2026-03-10"))
		l.batch(rcStatement(f, "s1", rcStatementData("S1", start, end, "10000.00", "9860.00",
			rcEntry("A", "2026-03-09", "debit", "70.00", ""),
			rcEntry("B", "2026-03-12", "debit", "70.00", ""))))
		if bank, book := unmatchedRefs(l.lastReport(f)); fmt.Sprint(bank, book) != "[A B] [1 3]" {
			t.Fatalf("unmatched %v %v", bank, book)
		}
	})
	t.Run("direction must agree", func(t *testing.T) {
		l := setup(t)
		l.batch(rcStatement(f, "s1", rcStatementData("S1", start, end, "0", "0",
			rcEntry("OUT", "2026-01-05", "debit", "10000.00", "BR-C1"),
			rcEntry("IN", "2026-01-06", "credit", "10000.00", "ZZ"))))
		bank, book := unmatchedRefs(l.lastReport(f))
		if fmt.Sprint(bank, book) != "[OUT] []" {
			t.Fatalf("unmatched %v %v (IN should match seq 1 by amount and date)", bank, book)
		}
	})
}

func TestReconcileRefusals(t *testing.T) {
	const f = "refuse-fund"
	const start, end = "2026-01-01", "2026-01-31"
	s1 := rcStatementData("S1", start, end, "0", "100.00", rcEntry("E1", "2026-01-05", "credit", "100.00", "BR-C1"))
	cases := []struct {
		name  string
		prior []events.Message
		msg   events.Message
		code  events.Code
		lines []int
		text  string
	}{
		{name: "unknown fund", msg: rcStatement("nobody", "x", s1), code: events.UnknownFund},
		{name: "bad entries before the fund", msg: rcStatement("nobody", "x", s1.with("entries", []any{rcEntry("E1", "2026-02-01", "credit", "1.00", "")})),
			code: events.InvalidField, lines: []int{0}},
		{name: "unbalanced", msg: rcStatement(f, "x", s1.with("closing_balance", "100.01")), code: events.StatementUnbalanced, text: "100.01"},
		{name: "empty statement must not move", msg: rcStatement(f, "x", s1.with("entries", []any{})), code: events.StatementUnbalanced},
		{name: "empty statement", msg: rcStatement(f, "x", s1.with("entries", []any{}, "closing_balance", "0.00"))},
		{name: "entry ref repeated names the later entry", msg: rcStatement(f, "x", s1.with("entries", []any{
			rcEntry("E1", "2026-01-05", "credit", "100.00", ""), rcEntry("E2", "2026-01-06", "credit", "1.00", ""), rcEntry("E1", "2026-01-07", "debit", "1.00", "")})),
			code: events.DuplicateID, lines: []int{2}},
		{name: "entry ref taken by an earlier statement", prior: []events.Message{rcStatement(f, "p", s1)},
			msg: rcStatement(f, "x", rcStatementData("S2", "2026-02-01", "2026-02-28", "100.00", "100.00",
				rcEntry("E9", "2026-02-01", "credit", "1.00", ""), rcEntry("E1", "2026-02-02", "debit", "1.00", ""))),
			code: events.DuplicateID, lines: []int{1}, text: `"S1"`},
		{name: "entry refs before the balance", msg: rcStatement(f, "x", s1.with("closing_balance", "5.00", "entries", []any{
			rcEntry("E1", "2026-01-05", "credit", "100.00", ""), rcEntry("E1", "2026-01-06", "credit", "1.00", "")})),
			code: events.DuplicateID, lines: []int{1}},
		{name: "another bank account", prior: []events.Message{rcStatement(f, "p", s1)},
			msg:  rcStatement(f, "x", rcStatementData("S2", "2026-02-01", "2026-02-28", "100.00", "100.00").with("bank_account", "ABC-9")),
			code: events.InvalidField, text: "ICBC-3100-0001"},
		{name: "a gap in dates", prior: []events.Message{rcStatement(f, "p", s1)},
			msg: rcStatement(f, "x", rcStatementData("S2", "2026-02-02", "2026-02-28", "100.00", "100.00")), code: events.StatementGap},
		{name: "a gap in balance", prior: []events.Message{rcStatement(f, "p", s1)},
			msg: rcStatement(f, "x", rcStatementData("S2", "2026-02-01", "2026-02-28", "99.00", "99.00")), code: events.StatementGap},
		{name: "unbalanced before a gap", prior: []events.Message{rcStatement(f, "p", s1)},
			msg: rcStatement(f, "x", rcStatementData("S2", "2026-03-01", "2026-03-31", "5.00", "6.00")), code: events.StatementUnbalanced},
		{name: "a busy day split over two statements", prior: []events.Message{rcStatement(f, "p", s1)},
			msg: rcStatement(f, "x", rcStatementData("S2", "2026-01-31", "2026-01-31", "100.00", "100.00"))},
		{name: "statement_id reused with other data", prior: []events.Message{rcStatement(f, "p", s1)},
			msg: rcStatement(f, "x", s1.with("closing_balance", "1.00")), code: events.DuplicateID},
		{name: "statement_id reused with the same data", prior: []events.Message{rcStatement(f, "p", s1)},
			msg: rcStatement(f, "x", s1)},
		{name: "request before any statement", msg: rcRequest(f, "x"), code: events.InvalidField, text: "no bank statement"},
		{name: "request of an unknown fund", msg: rcRequest("nobody", "x"), code: events.UnknownFund},
		{name: "charge by one person", msg: rcCharge(f, "x", rcChargeData("F1", "1.00", "R", "2026-01-31").with("approved_by", "clerk-wu")), code: events.SameMakerChecker},
		{name: "charge above available", msg: rcCharge(f, "x", rcChargeData("F1", "1000.01", "R", "2026-01-31")), code: events.InsufficientFunds},
		{name: "charge id taken before maker-checker", prior: []events.Message{rcCharge(f, "p", rcChargeData("F1", "1.00", "R", "2026-01-31"))},
			msg: rcCharge(f, "x", rcChargeData("F1", "2.00", "R", "2026-01-31").with("approved_by", "clerk-wu")), code: events.DuplicateID},
		{name: "charge", msg: rcCharge(f, "x", rcChargeData("F1", "1000.00", "R", "2026-01-31"))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newRcLedger(t)
			l.batch(itOpen(f), itContrib(f, "c1", "C1", "1000.00"))
			for _, p := range c.prior {
				l.batch(p)
				if o := l.st.outcome(idOf(p)); o != ledger.OutcomeApplied && o != ledger.OutcomePosted {
					t.Fatalf("prior %s: %s %v", idOf(p), o, l.st.rejectionOf(idOf(p)))
				}
			}
			before := l.st.fingerprint()
			reports := len(l.st.recon.reports[f])
			l.batch(c.msg)
			rej := l.st.rejectionOf("x")
			if c.code == "" {
				if rej != nil {
					t.Fatalf("refused: %v", rej.Rejection)
				}
				return
			}
			if rej == nil {
				t.Fatalf("accepted (%s), want %s", l.st.outcome("x"), c.code)
			}
			if rej.Rejection.Code != c.code || !strings.Contains(rej.Rejection.Message, c.text) {
				t.Fatalf("got %v, want %s containing %q", rej.Rejection, c.code, c.text)
			}
			var lines []int
			for _, le := range rej.Rejection.Lines {
				lines = append(lines, le.Index)
			}
			if fmt.Sprint(lines) != fmt.Sprint(c.lines) {
				t.Fatalf("lines %v, want %v (%v)", lines, c.lines, rej.Rejection)
			}
			if l.st.fingerprint() != before || len(l.st.recon.reports[f]) != reports {
				t.Fatal("a refused event changed the books or made a report")
			}
		})
	}
}

func idOf(m events.Message) string {
	var e struct{ ID string }
	_ = json.Unmarshal(m.Data, &e)
	return e.ID
}

// A statement can arrive before the disbursements it pays (two systems,
// two clocks): its entries wait unmatched and match on the next request.
func TestReconcileStatementBeforeBooks(t *testing.T) {
	l := newRcLedger(t)
	const f = "early-fund"
	l.batch(itOpen(f), itContrib(f, "c1", "C1", "1000.00"), itGrant(f, "g1", "G1", "hh-1", "300.00", "2026-01-02"))
	l.batch(rcStatement(f, "s1", rcStatementData("S1", "2026-01-01", "2026-01-31", "0", "800.00",
		rcEntry("E1", "2026-01-05", "credit", "1000.00", "BR-C1"),
		rcEntry("E2", "2026-01-20", "debit", "200.00", "PAY-9"))))
	r := l.lastReport(f)
	if bank, book := unmatchedRefs(r); fmt.Sprint(bank, book) != "[E2] []" || r.Reconciled != true || r.AdjustedBookBalance != "800.00" {
		t.Fatalf("report 1: %s", itJSON(r))
	}
	l.batch(rcDisb(f, "d1", "G1", "P9", "200.00", "PAY-9", "2026-01-19"), rcRequest(f, "r1"))
	r = l.lastReport(f)
	if bank, book := unmatchedRefs(r); fmt.Sprint(bank, book) != "[] []" || r.Matched.Count != 2 || r.BookBalance != "800.00" {
		t.Fatalf("report 2: %s", itJSON(r))
	}
}

// Book items dated before the first statement's period are before the
// bank's history: not matched or listed, their net the opening book
// balance, also when they are posted later.
func TestReconcileOpeningBook(t *testing.T) {
	l := newRcLedger(t)
	const f = "old-fund"
	l.batch(itOpen(f), itEvent(f, "contribution.received", "c0", itContribData("C0", "500.00").with("received_on", "2025-12-20")))
	l.batch(rcStatement(f, "s1", rcStatementData("S1", "2026-01-01", "2026-01-31", "500.00", "500.00")))
	r := l.lastReport(f)
	if r.OpeningBookBalance != "500.00" || r.OpeningBankBalance != "500.00" || !r.Reconciled || len(r.UnmatchedBook) != 0 {
		t.Fatalf("report 1: %s", itJSON(r))
	}
	// A late contribution dated in December joins the opening balance, and
	// the difference says so.
	l.batch(itEvent(f, "contribution.received", "c1", itContribData("C1", "20.00").with("received_on", "2025-12-31")), rcRequest(f, "r1"))
	r = l.lastReport(f)
	if r.OpeningBookBalance != "520.00" || r.Difference != "-20.00" || r.Reconciled || len(r.UnmatchedBook) != 0 {
		t.Fatalf("report 2: %s", itJSON(r))
	}
}

// TestReconcileProperties runs random streams of cash events and the
// bank's statements of them (fees booked or not, interest, payments not
// cleared, shared references that make bulk payments, entries booked
// before or after the books), with requests, in random batches, and checks
// every report: adjusted_bank - adjusted_book equals opening_bank -
// opening_book, and matched and unmatched partition the bank entries and
// the book items.
func TestReconcileProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		l := newRcLedger(t)
		const f = "prop-fund"
		l.batch(itOpen(f), itContrib(f, "c0", "C0", "100000.00"),
			itEvent(f, "grant.approved", "g0", itGrantData("G0", "hh-0", "90000.00", "2026-01-01").with("program", "pension_subsidy")))
		b := &rcBank{start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), balance: decimal.Zero}
		b.pending = append(b.pending, rcLine{"credit", "100000.00", "BR-C0"})
		var msgs []events.Message
		day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		n := rapid.IntRange(5, 60).Draw(t, "steps")
		for i := 0; i < n; i++ {
			day = day.AddDate(0, 0, rapid.IntRange(0, 2).Draw(t, "days"))
			on := day.Format(time.DateOnly)
			switch rapid.IntRange(0, 7).Draw(t, "kind") {
			case 7: // a bulk payment: several payments, one bank entry of their sum (or of a part)
				ref := fmt.Sprint("BULK", i)
				k := rapid.IntRange(2, 4).Draw(t, "bulk")
				sum := decimal.Zero
				for j := 0; j < k; j++ {
					amt := decimal.New(int64(rapid.IntRange(100, 9999).Draw(t, "bulk amt")), -2)
					msgs = append(msgs, rcDisb(f, fmt.Sprint("d", i, "-", j), "G0", fmt.Sprint("P", i, "-", j), amt.StringFixed(2), ref, on))
					if j > 0 || rapid.Bool().Draw(t, "whole") {
						sum = sum.Add(amt)
					}
				}
				b.pending = append(b.pending, rcLine{"debit", sum.StringFixed(2), ref})
			case 0, 1: // a payment, cleared by the bank or not (yet)
				amt := fmt.Sprintf("%d.%02d", rapid.IntRange(1, 300).Draw(t, "amt"), rapid.IntRange(0, 99).Draw(t, "cents"))
				ref := rapid.SampledFrom([]string{"", "R1", "R2", fmt.Sprint("P", i)}).Draw(t, "ref")
				bookRef := ref
				if bookRef == "" {
					bookRef = "other"
				}
				msgs = append(msgs, rcDisb(f, fmt.Sprint("d", i), "G0", fmt.Sprint("P", i), amt, bookRef, on))
				if rapid.Bool().Draw(t, "cleared") {
					b.pending = append(b.pending, rcLine{"debit", amt, ref})
				}
			case 2: // a fee the bank takes, booked or not
				amt := fmt.Sprintf("%d.00", rapid.IntRange(1, 20).Draw(t, "fee"))
				if rapid.Bool().Draw(t, "booked") {
					msgs = append(msgs, rcCharge(f, fmt.Sprint("fee", i), rcChargeData(fmt.Sprint("F", i), amt, fmt.Sprint("FEE", i), on)))
				}
				b.pending = append(b.pending, rcLine{"debit", amt, fmt.Sprint("FEE", i)})
			case 3: // interest the bank pays, booked or not
				amt := fmt.Sprintf("0.%02d", rapid.IntRange(1, 99).Draw(t, "int"))
				if rapid.Bool().Draw(t, "booked") {
					msgs = append(msgs, itEvent(f, "contribution.received", fmt.Sprint("int", i),
						itContribData(fmt.Sprint("I", i), amt).with("source_kind", "other", "bank_ref", fmt.Sprint("INT", i), "received_on", on)))
				}
				b.pending = append(b.pending, rcLine{"credit", amt, fmt.Sprint("INT", i)})
			case 4: // a statement of what the bank saw
				msgs = append(msgs, b.statement(t, f))
			case 5:
				msgs = append(msgs, rcRequest(f, fmt.Sprint("r", i)))
			case 6: // cut a batch
				l.batch(msgs...)
				msgs = nil
				l.checkRecon(t, f)
			}
		}
		msgs = append(msgs, b.statement(t, f), rcRequest(f, "final"))
		l.batch(msgs...)
		l.checkRecon(t, f)
	})
}

type rcLine struct{ dir, amount, ref string }

// rcBank is the bank's side: what it saw and has not yet stated.
type rcBank struct {
	n       int
	start   time.Time
	balance decimal.Decimal
	pending []rcLine
	entries int
}

func (b *rcBank) statement(t *rapid.T, f string) events.Message {
	b.n++
	days := rapid.IntRange(0, 9).Draw(t, "period")
	end := b.start.AddDate(0, 0, days)
	opening := b.balance
	var es []itData
	for _, x := range b.pending {
		b.entries++
		on := b.start.AddDate(0, 0, rapid.IntRange(0, days).Draw(t, "booked"))
		es = append(es, rcEntry(fmt.Sprint("E", b.entries), on.Format(time.DateOnly), x.dir, x.amount, x.ref))
		amt := decimal.RequireFromString(x.amount)
		if x.dir == "debit" {
			amt = amt.Neg()
		}
		b.balance = b.balance.Add(amt)
	}
	b.pending = nil
	m := rcStatement(f, fmt.Sprint("s", b.n), rcStatementData(fmt.Sprint("S", b.n), b.start.Format(time.DateOnly),
		end.Format(time.DateOnly), opening.StringFixed(2), b.balance.StringFixed(2), es...))
	if rapid.Bool().Draw(t, "same day") { // a busy day split over two statements
		b.start = end
	} else {
		b.start = end.AddDate(0, 0, 1)
	}
	return m
}

// checkRecon checks every stored report of the fund and the partition
// of the latest one against the stored books.
func (l *itLedger) checkRecon(t *rapid.T, f string) {
	for _, id := range []string{"s1", "s2", "s3", "s4", "s5", "final"} {
		if r := l.st.rejectionOf(id); r != nil {
			t.Fatalf("%s refused: %v", id, r.Rejection)
		}
	}
	reports := l.reports(f)
	if len(reports) == 0 {
		return
	}
	dec := func(s string) decimal.Decimal { return decimal.RequireFromString(s) }
	for _, r := range reports {
		lhs := dec(r.AdjustedBankBalance).Sub(dec(r.AdjustedBookBalance))
		rhs := dec(r.OpeningBankBalance).Sub(dec(r.OpeningBookBalance))
		if !lhs.Equal(rhs) || !dec(r.Difference).Equal(lhs) || r.Reconciled != lhs.IsZero() {
			t.Fatalf("report %d: adjusted difference %s, opening difference %s: %s", r.ReconciliationSeq, lhs, rhs, itJSON(r))
		}
	}
	r := reports[len(reports)-1]
	unBank := map[string]bool{}
	for _, e := range r.UnmatchedBank {
		unBank[e.EntryRef] = true
	}
	for k, e := range l.st.recon.entries {
		if k[0] != f {
			continue
		}
		if (e.MatchID != 0) == unBank[e.EntryRef] {
			t.Fatalf("entry %s: matched %d, listed unmatched %v", e.EntryRef, e.MatchID, unBank[e.EntryRef])
		}
		delete(unBank, e.EntryRef)
	}
	if len(unBank) > 0 {
		t.Fatalf("unmatched entries that do not exist: %v", unBank)
	}
	unBook := map[int64]bool{}
	for _, it := range r.UnmatchedBook {
		unBook[it.JournalSeq] = true
	}
	first := l.st.recon.state[f].FirstStart
	byMatch := map[int64]decimal.Decimal{}
	for _, tx := range l.st.txns(f) {
		if tx.Seq > r.AsOfJournalSeq {
			break
		}
		for _, it := range ledger.CashItems(tx, time.UTC) {
			_, matched := l.st.recon.matches[msItemKey{f, it.JournalSeq, it.Line}]
			if it.Date.Before(first) {
				if matched || unBook[it.JournalSeq] {
					t.Fatalf("item %d is before the bank's history but matched or listed", it.JournalSeq)
				}
				continue
			}
			if matched == unBook[it.JournalSeq] {
				t.Fatalf("item %d: matched %v, listed unmatched %v", it.JournalSeq, matched, unBook[it.JournalSeq])
			}
			if matched {
				m := l.st.recon.matches[msItemKey{f, it.JournalSeq, it.Line}]
				byMatch[m.MatchID] = byMatch[m.MatchID].Add(signedAmount(it.Direction, it.Amount))
			}
			delete(unBook, it.JournalSeq)
		}
	}
	if len(unBook) > 0 {
		t.Fatalf("unmatched items that do not exist: %v", unBook)
	}
	for _, e := range l.st.recon.entries {
		if e.FundID == f && e.MatchID != 0 && !byMatch[e.MatchID].Equal(signedAmount(e.Direction, e.Amount)) {
			t.Fatalf("entry %s (%s %s) matched items worth %s", e.EntryRef, e.Direction, e.Amount, byMatch[e.MatchID])
		}
	}
}

func signedAmount(dir string, a decimal.Decimal) decimal.Decimal {
	if dir == "debit" {
		return a.Neg()
	}
	return a
}
