package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/fundledger/fundledger/httpapi"
	"github.com/fundledger/fundledger/internal/testauth"
	"github.com/fundledger/fundledger/internal/testenv"
	"github.com/fundledger/fundledger/ledger/postgres"
	"github.com/lestrrat-go/jwx/v3/jwa"
)

// BenchmarkAccessCost measures what tokens and the access log cost a read
// API request: the same GET of a fund's balances, over real HTTP on
// loopback, against the open API, behind tokens (ES256, checked on every
// request), and behind tokens with every request recorded in the access
// log. It reports the median and the 99th percentile latency of one
// client's requests, and requests per second with 4 clients at once.
// docs/security.md keeps the numbers:
//
//	FUNDLEDGER_TEST_DATABASE_URL=$(bash scripts/pg-ensure.sh) \
//	  go test -run '^$' -bench AccessCost -benchtime 3000x ./httpapi/
func BenchmarkAccessCost(b *testing.B) {
	for _, mode := range []string{"open", "token", "token+log"} {
		b.Run(mode, func(b *testing.B) {
			key := testauth.NewKey(b, jwa.ES256(), "k1")
			path := filepath.Join(b.TempDir(), "jwks.json")
			testauth.WriteJWKS(b, path, key)
			auth, err := httpapi.NewAuthenticator(context.Background(), httpapi.AuthConfig{JWKS: path, Issuer: testauth.Issuer, Log: quiet})
			if err != nil {
				b.Fatal(err)
			}
			l := testenv.Start(b, testenv.Options{API: func(s *postgres.Store) http.Handler {
				api := &httpapi.API{Store: s, Log: quiet}
				if mode != "open" {
					api.Auth = auth
				}
				if mode == "token+log" {
					api.AccessLog = httpapi.NewAccessLog(s, httpapi.AccessLogOptions{Log: quiet})
				}
				return api.Handler()
			}})
			l.Event("bench-care", "fund.opened", map[string]any{"fund_id": "bench-care", "name": "Bench", "programs": []any{map[string]any{"code": "p"}}})
			l.Event("bench-care", "contribution.received", map[string]any{"contribution_id": "c-1", "source_kind": "other", "payer": "bank",
				"amount": "100", "bank_ref": "b", "received_on": "2026-01-05"})
			l.WaitIdle()
			token := ""
			if mode != "open" {
				token = key.Sign(b, testauth.Std("bench", []string{"officer"}, []string{"bench-care"}))
			}
			url := l.URL("/v1/funds/bench-care/balances")
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}, Timeout: 10 * time.Second}
			get := func() {
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
			for i := 0; i < 200; i++ { // warm the pools and the connection
				get()
			}
			b.ResetTimer()
			lat := make([]time.Duration, b.N)
			for i := range lat {
				t0 := time.Now()
				get()
				lat[i] = time.Since(t0)
			}
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")

			// Throughput with 4 clients, as many requests again.
			var wg sync.WaitGroup
			start := time.Now()
			for c := 0; c < 4; c++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < b.N/4; i++ {
						get()
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N/4*4)/time.Since(start).Seconds(), "req/s-4-clients")
			if mode == "token+log" {
				l.Stop()
				want := int64(200 + b.N + b.N/4*4)
				if n := l.Count(`SELECT count(*) FROM access_log`); n < want {
					b.Fatalf("access log has %d entries, want %d", n, want)
				}
			}
		})
	}
}

// BenchmarkAccessLogEntry is what recording one request costs: its place
// reserved and its entry queued on the request's side, and its share of
// the batched COPY into PostgreSQL (the benchmark waits until every entry
// is written).
func BenchmarkAccessLogEntry(b *testing.B) {
	db := testenv.NewDatabase(b)
	if err := postgres.Migrate(context.Background(), db); err != nil {
		b.Fatal(err)
	}
	store, err := postgres.Open(context.Background(), db, postgres.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	api := &httpapi.API{Store: store, Log: quiet, AccessLog: httpapi.NewAccessLog(store, httpapi.AccessLogOptions{Log: quiet})}
	defer api.AccessLog.Close()
	req, _ := http.NewRequest(http.MethodGet, "/v1/funds/bench-care/journal?limit=100", nil)
	p := httpapi.NewPrincipalForTest("li.wei", []string{"officer"}, []string{"bench-care"})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		httpapi.RecordForTest(api, req, p, 200)
	}
	if err := api.AccessLog.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkAuthenticate is what checking a token costs: the first time a
// token is seen (signature and claims) and every time after (claims).
func BenchmarkAuthenticate(b *testing.B) {
	for _, alg := range []jwa.SignatureAlgorithm{jwa.RS256(), jwa.ES256(), jwa.EdDSA()} {
		key := testauth.NewKey(b, alg, "k1")
		path := filepath.Join(b.TempDir(), "jwks.json")
		testauth.WriteJWKS(b, path, key)
		a, err := httpapi.NewAuthenticator(context.Background(), httpapi.AuthConfig{JWKS: path, Issuer: testauth.Issuer, Log: quiet})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(alg.String()+"/first-use", func(b *testing.B) {
			toks := make([]string, b.N)
			for i := range toks {
				toks[i] = key.Sign(b, testauth.Std("x", []string{"officer"}, []string{"f"}).With("jti", fmt.Sprint(i)))
			}
			b.ResetTimer()
			for _, tok := range toks {
				if _, err := a.Authenticate(context.Background(), tok); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(alg.String()+"/again", func(b *testing.B) {
			tok := key.Sign(b, testauth.Std("x", []string{"officer"}, []string{"f"}))
			for i := 0; i < b.N; i++ {
				if _, err := a.Authenticate(context.Background(), tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
