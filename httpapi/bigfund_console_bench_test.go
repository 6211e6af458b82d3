package httpapi_test

// The web console's journal page on the big fund (bigfund_test.go): the
// HTML page as a browser gets it, with the same filters as
// BenchmarkBigFundJournal. docs/performance.md ("The console's journal
// page") has the numbers:
//
//	FUNDLEDGER_BIGFUND_KEEP=1 go test -run '^$' -bench BigFundConsole -benchtime 200x -timeout 60m ./httpapi/

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/fundledger/fundledger/console"
	"github.com/fundledger/fundledger/httpapi"
	"github.com/fundledger/fundledger/ledger/postgres"
	"github.com/jackc/pgx/v5"
)

func BenchmarkBigFundConsoleJournal(b *testing.B) {
	dbURL, n := bigFund(b)
	db, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close(context.Background())
	s := sampleBigFund(b, db)
	store, err := postgres.Open(context.Background(), dbURL, postgres.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(store.Close)
	srv := httptest.NewServer((&httpapi.API{Store: store, Log: quiet, Pages: console.New(store, quiet)}).Handler())
	b.Cleanup(srv.Close)
	client := &http.Client{Timeout: time.Minute}
	rng := rand.New(rand.NewPCG(3, 4))
	anyAfter := func() int64 { return rng.Int64N(n) }
	pick := func(list []string, i int) string { return url.QueryEscape(list[(i+len(list)*4)%len(list)]) }
	day := func() string { return bigAt(rng.Int64N(n)).In(shanghaiZone(b)).Format(time.DateOnly) }
	rows := func(body []byte) int { return bytes.Count(body, []byte(`<tr data-seq=`)) }
	cases := []bigCase{
		{"none/first-page", func(int) string { return "" }},
		{"none/any-page", func(int) string { return fmt.Sprintf("after_seq=%d", anyAfter()) }},
		{"type-common/grant.approved", func(int) string { return fmt.Sprintf("type=grant.approved&after_seq=%d", anyAfter()) }},
		{"type-rare/bank.charge.recorded", func(int) string { return "type=bank.charge.recorded" }},
		{"program-rare/rare_program", func(int) string { return "program=rare_program" }},
		{"grant_id", func(i int) string { return "grant_id=" + pick(s.paidGrants, i) }},
		{"beneficiary_ref", func(i int) string { return "beneficiary_ref=" + pick(s.bens, i) }},
		{"bank_ref", func(i int) string { return "bank_ref=" + pick(s.bankRefs, i) }},
		{"from-to/one-day", func(int) string { d := day(); return "from=" + d + "&to=" + nextDay(b, d) }},
		{"from-to+type-common", func(int) string { d := day(); return "type=grant.disbursed&from=" + d + "&to=" + nextDay(b, d) }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			measure(b, client, srv.URL, func(i int) string { return "/funds/" + bigFundID + "/journal?" + c.query(i) }, rows)
		})
	}
}

// BenchmarkBigFundConsolePages: the funds page and the fund's page on the
// big fund. The first load of a fresh console sums the fund's journal by
// month (logged); later loads read only what was posted since.
func BenchmarkBigFundConsolePages(b *testing.B) {
	dbURL, _ := bigFund(b)
	store, err := postgres.Open(context.Background(), dbURL, postgres.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(store.Close)
	client := &http.Client{Timeout: 5 * time.Minute}
	for _, p := range []string{"/", "/funds/" + bigFundID, "/funds/" + bigFundID + "/snapshots"} {
		b.Run(p, func(b *testing.B) {
			srv := httptest.NewServer((&httpapi.API{Store: store, Log: quiet, Pages: console.New(store, quiet)}).Handler())
			defer srv.Close()
			t0 := time.Now()
			resp, err := client.Get(srv.URL + p)
			if err != nil || resp.StatusCode != http.StatusOK {
				b.Fatalf("GET %s: %v %v", p, err, resp)
			}
			resp.Body.Close()
			b.Logf("first load of a fresh console (the monthly sums read): %.0f ms", float64(time.Since(t0).Microseconds())/1000)
			measure(b, client, srv.URL, func(int) string { return p }, func([]byte) int { return 1 })
		})
	}
}
