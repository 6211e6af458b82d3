package ledger_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fundledger/fundledger/events"
	"github.com/fundledger/fundledger/ledger"
	"github.com/fundledger/fundledger/ledger/merkle"
	"github.com/shopspring/decimal"
)

// These tests drive period.closed and the period reports of CONTRACT.md
// section 11 through the apply stage over the in-memory store; the same
// runs against PostgreSQL and JetStream in service/periods_test.go.

func itClose(fund, id, period string) events.Message {
	return itEvent(fund, events.TypePeriodClosed, id, itData{"period": period, "closed_by": "accountant-li", "approved_by": "director-wang"})
}

// report returns the stored report of a fund's month, nil when none.
func (s *memStore) report(t *testing.T, fund, period string) *ledger.PeriodReport {
	t.Helper()
	body := s.periods.reports[fund][period]
	if body == nil {
		return nil
	}
	r, err := ledger.ParsePeriodReport(body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (l *itLedger) rejectionOf(t *testing.T, out *ledger.BatchOutput, id string) *events.Rejection {
	t.Helper()
	for _, r := range out.Rejections {
		if r.EventID == id {
			return r.Rejection
		}
	}
	return nil
}

// TestPeriodCloseChecks drives every refusal of a close, in the contract's
// order, and the closes that pass.
func TestPeriodCloseChecks(t *testing.T) {
	shanghai, _ := time.LoadLocation("Asia/Shanghai")
	// 2026-03-01 00:30 in Shanghai, still 2026-02-28 in UTC.
	feb28UTC := time.Date(2026, 3, 1, 0, 30, 0, 0, shanghai)
	cases := []struct {
		name   string
		zone   *time.Location
		now    time.Time
		before []events.Message // applied first, each must pass
		msg    events.Message
		code   events.Code // "" when it must pass
		msgHas string
	}{
		{name: "first close of any ended month", msg: itClose("f", "c", "2025-11")},
		{name: "first close of the month just ended", msg: itClose("f", "c", "2026-02")},
		{name: "the month not ended", msg: itClose("f", "c", "2026-03"), code: events.InvalidField, msgHas: "not ended"},
		{name: "a future month", msg: itClose("f", "c", "2027-01"), code: events.InvalidField, msgHas: "not ended"},
		{name: "ended in Shanghai", now: feb28UTC, msg: itClose("f", "c", "2026-02")},
		{name: "not ended in UTC", zone: time.UTC, now: feb28UTC, msg: itClose("f", "c", "2026-02"), code: events.InvalidField, msgHas: "UTC"},
		{name: "the next month", before: []events.Message{itClose("f", "c0", "2026-01")}, msg: itClose("f", "c", "2026-02")},
		{name: "the same month again", before: []events.Message{itClose("f", "c0", "2026-01")}, msg: itClose("f", "c", "2026-01"),
			code: events.PeriodAlreadyClosed, msgHas: "closed up to 2026-01"},
		{name: "an earlier month", before: []events.Message{itClose("f", "c0", "2026-02")}, msg: itClose("f", "c", "2025-12"),
			code: events.PeriodAlreadyClosed},
		{name: "a month closed by a later first close", before: []events.Message{itClose("f", "c0", "2026-02")}, msg: itClose("f", "c", "2026-01"),
			code: events.PeriodAlreadyClosed},
		{name: "skipping a month", before: []events.Message{itClose("f", "c0", "2025-12")}, msg: itClose("f", "c", "2026-02"),
			code: events.InvalidField, msgHas: "close 2026-01 first"},
		{name: "next month but not ended", before: []events.Message{itClose("f", "c0", "2026-02")}, msg: itClose("f", "c", "2026-03"),
			code: events.InvalidField, msgHas: "not ended"},
		{name: "same maker and checker", msg: itEvent("f", events.TypePeriodClosed, "c",
			itData{"period": "2026-01", "closed_by": "li", "approved_by": "li"}), code: events.SameMakerChecker},
		{name: "maker-checker before closed", before: []events.Message{itClose("f", "c0", "2026-02")}, msg: itEvent("f", events.TypePeriodClosed, "c",
			itData{"period": "2026-01", "closed_by": "li", "approved_by": "li"}), code: events.SameMakerChecker},
		{name: "unknown fund before maker-checker", msg: itEvent("nofund", events.TypePeriodClosed, "c",
			itData{"period": "2026-01", "closed_by": "li", "approved_by": "li"}), code: events.UnknownFund},
		{name: "fields before the fund", msg: itEvent("nofund", events.TypePeriodClosed, "c",
			itData{"period": "2026-13", "closed_by": "li", "approved_by": "li"}), code: events.InvalidField, msgHas: "data.period"},
		{name: "period not a month", msg: itEvent("f", events.TypePeriodClosed, "c",
			itData{"period": "2026-2", "closed_by": "a", "approved_by": "b"}), code: events.InvalidField, msgHas: "YYYY-MM"},
		{name: "period a date", msg: itEvent("f", events.TypePeriodClosed, "c",
			itData{"period": "2026-02-01", "closed_by": "a", "approved_by": "b"}), code: events.InvalidField},
		{name: "period missing", msg: itEvent("f", events.TypePeriodClosed, "c",
			itData{"closed_by": "a", "approved_by": "b"}), code: events.MissingField},
		{name: "approved_by missing", msg: itEvent("f", events.TypePeriodClosed, "c",
			itData{"period": "2026-01", "closed_by": "a"}), code: events.MissingField},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newItLedger(t, itWindow)
			l.set.Zone = c.zone
			if !c.now.IsZero() {
				l.now = c.now
			}
			l.batch(itOpen("f"), itContrib("f", "e1", "c1", "100.00"))
			for _, m := range c.before {
				if out := l.batch(m); out.Result.Rejected != 0 {
					t.Fatalf("setup %s refused: %v", m.Subject, out.Rejections[0].Rejection)
				}
			}
			before := l.st.periods.state["f"]
			out := l.batch(c.msg)
			rej := l.rejectionOf(t, out, "c")
			switch {
			case c.code == "" && rej != nil:
				t.Fatalf("refused: %v", rej)
			case c.code == "":
				if got := l.st.periods.state["f"].LastClosed; got == before.LastClosed {
					t.Fatalf("last closed still %q", got)
				}
				if len(out.Outbox) != 1 || out.Outbox[0].Subject != "ledger.f.period" {
					t.Fatalf("outbox %+v, want one period report", out.Outbox)
				}
			case rej == nil:
				t.Fatalf("applied, want %s", c.code)
			case rej.Code != c.code || !strings.Contains(rej.Message, c.msgHas):
				t.Fatalf("refused %s %q, want %s containing %q", rej.Code, rej.Message, c.code, c.msgHas)
			default:
				if l.st.periods.state["f"] != before {
					t.Fatalf("a refused close changed the state: %+v", l.st.periods.state["f"])
				}
			}
		})
	}
}

// periodStream is a fund's months January to March 2026 with business
// dates on every event, a late payment and a late cancellation after
// January's close, an allocation between two funds and a grant dated
// ahead of the month being closed.
func periodStream() [][]events.Message {
	grant := func(id, gid, ben, amount, on string) events.Message {
		return itGrant("f", id, gid, ben, amount, on)
	}
	disb := func(id, gid, pid, amount, on string) events.Message {
		return itEvent("f", "grant.disbursed", id, itDisbData(gid, pid, amount).with("paid_on", on))
	}
	return [][]events.Message{
		{itOpen("f"), itOpen("g"),
			itEvent("f", "contribution.received", "e1", itContribData("c1", "10000.00").with("received_on", "2026-01-05")),
			itEvent("f", "contribution.received", "e2", itContribData("c2", "2000.00").with("source_kind", "donation", "received_on", "2026-01-20")),
			grant("e3", "g1", "ben-a", "1000.00", "2026-01-10"),
			grant("e4", "g2", "ben-a", "500.00", "2026-01-15"),
			grant("e5", "g3", "ben-b", "700.00", "2026-01-16"),
			disb("e6", "g1", "p1", "1000.00", "2026-01-25"),
			grant("e7", "g4", "ben-c", "300.00", "2026-02-03"), // February: not in January's report
		},
		{itClose("f", "close-1", "2026-01")},
		{
			disb("e8", "g2", "p2", "500.00", "2026-01-31"), // late: an adjustment of January in February
			itEvent("f", "grant.cancelled", "e9", itData{"grant_id": "g3", "cancelled_by": "officer-2", "reason": "moved",
				"cancelled_on": "2026-01-30"}), // late too
			itEvent("f", "allocation.approved", "e10", itAllocData("a1", "g", "1500.00").with("approved_on", "2026-02-10")),
			disb("e11", "g4", "p4", "100.00", "2026-02-11"),
			itEvent("f", "payment.returned", "e12", itRetData("g4", "p4", "100.00").with("returned_on", "2026-02-12")),
			itEvent("f", "grant.recovered", "e13", itRecovData("g1", "r1", "200.00").with("recovered_on", "2026-02-13")),
			grant("e14", "g5", "ben-a", "50.00", "2026-03-05"), // March: after February's close
		},
		{itClose("f", "close-2", "2026-02"), itClose("g", "close-g2", "2026-02")},
	}
}

func runPeriodStream(t *testing.T, split bool, now time.Time) *itLedger {
	t.Helper()
	l := newItLedger(t, itWindow)
	l.now = now
	for _, b := range periodStream() {
		if split {
			l.each(b...)
		} else if out := l.batch(b...); out.Result.Rejected != 0 {
			t.Fatalf("refused: %v", out.Rejections[0].Rejection)
		}
	}
	return l
}

func reportJSON(t *testing.T, r *ledger.PeriodReport) string {
	t.Helper()
	b, err := json.MarshalIndent(r, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPeriodReportsByHand checks the two reports of periodStream against
// figures computed by hand.
func TestPeriodReportsByHand(t *testing.T) {
	l := runPeriodStream(t, false, itT0)
	jan := l.st.report(t, "f", "2026-01")
	if jan == nil {
		t.Fatal("no January report")
	}
	wantJan := `{"fund_id":"f","period":"2026-01","closed_by":"accountant-li","approved_by":"director-wang","first":true,"as_of_journal_seq":7,` +
		`"chain_head":"` + jan.ChainHead + `",` +
		`"accounts":[` +
		`{"account":"cash","opening":"0.00","debits":"12000.00","credits":"1000.00","closing":"11000.00"},` +
		`{"account":"contributions:donation","opening":"0.00","debits":"0.00","credits":"2000.00","closing":"2000.00"},` +
		`{"account":"contributions:fiscal","opening":"0.00","debits":"0.00","credits":"10000.00","closing":"10000.00"},` +
		`{"account":"grant_expense:care_fund","opening":"0.00","debits":"2200.00","credits":"0.00","closing":"2200.00"},` +
		`{"account":"grants_payable","opening":"0.00","debits":"1000.00","credits":"2200.00","closing":"1200.00"}],` +
		`"programs":[` +
		`{"program":"care_fund","approved":"2200.00","cancelled":"0.00","paid":"1000.00","returned":"0.00","recovered":"0.00","beneficiaries":2},` +
		`{"program":"pension_subsidy","approved":"0.00","cancelled":"0.00","paid":"0.00","returned":"0.00","recovered":"0.00","beneficiaries":0}],` +
		`"contributions":{"fiscal":"10000.00","donation":"2000.00","other":"0.00"},"allocations":{"in":"0.00","out":"0.00"},` +
		`"adjustments":[],"reconciliation_seq":null,"tree_size":7,"tree_root":"` + jan.TreeRoot + `",` +
		`"prev_report_hash":"` + ledger.ZeroHash + `","key_id":"` + itKey.KeyID() + `","signature":"` + jan.Signature + `"}`
	if got := string(l.st.periods.reports["f"]["2026-01"]); got != wantJan {
		t.Errorf("January report\n got %s\nwant %s", got, wantJan)
	}
	// February: g4 (300, approved in February before January's close),
	// the late payment p2 (500) and cancellation of g3 (700) of January,
	// the allocation out (1500), p4 paid and returned (100), the recovery
	// (200). g5 (March) is not in it.
	feb := l.st.report(t, "f", "2026-02")
	if feb == nil || feb.First {
		t.Fatalf("February report %+v", feb)
	}
	type acc struct{ open, dr, cr, close string }
	wantAcc := map[string]acc{
		// cash: 11000 + 100 returned + 200 recovered - 500 p2 - 1500 alloc - 100 p4
		"cash":                    {"11000.00", "300.00", "2100.00", "9200.00"},
		"contributions:donation":  {"2000.00", "0.00", "0.00", "2000.00"},
		"contributions:fiscal":    {"10000.00", "0.00", "0.00", "10000.00"},
		"grant_expense:care_fund": {"2200.00", "300.00", "900.00", "1600.00"},
		// payable: 1200 + 300 g4 - 500 p2 - 700 cancelled - 100 p4 + 100 returned
		"grants_payable":  {"1200.00", "1300.00", "400.00", "300.00"},
		"allocations:out": {"0.00", "1500.00", "0.00", "1500.00"},
	}
	if len(feb.Accounts) != len(wantAcc) {
		t.Errorf("February accounts %+v", feb.Accounts)
	}
	for _, a := range feb.Accounts {
		w, ok := wantAcc[a.Account]
		if got := (acc{a.Opening, a.Debits, a.Credits, a.Closing}); !ok || got != w {
			t.Errorf("February %s = %+v, want %+v", a.Account, got, w)
		}
	}
	wantProg := ledger.PeriodProgram{Program: "care_fund", Approved: "300.00", Cancelled: "700.00", Paid: "600.00",
		Returned: "100.00", Recovered: "200.00", Beneficiaries: 1}
	if feb.Programs[0] != wantProg {
		t.Errorf("February care_fund %+v, want %+v", feb.Programs[0], wantProg)
	}
	if feb.Allocations != (ledger.PeriodAllocations{In: "0.00", Out: "1500.00"}) {
		t.Errorf("February allocations %+v", feb.Allocations)
	}
	wantAdj := []ledger.PeriodAdjustmentLine{
		{JournalSeq: 8, Type: "grant.disbursed", BusinessPeriod: "2026-01", Amount: "500.00"},
		{JournalSeq: 9, Type: "grant.cancelled", BusinessPeriod: "2026-01", Amount: "700.00"},
	}
	if fmt.Sprint(feb.Adjustments) != fmt.Sprint(wantAdj) {
		t.Errorf("February adjustments %+v, want %+v", feb.Adjustments, wantAdj)
	}
	// Opening is the previous report's closing, account by account.
	closing := map[string]string{}
	for _, a := range jan.Accounts {
		closing[a.Account] = a.Closing
	}
	for _, a := range feb.Accounts {
		if want := closing[a.Account]; want != "" && a.Opening != want {
			t.Errorf("%s opening %s, January closed at %s", a.Account, a.Opening, want)
		}
	}
	// The other fund's first report holds the allocation in.
	g := l.st.report(t, "g", "2026-02")
	if g == nil || !g.First || g.Allocations.In != "1500.00" {
		t.Fatalf("fund g's report %s", reportJSON(t, g))
	}
	// Signed.
	for _, r := range []*ledger.PeriodReport{jan, feb, g} {
		sig, _ := base64.StdEncoding.DecodeString(r.Signature)
		if !itKey.verify(ledger.PeriodSigningInput(r), sig) {
			t.Errorf("%s %s: signature does not verify", r.FundID, r.Period)
		}
		r.Accounts[0].Closing = "1.00"
		if itKey.verify(ledger.PeriodSigningInput(r), sig) {
			t.Errorf("%s %s: a changed report verifies", r.FundID, r.Period)
		}
	}
	// A month closed by a later first close has no report.
	if l.st.report(t, "g", "2026-01") != nil {
		t.Error("fund g has a January report")
	}
}

// TestPeriodReportsSumToBooks: the movements of all period reports add up
// to the books at the last close, less what was posted before it to later
// reporting periods (g5, dated March).
func TestPeriodReportsSumToBooks(t *testing.T) {
	l := runPeriodStream(t, false, itT0)
	sums := map[string][2]decimal.Decimal{}
	last := l.st.report(t, "f", "2026-02")
	for _, p := range []string{"2026-01", "2026-02"} {
		for _, a := range l.st.report(t, "f", p).Accounts {
			s := sums[a.Account]
			s[0], s[1] = s[0].Add(decimal.RequireFromString(a.Debits)), s[1].Add(decimal.RequireFromString(a.Credits))
			sums[a.Account] = s
		}
	}
	books := map[string][2]decimal.Decimal{}
	for _, tx := range l.st.journal {
		if tx.FundID != "f" || tx.Seq > last.AsOfJournalSeq {
			continue
		}
		if ledger.BusinessPeriod(tx, nil) > "2026-02" { // dated after the close, and not late
			continue
		}
		for _, p := range tx.Postings {
			s := books[p.Account]
			if p.Side == ledger.Debit {
				s[0] = s[0].Add(p.Amount)
			} else {
				s[1] = s[1].Add(p.Amount)
			}
			books[p.Account] = s
		}
	}
	if len(books) != len(sums) {
		t.Fatalf("accounts: reports %v, books %v", sums, books)
	}
	for a, s := range books {
		if !s[0].Equal(sums[a][0]) || !s[1].Equal(sums[a][1]) {
			t.Errorf("%s: reports %v, books %v", a, sums[a], s)
		}
	}
	// And the last closing is the balance less g5.
	for _, a := range last.Accounts {
		bal := l.st.balances[msAccount{"f", a.Account}]
		want := bal.debits.Sub(bal.credits)
		if !ledger.DebitNormal(a.Account) {
			want = want.Neg()
		}
		switch a.Account {
		case "grant_expense:care_fund", "grants_payable":
			want = want.Sub(decimal.RequireFromString("50"))
		}
		if a.Closing != ledger.Money(want) {
			t.Errorf("%s closing %s, books less later periods %s", a.Account, a.Closing, ledger.Money(want))
		}
	}
}

// TestPeriodReplay: the same stream, with business dates on every event,
// applied again into a fresh store in other batches and at another time,
// gives the same reports but for the chain head (recorded times are
// hashed) and the signature.
func TestPeriodReplay(t *testing.T) {
	a := runPeriodStream(t, false, itT0)
	b := runPeriodStream(t, true, itT0.Add(400*24*time.Hour))
	for _, fund := range []string{"f", "g"} {
		for _, p := range []string{"2026-01", "2026-02"} {
			ra, rb := a.st.report(t, fund, p), b.st.report(t, fund, p)
			if (ra == nil) != (rb == nil) {
				t.Fatalf("%s %s: one replay has a report, the other not", fund, p)
			}
			if ra == nil {
				continue
			}
			// The tree root and the chain of reports hash the chain head too.
			ra.ChainHead, ra.Signature, rb.ChainHead, rb.Signature = "", "", "", ""
			ra.TreeRoot, ra.PrevReportHash, rb.TreeRoot, rb.PrevReportHash = "", "", "", ""
			if ja, jb := reportJSON(t, ra), reportJSON(t, rb); ja != jb {
				t.Errorf("%s %s differs on replay:\n%s\n%s", fund, p, ja, jb)
			}
		}
	}
}

// TestPeriodBusinessDateFromClock: an event without a business date is
// dated by its recorded time in FUNDLEDGER_TZ.
func TestPeriodBusinessDateFromClock(t *testing.T) {
	shanghai, _ := time.LoadLocation("Asia/Shanghai")
	for _, c := range []struct {
		zone *time.Location
		want string // the reporting period of a return posted at 2026-01-31 20:00 UTC
	}{{nil, "2026-02"}, {shanghai, "2026-02"}, {time.UTC, "2026-01"}} {
		l := newItLedger(t, itWindow)
		l.set.Zone = c.zone
		l.now = time.Date(2026, 1, 31, 20, 0, 0, 0, time.UTC) // 2026-02-01 04:00 in Shanghai
		l.batch(itOpen("f"), itContrib("f", "e1", "c1", "100.00"), itGrant("f", "e2", "g1", "b", "10.00", "2026-01-02"),
			itDisb("f", "e3", "g1", "p1", "10.00"), itRet("f", "e4", "g1", "p1", "10.00"))
		var got string
		for k := range l.st.periods.figures {
			if k.Kind == ledger.FigReturned {
				got = k.Period
			}
		}
		if got != c.want {
			t.Errorf("zone %v: the return is in %s, want %s", c.zone, got, c.want)
		}
	}
}

// TestPeriodReportsRecomputedFromTheJournal follows docs/audit.md section
// 3b word for word, from the journal and the reports' as_of_journal_seq
// alone, and gets every report's figures.
func TestPeriodReportsRecomputedFromTheJournal(t *testing.T) {
	l := runPeriodStream(t, true, itT0)
	for _, fund := range []string{"f", "g"} {
		var months []string
		for m := range l.st.periods.reports[fund] {
			months = append(months, m)
		}
		slices.Sort(months)
		var reports []*ledger.PeriodReport
		for _, m := range months {
			reports = append(reports, l.st.report(t, fund, m))
		}
		var txns []*ledger.Txn
		for _, tx := range l.st.journal {
			if tx.FundID == fund {
				txns = append(txns, tx)
			}
		}
		prevClosing := map[string]decimal.Decimal{}
		for i, r := range reports {
			covers := func(tx *ledger.Txn) bool {
				if tx.Seq > r.AsOfJournalSeq {
					return false
				}
				last := ""
				for _, q := range reports {
					if q.AsOfJournalSeq < tx.Seq {
						last = q.Period
					}
				}
				rp, _ := ledger.ReportingPeriod(ledger.BusinessPeriod(tx, nil), last)
				return rp == r.Period || (r.First && rp < r.Period)
			}
			dr, cr := map[string]decimal.Decimal{}, map[string]decimal.Decimal{}
			prog := map[string]map[string]decimal.Decimal{}
			bens := map[string]map[string]bool{}
			var adj []string
			for _, tx := range txns {
				if !covers(tx) {
					continue
				}
				for _, p := range tx.Postings {
					if p.Side == ledger.Debit {
						dr[p.Account] = dr[p.Account].Add(p.Amount)
					} else {
						cr[p.Account] = cr[p.Account].Add(p.Amount)
					}
				}
				kind := map[string]string{"grant.approved": "approved", "grant.batch.approved": "approved", "grant.cancelled": "cancelled",
					"grant.disbursed": "paid", "payment.returned": "returned", "grant.recovered": "recovered"}[tx.Type]
				refs := map[string]string{}
				for _, x := range tx.Refs {
					refs[x.Key] = x.Value
				}
				if kind != "" {
					if prog[refs["program"]] == nil {
						prog[refs["program"]], bens[refs["program"]] = map[string]decimal.Decimal{}, map[string]bool{}
					}
					prog[refs["program"]][kind] = prog[refs["program"]][kind].Add(ledger.TxnAmount(tx))
					if kind == "approved" {
						bens[refs["program"]][refs["beneficiary_ref"]] = true
					}
				}
				if bp := ledger.BusinessPeriod(tx, nil); bp != r.Period && !(r.First && bp < r.Period) {
					adj = append(adj, fmt.Sprintf("{%d %s %s %s}", tx.Seq, tx.Type, bp, ledger.Money(ledger.TxnAmount(tx))))
				}
			}
			for _, a := range r.Accounts {
				move := dr[a.Account].Sub(cr[a.Account])
				if !ledger.DebitNormal(a.Account) {
					move = move.Neg()
				}
				open := prevClosing[a.Account]
				want := ledger.PeriodAccount{Account: a.Account, Opening: ledger.Money(open), Debits: ledger.Money(dr[a.Account]),
					Credits: ledger.Money(cr[a.Account]), Closing: ledger.Money(open.Add(move))}
				if a != want {
					t.Errorf("%s %s: %+v, recomputed %+v", fund, r.Period, a, want)
				}
				prevClosing[a.Account] = open.Add(move)
			}
			for _, p := range r.Programs {
				got := fmt.Sprint(p.Approved, p.Cancelled, p.Paid, p.Returned, p.Recovered, p.Beneficiaries)
				m := prog[p.Program]
				want := fmt.Sprint(ledger.Money(m["approved"]), ledger.Money(m["cancelled"]), ledger.Money(m["paid"]),
					ledger.Money(m["returned"]), ledger.Money(m["recovered"]), len(bens[p.Program]))
				if got != want {
					t.Errorf("%s %s program %s: %s, recomputed %s", fund, r.Period, p.Program, got, want)
				}
			}
			if got := fmt.Sprint(r.Adjustments); got != "["+strings.Join(adj, " ")+"]" {
				t.Errorf("%s %s adjustments %s, recomputed %v", fund, r.Period, got, adj)
			}
			if r.First != (i == 0) {
				t.Errorf("%s %s first %t", fund, r.Period, r.First)
			}
		}
	}
}

// TestPeriodVerifier: the reports of periodStream recompute from the
// journal and verify; a changed figure, a changed journal or a report
// signed by another key are each found.
func TestPeriodVerifier(t *testing.T) {
	l := runPeriodStream(t, false, itT0)
	keys := map[string]ed25519.PublicKey{itKey.KeyID(): itKey.pub()}
	reports := func(fund string) []*ledger.PeriodReport {
		var out []*ledger.PeriodReport
		for m := range l.st.periods.reports[fund] {
			out = append(out, l.st.report(t, fund, m))
		}
		return out
	}
	run := func(fund string, rs []*ledger.PeriodReport, change func(*ledger.Txn) *ledger.Txn) []string {
		v := ledger.NewPeriodVerifier(rs, nil)
		for _, tx := range l.st.journal {
			if tx.FundID == fund {
				v.Add(change(tx))
			}
		}
		return v.Problems(keys)
	}
	same := func(tx *ledger.Txn) *ledger.Txn { return tx }
	for _, fund := range []string{"f", "g"} {
		if p := run(fund, reports(fund), same); p != nil {
			t.Errorf("fund %s: %v", fund, p)
		}
	}
	rs := reports("f")
	for _, r := range rs {
		if r.Period == "2026-02" {
			r.Programs[0].Paid = "601.00"
		}
	}
	if p := run("f", rs, same); len(p) != 2 || !strings.Contains(p[0], "program care_fund") || !strings.Contains(p[1], "signature") {
		t.Errorf("a changed figure: %v", p)
	}
	p := run("f", reports("f"), func(tx *ledger.Txn) *ledger.Txn {
		if tx.Seq != 11 {
			return tx
		}
		c := *tx
		c.Postings = []ledger.Posting{{Account: "grants_payable", Side: ledger.Debit, Amount: decimal.RequireFromString("99.00")},
			{Account: "cash", Side: ledger.Credit, Amount: decimal.RequireFromString("99.00")}}
		return &c
	})
	if len(p) == 0 || !strings.Contains(strings.Join(p, "\n"), "account cash") {
		t.Errorf("a changed journal: %v", p)
	}
	other := map[string]ed25519.PublicKey{newItSigner(3).KeyID(): newItSigner(3).pub()}
	v := ledger.NewPeriodVerifier(reports("g"), nil)
	for _, tx := range l.st.journal {
		if tx.FundID == "g" {
			v.Add(tx)
		}
	}
	if p := v.Problems(other); len(p) != 1 || !strings.Contains(p[0], "not one of the ledger's") {
		t.Errorf("another key: %v", p)
	}
}

// TestPeriodReportChain: every report carries the journal's tree head at
// its as_of_journal_seq and the hash of the fund's report before under
// its signature (CONTRACT.md section 12); a version 1 report, signed
// before those fields existed, still verifies; the verifier finds a
// wrong tree_root, a broken prev_report_hash and a report left out.
func TestPeriodReportChain(t *testing.T) {
	l := runPeriodStream(t, false, itT0)
	keys := map[string]ed25519.PublicKey{itKey.KeyID(): itKey.pub()}
	jan, feb := l.st.report(t, "f", "2026-01"), l.st.report(t, "f", "2026-02")
	if jan.TreeSize == nil || *jan.TreeSize != jan.AsOfJournalSeq || feb.TreeSize == nil || *feb.TreeSize != feb.AsOfJournalSeq {
		t.Fatalf("tree sizes %v %v, want the as_of_journal_seqs %d %d", jan.TreeSize, feb.TreeSize, jan.AsOfJournalSeq, feb.AsOfJournalSeq)
	}
	if jan.PrevReportHash != ledger.ZeroHash {
		t.Errorf("first report's prev_report_hash %s", jan.PrevReportHash)
	}
	if want := hex.EncodeToString(ledger.PeriodReportHash(jan)); feb.PrevReportHash != want {
		t.Errorf("February's prev_report_hash %s, January hashes to %s", feb.PrevReportHash, want)
	}
	if !bytes.HasPrefix(ledger.PeriodSigningInput(feb), []byte("fundledger-period-v2\n")) {
		t.Errorf("signing input %q", ledger.PeriodSigningInput(feb))
	}
	// The tree root is the journal's: recompute it.
	var tree merkle.Frontier
	for _, tx := range l.st.journal {
		if tx.FundID == "f" && tx.Seq <= feb.AsOfJournalSeq {
			tree.Append(merkle.LeafHash(tx.Hash), nil)
		}
	}
	if r := tree.Root(); feb.TreeRoot != r.Hex() {
		t.Errorf("February tree_root %s, the journal's %s", feb.TreeRoot, r.Hex())
	}
	run := func(rs ...*ledger.PeriodReport) []string {
		v := ledger.NewPeriodVerifier(rs, nil)
		for _, tx := range l.st.journal {
			if tx.FundID == "f" {
				v.Add(tx)
			}
		}
		return v.Problems(keys)
	}
	clone := func(r *ledger.PeriodReport) *ledger.PeriodReport {
		c, err := ledger.ParsePeriodReport(r.JSON())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	resign := func(r *ledger.PeriodReport) *ledger.PeriodReport {
		r.Signature = base64.StdEncoding.EncodeToString(itKey.Sign(ledger.PeriodSigningInput(r)))
		return r
	}
	if p := run(jan, feb); p != nil {
		t.Fatalf("as made: %v", p)
	}
	// A version 1 report: no proofs, the version 1 signing input.
	v1 := clone(jan)
	v1.TreeSize, v1.TreeRoot, v1.PrevReportHash = nil, "", ""
	resign(v1)
	if in := ledger.PeriodSigningInput(v1); !bytes.HasPrefix(in, []byte("fundledger-period-v1\n")) || bytes.Contains(in, []byte(jan.TreeRoot)) {
		t.Errorf("v1 signing input %q", in)
	}
	if strings.Contains(string(v1.JSON()), "tree_size") {
		t.Errorf("v1 JSON %s", v1.JSON())
	}
	feb1 := resign(clone(feb))
	feb1.PrevReportHash = hex.EncodeToString(ledger.PeriodReportHash(v1))
	resign(feb1)
	if p := run(v1, feb1); p != nil {
		t.Errorf("a v1 report then a v2 one: %v", p)
	}
	if p := run(jan, resign(func() *ledger.PeriodReport {
		c := clone(feb)
		c.TreeSize, c.TreeRoot, c.PrevReportHash = nil, "", ""
		return c
	}())); len(p) != 1 || !strings.Contains(p[0], "version 1 report") {
		t.Errorf("a v1 report after a v2 one: %v", p)
	}
	// A wrong tree root, signed: the journal's tree says otherwise.
	bad := clone(feb)
	bad.TreeRoot = jan.TreeRoot
	if p := run(jan, resign(bad)); len(p) != 1 || !strings.Contains(p[0], "tree_root") {
		t.Errorf("a wrong tree_root: %v", p)
	}
	bad = clone(feb)
	*bad.TreeSize = 3
	if p := run(jan, resign(bad)); len(p) != 1 || !strings.Contains(p[0], "tree_size") {
		t.Errorf("a wrong tree_size: %v", p)
	}
	// January changed and re-signed (a key holder rewriting history):
	// February's prev_report_hash no longer matches.
	jan2 := clone(jan)
	jan2.ApprovedBy = "someone-else"
	if p := run(resign(jan2), feb); len(p) != 1 || !strings.Contains(p[0], "prev_report_hash") {
		t.Errorf("January re-signed: %v", p)
	}
}
