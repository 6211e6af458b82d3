package httpapi_test

// Response times of the read API's searches on a fund of a million
// transactions, and what the indexes they could use would cost the write
// path. docs/performance.md ("The read API's filters on a big fund") has
// the numbers and how to run them:
//
//	FUNDLEDGER_BIGFUND_KEEP=1 go test -run '^$' -bench BigFund -benchtime 200x -timeout 60m ./httpapi/
//
// FUNDLEDGER_BIGFUND_TXNS sets the size (default 1,000,000).

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fundledger/fundledger/httpapi"
	"github.com/fundledger/fundledger/internal/testenv"
	"github.com/fundledger/fundledger/ledger/postgres"
	"github.com/jackc/pgx/v5"
)

func bigFundSize(tb testing.TB) int64 {
	n := int64(1_000_000)
	if s := os.Getenv("FUNDLEDGER_BIGFUND_TXNS"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < 10000 {
			tb.Fatalf("FUNDLEDGER_BIGFUND_TXNS %q: want a number of transactions, 10000 or more", s)
		}
		n = v
	}
	return n
}

var bigOnce struct {
	sync.Mutex
	url, name, admin string
}

// bigFund is the big fund's database, built once per run (see TestMain).
func bigFund(b *testing.B) (string, int64) {
	bigOnce.Lock()
	defer bigOnce.Unlock()
	n := bigFundSize(b)
	if bigOnce.url == "" {
		bigOnce.url, bigOnce.name = bigFundDB(b, n)
		bigOnce.admin = testenv.AdminURL(b)
	}
	return bigOnce.url, n
}

// TestMain drops the big fund's database after the run, if a benchmark
// made one, unless FUNDLEDGER_BIGFUND_KEEP is set.
func TestMain(m *testing.M) {
	code := m.Run()
	if bigOnce.name != "" && os.Getenv("FUNDLEDGER_BIGFUND_KEEP") == "" {
		if c, err := pgx.Connect(context.Background(), bigOnce.admin); err == nil {
			_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+bigOnce.name+" WITH (FORCE)")
			c.Close(context.Background())
		}
	}
	os.Exit(code)
}

// bigSamples are values of the big fund to search for, drawn at random.
type bigSamples struct {
	grants, paidGrants, bens, bankRefs []string
}

func sampleBigFund(b *testing.B, db *pgx.Conn) bigSamples {
	ctx := context.Background()
	var s bigSamples
	for _, q := range []struct {
		dst *[]string
		sql string
	}{
		{&s.grants, `SELECT grant_id FROM grants WHERE fund_id = $1 ORDER BY md5(grant_id) LIMIT 200`},
		{&s.paidGrants, `SELECT grant_id FROM grants WHERE fund_id = $1 AND paid > 0 ORDER BY md5(grant_id) LIMIT 200`},
		{&s.bens, `SELECT DISTINCT beneficiary_ref FROM grants WHERE fund_id = $1 ORDER BY 1 LIMIT 200`},
		{&s.bankRefs, `SELECT bank_ref FROM payments WHERE fund_id = $1 ORDER BY md5(payment_id) LIMIT 200`},
	} {
		rows, err := db.Query(ctx, q.sql, bigFundID)
		if err != nil {
			b.Fatal(err)
		}
		*q.dst, err = pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil || len(*q.dst) == 0 {
			b.Fatalf("sample %s: %v", q.sql, err)
		}
	}
	return s
}

func shanghaiZone(tb testing.TB) *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		tb.Fatal(err)
	}
	return loc
}

// nextDay is the date after d (YYYY-MM-DD).
func nextDay(tb testing.TB, d string) string {
	t, err := time.Parse(time.DateOnly, d)
	if err != nil {
		tb.Fatal(err)
	}
	return t.AddDate(0, 0, 1).Format(time.DateOnly)
}

type bigCase struct {
	name  string
	query func(i int) string // the query string of request i
}

// measure GETs path(i) b.N times after a few warm-up requests and reports
// the latency's p50, p95 and maximum in milliseconds, and the mean number
// of items a page held.
func measure(b *testing.B, client *http.Client, base string, path func(i int) string, count func([]byte) int) {
	get := func(i int) (time.Duration, int) {
		t0 := time.Now()
		resp, err := client.Get(base + path(i))
		if err != nil {
			b.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		d := time.Since(t0)
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("GET %s: %d %v %s", path(i), resp.StatusCode, err, body)
		}
		return d, count(body)
	}
	for i := 0; i < 3; i++ {
		get(-1 - i)
	}
	lat := make([]time.Duration, 0, b.N)
	items := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d, n := get(i)
		lat = append(lat, d)
		items += n
	}
	b.StopTimer()
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[min(len(lat)-1, len(lat)*95/100)]), "p95-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
	b.ReportMetric(float64(items)/float64(b.N), "items/page")
	b.ReportMetric(0, "ns/op")
}

func countOf(key string) func([]byte) int {
	return func(body []byte) int {
		var p map[string]json.RawMessage
		var items []json.RawMessage
		if json.Unmarshal(body, &p) != nil || json.Unmarshal(p[key], &items) != nil {
			return -1
		}
		return len(items)
	}
}

func bigServer(b *testing.B, dbURL string) (string, *http.Client) {
	s, err := postgres.Open(context.Background(), dbURL, postgres.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	srv := httptest.NewServer(httpapi.New(s))
	b.Cleanup(srv.Close)
	return srv.URL, &http.Client{Timeout: time.Minute}
}

// BenchmarkBigFundJournal: the journal page (limit 100) with each filter,
// for common and rare values, from a random point of the journal where
// the filter allows (after_seq), on the big fund.
func BenchmarkBigFundJournal(b *testing.B) {
	dbURL, n := bigFund(b)
	db, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close(context.Background())
	s := sampleBigFund(b, db)
	base, client := bigServer(b, dbURL)
	rng := rand.New(rand.NewPCG(1, 2))
	anyAfter := func() int64 { return rng.Int64N(n) }
	pick := func(list []string, i int) string { return url.QueryEscape(list[(i+len(list)*4)%len(list)]) }
	day := func() string { return bigAt(rng.Int64N(n)).In(shanghaiZone(b)).Format(time.DateOnly) }
	cases := []bigCase{
		{"none/first-page", func(int) string { return "" }},
		{"none/any-page", func(int) string { return fmt.Sprintf("after_seq=%d", anyAfter()) }},
		{"type-common/grant.approved", func(int) string { return fmt.Sprintf("type=grant.approved&after_seq=%d", anyAfter()) }},
		{"type-less-common/payment.returned", func(int) string { return fmt.Sprintf("type=payment.returned&after_seq=%d", anyAfter()) }},
		{"type-rare/bank.charge.recorded", func(int) string { return "type=bank.charge.recorded" }},
		{"type-absent/allocation.approved", func(int) string { return "type=allocation.approved" }},
		{"program-common/care_fund", func(int) string { return fmt.Sprintf("program=care_fund&after_seq=%d", anyAfter()) }},
		{"program-rare/rare_program", func(int) string { return "program=rare_program" }},
		{"grant_id", func(i int) string { return "grant_id=" + pick(s.paidGrants, i) }},
		{"beneficiary_ref", func(i int) string { return "beneficiary_ref=" + pick(s.bens, i) }},
		{"bank_ref", func(i int) string { return "bank_ref=" + pick(s.bankRefs, i) }},
		{"from-to/one-day", func(int) string { d := day(); return "from=" + d + "&to=" + nextDay(b, d) }},
		{"from/any-day", func(int) string { return "from=" + day() }},
		{"from-to+type-common", func(int) string { d := day(); return "type=grant.disbursed&from=" + d + "&to=" + nextDay(b, d) }},
		{"from-to+program-rare", func(int) string { d := day(); return "program=rare_program&from=" + d + "&to=" + nextDay(b, d) }},
		{"grant_id+type", func(i int) string { return "type=grant.disbursed&grant_id=" + pick(s.paidGrants, i) }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			measure(b, client, base, func(i int) string { return "/v1/funds/" + bigFundID + "/journal?limit=100&" + c.query(i) },
				countOf("transactions"))
		})
	}
}

// BenchmarkBigFundGrants: the grants list and the beneficiary endpoint on
// the big fund.
func BenchmarkBigFundGrants(b *testing.B) {
	dbURL, _ := bigFund(b)
	db, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close(context.Background())
	s := sampleBigFund(b, db)
	base, client := bigServer(b, dbURL)
	pick := func(list []string, i int) string { return list[(i+len(list)*4)%len(list)] }
	cases := []struct {
		name, key string
		path      func(i int) string
	}{
		{"grants/first-page", "grants", func(int) string { return "/grants?limit=100" }},
		{"grants/any-page", "grants", func(i int) string { return "/grants?limit=100&after=" + url.QueryEscape(pick(s.grants, i)) }},
		{"grants/state-cancelled", "grants", func(i int) string {
			return "/grants?limit=100&state=cancelled&after=" + url.QueryEscape(pick(s.grants, i))
		}},
		{"grants/program-rare", "grants", func(int) string { return "/grants?limit=100&program=rare_program" }},
		{"grants/beneficiary", "grants", func(i int) string { return "/grants?beneficiary_ref=" + url.QueryEscape(pick(s.bens, i)) }},
		{"beneficiary", "grants", func(i int) string { return "/beneficiaries/" + url.PathEscape(pick(s.bens, i)) }},
		{"grant", "payments", func(i int) string { return "/grants/" + url.PathEscape(pick(s.paidGrants, i)) }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			measure(b, client, base, func(i int) string { return "/v1/funds/" + bigFundID + c.path(i) }, countOf(c.key))
		})
	}
}

// BenchmarkBigFundIndexCost: what an index costs the write path, as the
// time of a COPY of 20,000 rows into the big fund's tables with and
// without it. The rows continue the big fund's history (seq and grant ids
// after its last), with the same mix of types. Each COPY runs in a
// transaction that is rolled back, so the database stays as it was; a
// variant without an index drops it in that transaction first, one with an
// index the migrations do not make creates it there (neither timed). The variants take turns, b.N rounds, so a
// machine busy with something else for a while weighs on all of them;
// each reports its median.
func BenchmarkBigFundIndexCost(b *testing.B) {
	dbURL, n := bigFund(b)
	ctx := context.Background()
	const rows = 20000
	// Generate n+rows transactions' worth of ids but keep the last rows:
	// a generator of the same seed replays the big fund's history first.
	g := newBigGen(bigFundID, n+rows)
	firstNew := 0
	for g.seq = 1; g.seq <= n+rows; g.seq++ {
		g.next()
		if g.seq == n || (g.seq < n && len(g.journal) >= 50000) {
			g.journal, g.postings, g.activity = g.journal[:0], g.postings[:0], g.activity[:0]
			firstNew = len(g.grants)
		}
	}
	journal, grants := g.journal, g.grantRows()[firstNew:]
	withBank := 0
	for _, r := range journal {
		if strings.Contains(string(r[6].(json.RawMessage)), `"bank_ref"`) {
			withBank++
		}
	}
	b.Logf("%d journal rows (seq %d to %d), %d with a bank_ref; %d grant rows", len(journal), n+1, n+rows, withBank, len(grants))
	variants := []struct {
		name  string
		table string
		cols  []string
		rows  [][]any
		setup string // run in the transaction before the COPY, not timed
	}{
		{"journal", "journal", bigJournalCols, journal, ""},
		{"journal-012", "journal", bigJournalCols, journal, `DROP INDEX journal_bank_ref; DROP INDEX journal_rare_type`},
		{"journal-bank_ref", "journal", bigJournalCols, journal, `DROP INDEX journal_bank_ref`},
		{"journal-rare_type", "journal", bigJournalCols, journal, `DROP INDEX journal_rare_type`},
		{"journal-012+type", "journal", bigJournalCols, journal,
			`DROP INDEX journal_bank_ref; DROP INDEX journal_rare_type; CREATE INDEX journal_type_try ON journal (fund_id, type, seq)`},
		{"journal-012+grant_id", "journal", bigJournalCols, journal,
			`DROP INDEX journal_bank_ref; DROP INDEX journal_rare_type; CREATE INDEX journal_grant_id_try ON journal (fund_id, (refs->>'grant_id'))`},
		{"grants", "grants", bigGrantCols, grants, ""},
		{"grants-beneficiary", "grants", bigGrantCols, grants, `DROP INDEX grants_beneficiary`},
		{"grants-id_bytes", "grants", bigGrantCols, grants, `DROP INDEX grants_id_bytes`},
		{"grants-both", "grants", bigGrantCols, grants, `DROP INDEX grants_beneficiary; DROP INDEX grants_id_bytes`},
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	took := make([][]time.Duration, len(variants))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for v, c := range variants {
			b.StopTimer()
			tx, err := conn.Begin(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if c.setup != "" {
				if _, err := tx.Exec(ctx, c.setup); err != nil {
					b.Fatal(err)
				}
			}
			b.StartTimer()
			t0 := time.Now()
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{c.table}, c.cols, pgx.CopyFromRows(c.rows)); err != nil {
				b.Fatal(err)
			}
			took[v] = append(took[v], time.Since(t0))
			b.StopTimer()
			if err := tx.Rollback(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	// The rolled-back rows are dead at the end of the tables: VACUUM gives
	// the space back, so a kept database does not grow run after run.
	for _, t := range []string{"journal", "grants"} {
		if _, err := conn.Exec(ctx, "VACUUM "+t); err != nil {
			b.Fatal(err)
		}
	}
	for v, c := range variants {
		slices.Sort(took[v])
		b.ReportMetric(float64(took[v][len(took[v])/2].Microseconds())/1000, c.name+"-median-ms")
		b.ReportMetric(float64(took[v][0].Microseconds())/1000, c.name+"-min-ms")
	}
	b.ReportMetric(0, "ns/op")
}
