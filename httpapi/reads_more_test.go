package httpapi_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fundledger/fundledger/events"
	"github.com/fundledger/fundledger/httpapi"
	"github.com/fundledger/fundledger/internal/testenv"
	"github.com/fundledger/fundledger/ledger"
	"github.com/fundledger/fundledger/ledger/postgres"
	"github.com/jackc/pgx/v5"
)

// The clock of the search fixture. T0 is 23:59:59 on 1 March in Shanghai,
// T1 the next second, midnight of 2 March there (but still 1 March in
// UTC), T2 days later.
var (
	searchT0 = time.Date(2026, 3, 1, 15, 59, 59, 0, time.UTC)
	searchT1 = time.Date(2026, 3, 1, 16, 0, 0, 0, time.UTC)
	searchT2 = time.Date(2026, 3, 5, 2, 0, 0, 0, time.UTC)
)

// The grant ids of the byte-order check: ICU (en-US) sorts them a-1,
// B-2, é-1, g-10, G-10, g-9, Z-9; byte order is B-2, G-10, Z-9, a-1,
// g-10, g-9, é-1.
var orderIDs = []string{"g-10", "a-1", "Z-9", "G-10", "g-9", "é-1", "B-2"}

// beneficiary refs of the fixture; benA has grants in two programs and
// two years, benU has a space and a non-ASCII letter (path escaping).
const (
	benA = "ben-A"
	benB = "ben-B"
	benP = "ben-P"
	benU = "ben 甲/1"
)

type searchFixture struct {
	base  string // the API's URL
	db    *pgx.Conn
	store *postgres.Store
}

// newSearchFixture runs the real write path (Store.ApplyBatch, with a
// clock of its own so recorded times are known) into a database whose
// collation is ICU en-US, where the primary key's order of grant ids is
// not byte order, and serves the read API over HTTP.
func newSearchFixture(t *testing.T) *searchFixture {
	t.Helper()
	ctx := context.Background()
	dbURL := icuDatabase(t)
	if err := postgres.Migrate(ctx, dbURL); err != nil {
		t.Fatal(err)
	}
	s, err := postgres.Open(ctx, dbURL, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	lease, err := postgres.AcquireLease(ctx, dbURL, "search", "test", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lease.Release)
	var seq uint64
	apply := func(now time.Time, evs ...events.Message) {
		t.Helper()
		if _, err := s.ApplyBatch(ctx, "search", lease.Epoch, ledger.DecodeAll(evs), now,
			postgres.BatchSettings{IntakeSettings: ledger.IntakeSettings{HoldWindow: time.Hour}}, false); err != nil {
			t.Fatal(err)
		}
	}
	msg := func(fund, typ string, data any) events.Message {
		b, err := json.Marshal(testenv.Envelope(typ, data))
		if err != nil {
			t.Fatal(err)
		}
		seq++
		return events.Message{StreamSeq: seq, Subject: events.InboundSubject(fund, typ), Data: b}
	}
	grant := func(fund, id, ben, program, amount, on string) events.Message {
		return msg(fund, "grant.approved", map[string]any{"grant_id": id, "beneficiary_ref": ben, "program": program,
			"category": "living", "amount": amount, "requested_by": "caseworker", "approved_by": "officer", "approved_on": on})
	}
	apply(searchT0,
		msg("f", "fund.opened", map[string]any{"fund_id": "f", "name": "F", "programs": []any{
			map[string]any{"code": "pension"}, map[string]any{"code": "care", "annual_cap_per_beneficiary": "1000"},
			map[string]any{"code": "Rare", "annual_cap_per_beneficiary": "50.5"}}}),
		msg("other", "fund.opened", map[string]any{"fund_id": "other", "name": "Other", "programs": []any{map[string]any{"code": "care"}}}),
		msg("f", "contribution.received", map[string]any{"contribution_id": "c-1", "source_kind": "fiscal", "payer": "bureau",
			"amount": "100000", "bank_ref": "BR-1", "received_on": "2026-03-01"}),
		msg("other", "contribution.received", map[string]any{"contribution_id": "c-1", "source_kind": "fiscal", "payer": "bureau",
			"amount": "1000", "bank_ref": "BR-1", "received_on": "2026-03-01"}),
		grant("f", "bad-1", benA, "nope", "10", "2026-03-01"), // unknown_program
	)
	batch := []events.Message{
		grant("f", "g-1", benA, "care", "400", "2026-03-02"),
		grant("f", "g-2", benA, "care", "500", "2026-03-02"),
		msg("f", "grant.batch.approved", map[string]any{"batch_id": "b-1", "program": "pension", "requested_by": "caseworker",
			"approved_by": "officer", "approved_on": "2026-03-02", "lines": []any{
				map[string]any{"grant_id": "g-3", "beneficiary_ref": benA, "category": "living", "amount": "300"},
				map[string]any{"grant_id": "g-4", "beneficiary_ref": benB, "category": "living", "amount": "200"}}}),
		grant("f", "g-5", benA, "care", "100", "2025-12-30"),
		grant("f", "g-6", benB, "care", "100", "2026-03-02"),
		grant("f", "r-1", benU, "Rare", "50.50", "2026-03-02"),
		grant("other", "g-1", benA, "care", "10", "2026-03-02"),
	}
	for _, id := range orderIDs {
		batch = append(batch, grant("f", id, benP, "pension", "1.25", "2026-03-02"))
	}
	apply(searchT1, batch...)
	apply(searchT2,
		msg("f", "grant.disbursed", map[string]any{"grant_id": "g-1", "payment_id": "p-1", "amount": "200", "bank_ref": "BR-2", "paid_on": "2026-03-05"}),
		msg("f", "grant.cancelled", map[string]any{"grant_id": "g-2", "cancelled_by": "officer", "reason": "moved away"}),
		msg("f", "payment.returned", map[string]any{"grant_id": "g-1", "payment_id": "p-1", "amount": "50", "reason": "account closed"}),
		msg("f", "grant.recovered", map[string]any{"grant_id": "g-1", "recovery_id": "rc-1", "amount": "20", "bank_ref": "BR-3", "reason": "overpaid"}),
		msg("f", "grant.disbursed", map[string]any{"grant_id": "g-6", "payment_id": "p-2", "amount": "100", "bank_ref": "BR-4", "paid_on": "2026-03-05"}),
		// benA has used 400.00 of care in 2026 (900 approved, 500
		// cancelled); the cap is lowered below that.
		msg("f", "fund.program.set", map[string]any{"program": "care", "annual_cap_per_beneficiary": "300"}),
		grant("f", "g-big", benA, "care", "1", "2026-03-05"),                        // beneficiary_cap_exceeded
		msg("f", "contribution.received", map[string]any{"contribution_id": "c-2"}), // missing_field
	)
	srv := httptest.NewServer(httpapi.New(s))
	t.Cleanup(srv.Close)
	db, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(context.Background()) })
	return &searchFixture{base: srv.URL, db: db, store: s}
}

// icuDatabase creates a database (dropped when the test ends) whose
// collation is ICU en-US, so an ORDER BY that forgets COLLATE "C" is not
// byte order.
func icuDatabase(t *testing.T) string {
	t.Helper()
	admin := testenv.AdminURL(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "fl_test_icu_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"); err != nil {
		t.Fatalf("create an ICU database: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), admin)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// get GETs path over HTTP, wants status and a JSON body, decodes it into v
// (when not nil) and returns it.
func (f *searchFixture) get(t *testing.T, path string, status int, v any) []byte {
	t.Helper()
	resp, err := http.Get(f.base + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != status {
		t.Fatalf("GET %s: status %d, want %d; body %s", path, resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("GET %s: Content-Type %q", path, ct)
	}
	if status != http.StatusOK {
		var e map[string]any
		if err := json.Unmarshal(body, &e); err != nil || len(e) != 1 || e["error"] == "" {
			t.Fatalf("GET %s: error body %s, want {\"error\": \"...\"}", path, body)
		}
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %v; body %s", path, err, body)
		}
	}
	var raw any
	_ = json.Unmarshal(body, &raw)
	walkMoney(t, path, raw)
	return body
}

// journalWalk pages the filtered journal with limit and returns every
// transaction, checking each page's size and cursor.
func (f *searchFixture) journalWalk(t *testing.T, fund, query string, limit int) []txn {
	t.Helper()
	var all []txn
	after := int64(0)
	for pages := 0; ; pages++ {
		if pages > 200 {
			t.Fatal("journal paging does not end")
		}
		var p journalPage
		f.get(t, fmt.Sprintf("/v1/funds/%s/journal?after_seq=%d&limit=%d&%s", fund, after, limit, query), http.StatusOK, &p)
		if p.NextAfterSeq == nil || len(p.Transactions) > limit {
			t.Fatalf("%s: page of %d, next_after_seq %v", query, len(p.Transactions), p.NextAfterSeq)
		}
		if len(p.Transactions) == 0 {
			if *p.NextAfterSeq != after {
				t.Fatalf("%s: empty page's next_after_seq %d, want %d", query, *p.NextAfterSeq, after)
			}
			return all
		}
		if last := p.Transactions[len(p.Transactions)-1].Seq; *p.NextAfterSeq != last {
			t.Fatalf("%s: next_after_seq %d, want the page's last seq %d", query, *p.NextAfterSeq, last)
		}
		all = append(all, p.Transactions...)
		after = *p.NextAfterSeq
	}
}

func seqsOf(txns []txn) []int64 {
	out := []int64{}
	for _, x := range txns {
		out = append(out, x.Seq)
	}
	return out
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

type want func(x txn) bool

type journalCase struct {
	query string
	want  []want
	n     int // matches expected, to keep the oracle honest
}

// checkJournalCases walks each case's filtered journal with several limits
// and compares it with the oracle: the case's conditions applied to the
// whole unfiltered journal.
func checkJournalCases(t *testing.T, f *searchFixture, all []txn, cases []journalCase) {
	t.Helper()
	for _, c := range cases {
		var expect []int64
		for _, x := range all {
			ok := true
			for _, w := range c.want {
				ok = ok && w(x)
			}
			if ok {
				expect = append(expect, x.Seq)
			}
		}
		if len(expect) != c.n {
			t.Fatalf("%s: the oracle finds %d transactions, the case says %d: fix the case", c.query, len(expect), c.n)
		}
		for _, limit := range []int{1, 2, 100} {
			got := f.journalWalk(t, "f", c.query, limit)
			if !slices.Equal(seqsOf(got), expect) && !(len(expect) == 0 && len(got) == 0) {
				t.Errorf("%s (limit %d, ProgramLookupMax %d): seqs %v, want %v", c.query, limit, postgres.ProgramLookupMax, seqsOf(got), expect)
				continue
			}
			for _, x := range got { // whole transactions, as the unfiltered journal has them
				if !reflect.DeepEqual(x, all[x.Seq-1]) {
					t.Errorf("%s: transaction %d = %+v, want %+v", c.query, x.Seq, x, all[x.Seq-1])
				}
			}
		}
	}
}

// TestJournalFilters checks each filter of CONTRACT.md section 7, and
// combinations, against the same filter applied by hand to the whole
// unfiltered journal, walking the pages with several limits.
func TestJournalFilters(t *testing.T) {
	f := newSearchFixture(t)
	all := f.journalWalk(t, "f", "", 100)
	if len(all) < 20 {
		t.Fatalf("fixture journal has %d transactions", len(all))
	}
	shanghai, _ := time.LoadLocation("Asia/Shanghai")
	midnight2 := time.Date(2026, 3, 2, 0, 0, 0, 0, shanghai)
	ref := func(k, v string) want { return func(x txn) bool { return x.Refs[k] == v } }
	typ := func(v string) want { return func(x txn) bool { return x.Type == v } }
	from := func(at time.Time) want { return func(x txn) bool { return !mustTime(t, x.Time).Before(at) } }
	to := func(at time.Time) want { return func(x txn) bool { return mustTime(t, x.Time).Before(at) } }
	cases := []journalCase{
		{"type=grant.batch.approved", []want{typ("grant.batch.approved")}, 2},
		{"type=grant.approved", []want{typ("grant.approved")}, 5 + len(orderIDs)},
		{"type=fund.opened", []want{typ("fund.opened")}, 0},
		{"grant_id=g-1", []want{ref("grant_id", "g-1")}, 4},
		{"grant_id=g-3", []want{ref("grant_id", "g-3")}, 1},
		{"grant_id=g-2", []want{ref("grant_id", "g-2")}, 2},
		{"grant_id=nope", []want{ref("grant_id", "nope")}, 0},
		{"beneficiary_ref=" + url.QueryEscape(benA), []want{ref("beneficiary_ref", benA)}, 4},
		{"beneficiary_ref=" + url.QueryEscape(benU), []want{ref("beneficiary_ref", benU)}, 1},
		{"bank_ref=BR-1", []want{ref("bank_ref", "BR-1")}, 1},
		{"bank_ref=BR-2", []want{ref("bank_ref", "BR-2")}, 1},
		{"program=care", []want{ref("program", "care")}, 9},
		{"program=pension", []want{ref("program", "pension")}, 2 + len(orderIDs)},
		{"program=Rare", []want{ref("program", "Rare")}, 1},
		{"program=nope", []want{ref("program", "nope")}, 0},
		{"program=care&type=grant.disbursed", []want{ref("program", "care"), typ("grant.disbursed")}, 2},
		{"program=care&type=grant.approved", []want{ref("program", "care"), typ("grant.approved")}, 4},
		{"grant_id=g-1&bank_ref=BR-3", []want{ref("grant_id", "g-1"), ref("bank_ref", "BR-3")}, 1},
		{"grant_id=g-1&type=payment.returned", []want{ref("grant_id", "g-1"), typ("payment.returned")}, 1},
		{"beneficiary_ref=" + benB + "&type=grant.batch.approved", []want{ref("beneficiary_ref", benB), typ("grant.batch.approved")}, 1},
		{"beneficiary_ref=" + benA + "&program=care", []want{ref("beneficiary_ref", benA), ref("program", "care")}, 3},
		// Dates are midnight in Asia/Shanghai: T0 is the last second of
		// 1 March there, T1 the first of 2 March.
		{"from=2026-03-02", []want{from(midnight2)}, len(all) - 1},
		{"to=2026-03-02", []want{to(midnight2)}, 1},
		{"from=2026-03-02&to=2026-03-03", []want{from(midnight2), to(midnight2.AddDate(0, 0, 1))}, 7 + len(orderIDs)},
		{"from=2026-03-01T16:00:00Z", []want{from(searchT1)}, len(all) - 1},
		{"from=2026-03-01T15:59:59.999999Z&to=2026-03-01T16:00:00Z", []want{from(searchT1.Add(-time.Microsecond)), to(searchT1)}, 0},
		{"from=" + url.QueryEscape("2026-03-02T00:00:00+08:00"), []want{from(midnight2)}, len(all) - 1},
		{"from=2026-03-02T00:00:00+08:00", []want{from(midnight2)}, len(all) - 1}, // '+' unescaped
		{"from=2026-03-05&program=care", []want{from(searchT2.Truncate(24 * time.Hour).Add(-8 * time.Hour)), ref("program", "care")}, 5},
		{"to=2026-03-02&bank_ref=BR-1", []want{to(midnight2), ref("bank_ref", "BR-1")}, 1},
		{"from=2026-03-02&bank_ref=BR-1", []want{from(midnight2), ref("bank_ref", "BR-1")}, 0},
		{"from=2026-03-02&to=2026-03-02", []want{from(midnight2), to(midnight2)}, 0},
		{"from=2030-01-01", []want{from(time.Date(2030, 1, 1, 0, 0, 0, 0, shanghai))}, 0},
		{"to=2020-01-01", []want{to(time.Date(2020, 1, 1, 0, 0, 0, 0, shanghai))}, 0},
	}
	for _, lookup := range []int{postgres.ProgramLookupMax, 0} { // a program through its grants, or by walking
		postgres.ProgramLookupMax = lookup
		checkJournalCases(t, f, all, cases)
	}
	postgres.ProgramLookupMax = 1000

	t.Run("after_seq inside a filtered walk", func(t *testing.T) {
		var p journalPage
		f.get(t, "/v1/funds/f/journal?grant_id=g-1&after_seq=2&limit=2", http.StatusOK, &p)
		if got := seqsOf(p.Transactions); len(got) != 2 || got[0] <= 2 || *p.NextAfterSeq != got[1] {
			t.Errorf("grant g-1 after seq 2, 2 of them: %v next %v", got, *p.NextAfterSeq)
		}
	})
	t.Run("another fund's transactions stay out", func(t *testing.T) {
		got := f.journalWalk(t, "other", "grant_id=g-1", 10)
		if len(got) != 1 || got[0].FundID != "other" {
			t.Errorf("other's g-1: %+v", got)
		}
	})
	t.Run("dates in FUNDLEDGER_TZ", func(t *testing.T) {
		t.Setenv("FUNDLEDGER_TZ", "UTC")
		// Midnight of 2 March in UTC is after T0 and T1.
		got := f.journalWalk(t, "f", "from=2026-03-02", 100)
		for _, x := range got {
			if mustTime(t, x.Time).Before(time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)) {
				t.Errorf("from=2026-03-02 in UTC lists seq %d recorded at %s", x.Seq, x.Time)
			}
		}
		if len(got) != 5 {
			t.Errorf("from=2026-03-02 in UTC: %d transactions, want the 5 of T2", len(got))
		}
		t.Setenv("FUNDLEDGER_TZ", "America/New_York")
		// Midnight of 1 March in New York is 05:00 UTC: before T0.
		if got := f.journalWalk(t, "f", "to=2026-03-01", 100); len(got) != 0 {
			t.Errorf("to=2026-03-01 in New York: %v, want nothing", seqsOf(got))
		}
		t.Setenv("FUNDLEDGER_TZ", "Nowhere/Atlantis")
		f.get(t, "/v1/funds/f/journal?from=2026-03-02", http.StatusInternalServerError, nil)
		f.get(t, "/v1/funds/f/journal?from=2026-03-02T00:00:00Z", http.StatusOK, nil) // no zone needed
	})
	t.Run("bad parameters", func(t *testing.T) {
		for _, q := range []string{"from=yesterday", "from=2026-3-2", "to=2026-02-30", "from=2026-03-02T00:00:00",
			"to=2026-03-02T25:00:00Z", "from=2026-03-03&to=2026-03-02", "limit=1001", "limit=0", "after_seq=-1", "limit=x"} {
			f.get(t, "/v1/funds/f/journal?"+q, http.StatusBadRequest, nil)
		}
		f.get(t, "/v1/funds/f/journal?limit=1000&type=grant.approved", http.StatusOK, nil)
		f.get(t, "/v1/funds/nope/journal?type=grant.approved&from=2026-03-02", http.StatusNotFound, nil)
	})
}

type grantObj = map[string]any

type grantPage struct {
	Grants    []grantObj `json:"grants"`
	NextAfter *string    `json:"next_after"`
}

// grantsWalk pages the grants list and returns every grant.
func (f *searchFixture) grantsWalk(t *testing.T, fund, query string, limit int) []grantObj {
	t.Helper()
	var all []grantObj
	after := ""
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatal("grants paging does not end")
		}
		var p grantPage
		f.get(t, fmt.Sprintf("/v1/funds/%s/grants?after=%s&limit=%d&%s", fund, url.QueryEscape(after), limit, query), http.StatusOK, &p)
		if p.NextAfter == nil || len(p.Grants) > limit {
			t.Fatalf("%s: page of %d, next_after %v", query, len(p.Grants), p.NextAfter)
		}
		if len(p.Grants) == 0 {
			if *p.NextAfter != after {
				t.Fatalf("%s: empty page's next_after %q, want %q", query, *p.NextAfter, after)
			}
			return all
		}
		if last := p.Grants[len(p.Grants)-1]["grant_id"]; *p.NextAfter != last {
			t.Fatalf("%s: next_after %q, want the page's last grant %q", query, *p.NextAfter, last)
		}
		all = append(all, p.Grants...)
		after = *p.NextAfter
	}
}

func idsOf(gs []grantObj) []string {
	out := []string{}
	for _, g := range gs {
		out = append(out, g["grant_id"].(string))
	}
	return out
}

func TestGrantsList(t *testing.T) {
	f := newSearchFixture(t)
	var fundIDs []string
	for _, id := range append([]string{"g-1", "g-2", "g-3", "g-4", "g-5", "g-6", "r-1"}, orderIDs...) {
		fundIDs = append(fundIDs, id)
	}
	sort.Strings(fundIDs) // byte order
	all := f.grantsWalk(t, "f", "", 100)
	if got := idsOf(all); !slices.Equal(got, fundIDs) {
		t.Fatalf("grants %v, want byte order %v", got, fundIDs)
	}
	// Each grant as GET .../grants/{grant_id} shows it.
	for _, g := range all {
		var one grantObj
		f.get(t, "/v1/funds/f/grants/"+url.PathEscape(g["grant_id"].(string)), http.StatusOK, &one)
		if !reflect.DeepEqual(g, one) {
			t.Errorf("listed %v\nalone  %v", g, one)
		}
	}
	byID := map[string]grantObj{}
	for _, g := range all {
		byID[g["grant_id"].(string)] = g
	}
	if g := byID["g-1"]; g["state"] != "open" || g["approved"] != "400.00" || g["paid"] != "200.00" || g["returned"] != "50.00" ||
		g["recovered"] != "20.00" || g["outstanding"] != "250.00" || len(g["payments"].([]any)) != 1 {
		t.Errorf("g-1 = %v", g)
	}
	match := func(pred func(grantObj) bool) []string {
		out := []string{}
		for _, g := range all {
			if pred(g) {
				out = append(out, g["grant_id"].(string))
			}
		}
		return out
	}
	field := func(k, v string) func(grantObj) bool { return func(g grantObj) bool { return g[k] == v } }
	for _, c := range []struct {
		query string
		want  []string
	}{
		{"beneficiary_ref=" + benA, match(field("beneficiary_ref", benA))},
		{"beneficiary_ref=" + url.QueryEscape(benU), []string{"r-1"}},
		{"program=pension", match(field("program", "pension"))},
		{"state=cancelled", []string{"g-2"}},
		{"state=paid", []string{"g-6"}},
		{"state=open", match(func(g grantObj) bool { return g["grant_id"] != "g-2" && g["grant_id"] != "g-6" })},
		{"beneficiary_ref=" + benA + "&program=care&state=open", []string{"g-1", "g-5"}},
		{"program=nope", []string{}},
		{"program=care&beneficiary_ref=" + benB, []string{"g-6"}},
		{"program=Rare&state=open", []string{"r-1"}},
	} {
		if len(c.want) == 0 && c.query != "program=nope" {
			t.Fatalf("%s: empty oracle", c.query)
		}
		for _, lookup := range []int{1000, 0} { // a program through its grants, or by walking
			postgres.ProgramLookupMax = lookup
			for _, limit := range []int{1, 3, 100} {
				if got := idsOf(f.grantsWalk(t, "f", c.query, limit)); !slices.Equal(got, c.want) {
					t.Errorf("%s (limit %d, ProgramLookupMax %d): %v, want %v", c.query, limit, lookup, got, c.want)
				}
			}
		}
		postgres.ProgramLookupMax = 1000
	}
	t.Run("after a grant_id that does not exist", func(t *testing.T) {
		var p grantPage
		f.get(t, "/v1/funds/f/grants?after=Z&limit=2", http.StatusOK, &p)
		if got := idsOf(p.Grants); !slices.Equal(got, []string{"Z-9", "a-1"}) {
			t.Errorf("after Z: %v, want [Z-9 a-1]", got)
		}
	})
	t.Run("default limit 100", func(t *testing.T) {
		var p grantPage
		f.get(t, "/v1/funds/f/grants", http.StatusOK, &p)
		if len(p.Grants) != len(fundIDs) || *p.NextAfter != fundIDs[len(fundIDs)-1] {
			t.Errorf("%d grants, next_after %q", len(p.Grants), *p.NextAfter)
		}
	})
	t.Run("bad parameters and missing funds", func(t *testing.T) {
		for _, q := range []string{"state=closed", "state=OPEN", "limit=1001", "limit=0", "limit=-5", "limit=abc"} {
			f.get(t, "/v1/funds/f/grants?"+q, http.StatusBadRequest, nil)
		}
		f.get(t, "/v1/funds/f/grants?limit=1000&state=", http.StatusOK, nil)
		f.get(t, "/v1/funds/nope/grants", http.StatusNotFound, nil)
		f.get(t, "/v1/funds/nope/grants?state=open&beneficiary_ref=x", http.StatusNotFound, nil)
	})
}

func TestBeneficiary(t *testing.T) {
	f := newSearchFixture(t)
	var b struct {
		FundID         string           `json:"fund_id"`
		BeneficiaryRef string           `json:"beneficiary_ref"`
		Usage          []map[string]any `json:"usage"`
		Grants         []grantObj       `json:"grants"`
	}
	body := f.get(t, "/v1/funds/f/beneficiaries/"+benA, http.StatusOK, &b)
	if b.FundID != "f" || b.BeneficiaryRef != benA {
		t.Errorf("head: %s", body)
	}
	// care 2026: 400 + 500 approved, 500 cancelled (g-2), cap lowered to
	// 300 after: room -100.00. care 2025: g-5. pension has no cap.
	want := []map[string]any{
		{"program": "care", "year": 2025.0, "approved": "100.00", "cancelled": "0.00", "used": "100.00", "cap": "300.00", "room": "200.00"},
		{"program": "care", "year": 2026.0, "approved": "900.00", "cancelled": "500.00", "used": "400.00", "cap": "300.00", "room": "-100.00"},
		{"program": "pension", "year": 2026.0, "approved": "300.00", "cancelled": "0.00", "used": "300.00", "cap": nil, "room": nil},
	}
	if !reflect.DeepEqual(b.Usage, want) {
		t.Errorf("usage %v\nwant  %v", b.Usage, want)
	}
	// used is what the ledger checks the cap against.
	for _, u := range b.Usage {
		var used string
		if err := f.db.QueryRow(context.Background(), `SELECT used::text FROM cap_usage WHERE fund_id = 'f' AND program = $1 AND beneficiary_ref = $2 AND year = $3`,
			u["program"], benA, int(u["year"].(float64))).Scan(&used); err != nil {
			t.Fatal(err)
		}
		if used != u["used"] {
			t.Errorf("%v %v: used %v, the ledger's cap_usage %s", u["program"], u["year"], u["used"], used)
		}
	}
	if got := idsOf(b.Grants); !slices.Equal(got, []string{"g-1", "g-2", "g-3", "g-5"}) {
		t.Errorf("grants %v", got)
	}
	for _, g := range b.Grants {
		var one grantObj
		f.get(t, "/v1/funds/f/grants/"+g["grant_id"].(string), http.StatusOK, &one)
		if !reflect.DeepEqual(g, one) {
			t.Errorf("beneficiary's %v\nalone       %v", g, one)
		}
	}

	t.Run("a ref with a space, a slash and a Chinese letter", func(t *testing.T) {
		body := f.get(t, "/v1/funds/f/beneficiaries/"+url.PathEscape(benU), http.StatusOK, &b)
		if b.BeneficiaryRef != benU || len(b.Usage) != 1 || b.Usage[0]["room"] != "0.00" || b.Usage[0]["cap"] != "50.50" {
			t.Errorf("%s", body)
		}
	})
	t.Run("not found", func(t *testing.T) {
		f.get(t, "/v1/funds/f/beneficiaries/ben-nobody", http.StatusNotFound, nil)
		f.get(t, "/v1/funds/nope/beneficiaries/"+benA, http.StatusNotFound, nil)
		// benA of fund other has a grant there, and only there.
		var o struct {
			Usage  []map[string]any `json:"usage"`
			Grants []grantObj       `json:"grants"`
		}
		f.get(t, "/v1/funds/other/beneficiaries/"+benA, http.StatusOK, &o)
		if len(o.Grants) != 1 || o.Grants[0]["fund_id"] != "other" || o.Usage[0]["cap"] != nil {
			t.Errorf("other's benA: %+v", o)
		}
		f.get(t, "/v1/funds/other/beneficiaries/"+benB, http.StatusNotFound, nil)
	})
}

func TestFundWithPrograms(t *testing.T) {
	f := newSearchFixture(t)
	var got map[string]any
	f.get(t, "/v1/funds/f", http.StatusOK, &got)
	want := []any{
		map[string]any{"code": "Rare", "annual_cap_per_beneficiary": "50.50"},
		map[string]any{"code": "care", "annual_cap_per_beneficiary": "300.00"},
		map[string]any{"code": "pension", "annual_cap_per_beneficiary": nil},
	}
	if !reflect.DeepEqual(got["programs"], want) {
		t.Errorf("programs %v, want %v", got["programs"], want)
	}
	var list struct {
		Funds []map[string]any `json:"funds"`
	}
	f.get(t, "/v1/funds", http.StatusOK, &list)
	delete(got, "programs")
	if !reflect.DeepEqual(list.Funds[0], got) {
		t.Errorf("GET /v1/funds/f without programs = %v, want the list's entry %v", got, list.Funds[0])
	}
	f.get(t, "/v1/funds/nope", http.StatusNotFound, nil)
}

func TestRejectionFilters(t *testing.T) {
	f := newSearchFixture(t)
	type rej struct {
		Seq        int64  `json:"seq"`
		FundID     string `json:"fund_id"`
		Code       string `json:"code"`
		Type       string `json:"type"`
		ReceivedAt string `json:"received_at"`
	}
	walk := func(query string, limit int) []rej {
		t.Helper()
		var all []rej
		after := int64(0)
		for {
			var p struct {
				Rejections []rej  `json:"rejections"`
				NextAfter  *int64 `json:"next_after"`
			}
			f.get(t, fmt.Sprintf("/v1/rejections?after=%d&limit=%d&%s", after, limit, query), http.StatusOK, &p)
			if p.NextAfter == nil || len(p.Rejections) > limit {
				t.Fatalf("%s: bad page %+v", query, p)
			}
			if len(p.Rejections) == 0 {
				return all
			}
			all = append(all, p.Rejections...)
			after = *p.NextAfter
		}
	}
	all := walk("", 100)
	if len(all) != 3 {
		t.Fatalf("fixture has %d rejections: %+v", len(all), all)
	}
	shanghai, _ := time.LoadLocation("Asia/Shanghai")
	for _, c := range []struct {
		query string
		pred  func(rej) bool
		n     int
	}{
		{"code=unknown_program", func(r rej) bool { return r.Code == "unknown_program" }, 1},
		{"code=missing_field", func(r rej) bool { return r.Code == "missing_field" }, 1},
		{"type=grant.approved", func(r rej) bool { return r.Type == "grant.approved" }, 2},
		{"type=grant.approved&code=beneficiary_cap_exceeded", func(r rej) bool { return r.Code == "beneficiary_cap_exceeded" }, 1},
		{"from=2026-03-02", func(r rej) bool {
			return !mustTime(t, r.ReceivedAt).Before(time.Date(2026, 3, 2, 0, 0, 0, 0, shanghai))
		}, 2},
		{"to=2026-03-02", func(r rej) bool { return mustTime(t, r.ReceivedAt).Before(time.Date(2026, 3, 2, 0, 0, 0, 0, shanghai)) }, 1},
		{"to=2026-03-01T15:59:59Z", func(r rej) bool { return false }, 0},
		{"fund_id=f&type=grant.approved&from=2026-03-05T02:00:00Z", func(r rej) bool { return r.Code == "beneficiary_cap_exceeded" }, 1},
		{"fund_id=other&code=unknown_program", func(r rej) bool { return false }, 0},
		{"code=nope", func(r rej) bool { return false }, 0},
	} {
		var want []int64
		for _, r := range all {
			if c.pred(r) {
				want = append(want, r.Seq)
			}
		}
		if len(want) != c.n {
			t.Fatalf("%s: oracle %d, case %d", c.query, len(want), c.n)
		}
		for _, limit := range []int{1, 100} {
			var got []int64
			for _, r := range walk(c.query, limit) {
				got = append(got, r.Seq)
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s (limit %d): %v, want %v", c.query, limit, got, want)
			}
		}
	}
	for _, q := range []string{"from=soon", "to=2026-02-31", "from=2026-03-03&to=2026-03-02", "limit=1001", "after=-1"} {
		f.get(t, "/v1/rejections?"+q, http.StatusBadRequest, nil)
	}
	if strings.Contains(fmt.Sprint(all), "other") {
		t.Errorf("a rejection of fund other: %+v", all)
	}
}
