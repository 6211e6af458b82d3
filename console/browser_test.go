package console_test

// The console in a real browser: Debian's chromium, driven headless by
// chromedp, against a real ledger (PostgreSQL and the in-process JetStream
// server) loaded with the demo's workload. Every page is loaded, the
// numbers it shows are checked against the read API, filters and pagers
// are clicked through, the language is switched, and a token of one fund
// is shown to see no trace of another.
//
// The browser's token is sent as the login proxy of CONTRACT.md section 9
// would: an Authorization header on every request (set with
// Network.setExtraHTTPHeaders).
//
// FUNDLEDGER_CONSOLE_SCREENSHOTS=<dir> writes PNG screenshots of the main
// pages there (docs/console/ holds the committed ones).

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/fundledger/fundledger/console"
	"github.com/fundledger/fundledger/httpapi"
	"github.com/fundledger/fundledger/internal/testauth"
	"github.com/fundledger/fundledger/internal/testenv"
	"github.com/fundledger/fundledger/ledger/postgres"
	"github.com/fundledger/fundledger/workload"
	wljs "github.com/fundledger/fundledger/workload/jetstream"
	"github.com/lestrrat-go/jwx/v3/jwa"
)

// Chromium is the browser the suite drives (Debian's package chromium;
// scripts/test.sh and .ci/run install it when missing).
const Chromium = "/usr/bin/chromium"

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// site is the demo's books served twice: open (the loopback default) and
// behind tokens.
type site struct {
	t        *testing.T
	l        *testenv.Ledger
	key      *testauth.Key
	open     string // base URL of the open console and API
	secured  string // base URL of the console and API behind tokens
	city     string // the city fund's id
	district string
	period   string // the district's closed month
}

func startSite(t *testing.T) *site {
	t.Helper()
	key := testauth.NewKey(t, jwa.ES256(), "k1")
	jwks := filepath.Join(t.TempDir(), "jwks.json")
	testauth.WriteJWKS(t, jwks, key)
	auth, err := httpapi.NewAuthenticator(context.Background(), httpapi.AuthConfig{JWKS: jwks, Issuer: testauth.Issuer, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	l := testenv.Start(t, testenv.Options{HoldWindow: time.Second, BatchSize: 500, API: func(s *postgres.Store) http.Handler {
		return (&httpapi.API{Store: s, Auth: auth, Log: quiet, Pages: console.New(s, quiet)}).Handler()
	}})
	cfg := workload.Demo(2026)
	cfg.Months, cfg.BatchLines, cfg.GrantsPerMonth = 3, 120, 40
	exp, _, err := wljs.Run(context.Background(), l.JS, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	l.WaitIdle()
	deadline := time.Now().Add(30 * time.Second)
	for l.Count(`SELECT count(*) FROM held`) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	l.WaitIdle()
	openSrv := httptest.NewServer((&httpapi.API{Store: l.Service.Store, Log: quiet, Pages: console.New(l.Service.Store, quiet)}).Handler())
	t.Cleanup(openSrv.Close)
	s := &site{t: t, l: l, key: key, open: openSrv.URL, secured: "http://" + l.Service.HTTPAddr, city: workload.CityFundID}
	for _, id := range exp.FundIDs {
		if id != s.city {
			s.district = id
		}
	}
	if s.district == "" {
		t.Fatalf("the workload opened no district fund: %v", exp.FundIDs)
	}
	s.bankAndClose()
	return s
}

// bankAndClose gives the district a bank statement of one day holding
// its first contribution (CONTRACT.md section 10) and closes its first
// month (section 11), so the reconciliation and period pages have
// something to show.
func (s *site) bankAndClose() {
	t := s.t
	var first struct {
		Transactions []struct {
			Refs     map[string]string `json:"refs"`
			Postings []struct {
				Account, Side, Amount string
			} `json:"postings"`
		} `json:"transactions"`
	}
	s.api(s.open, "/v1/funds/"+s.district+"/journal?type=contribution.received&limit=1", "", &first)
	if len(first.Transactions) == 0 {
		t.Fatal("the district has no contribution")
	}
	c := first.Transactions[0]
	amount := c.Postings[0].Amount
	day := c.Refs["received_on"]
	// Only where the workload made none itself.
	var sts struct {
		Statements []json.RawMessage `json:"statements"`
	}
	s.api(s.open, "/v1/funds/"+s.district+"/statements", "", &sts)
	var periods struct {
		Periods []struct {
			Period string `json:"period"`
		} `json:"periods"`
	}
	s.api(s.open, "/v1/funds/"+s.district+"/periods", "", &periods)
	var ids []string
	if len(sts.Statements) == 0 {
		ids = append(ids, s.l.Event(s.district, "bank.statement.received", map[string]any{
			"statement_id": "st-0001", "bank_account": "icbc-jiangjin-01", "period_start": day, "period_end": day,
			"opening_balance": "0.00", "closing_balance": amount,
			"entries": []map[string]any{{"entry_ref": "e-1", "booked_on": day, "direction": "credit", "amount": amount,
				"bank_ref": c.Refs["bank_ref"], "description": "appropriation"}},
		}))
	}
	s.period = day[:7]
	if len(periods.Periods) == 0 {
		ids = append(ids, s.l.Event(s.district, "period.closed", map[string]any{"period": s.period, "closed_by": "officer-a", "approved_by": "officer-b"}))
	} else {
		s.period = periods.Periods[0].Period
	}
	s.l.WaitIdle()
	for _, id := range ids {
		if r := s.l.RejectionOf(id); r != nil {
			t.Fatalf("%s refused: %s %s", id, r.Code, r.Message)
		}
	}
}

func (s *site) token(sub string, roles, funds []string) string {
	return s.key.Sign(s.t, testauth.Std(sub, roles, funds))
}

// api GETs a read API path from base with token ("" none) into v.
func (s *site) api(base, path, token string, v any) {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
}

// browser starts a headless chromium; token, when set, goes on every
// request as a login proxy would put it.
func browser(t *testing.T, token string) context.Context {
	t.Helper()
	if _, err := os.Stat(Chromium); err != nil {
		t.Fatalf("%s not found: install Debian's chromium (scripts/test.sh does: apt-get install chromium)", Chromium)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(Chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.WindowSize(1366, 900),
		chromedp.Flag("lang", "zh-CN"))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(cancel3)
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		if token == "" {
			return nil
		}
		_, err := cdp.Call(ctx, tg, network.SetExtraHTTPHeaders,
			network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": "Bearer " + token}})
		return err
	}))
	if err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

func run(t *testing.T, ctx context.Context, acts ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, acts...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// eval runs a JavaScript expression in the page and decodes its value
// into *v.
func eval[T any](t *testing.T, ctx context.Context, js string, v *T) {
	t.Helper()
	got, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("browser: %s: %v", js, err)
	}
	*v = got
}

// wait polls a JavaScript condition until it holds.
func wait(t *testing.T, ctx context.Context, cond string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		// A full navigation under way destroys the page's context: poll
		// again in the new one.
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(time.Until(deadline))))
		if err == nil {
			return
		}
		if time.Now().After(deadline) || !strings.Contains(err.Error(), "context") {
			t.Fatalf("browser: waiting for %s: %v", cond, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var moneyText = regexp.MustCompile(`^-?\d{1,3}(,\d{3})*\.\d{2}$`)

// sameMoney checks an amount shown in the page against the API's string:
// grouped by thousands with two places, and the same number.
func sameMoney(t *testing.T, what, shown, api string) {
	t.Helper()
	shown = strings.TrimSpace(shown)
	if !moneyText.MatchString(shown) {
		t.Errorf("%s: shown as %q, want 1,234,567.89 form", what, shown)
	}
	if strings.ReplaceAll(shown, ",", "") != api {
		t.Errorf("%s: shown %q, the API says %q", what, shown, api)
	}
}

type apiFund struct {
	FundID        string `json:"fund_id"`
	Name          string `json:"name"`
	Cash          string `json:"cash"`
	GrantsPayable string `json:"grants_payable"`
	Available     string `json:"available"`
}

type apiGrant struct {
	GrantID        string            `json:"grant_id"`
	BeneficiaryRef string            `json:"beneficiary_ref"`
	Approved       string            `json:"approved"`
	Paid           string            `json:"paid"`
	Outstanding    string            `json:"outstanding"`
	State          string            `json:"state"`
	History        []json.RawMessage `json:"history"`
}

func TestConsoleInBrowser(t *testing.T) {
	s := startSite(t)
	shots := os.Getenv("FUNDLEDGER_CONSOLE_SCREENSHOTS")
	shot := func(t *testing.T, ctx context.Context, name string) {
		t.Helper()
		if shots == "" {
			return
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(shots, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx := browser(t, "") // the open loopback console: no login

	var funds struct {
		Funds []apiFund `json:"funds"`
	}
	s.api(s.open, "/v1/funds", "", &funds)
	if len(funds.Funds) != 2 {
		t.Fatalf("%d funds, want the city's and one district's", len(funds.Funds))
	}

	t.Run("funds", func(t *testing.T) {
		run(t, ctx, chromedp.Navigate(s.open+"/"), chromedp.WaitVisible(chromedp.CSS("#funds-table")))
		var lang, h1 string
		eval(t, ctx, `document.documentElement.lang`, &lang)
		eval(t, ctx, `document.querySelector("h1").textContent`, &h1)
		if lang != "zh-CN" || h1 != "基金总览" {
			t.Errorf("default page: lang %q, h1 %q, want zh-CN and 基金总览", lang, h1)
		}
		for _, f := range funds.Funds {
			for _, field := range []struct{ name, api string }{{"cash", f.Cash}, {"grants_payable", f.GrantsPayable}, {"available", f.Available}} {
				var shown string
				eval(t, ctx, fmt.Sprintf(`document.querySelector('tr[data-fund=%q] [data-field=%q]').textContent`, f.FundID, field.name), &shown)
				sameMoney(t, f.FundID+" "+field.name, shown, field.api)
			}
		}
		// The chart was drawn (a canvas inside it) and its data table
		// lists months.
		wait(t, ctx, `document.querySelector('#chart-available canvas') !== null`)
		var months int
		eval(t, ctx, `document.querySelectorAll('details.chart-data tbody tr').length`, &months)
		if months < 3 {
			t.Errorf("available chart's table has %d months, want 3 or more", months)
		}
		shot(t, ctx, "funds")
	})

	d := s.district
	t.Run("fund", func(t *testing.T) {
		run(t, ctx, chromedp.Navigate(s.open+"/funds/"+d), chromedp.WaitVisible(chromedp.CSS("#accounts-table")))
		var bal struct {
			Accounts []struct{ Account, Balance string } `json:"accounts"`
		}
		s.api(s.open, "/v1/funds/"+d+"/balances", "", &bal)
		if len(bal.Accounts) < 4 {
			t.Fatalf("%d accounts", len(bal.Accounts))
		}
		for _, a := range bal.Accounts {
			var shown string
			eval(t, ctx, fmt.Sprintf(`document.querySelector('tr[data-account=%q] [data-field=balance]').textContent`, a.Account), &shown)
			sameMoney(t, a.Account, shown, a.Balance)
		}
		var check, cls string
		eval(t, ctx, `document.querySelector('#snapshot-check').textContent`, &check)
		eval(t, ctx, `document.querySelector('#snapshot-check').className`, &cls)
		if cls != "ok" || !strings.Contains(check, "签名有效") {
			t.Errorf("latest snapshot check: %q (%s), want a valid signature", check, cls)
		}
		var snap struct {
			Available string `json:"available"`
		}
		s.api(s.open, "/v1/funds/"+d+"/snapshots/latest", "", &snap)
		var shown string
		eval(t, ctx, `document.querySelector('[data-field=snapshot_available]').textContent`, &shown)
		sameMoney(t, "snapshot available", shown, snap.Available)
		wait(t, ctx, `document.querySelector('#chart-flows canvas') !== null`)

		// Verify, by keyboard: focus the button and press Enter.
		var rep struct {
			OK      bool  `json:"ok"`
			Checked int64 `json:"checked_transactions"`
		}
		s.api(s.open, "/v1/funds/"+d+"/verify", "", &rep)
		run(t, ctx, chromedp.Focus(chromedp.CSS("#verify-button")), chromedp.KeyEvent("\r"))
		wait(t, ctx, `document.querySelector('#verify-outcome') !== null`)
		var outcome, checked string
		eval(t, ctx, `document.querySelector('#verify-outcome').textContent`, &outcome)
		eval(t, ctx, `document.querySelector('#verify-checked').textContent`, &checked)
		if !rep.OK || !strings.Contains(outcome, "校验通过") || checked != fmt.Sprint(rep.Checked) {
			t.Errorf("verify shows %q with %s checked; the API: ok %v, %d checked", outcome, checked, rep.OK, rep.Checked)
		}
		shot(t, ctx, "fund-verified")
	})

	t.Run("journal", func(t *testing.T) {
		type page struct {
			Transactions []struct {
				Seq  int64  `json:"seq"`
				Type string `json:"type"`
			} `json:"transactions"`
			Next int64 `json:"next_after_seq"`
		}
		seqs := func(p page) string {
			var out []string
			for _, x := range p.Transactions {
				out = append(out, fmt.Sprint(x.Seq))
			}
			return strings.Join(out, ",")
		}
		shownSeqs := func() string {
			var out []string
			eval(t, ctx, `Array.from(document.querySelectorAll('#journal-table > tbody > tr')).map(r => r.dataset.seq)`, &out)
			return strings.Join(out, ",")
		}
		run(t, ctx, chromedp.Navigate(s.open+"/funds/"+d+"/journal"), chromedp.WaitVisible(chromedp.CSS("#journal-table")))
		var p1 page
		s.api(s.open, "/v1/funds/"+d+"/journal?limit=50", "", &p1)
		if got := shownSeqs(); got != seqs(p1) {
			t.Errorf("first page shows %s, the API %s", got, seqs(p1))
		}
		if shots != "" { // a short page for the picture
			run(t, ctx, chromedp.Navigate(s.open+"/funds/"+d+"/journal?limit=8&after_seq=40"), chromedp.WaitVisible(chromedp.CSS("#journal-table")))
			shot(t, ctx, "journal")
			run(t, ctx, chromedp.Navigate(s.open+"/funds/"+d+"/journal"), chromedp.WaitVisible(chromedp.CSS("#journal-table")))
		}
		// Next page, clicked.
		var p2 page
		s.api(s.open, fmt.Sprintf("/v1/funds/%s/journal?limit=50&after_seq=%d", d, p1.Next), "", &p2)
		run(t, ctx, chromedp.Click(chromedp.CSS("#next-page")))
		wait(t, ctx, fmt.Sprintf(`(document.querySelector('#journal-table > tbody > tr')||{dataset:{}}).dataset.seq === "%d"`, p2.Transactions[0].Seq))
		if got := shownSeqs(); got != seqs(p2) {
			t.Errorf("second page shows %s, the API %s", got, seqs(p2))
		}
		var loc string
		eval(t, ctx, `location.search`, &loc)
		if !strings.Contains(loc, fmt.Sprintf("after_seq=%d", p1.Next)) {
			t.Errorf("after paging the address is %q: the page is not bookmarkable", loc)
		}
		// Filter by type with the form, as a person would.
		run(t, ctx, chromedp.SetValue(chromedp.CSS("#f-type"), "grant.disbursed"), chromedp.Click(chromedp.CSS("#f-apply")))
		wait(t, ctx, `location.search.includes("type=grant.disbursed") && document.querySelector('#journal-table > tbody > tr[data-type="grant.disbursed"]') !== null`)
		var pf page
		s.api(s.open, "/v1/funds/"+d+"/journal?limit=50&type=grant.disbursed", "", &pf)
		if got := shownSeqs(); got != seqs(pf) || len(pf.Transactions) == 0 {
			t.Errorf("type filter shows %s, the API %s", got, seqs(pf))
		}
		var types []string
		eval(t, ctx, `Array.from(document.querySelectorAll('#journal-table > tbody > tr')).map(r => r.dataset.type)`, &types)
		for _, ty := range types {
			if ty != "grant.disbursed" {
				t.Errorf("type filter shows a %s", ty)
			}
		}
		// A date range and a program, by URL.
		zone, _ := httpapi.Zone()
		today := time.Now().In(zone)
		q := url.Values{"program": {"care_fund"}, "from": {today.AddDate(0, 0, -1).Format(time.DateOnly)},
			"to": {today.AddDate(0, 0, 1).Format(time.DateOnly)}, "limit": {"20"}}
		run(t, ctx, chromedp.Navigate(s.open+"/funds/"+d+"/journal?"+q.Encode()), chromedp.WaitReady(chromedp.CSS("#main")))
		var pp page
		s.api(s.open, "/v1/funds/"+d+"/journal?"+q.Encode(), "", &pp)
		if got := shownSeqs(); got != seqs(pp) || len(pp.Transactions) == 0 {
			t.Errorf("program and dates show %s, the API %s", got, seqs(pp))
		}
		// A grant's transactions, then its page by the link in refs.
		var grants struct {
			Grants []apiGrant `json:"grants"`
		}
		s.api(s.open, "/v1/funds/"+d+"/grants?program=care_fund&limit=5", "", &grants)
		g := grants.Grants[0]
		run(t, ctx, chromedp.Navigate(s.open+"/funds/"+d+"/journal?grant_id="+url.QueryEscape(g.GrantID)), chromedp.WaitVisible(chromedp.CSS("#journal-table")))
		var pg page
		s.api(s.open, "/v1/funds/"+d+"/journal?grant_id="+url.QueryEscape(g.GrantID), "", &pg)
		if got := shownSeqs(); got != seqs(pg) {
			t.Errorf("grant filter shows %s, the API %s", got, seqs(pg))
		}
		// A bank reference nobody used: an empty page that says so.
		run(t, ctx, chromedp.Navigate(s.open+"/funds/"+d+"/journal?bank_ref=no-such-ref"), chromedp.WaitVisible(chromedp.CSS("#no-txns")))
	})

	t.Run("grant", func(t *testing.T) {
		var grants struct {
			Grants []apiGrant `json:"grants"`
		}
		s.api(s.open, "/v1/funds/"+d+"/grants?program=care_fund&limit=200", "", &grants)
		// The grant with the longest life.
		g := grants.Grants[0]
		for _, x := range grants.Grants {
			if len(x.History) > len(g.History) {
				g = x
			}
		}
		run(t, ctx, chromedp.Navigate(s.open+"/funds/"+d+"/grants/"+url.PathEscape(g.GrantID)), chromedp.WaitVisible(chromedp.CSS("#timeline")))
		for _, f := range []struct{ field, api string }{{"approved", g.Approved}, {"paid", g.Paid}, {"outstanding", g.Outstanding}} {
			var shown string
			eval(t, ctx, fmt.Sprintf(`document.querySelector('#grant-summary [data-field=%q]').textContent`, f.field), &shown)
			sameMoney(t, g.GrantID+" "+f.field, shown, f.api)
		}
		var steps int
		eval(t, ctx, `document.querySelectorAll('#timeline > li').length`, &steps)
		if steps != len(g.History) {
			t.Errorf("timeline has %d steps, the grant's history %d", steps, len(g.History))
		}
		var who string
		eval(t, ctx, `document.querySelector('#timeline').textContent`, &who)
		if !strings.Contains(who, "approved_by") || !strings.Contains(who, "requested_by") {
			t.Errorf("timeline does not say who approved: %q", who)
		}
		shot(t, ctx, "grant")

		// Found from the fund page by its id, as an officer would.
		run(t, ctx, chromedp.Navigate(s.open+"/funds/"+d), chromedp.WaitVisible(chromedp.CSS("#find-grant")),
			chromedp.SetValue(chromedp.CSS("#find-grant"), g.GrantID), chromedp.Focus(chromedp.CSS("#find-grant")), chromedp.KeyEvent("\r"))
		wait(t, ctx, `document.querySelector('#timeline') !== null`)
		var found string
		eval(t, ctx, `document.querySelector('h1').textContent`, &found)
		if !strings.Contains(found, g.GrantID) {
			t.Errorf("finding grant %s led to %q", g.GrantID, found)
		}

		// Its beneficiary, by the link.
		run(t, ctx, chromedp.Click(chromedp.CSS(`#grant-summary a[href*="/beneficiaries/"]`)), chromedp.WaitVisible(chromedp.CSS("#usage-table")))
		var ben struct {
			Usage []struct {
				Program string `json:"program"`
				Year    int    `json:"year"`
				Used    string `json:"used"`
			} `json:"usage"`
			Grants []json.RawMessage `json:"grants"`
		}
		s.api(s.open, "/v1/funds/"+d+"/beneficiaries/"+url.PathEscape(g.BeneficiaryRef), "", &ben)
		for _, u := range ben.Usage {
			var shown string
			eval(t, ctx, fmt.Sprintf(`document.querySelector('#usage-table tr[data-program=%q][data-year="%d"] [data-field=used]').textContent`, u.Program, u.Year), &shown)
			sameMoney(t, fmt.Sprintf("usage %s %d", u.Program, u.Year), shown, u.Used)
		}
		var n int
		eval(t, ctx, `document.querySelectorAll('#grants-table tbody tr').length`, &n)
		if n != len(ben.Grants) {
			t.Errorf("beneficiary page lists %d grants, the API %d", n, len(ben.Grants))
		}
		shot(t, ctx, "beneficiary")
	})

	t.Run("snapshots", func(t *testing.T) {
		run(t, ctx, chromedp.Navigate(s.open+"/funds/"+d+"/snapshots"), chromedp.WaitVisible(chromedp.CSS("#snapshots-table")))
		var list struct {
			Snapshots []json.RawMessage `json:"snapshots"`
		}
		s.api(s.open, "/v1/funds/"+d+"/snapshots?limit=50", "", &list)
		var rows, bad int
		eval(t, ctx, `document.querySelectorAll('#snapshots-table tbody tr').length`, &rows)
		eval(t, ctx, `document.querySelectorAll('#snapshots-table tbody td.bad').length`, &bad)
		if rows != len(list.Snapshots) || rows == 0 || bad != 0 {
			t.Errorf("%d snapshots shown (%d with a bad signature), the API lists %d", rows, bad, len(list.Snapshots))
		}
		shot(t, ctx, "snapshots")
	})

	t.Run("reconciliation", func(t *testing.T) {
		var rec struct {
			Difference    string            `json:"difference"`
			BookBalance   string            `json:"book_balance"`
			BankBalance   string            `json:"bank_balance"`
			Reconciled    bool              `json:"reconciled"`
			UnmatchedBook []json.RawMessage `json:"unmatched_book"`
			UnmatchedBank []json.RawMessage `json:"unmatched_bank"`
		}
		s.api(s.open, "/v1/funds/"+d+"/reconciliations/latest", "", &rec)
		run(t, ctx, chromedp.Navigate(s.open+"/funds/"+d), chromedp.WaitVisible(chromedp.CSS(`main a[href$="/reconciliations"]`)),
			chromedp.Click(chromedp.CSS(`main a[href$="/reconciliations"]`)))
		wait(t, ctx, `document.querySelector('#recon-summary') !== null`)
		for _, f := range []struct{ field, api string }{{"difference", rec.Difference}, {"book_balance", rec.BookBalance}, {"bank_balance", rec.BankBalance}} {
			var shown string
			eval(t, ctx, fmt.Sprintf(`document.querySelector('[data-field=%q]').textContent`, f.field), &shown)
			sameMoney(t, "reconciliation "+f.field, shown, f.api)
		}
		var book, bank int
		eval(t, ctx, `document.querySelectorAll('#unmatched-book tbody tr').length`, &book)
		eval(t, ctx, `document.querySelectorAll('#unmatched-bank tbody tr').length`, &bank)
		if book != len(rec.UnmatchedBook) || bank != len(rec.UnmatchedBank) {
			t.Errorf("unmatched shown: %d book, %d bank; the API: %d, %d", book, bank, len(rec.UnmatchedBook), len(rec.UnmatchedBank))
		}
		shot(t, ctx, "reconciliation")
	})

	t.Run("periods", func(t *testing.T) {
		var rep struct {
			Accounts []struct{ Account, Closing string } `json:"accounts"`
		}
		s.api(s.open, "/v1/funds/"+d+"/periods/"+s.period, "", &rep)
		run(t, ctx, chromedp.Navigate(s.open+"/funds/"+d+"/periods"), chromedp.WaitVisible(chromedp.CSS("#periods-table")),
			chromedp.Click(chromedp.CSS(fmt.Sprintf(`#periods-table a[href$="/periods/%s"]`, s.period))))
		wait(t, ctx, `document.querySelector('#period-accounts') !== null`)
		if len(rep.Accounts) == 0 {
			t.Fatal("the period report has no account")
		}
		for _, a := range rep.Accounts {
			var shown string
			eval(t, ctx, fmt.Sprintf(`document.querySelector('#period-accounts tr[data-account=%q] [data-field=closing]').textContent`, a.Account), &shown)
			sameMoney(t, s.period+" "+a.Account+" closing", shown, a.Closing)
		}
		shot(t, ctx, "period")

		// The city-wide view of the month, from the list's link.
		var city struct {
			Closed []struct {
				FundID string `json:"fund_id"`
			} `json:"closed"`
			Totals struct {
				Accounts []struct{ Account, Closing string } `json:"accounts"`
			} `json:"totals"`
		}
		s.api(s.open, "/v1/periods/"+s.period, "", &city)
		run(t, ctx, chromedp.Navigate(s.open+"/funds/"+d+"/periods"), chromedp.WaitVisible(chromedp.CSS("#periods-table")),
			chromedp.Click(chromedp.CSS(fmt.Sprintf(`#periods-table a.city[href="/periods/%s"]`, s.period))))
		wait(t, ctx, `document.querySelector('#city-accounts') !== null`)
		var closed []string
		eval(t, ctx, `Array.from(document.querySelectorAll('#city-closed tbody tr')).map(r => r.dataset.fund)`, &closed)
		if len(closed) != len(city.Closed) {
			t.Errorf("city view lists %v closed, the API %d", closed, len(city.Closed))
		}
		for _, a := range city.Totals.Accounts {
			var shown string
			eval(t, ctx, fmt.Sprintf(`document.querySelector('#city-accounts tr[data-account=%q] [data-field=closing]').textContent`, a.Account), &shown)
			sameMoney(t, "city "+a.Account+" closing", shown, a.Closing)
		}
		shot(t, ctx, "city-period")
	})

	t.Run("downloads", func(t *testing.T) { testDownloads(t, s, ctx) }) // export_test.go

	t.Run("rejections", func(t *testing.T) {
		type rpage struct {
			Rejections []struct {
				Seq  int64  `json:"seq"`
				Code string `json:"code"`
			} `json:"rejections"`
			Next int64 `json:"next_after"`
		}
		shown := func() []string {
			var out []string
			eval(t, ctx, `Array.from(document.querySelectorAll('#rejections-list > li')).map(r => r.dataset.seq)`, &out)
			return out
		}
		want := func(p rpage) []string {
			var out []string
			for _, r := range p.Rejections {
				out = append(out, fmt.Sprint(r.Seq))
			}
			return out
		}
		run(t, ctx, chromedp.Navigate(s.open+"/rejections"), chromedp.WaitVisible(chromedp.CSS("#rejections-list")))
		var all rpage
		s.api(s.open, "/v1/rejections?limit=50", "", &all)
		if got := shown(); !slices.Equal(got, want(all)) || len(got) == 0 {
			t.Errorf("rejections shown %v, the API %v", got, want(all))
		}
		var raw int
		eval(t, ctx, `document.querySelectorAll('#rejections-list details.raw pre').length`, &raw)
		if raw != len(all.Rejections) {
			t.Errorf("open console (auditor's rights): %d raw events shown of %d", raw, len(all.Rejections))
		}
		shot(t, ctx, "rejections")
		// Filter by code with the form.
		code := all.Rejections[0].Code
		run(t, ctx, chromedp.SetValue(chromedp.CSS("#r-code"), code), chromedp.Click(chromedp.CSS("#r-apply")))
		wait(t, ctx, fmt.Sprintf(`location.search.includes("code=%s")`, code))
		wait(t, ctx, fmt.Sprintf(`Array.from(document.querySelectorAll('#rejections-list > li')).every(li => li.dataset.code === %q)`, code))
		var byCode rpage
		s.api(s.open, "/v1/rejections?limit=50&code="+code, "", &byCode)
		if got := shown(); !slices.Equal(got, want(byCode)) {
			t.Errorf("code %s: shown %v, the API %v", code, got, want(byCode))
		}
		// Paging one at a time, by the next link.
		run(t, ctx, chromedp.Navigate(s.open+"/rejections?limit=1"), chromedp.WaitVisible(chromedp.CSS("#next-page")),
			chromedp.Click(chromedp.CSS("#next-page")))
		wait(t, ctx, `location.search.includes("after=")`)
		if got := shown(); len(all.Rejections) > 1 && !slices.Equal(got, want(all)[1:2]) {
			t.Errorf("second page of one: %v, want %v", got, want(all)[1:2])
		}
	})

	t.Run("language", func(t *testing.T) {
		run(t, ctx, chromedp.Navigate(s.open+"/funds/"+d), chromedp.WaitVisible(chromedp.CSS("#lang-switch")),
			chromedp.Click(chromedp.CSS("#lang-switch")))
		wait(t, ctx, `document.documentElement.lang === "en"`)
		var h2 string
		eval(t, ctx, `document.querySelector('#h-accounts').textContent`, &h2)
		if h2 != "Accounts" {
			t.Errorf("English page heading %q", h2)
		}
		// Remembered: another page, reached by its address, is English too.
		run(t, ctx, chromedp.Navigate(s.open+"/rejections"), chromedp.WaitReady(chromedp.CSS("h1")))
		var h1, lang string
		eval(t, ctx, `document.querySelector('h1').textContent`, &h1)
		eval(t, ctx, `document.documentElement.lang`, &lang)
		if h1 != "Rejections" || lang != "en" {
			t.Errorf("after the switch: %q in %q", h1, lang)
		}
		shot(t, ctx, "rejections-en")
		run(t, ctx, chromedp.Navigate(s.open+"/?lang=zh"), chromedp.WaitReady(chromedp.CSS("h1")))
		eval(t, ctx, `document.documentElement.lang`, &lang)
		if lang != "zh-CN" {
			t.Errorf("?lang=zh gives %q", lang)
		}
	})

	t.Run("scope", func(t *testing.T) {
		// An officer of the district only: the city fund leaves no trace.
		tok := s.token("officer-d", []string{httpapi.RoleOfficer}, []string{d})
		bctx := browser(t, tok)
		var city apiFund
		for _, f := range funds.Funds {
			if f.FundID == s.city {
				city = f
			}
		}
		noTrace := func(page string) {
			t.Helper()
			var html string
			eval(t, bctx, `document.documentElement.outerHTML`, &html)
			for _, s := range []string{city.FundID, city.Name} {
				if strings.Contains(html, s) {
					t.Errorf("%s shows %q to a token of %s only", page, s, d)
				}
			}
		}
		run(t, bctx, chromedp.Navigate(s.secured+"/"), chromedp.WaitVisible(chromedp.CSS("#funds-table")))
		var rows []string
		eval(t, bctx, `Array.from(document.querySelectorAll('#funds-table tbody tr')).map(r => r.dataset.fund)`, &rows)
		if !slices.Equal(rows, []string{d}) {
			t.Errorf("funds page lists %v, want only %s", rows, d)
		}
		var who string
		eval(t, bctx, `document.querySelector('header .who').textContent`, &who)
		if !strings.Contains(who, "officer-d") {
			t.Errorf("header does not say who is signed in: %q", who)
		}
		noTrace("funds page")
		for _, p := range []string{"/rejections", "/funds/" + d, "/funds/" + d + "/journal", "/funds/" + d + "/snapshots",
			"/funds/" + d + "/reconciliations", "/funds/" + d + "/periods", "/periods/" + s.period} {
			run(t, bctx, chromedp.Navigate(s.secured+p), chromedp.WaitReady(chromedp.CSS("body")))
			noTrace(p)
		}
		// Asking for the city's rejections by name: an empty list (the
		// address typed is all that shows the id).
		run(t, bctx, chromedp.Navigate(s.secured+"/rejections?fund_id="+s.city), chromedp.WaitVisible(chromedp.CSS("#no-rejections")))
		var html string
		eval(t, bctx, `document.documentElement.outerHTML`, &html)
		if strings.Contains(html, city.Name) {
			t.Errorf("the city's rejections asked for: the page names %q", city.Name)
		}
		var raw int
		eval(t, bctx, `document.querySelectorAll('details.raw').length`, &raw)
		run(t, bctx, chromedp.Navigate(s.secured+"/rejections"), chromedp.WaitReady(chromedp.CSS("body")))
		eval(t, bctx, `document.querySelectorAll('details.raw').length`, &raw)
		if raw != 0 {
			t.Errorf("an officer sees %d raw events", raw)
		}
		// The city's pages answer as for a fund that does not exist.
		for _, p := range []string{"/funds/" + s.city, "/funds/" + s.city + "/journal", "/funds/" + s.city + "/snapshots"} {
			req, _ := http.NewRequest(http.MethodGet, s.secured+p, nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound || strings.Contains(string(b), city.Name) {
				t.Errorf("%s: %d %s", p, resp.StatusCode, b)
			}
		}
		// A reporting token sees the books but no link to the journal or
		// the rejections, and no verify button.
		rep := browser(t, s.token("report", []string{httpapi.RoleReporting}, []string{"*"}))
		run(t, rep, chromedp.Navigate(s.secured+"/funds/"+d), chromedp.WaitVisible(chromedp.CSS("#accounts-table")))
		var links int
		eval(t, rep, `document.querySelectorAll('a[href*="/journal"], a[href^="/rejections"], a[href*="/grants/register/"], #verify-button').length`, &links)
		if links != 0 {
			t.Errorf("a reporting token is shown %d links to pages it may not read", links)
		}
		// No token at all, behind tokens: refused.
		req, _ := http.NewRequest(http.MethodGet, s.secured+"/", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("the console without a token: %d, want 401", resp.StatusCode)
		}
	})

	// Tablet width: the funds page still fits (no horizontal scroll of the
	// page itself; wide tables scroll in their own box).
	t.Run("tablet", func(t *testing.T) {
		run(t, ctx, chromedp.EmulateViewport(768, 1024), chromedp.Navigate(s.open+"/funds/"+d+"/journal?limit=10"),
			chromedp.WaitVisible(chromedp.CSS("#journal-table")))
		var overflow bool
		eval(t, ctx, `document.documentElement.scrollWidth > window.innerWidth + 1`, &overflow)
		if overflow {
			t.Error("at 768 px the journal page scrolls sideways")
		}
		shot(t, ctx, "journal-tablet")
	})
}
