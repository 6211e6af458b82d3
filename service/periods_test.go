package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/fundledger/fundledger/events"
	"github.com/fundledger/fundledger/internal/testenv"
	"github.com/fundledger/fundledger/ledger"
)

// Period close end to end (CONTRACT.md section 11): events through
// JetStream, the books in PostgreSQL, reports on LEDGER_OUT.

// periodEvents is two funds' January and February 2026, with a business
// date on every event: January closed, then a late payment and a late
// cancellation of January (adjustments in February), an allocation to the
// other fund, a grant dated March; then February closed in both funds.
// Each entry is {fund, type, data}.
func periodEvents() [][3]any {
	grant := func(gid, ben, amount, on string) [3]any {
		return [3]any{"f", "grant.approved", map[string]any{"grant_id": gid, "beneficiary_ref": ben, "program": "care_fund",
			"category": "medical", "amount": amount, "requested_by": "caseworker-1", "approved_by": "officer-7", "approved_on": on}}
	}
	disb := func(gid, pid, amount, on string) [3]any {
		return [3]any{"f", "grant.disbursed", map[string]any{"grant_id": gid, "payment_id": pid, "amount": amount, "bank_ref": "B-" + pid, "paid_on": on}}
	}
	contrib := func(id, kind, amount, on string) [3]any {
		return [3]any{"f", "contribution.received", map[string]any{"contribution_id": id, "source_kind": kind,
			"payer": "District finance bureau", "amount": amount, "bank_ref": "BR-" + id, "received_on": on}}
	}
	closeOf := func(fund, period string) [3]any {
		return [3]any{fund, "period.closed", map[string]any{"period": period, "closed_by": "accountant-li", "approved_by": "director-wang"}}
	}
	return [][3]any{
		contrib("c1", "fiscal", "10000.00", "2026-01-05"),
		contrib("c2", "donation", "2000.00", "2026-01-20"),
		grant("g1", "ben-a", "1000.00", "2026-01-10"),
		grant("g2", "ben-a", "500.00", "2026-01-15"),
		grant("g3", "ben-b", "700.00", "2026-01-16"),
		disb("g1", "p1", "1000.00", "2026-01-25"),
		grant("g4", "ben-c", "300.00", "2026-02-03"),
		closeOf("f", "2026-01"),
		disb("g2", "p2", "500.00", "2026-01-31"),
		{"f", "grant.cancelled", map[string]any{"grant_id": "g3", "cancelled_by": "officer-2", "reason": "moved", "cancelled_on": "2026-01-30"}},
		{"f", "allocation.approved", map[string]any{"allocation_id": "a1", "to_fund_id": "g", "amount": "1500.00", "approved_by": "director",
			"approved_on": "2026-02-10"}},
		disb("g4", "p4", "100.00", "2026-02-11"),
		{"f", "payment.returned", map[string]any{"grant_id": "g4", "payment_id": "p4", "amount": "100.00", "reason": "account closed",
			"returned_on": "2026-02-12"}},
		{"f", "grant.recovered", map[string]any{"grant_id": "g1", "recovery_id": "r1", "amount": "200.00", "bank_ref": "BR-r1",
			"reason": "overpaid", "recovered_on": "2026-02-13"}},
		grant("g5", "ben-a", "50.00", "2026-03-05"),
		closeOf("f", "2026-02"),
		closeOf("g", "2026-02"),
	}
}

func runPeriodEvents(t *testing.T) *testenv.Ledger {
	t.Helper()
	l := testenv.Start(t, testenv.Options{})
	openFund(l, "f")
	openFund(l, "g")
	for _, e := range periodEvents() {
		l.Event(e[0].(string), e[1].(string), e[2])
	}
	l.WaitIdle()
	if r := l.Rejections(); len(r) != 0 {
		t.Fatalf("rejections: %+v", r)
	}
	return l
}

// storedReports returns a fund's stored report bodies by month.
func storedPeriodReports(t *testing.T, l *testenv.Ledger, fund string) map[string][]byte {
	t.Helper()
	rows, err := l.DB.Query(context.Background(), `SELECT period, published FROM period_reports WHERE fund_id = $1`, fund)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var p string
		var b []byte
		if err := rows.Scan(&p, &b); err != nil {
			t.Fatal(err)
		}
		out[p] = b
	}
	return out
}

func TestPeriodCloseEndToEnd(t *testing.T) {
	l := runPeriodEvents(t)
	f := storedPeriodReports(t, l, "f")
	g := storedPeriodReports(t, l, "g")
	if len(f) != 2 || len(g) != 1 {
		t.Fatalf("reports: f %d, g %d", len(f), len(g))
	}
	// Published on ledger.<fund>.period, byte for byte as stored, under
	// period:<fund>:<month>.
	msgs := outMessages(t, l, "ledger.*.period")
	if len(msgs) != 3 {
		t.Fatalf("%d period messages, want 3", len(msgs))
	}
	for _, m := range msgs {
		r, err := ledger.ParsePeriodReport(m.Data())
		if err != nil {
			t.Fatal(err)
		}
		stored := storedPeriodReports(t, l, r.FundID)[r.Period]
		if string(stored) != string(m.Data()) {
			t.Errorf("%s %s: published %s, stored %s", r.FundID, r.Period, m.Data(), stored)
		}
		if id := m.Headers().Get("Nats-Msg-Id"); id != events.PeriodMsgID(r.FundID, r.Period) || m.Subject() != events.PeriodSubject(r.FundID) {
			t.Errorf("message %s on %s", id, m.Subject())
		}
	}
	feb, err := ledger.ParsePeriodReport(f["2026-02"])
	if err != nil {
		t.Fatal(err)
	}
	closing := map[string]string{}
	for _, a := range feb.Accounts {
		closing[a.Account] = a.Closing
	}
	for acct, want := range map[string]string{"cash": "9200.00", "grants_payable": "300.00", "grant_expense:care_fund": "1600.00",
		"allocations:out": "1500.00", "contributions:fiscal": "10000.00"} {
		if closing[acct] != want {
			t.Errorf("February %s closing %s, want %s", acct, closing[acct], want)
		}
	}
	if got := fmt.Sprint(feb.Adjustments); got != "[{8 grant.disbursed 2026-01 500.00} {9 grant.cancelled 2026-01 700.00}]" {
		t.Errorf("February adjustments %s", got)
	}
	// Books at the close less what was posted to later periods (g5).
	if got := l.Balance("f", "grants_payable"); got != "350.00" {
		t.Errorf("grants_payable %s", got)
	}

	// Every report recomputes from the stored journal and its signature
	// verifies with the ledger's key (docs/audit.md section 3b).
	st := l.Service.Store
	keys, err := st.SigningKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, fund := range []string{"f", "g"} {
		var rs []*ledger.PeriodReport
		for _, b := range storedPeriodReports(t, l, fund) {
			r, err := ledger.ParsePeriodReport(b)
			if err != nil {
				t.Fatal(err)
			}
			rs = append(rs, r)
		}
		v := ledger.NewPeriodVerifier(rs, nil)
		page, err := st.Journal(context.Background(), fund, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, tx := range page.Transactions {
			v.Add(tx)
		}
		if p := v.Problems(keys); p != nil {
			t.Errorf("fund %s: %v", fund, p)
		}
	}

	// The city-wide view nets out the allocation between f and g.
	v, err := st.CityPeriod(context.Background(), "2026-02", func(string) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	al := v.Totals.Allocations
	if al.Gross != (ledger.PeriodAllocations{In: "1500.00", Out: "1500.00"}) || al.Net != (ledger.PeriodAllocations{In: "0.00", Out: "0.00"}) {
		t.Errorf("allocations %+v", al)
	}
	v, err = st.CityPeriod(context.Background(), "2026-02", func(id string) bool { return id == "f" })
	if err != nil {
		t.Fatal(err)
	}
	if al := v.Totals.Allocations; al.Net != (ledger.PeriodAllocations{In: "0.00", Out: "1500.00"}) {
		t.Errorf("f alone: allocations %+v, want the allocation out in net", al)
	}
	// January's city view: f has a report, g was closed by its first
	// close of February and has none.
	v, err = st.CityPeriod(context.Background(), "2026-01", func(string) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v.Closed)
	if len(v.Closed) != 2 || string(v.Closed[1].Report) != "null" || len(v.NotClosed) != 0 {
		t.Errorf("January closed %s, not closed %v", b, v.NotClosed)
	}

	// Replaying the same stream into a fresh database gives the same
	// figures: everything but the chain head (recorded times are hashed),
	// the tree root and the chain of reports (which hash it too) and the
	// signature.
	l2 := runPeriodEvents(t)
	for _, fund := range []string{"f", "g"} {
		a, b := storedPeriodReports(t, l, fund), storedPeriodReports(t, l2, fund)
		for p := range a {
			ra, err1 := ledger.ParsePeriodReport(a[p])
			rb, err2 := ledger.ParsePeriodReport(b[p])
			if err1 != nil || err2 != nil {
				t.Fatalf("%s %s: %v %v", fund, p, err1, err2)
			}
			ra.ChainHead, ra.Signature, ra.KeyID, rb.ChainHead, rb.Signature, rb.KeyID = "", "", "", "", "", ""
			ra.TreeRoot, ra.PrevReportHash, rb.TreeRoot, rb.PrevReportHash = "", "", "", ""
			if string(ra.JSON()) != string(rb.JSON()) {
				t.Errorf("%s %s differs on replay:\n%s\n%s", fund, p, ra.JSON(), rb.JSON())
			}
		}
	}
}

// TestPeriodCloseRefusals: the close's codes through the whole intake,
// each one rejection on ledger.<fund>.rejected, and nothing closed.
func TestPeriodCloseRefusals(t *testing.T) {
	l := testenv.Start(t, testenv.Options{})
	openFund(l, "f")
	contribute(l, "f", "c1", "100.00")
	ok := l.Event("f", "period.closed", map[string]any{"period": "2026-02", "closed_by": "a", "approved_by": "b"})
	cases := []struct {
		data map[string]any
		code events.Code
	}{
		{map[string]any{"period": "2026-13", "closed_by": "a", "approved_by": "b"}, events.InvalidField},
		{map[string]any{"period": "2026-03", "closed_by": "a", "approved_by": "a"}, events.SameMakerChecker},
		{map[string]any{"period": "2026-02", "closed_by": "a", "approved_by": "b"}, events.PeriodAlreadyClosed},
		{map[string]any{"period": "2026-01", "closed_by": "a", "approved_by": "b"}, events.PeriodAlreadyClosed},
		{map[string]any{"period": "2026-04", "closed_by": "a", "approved_by": "b"}, events.InvalidField},
		{map[string]any{"period": "2099-03", "closed_by": "a", "approved_by": "b"}, events.InvalidField},
	}
	ids := make([]string, len(cases))
	for i, c := range cases {
		ids[i] = l.Event("f", "period.closed", c.data)
	}
	unknown := l.Event("nofund", "period.closed", map[string]any{"period": "2026-02", "closed_by": "a", "approved_by": "b"})
	l.WaitIdle()
	if r := l.RejectionOf(ok); r != nil {
		t.Fatalf("first close refused: %+v", r)
	}
	for i, c := range cases {
		r := l.RejectionOf(ids[i])
		if r == nil || r.Code != string(c.code) {
			t.Errorf("%v: rejection %+v, want %s", c.data, r, c.code)
		}
	}
	if r := l.RejectionOf(unknown); r == nil || r.Code != string(events.UnknownFund) {
		t.Errorf("unknown fund: %+v", r)
	}
	if n := countSubject(t, l, "ledger.*.rejected"); n != len(cases)+1 {
		t.Errorf("%d rejected messages, want %d", n, len(cases)+1)
	}
	if n := l.Count(`SELECT count(*) FROM period_reports`); n != 1 {
		t.Errorf("%d reports, want 1", n)
	}
	if n := l.Count(`SELECT count(*) FROM fund_periods WHERE last_closed = '2026-02'`); n != 1 {
		t.Errorf("fund not closed up to 2026-02")
	}
}

// TestPeriodFirstReportCountsDistinct: a first report spanning several
// months counts a beneficiary approved in two of them once; a later
// month's report counts from its kept figure, also for approvals in the
// close's own batch.
func TestPeriodFirstReportCountsDistinct(t *testing.T) {
	l := testenv.Start(t, testenv.Options{})
	openFund(l, "f")
	contribute(l, "f", "c1", "10000.00")
	grant(l, "f", "g1", "ben-a", "10.00", "2026-01-05")
	grant(l, "f", "g2", "ben-a", "10.00", "2026-02-05")
	grant(l, "f", "g3", "ben-b", "10.00", "2026-02-06")
	grant(l, "f", "g4", "ben-c", "10.00", "2026-03-06")
	l.WaitIdle()
	close := func(p string) {
		l.Event("f", "period.closed", map[string]any{"period": p, "closed_by": "a", "approved_by": "b"})
	}
	close("2026-02")
	// Published together: the approvals and the close may share a batch.
	grant(l, "f", "g5", "ben-c", "10.00", "2026-03-07")
	grant(l, "f", "g6", "ben-d", "10.00", "2026-03-08")
	close("2026-03")
	l.WaitIdle()
	if r := l.Rejections(); len(r) != 0 {
		t.Fatalf("rejections %+v", r)
	}
	for p, want := range map[string]int64{"2026-02": 2, "2026-03": 2} {
		r, err := ledger.ParsePeriodReport(storedPeriodReports(t, l, "f")[p])
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Programs[0].Beneficiaries; got != want || r.Programs[0].Program != "care_fund" {
			t.Errorf("%s: %s has %d beneficiaries, want %d", p, r.Programs[0].Program, got, want)
		}
	}
}
