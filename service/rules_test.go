package service_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fundledger/fundledger/internal/testenv"
)

func outcome(l *testenv.Ledger, eventID string) string {
	var o string
	if err := l.DB.QueryRow(context.Background(), `SELECT outcome FROM inbox WHERE event_id = $1`, eventID).Scan(&o); err != nil {
		return "none"
	}
	return o
}

func disburse(l *testenv.Ledger, fund, grant, payment, amount string) string {
	return l.Event(fund, "grant.disbursed", map[string]any{"grant_id": grant, "payment_id": payment, "amount": amount,
		"bank_ref": "BANK-" + payment, "paid_on": "2026-03-05"})
}

func wantBalances(t *testing.T, l *testenv.Ledger, fund string, want map[string]string) {
	t.Helper()
	for acct, w := range want {
		if got := l.Balance(fund, acct); got != w {
			t.Errorf("%s %s = %s, want %s", fund, acct, got, w)
		}
	}
}

// TestPostingRules posts one of each event type and checks every account
// it touches.
func TestPostingRules(t *testing.T) {
	l := testenv.Start(t, testenv.Options{})
	openFund(l, "city")
	openFund(l, "north")
	contribute(l, "city", "c-1", "100000.00")
	l.Event("city", "contribution.received", map[string]any{"contribution_id": "d-1", "source_kind": "donation",
		"payer": "Veterans association", "amount": "800.50", "bank_ref": "B2", "received_on": "2026-01-06"})
	l.Event("city", "contribution.received", map[string]any{"contribution_id": "o-1", "source_kind": "other",
		"payer": "Bank interest", "amount": "0.5", "bank_ref": "B3", "received_on": "2026-01-07"})
	l.Event("city", "allocation.approved", map[string]any{"allocation_id": "a-1", "to_fund_id": "north", "amount": "30000", "approved_by": "director"})
	grant(l, "north", "g-1", "ben-1", "1200.00", "2026-03-02")
	disburse(l, "north", "g-1", "p-1", "1000.00")
	l.Event("north", "payment.returned", map[string]any{"grant_id": "g-1", "payment_id": "p-1", "amount": "400.00", "reason": "account closed"})
	l.Event("north", "grant.recovered", map[string]any{"grant_id": "g-1", "recovery_id": "r-1", "amount": "100.00", "bank_ref": "B9", "reason": "overpaid"})
	l.Event("north", "grant.cancelled", map[string]any{"grant_id": "g-1", "cancelled_by": "officer-2", "reason": "moved away"})
	l.Event("north", "snapshot.requested", map[string]any{"requested_by": "auditor", "label": "2026-03"})
	l.WaitIdle()
	if r := l.Rejections(); len(r) != 0 {
		t.Fatalf("unexpected rejections: %+v", r)
	}
	wantBalances(t, l, "city", map[string]string{"cash": "70801.00", "contributions:fiscal": "100000.00",
		"contributions:donation": "800.50", "contributions:other": "0.50", "allocations:out": "30000.00"})
	// north: +30000 in; grant 1200; paid 1000; returned 400 (owed again);
	// recovered 100; cancelled the 600 outstanding.
	wantBalances(t, l, "north", map[string]string{"cash": "29500.00", "allocations:in": "30000.00",
		"grants_payable": "0.00", "grant_expense:care_fund": "500.00"})
	var state string
	var approved, paid, returned, cancelled, recovered string
	err := l.DB.QueryRow(context.Background(), `SELECT approved::text, paid::text, returned::text, cancelled::text, recovered::text, closed::text
		FROM grants WHERE fund_id='north' AND grant_id='g-1'`).Scan(&approved, &paid, &returned, &cancelled, &recovered, &state)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join([]string{approved, paid, returned, cancelled, recovered, state}, " "); got != "1200.00 1000.00 400.00 600.00 100.00 true" {
		t.Errorf("grant g-1 = %s", got)
	}
	// One journal transaction per posting event; an allocation posts in both funds.
	if n := l.Count(`SELECT count(*) FROM journal WHERE fund_id='city'`); n != 4 {
		t.Errorf("city journal = %d transactions, want 4", n)
	}
	if n := l.Count(`SELECT count(*) FROM journal WHERE fund_id='north'`); n != 6 {
		t.Errorf("north journal = %d transactions, want 6", n)
	}
	if n := l.Count(`SELECT count(*) FROM snapshots WHERE fund_id='north' AND label='2026-03'`); n != 1 {
		t.Errorf("snapshots = %d, want 1", n)
	}
	// Every transaction records who and what.
	var refs string
	l.DB.QueryRow(context.Background(), `SELECT refs::text FROM journal WHERE fund_id='north' AND type='grant.approved'`).Scan(&refs)
	for _, want := range []string{`"approved_by": "officer-7"`, `"requested_by": "caseworker-1"`, `"grant_id": "g-1"`, `"beneficiary_ref": "ben-1"`} {
		if !strings.Contains(refs, want) {
			t.Errorf("refs %s lack %s", refs, want)
		}
	}
}

// TestRejectionCodes drives each refusal of the contract and checks its
// code, that it is stored once and published once, and that the books did
// not move.
func TestRejectionCodes(t *testing.T) {
	l := testenv.Start(t, testenv.Options{HoldWindow: 300 * time.Millisecond})
	openFund(l, "f")
	contribute(l, "f", "c-1", "5000.00")
	grant(l, "f", "g-1", "ben-1", "1000.00", "2026-02-01")
	disburse(l, "f", "g-1", "p-1", "200.00")
	grant(l, "f", "g-closed", "ben-2", "100.00", "2026-02-01")
	l.Event("f", "grant.cancelled", map[string]any{"grant_id": "g-closed", "cancelled_by": "x", "reason": "r"})
	l.WaitIdle()
	baseCash, baseJournal := l.Balance("f", "cash"), l.Count(`SELECT count(*) FROM journal`)

	env := func(typ string, data any) map[string]any { return testenv.Envelope(typ, data) }
	grantData := func(over map[string]any) map[string]any {
		d := map[string]any{"grant_id": fmt.Sprintf("g-%d", time.Now().UnixNano()), "beneficiary_ref": "ben-9", "program": "care_fund",
			"category": "living", "amount": "10.00", "requested_by": "a", "approved_by": "b", "approved_on": "2026-02-02"}
		for k, v := range over {
			if v == nil {
				delete(d, k)
			} else {
				d[k] = v
			}
		}
		return d
	}
	cases := []struct {
		name    string
		subject string
		raw     string
		env     map[string]any
		code    string
		inMsg   string
	}{
		{name: "malformed", subject: "fund.f.grant.approved", raw: `{"specversion": "1.0", "id": `, code: "malformed"},
		{name: "not utf8", subject: "fund.f.grant.approved", raw: "\xff\xfe{}", code: "malformed"},
		{name: "unsupported type", env: env("grant.teleported", map[string]any{}), code: "unsupported_type"},
		{name: "missing field", env: env("grant.approved", grantData(map[string]any{"beneficiary_ref": nil})), code: "missing_field"},
		{name: "empty string is missing", env: env("grant.approved", grantData(map[string]any{"approved_by": ""})), code: "missing_field"},
		{name: "number amount", env: env("grant.approved", grantData(map[string]any{"amount": 10})), code: "invalid_amount"},
		{name: "three decimals", env: env("grant.approved", grantData(map[string]any{"amount": "1.000"})), code: "invalid_amount"},
		{name: "exponent", env: env("grant.approved", grantData(map[string]any{"amount": "1e3"})), code: "invalid_amount"},
		{name: "zero", env: env("grant.approved", grantData(map[string]any{"amount": "0.00"})), code: "invalid_amount"},
		{name: "huge", env: env("grant.approved", grantData(map[string]any{"amount": "1000000000000.00"})), code: "invalid_amount"},
		{name: "bad date", env: env("grant.approved", grantData(map[string]any{"approved_on": "2026-02-30"})), code: "invalid_field"},
		{name: "subject type mismatch", subject: "fund.f.grant.disbursed", env: env("grant.approved", grantData(nil)), code: "invalid_field"},
		{name: "unknown fund", subject: "fund.nowhere.grant.approved", env: env("grant.approved", grantData(nil)), code: "unknown_fund"},
		{name: "fund exists", env: env("fund.opened", map[string]any{"fund_id": "f", "name": "again", "programs": []any{}}), code: "fund_exists"},
		{name: "unknown program", env: env("grant.approved", grantData(map[string]any{"program": "space_program"})), code: "unknown_program"},
		{name: "same maker checker", env: env("grant.approved", grantData(map[string]any{"approved_by": "a"})), code: "same_maker_checker"},
		{name: "cap exceeded", env: env("grant.approved", grantData(map[string]any{"beneficiary_ref": "ben-1", "amount": "4000.01"})), code: "beneficiary_cap_exceeded"},
		{name: "insufficient", env: env("grant.approved", grantData(map[string]any{"program": "pension_subsidy", "amount": "999999.00"})), code: "insufficient_funds", inMsg: "available 4000.00 < amount 999999.00"},
		{name: "duplicate id", env: env("grant.approved", grantData(map[string]any{"grant_id": "g-1"})), code: "duplicate_id"},
		{name: "exceeds outstanding", env: env("grant.disbursed", map[string]any{"grant_id": "g-1", "payment_id": "p-2", "amount": "800.01", "bank_ref": "b", "paid_on": "2026-03-01"}), code: "exceeds_outstanding"},
		{name: "return more than paid", env: env("payment.returned", map[string]any{"grant_id": "g-1", "payment_id": "p-1", "amount": "200.01", "reason": "r"}), code: "exceeds_outstanding"},
		{name: "recover more than paid", env: env("grant.recovered", map[string]any{"grant_id": "g-1", "recovery_id": "r-1", "amount": "200.01", "bank_ref": "b", "reason": "r"}), code: "exceeds_outstanding"},
		{name: "grant closed", env: env("grant.disbursed", map[string]any{"grant_id": "g-closed", "payment_id": "p-9", "amount": "1.00", "bank_ref": "b", "paid_on": "2026-03-01"}), code: "grant_closed"},
		{name: "second cancellation", env: env("grant.cancelled", map[string]any{"grant_id": "g-closed", "cancelled_by": "x", "reason": "r"}), code: "grant_closed"},
		{name: "unknown grant after window", env: env("grant.disbursed", map[string]any{"grant_id": "g-never", "payment_id": "p-8", "amount": "1.00", "bank_ref": "b", "paid_on": "2026-03-01"}), code: "unknown_grant"},
		{name: "unknown payment after window", env: env("payment.returned", map[string]any{"grant_id": "g-1", "payment_id": "p-never", "amount": "1.00", "reason": "r"}), code: "unknown_payment"},
		{name: "allocation to itself", env: env("allocation.approved", map[string]any{"allocation_id": "a-1", "to_fund_id": "f", "amount": "1.00", "approved_by": "x"}), code: "invalid_field"},
		{name: "allocation to unknown fund", env: env("allocation.approved", map[string]any{"allocation_id": "a-2", "to_fund_id": "ghost", "amount": "1.00", "approved_by": "x"}), code: "unknown_fund"},
		{name: "too many lines", env: env("grant.batch.approved", map[string]any{"batch_id": "big", "program": "care_fund", "requested_by": "a", "approved_by": "b",
			"approved_on": "2026-02-02", "lines": manyLines(10001)}), code: "too_large"},
	}
	ids := map[string]string{}
	for _, c := range cases {
		subject := c.subject
		if c.env != nil {
			if subject == "" {
				subject = "fund.f." + c.env["type"].(string)
			}
			ids[c.name] = c.env["id"].(string)
			b := mustJSON(t, c.env)
			l.PublishRaw(subject, b, ids[c.name])
		} else {
			l.PublishRaw(subject, []byte(c.raw), "")
		}
	}
	time.Sleep(400 * time.Millisecond)   // past the hold window
	contribute(l, "f", "c-tick", "1.00") // wakes the consumer so the holds expire
	l.WaitIdle()
	time.Sleep(300 * time.Millisecond)
	l.WaitIdle()

	byID := map[string]testenv.Rejection{}
	var anonymous []testenv.Rejection
	for _, r := range l.Rejections() {
		if r.EventID == "" {
			anonymous = append(anonymous, r)
		} else {
			byID[r.EventID] = r
		}
	}
	for _, c := range cases {
		if c.env == nil {
			found := false
			for _, r := range anonymous {
				found = found || (r.Code == c.code && r.FundID == "f" && r.Type == "grant.approved")
			}
			if !found {
				t.Errorf("%s: no %s rejection for fund f among %+v", c.name, c.code, anonymous)
			}
			continue
		}
		r, ok := byID[ids[c.name]]
		if !ok {
			t.Errorf("%s: no rejection (outcome %s)", c.name, outcome(l, ids[c.name]))
			continue
		}
		if r.Code != c.code {
			t.Errorf("%s: code %s (%s), want %s", c.name, r.Code, r.Message, c.code)
		}
		if c.inMsg != "" && !strings.Contains(r.Message, c.inMsg) {
			t.Errorf("%s: message %q lacks %q", c.name, r.Message, c.inMsg)
		}
	}
	if got := l.Balance("f", "cash"); got != addCents(baseCash, 100) {
		t.Errorf("cash moved: %s → %s (only the 1.00 tick should add)", baseCash, got)
	}
	if n := l.Count(`SELECT count(*) FROM journal`); n != baseJournal+1 {
		t.Errorf("journal grew by %d, want 1", n-baseJournal)
	}
	// Each rejection was published exactly once on ledger.<fund>.rejected.
	published := countSubject(t, l, "ledger.*.rejected")
	if want := len(l.Rejections()); published != want {
		t.Errorf("published %d rejections, stored %d", published, want)
	}
}

// TestDuplicates: the same envelope id twice is one outcome; the same
// business id under a new envelope id is a no-op with the same data and
// duplicate_id with different data.
func TestDuplicates(t *testing.T) {
	l := testenv.Start(t, testenv.Options{})
	openFund(l, "f")
	e := testenv.Envelope("contribution.received", map[string]any{"contribution_id": "c-1", "source_kind": "fiscal",
		"payer": "bureau", "amount": "100.00", "bank_ref": "B", "received_on": "2026-01-05"})
	l.Publish("f", e)
	// Past the stream's dedup window: same bytes, no Nats-Msg-Id.
	l.PublishRaw("fund.f.contribution.received", mustJSON(t, e), "")
	same := testenv.Envelope("contribution.received", e["data"])
	l.Publish("f", same)
	diff := testenv.Envelope("contribution.received", map[string]any{"contribution_id": "c-1", "source_kind": "fiscal",
		"payer": "bureau", "amount": "100.01", "bank_ref": "B", "received_on": "2026-01-05"})
	l.Publish("f", diff)
	// A refused event's id is spent too: its resend is a silent no-op.
	bad := testenv.Envelope("contribution.received", map[string]any{"contribution_id": "c-2", "source_kind": "fiscal",
		"payer": "bureau", "amount": "1.000", "bank_ref": "B", "received_on": "2026-01-05"})
	l.Publish("f", bad)
	l.PublishRaw("fund.f.contribution.received", mustJSON(t, bad), "")
	l.WaitIdle()
	wantBalances(t, l, "f", map[string]string{"cash": "100.00"})
	if o := outcome(l, same["id"].(string)); o != "duplicate" {
		t.Errorf("same business id, same data: outcome %s, want duplicate", o)
	}
	if r := l.RejectionOf(diff["id"].(string)); r == nil || r.Code != "duplicate_id" {
		t.Errorf("same business id, other data: %+v, want duplicate_id", r)
	}
	if n := len(l.Rejections()); n != 2 {
		t.Errorf("%d rejections, want 2 (duplicate_id and the bad amount once)", n)
	}
	if n := l.Count(`SELECT count(*) FROM journal`); n != 1 {
		t.Errorf("%d transactions, want 1", n)
	}
}

// TestHeldEvents: a disbursement before its approval is held and posted when
// the grant arrives; events behind it are not delayed; one whose grant never
// comes is refused after the window.
func TestHeldEvents(t *testing.T) {
	l := testenv.Start(t, testenv.Options{HoldWindow: 3 * time.Second})
	openFund(l, "f")
	contribute(l, "f", "c-1", "1000.00")
	early := disburse(l, "f", "g-late", "p-1", "300.00")
	ret := l.Event("f", "payment.returned", map[string]any{"grant_id": "g-late", "payment_id": "p-1", "amount": "50.00", "reason": "r"})
	never := disburse(l, "f", "g-never", "p-2", "10.00")
	behind := contribute(l, "f", "c-2", "5.00")
	l.WaitIdle()
	if o := outcome(l, behind); o != "posted" {
		t.Fatalf("event behind a held one: %s, want posted at once", o)
	}
	if o := outcome(l, early); o != "held" {
		t.Fatalf("early disbursement: %s, want held", o)
	}
	if o := outcome(l, ret); o != "held" {
		t.Fatalf("early return: %s, want held", o)
	}
	grant(l, "f", "g-late", "ben-1", "300.00", "2026-03-01")
	l.WaitIdle()
	for _, id := range []string{early, ret} {
		if o := outcome(l, id); o != "posted" {
			t.Errorf("released event %s: %s, want posted", id, o)
		}
	}
	// The grant, then the disbursement, then the return: in that order.
	var types string
	l.DB.QueryRow(context.Background(), `SELECT string_agg(type, ',' ORDER BY seq) FROM journal WHERE fund_id='f'`).Scan(&types)
	if types != "contribution.received,contribution.received,grant.approved,grant.disbursed,payment.returned" {
		t.Errorf("journal order %s", types)
	}
	wantBalances(t, l, "f", map[string]string{"cash": "755.00", "grants_payable": "50.00"})
	deadline := time.Now().Add(10 * time.Second)
	for outcome(l, never) == "held" && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if r := l.RejectionOf(never); r == nil || r.Code != "unknown_grant" {
		t.Fatalf("never-approved grant: %+v, want unknown_grant", r)
	}
	if n := l.Count(`SELECT count(*) FROM held`); n != 0 {
		t.Errorf("%d events still held", n)
	}
}

// TestBatchAllOrNothing: one bad line refuses the whole batch and names
// every bad line; a good batch posts every line.
func TestBatchAllOrNothing(t *testing.T) {
	l := testenv.Start(t, testenv.Options{})
	openFund(l, "f")
	contribute(l, "f", "c-1", "1000.00")
	grant(l, "f", "g-old", "ben-1", "100.00", "2026-01-10")
	lines := []map[string]any{
		{"grant_id": "b-1", "beneficiary_ref": "ben-2", "category": "living", "amount": "100.00"},
		{"grant_id": "g-old", "beneficiary_ref": "ben-3", "category": "living", "amount": "100.00"},
		{"grant_id": "b-3", "beneficiary_ref": "ben-4", "category": "living", "amount": "4000.00"},
		{"grant_id": "b-4", "beneficiary_ref": "ben-5", "category": "living", "amount": "700.00"},
		{"grant_id": "b-5", "beneficiary_ref": "ben-6", "category": "living", "amount": "200.00"},
	}
	bad := l.Event("f", "grant.batch.approved", map[string]any{"batch_id": "m-01", "program": "care_fund", "requested_by": "a",
		"approved_by": "b", "approved_on": "2026-02-01", "lines": lines})
	l.WaitIdle()
	r := l.RejectionOf(bad)
	if r == nil || r.Code != "duplicate_id" {
		t.Fatalf("batch: %+v, want duplicate_id (its first bad line)", r)
	}
	// available 900: line 0 takes 100, line 3 takes 700, line 4 needs 200 of
	// the 100 left; line 2 passes the 5000 cap? No: 4000 is under the cap
	// but over what is available.
	got := map[int]string{}
	for _, le := range r.Lines {
		got[le.Index] = string(le.Code)
	}
	want := map[int]string{1: "duplicate_id", 2: "insufficient_funds", 4: "insufficient_funds"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("bad lines %v, want %v", got, want)
	}
	if n := l.Count(`SELECT count(*) FROM grants`); n != 1 {
		t.Errorf("%d grants after a refused batch, want 1", n)
	}
	good := l.Event("f", "grant.batch.approved", map[string]any{"batch_id": "m-02", "program": "pension_subsidy", "requested_by": "a",
		"approved_by": "b", "approved_on": "2026-02-01", "lines": manyLines(300)})
	l.WaitIdle()
	if o := outcome(l, good); o != "posted" {
		t.Fatalf("good batch: %s (%+v)", o, l.RejectionOf(good))
	}
	wantBalances(t, l, "f", map[string]string{"grants_payable": "400.00", "grant_expense:pension_subsidy": "300.00"})
	if n := l.Count(`SELECT count(*) FROM journal WHERE refs->>'batch_id' = 'm-02'`); n != 300 {
		t.Errorf("%d transactions for 300 lines", n)
	}
}

// TestCapsAcrossYears: the cap counts approved less cancelled per calendar
// year of approved_on; equal to the cap is allowed; changes apply to later
// events only.
func TestCapsAcrossYears(t *testing.T) {
	l := testenv.Start(t, testenv.Options{})
	openFund(l, "f") // care_fund cap 5000.00
	contribute(l, "f", "c-1", "100000.00")
	a := grant(l, "f", "g-1", "ben-1", "3000.00", "2025-12-31")
	b := grant(l, "f", "g-2", "ben-1", "2000.00", "2025-06-01") // reaches the cap exactly
	c := grant(l, "f", "g-3", "ben-1", "0.01", "2025-01-01")    // one cent over
	d := grant(l, "f", "g-4", "ben-1", "5000.00", "2026-01-01") // a new year
	l.Event("f", "grant.cancelled", map[string]any{"grant_id": "g-2", "cancelled_by": "x", "reason": "r"})
	e := grant(l, "f", "g-5", "ben-1", "2000.00", "2025-07-01") // room again after the cancellation
	l.Event("f", "fund.program.set", map[string]any{"program": "care_fund", "annual_cap_per_beneficiary": "5500.00"})
	g := grant(l, "f", "g-6", "ben-1", "500.00", "2026-02-01")
	l.Event("f", "fund.program.set", map[string]any{"program": "care_fund", "annual_cap_per_beneficiary": nil})
	h := grant(l, "f", "g-7", "ben-1", "50000.00", "2026-03-01")
	l.WaitIdle()
	for id, want := range map[string]string{a: "posted", b: "posted", c: "rejected", d: "posted", e: "posted", g: "posted", h: "posted"} {
		if o := outcome(l, id); o != want {
			t.Errorf("%s: %s, want %s (%+v)", id, o, want, l.RejectionOf(id))
		}
	}
	if r := l.RejectionOf(c); r == nil || r.Code != "beneficiary_cap_exceeded" {
		t.Errorf("one cent over the cap: %+v", r)
	}
}

// TestAllocationBetweenFunds posts once in each fund and refuses what the
// source cannot afford.
func TestAllocationBetweenFunds(t *testing.T) {
	l := testenv.Start(t, testenv.Options{})
	openFund(l, "city")
	openFund(l, "district")
	contribute(l, "city", "c-1", "1000.00")
	grant(l, "city", "g-1", "ben-1", "400.00", "2026-01-02")
	ok := l.Event("city", "allocation.approved", map[string]any{"allocation_id": "a-1", "to_fund_id": "district", "amount": "600.00", "approved_by": "dir"})
	short := l.Event("city", "allocation.approved", map[string]any{"allocation_id": "a-2", "to_fund_id": "district", "amount": "0.01", "approved_by": "dir"})
	l.WaitIdle()
	if o := outcome(l, ok); o != "posted" {
		t.Fatalf("allocation: %s", o)
	}
	if r := l.RejectionOf(short); r == nil || r.Code != "insufficient_funds" {
		t.Fatalf("allocation beyond available: %+v", r)
	}
	wantBalances(t, l, "city", map[string]string{"cash": "400.00", "allocations:out": "600.00", "grants_payable": "400.00"})
	wantBalances(t, l, "district", map[string]string{"cash": "600.00", "allocations:in": "600.00"})
	if n := l.Count(`SELECT count(*) FROM journal WHERE event_id = $1`, ok); n != 2 {
		t.Errorf("allocation posted %d transactions, want one per fund", n)
	}
}

// TestBatchNamesEveryBadLine: a batch with a line whose fields are bad and
// lines the books refuse names them all, and its code is that of its first
// bad line (CONTRACT.md section 3, "Batches"); the data fields still come
// before the fund, and a grant_id repeated within the batch is a business
// id, checked after the fund.
func TestBatchNamesEveryBadLine(t *testing.T) {
	l := testenv.Start(t, testenv.Options{})
	openFund(l, "f") // care_fund cap 5000.00
	contribute(l, "f", "c-1", "1000.00")
	grant(l, "f", "g-old", "ben-1", "100.00", "2026-01-10")
	line := func(id, ben, amount string) map[string]any {
		return map[string]any{"grant_id": id, "beneficiary_ref": ben, "category": "living", "amount": amount}
	}
	batch := func(fund, id string, lines ...map[string]any) string {
		return l.Event(fund, "grant.batch.approved", map[string]any{"batch_id": id, "program": "care_fund", "requested_by": "a",
			"approved_by": "b", "approved_on": "2026-02-01", "lines": lines})
	}
	mixed := batch("f", "m-1",
		line("b-0", "ben-1", "4900.01"), // 100 used + 4900.01 passes the 5000 cap
		line("g-old", "ben-2", "1.00"),  // taken before
		line("b-2", "ben-3", "1.000"),   // three places
		line("b-3", "ben-4", "5.00"),    // good
		line("b-3", "ben-5", "5.00"),    // repeats line 3
		line("b-5", "ben-6", "0"),       // zero
	)
	batchAs := func(id, program, requester string, lines ...map[string]any) string {
		return l.Event("f", "grant.batch.approved", map[string]any{"batch_id": id, "program": program, "requested_by": requester,
			"approved_by": "b", "approved_on": "2026-02-01", "lines": lines})
	}
	takenUnknownProgram := batchAs("m-4", "no_such_program", "a", line("b-10", "ben-1", "1.00"), line("g-old", "ben-2", "1.00"))
	takenSameMaker := batchAs("m-5", "care_fund", "b", line("g-old", "ben-1", "1.00"))
	onlyUnknownProgram := batchAs("m-6", "no_such_program", "a", line("b-11", "ben-1", "1.00"))
	nowhere := batch("nowhere", "m-2", line("n-0", "ben-1", "1.00"), line("n-0", "ben-2", "1.00"))
	nowhereBad := batch("nowhere", "m-3", line("n-0", "ben-1", "1.00"), line("n-1", "ben-2", "-1"))
	l.WaitIdle()

	r := l.RejectionOf(mixed)
	if r == nil {
		t.Fatalf("mixed batch: %s, want rejected", outcome(l, mixed))
	}
	var got []string
	for _, le := range r.Lines {
		got = append(got, fmt.Sprintf("%d:%s", le.Index, le.Code))
	}
	if w := "0:beneficiary_cap_exceeded 1:duplicate_id 2:invalid_amount 4:duplicate_id 5:invalid_amount"; strings.Join(got, " ") != w {
		t.Errorf("mixed batch lines %v, want %s", got, w)
	}
	if r.Code != "beneficiary_cap_exceeded" {
		t.Errorf("mixed batch code %s, want that of its first bad line, beneficiary_cap_exceeded", r.Code)
	}
	if r := l.RejectionOf(nowhere); r == nil || r.Code != "unknown_fund" || r.FundID != "nowhere" {
		t.Errorf("batch with a repeated grant_id in an unknown fund: %+v, want unknown_fund", r)
	}
	if r := l.RejectionOf(nowhereBad); r == nil || r.Code != "invalid_amount" || len(r.Lines) != 1 || r.Lines[0].Index != 1 {
		t.Errorf("batch with a bad amount in an unknown fund: %+v, want invalid_amount on line 1", r)
	}
	// Business ids come before program and maker-checker, the lines'
	// grant_ids among them.
	for _, c := range []struct {
		name, id, code string
		lines          []int
	}{
		{"taken grant_id, unknown program", takenUnknownProgram, "duplicate_id", []int{1}},
		{"taken grant_id, same maker and checker", takenSameMaker, "duplicate_id", []int{0}},
		{"unknown program alone", onlyUnknownProgram, "unknown_program", nil},
	} {
		r := l.RejectionOf(c.id)
		if r == nil {
			t.Errorf("%s: %s, want rejected", c.name, outcome(l, c.id))
			continue
		}
		var idx []int
		for _, le := range r.Lines {
			idx = append(idx, le.Index)
		}
		if r.Code != c.code || fmt.Sprint(idx) != fmt.Sprint(c.lines) {
			t.Errorf("%s: code %s lines %v, want %s lines %v", c.name, r.Code, idx, c.code, c.lines)
		}
	}
	if n := l.Count(`SELECT count(*) FROM grants`); n != 1 {
		t.Errorf("%d grants after refused batches, want 1", n)
	}
}

// TestReturnAfterRecovery: a bank may return a payment of a grant from which
// money was already recovered. The contract refuses a return only for more
// than the payment still holds, so it posts (Dr cash / Cr grants_payable);
// it used to be refused as invalid_field by a database CHECK
// (paid - returned - recovered >= 0). Nothing more can be recovered then.
func TestReturnAfterRecovery(t *testing.T) {
	l := testenv.Start(t, testenv.Options{})
	openFund(l, "f")
	contribute(l, "f", "c-1", "100.00")
	grant(l, "f", "g-1", "ben-1", "50.00", "2026-03-02")
	disburse(l, "f", "g-1", "p-1", "10.00")
	l.Event("f", "grant.recovered", map[string]any{"grant_id": "g-1", "recovery_id": "r-1", "amount": "5.00", "bank_ref": "B1", "reason": "overpaid"})
	ret := l.Event("f", "payment.returned", map[string]any{"grant_id": "g-1", "payment_id": "p-1", "amount": "6.00", "reason": "account closed"})
	more := l.Event("f", "grant.recovered", map[string]any{"grant_id": "g-1", "recovery_id": "r-2", "amount": "0.01", "bank_ref": "B2", "reason": "again"})
	tooMuch := l.Event("f", "payment.returned", map[string]any{"grant_id": "g-1", "payment_id": "p-1", "amount": "4.01", "reason": "again"})
	l.WaitIdle()

	if got := outcome(l, ret); got != "posted" {
		t.Errorf("return after a recovery: %s, want posted", got)
	}
	if r := l.RejectionOf(more); r == nil || r.Code != "exceeds_outstanding" {
		t.Errorf("recovery with nothing paid net left: %+v, want exceeds_outstanding", r)
	}
	if r := l.RejectionOf(tooMuch); r == nil || r.Code != "exceeds_outstanding" {
		t.Errorf("return of more than the payment still holds: %+v, want exceeds_outstanding", r)
	}
	// cash 100 - 10 + 5 + 6; payable 50 - 10 + 6; expense 50 - 5.
	wantBalances(t, l, "f", map[string]string{"cash": "101.00", "grants_payable": "46.00",
		"grant_expense:care_fund": "45.00", "contributions:fiscal": "100.00"})
}
