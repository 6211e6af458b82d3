package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fundledger/fundledger/console"
	"github.com/fundledger/fundledger/httpapi"
	"github.com/fundledger/fundledger/internal/testauth"
	"github.com/fundledger/fundledger/internal/testenv"
	"github.com/fundledger/fundledger/ledger/postgres"
	"github.com/lestrrat-go/jwx/v3/jwa"
)

// authLedger is a ledger whose read API wants tokens signed by key.
type authLedger struct {
	*testenv.Ledger
	key *testauth.Key
	t   testing.TB // the (sub)test the helpers report to
}

// startAuthExample runs the example events through a ledger behind
// tokens, plus a rejection of wanzhou-care and one of _unknown.
func startAuthExample(t *testing.T) *authLedger {
	t.Helper()
	return startAuth(t, authOptions{})
}

type authOptions struct {
	// accessLog, when set, records requests through a writer with these
	// options; store wraps the store it writes to.
	accessLog *httpapi.AccessLogOptions
	store     func(httpapi.AccessLogStore) httpapi.AccessLogStore
}

func startAuth(t *testing.T, o authOptions) *authLedger {
	t.Helper()
	key := testauth.NewKey(t, jwa.ES256(), "k1")
	path := filepath.Join(t.TempDir(), "jwks.json")
	testauth.WriteJWKS(t, path, key)
	auth, err := httpapi.NewAuthenticator(context.Background(), httpapi.AuthConfig{JWKS: path, Issuer: testauth.Issuer, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	l := testenv.Start(t, testenv.Options{API: func(s *postgres.Store) http.Handler {
		api := &httpapi.API{Store: s, Auth: auth, Log: quiet, Pages: console.New(s, quiet)}
		if o.accessLog != nil {
			var store httpapi.AccessLogStore = s
			if o.store != nil {
				store = o.store(s)
			}
			opts := *o.accessLog
			opts.Log = quiet
			api.AccessLog = httpapi.NewAccessLog(store, opts)
		}
		return api.Handler()
	}})
	publishFile(t, l, "../docs/examples/events.jsonl")
	l.PublishRaw("fund.wanzhou-care.grant.approved", []byte("not JSON either"), "w-raw-1")
	l.PublishRaw("fund.NOT_A_FUND.grant.approved", []byte(`{"beneficiary_ref": "secret"}`), "u-raw-1")
	l.WaitIdle()
	return &authLedger{Ledger: l, key: key, t: t}
}

// token is a valid token for roles and funds.
func (l *authLedger) token(roles, funds []string) string {
	return l.key.Sign(l.t, testauth.Std("tester", roles, funds))
}

// get sends GET path with the token ("" for none).
func (l *authLedger) get(path, token string) (int, http.Header, []byte) {
	l.t.Helper()
	req, err := http.NewRequest(http.MethodGet, l.URL(path), nil)
	if err != nil {
		l.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		l.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		l.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

// want GETs path with token, wants status and a JSON body, and returns
// the body's "error" (for an error status).
func (l *authLedger) want(path, token string, status int) string {
	l.t.Helper()
	code, h, body := l.get(path, token)
	if code != status {
		l.t.Errorf("GET %s: status %d, want %d; body %s", path, code, status, body)
		return ""
	}
	if h.Get("Content-Type") != "application/json" || !json.Valid(body) {
		l.t.Errorf("GET %s: %d with %q body %s, want JSON", path, code, h.Get("Content-Type"), body)
	}
	if status < 400 {
		return ""
	}
	var e map[string]any
	_ = json.Unmarshal(body, &e)
	msg, _ := e["error"].(string)
	if msg == "" || len(e) != 1 {
		l.t.Errorf("GET %s: error body %s, want {\"error\": \"...\"}", path, body)
	}
	if status == http.StatusUnauthorized && !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
		l.t.Errorf("GET %s: 401 with WWW-Authenticate %q, want Bearer", path, h.Get("WWW-Authenticate"))
	}
	return msg
}

var pathParam = regexp.MustCompile(`\{([a-z_]+)(\.\.\.)?\}`)

// routePath turns a route's pattern into a path for fund.
func routePath(pattern, fund string) string {
	p := pattern
	if _, after, ok := strings.Cut(p, " "); ok {
		p = after
	}
	if p == "/" {
		return "/v1/no-such-endpoint"
	}
	p = strings.ReplaceAll(p, "{$}", "") // the console's GET /{$}
	values := map[string]string{"fund_id": fund, "grant_id": "g-1", "seq": "1", "beneficiary_ref": "ben-001", "period": "2026-03",
		"file": "htmx.min.js"}
	return pathParam.ReplaceAllStringFunc(p, func(m string) string {
		name := pathParam.FindStringSubmatch(m)[1]
		if v, ok := values[name]; ok {
			return v
		}
		return "1"
	})
}

var allRoles = []string{httpapi.RoleOfficer, httpapi.RoleAuditor, httpapi.RoleReporting}

// contractRights is CONTRACT.md section 9 (and 12 for proofs) written
// out apart from the code: who reads each kind of resource. "open" needs
// no token; "auditor*" is an auditor whose funds are ["*"].
var contractRights = map[string][]string{
	"funds":           {"officer", "auditor", "reporting"},
	"balances":        {"officer", "auditor", "reporting"},
	"snapshots":       {"officer", "auditor", "reporting"},
	"statements":      {"officer", "auditor"}, // bank statements: section 9 leaves them out of reporting's list
	"reconciliations": {"officer", "auditor", "reporting"},
	"periods":         {"officer", "auditor", "reporting"},
	"journal":         {"officer", "auditor"},
	"events":          {"officer", "auditor"}, // the fund's event chain: like the journal (docs/audit.md section 12)
	"grants":          {"officer", "auditor"},
	"beneficiaries":   {"officer", "auditor"},
	"rejections":      {"officer", "auditor"},
	"proofs":          {"officer", "auditor"},
	"verify":          {"auditor"},
	"access-log":      {"auditor*"},
	"keys":            {"open"},
	"assets":          {"open"}, // the console's CSS, script and libraries
}

// resourceOf is the kind of resource a route pattern serves:
// /v1/<kind>/... or /v1/funds/{fund_id}/<kind>/...
func resourceOf(pattern string) string {
	_, p, _ := strings.Cut(pattern, " ")
	if p == "/{$}" { // the console's funds page
		return "funds"
	}
	seg := strings.Split(strings.TrimPrefix(strings.TrimPrefix(p, "/"), "v1/"), "/")
	if seg[0] == "funds" && len(seg) > 2 {
		return seg[2]
	}
	return seg[0]
}

// TestRouteRightsAreTheContracts: each route's roles are those the
// contract gives its kind of resource; a route of a kind the contract
// does not name fails here until someone decides who may read it.
func TestRouteRightsAreTheContracts(t *testing.T) {
	for _, rule := range (&httpapi.API{}).Rules() {
		if rule.Pattern == "/" {
			continue
		}
		want, ok := contractRights[resourceOf(rule.Pattern)]
		if !ok {
			t.Errorf("%s: resource %q has no right in contractRights (CONTRACT.md section 9)", rule.Pattern, resourceOf(rule.Pattern))
			continue
		}
		var got []string
		switch {
		case rule.Open:
			got = []string{"open"}
		case rule.AllFunds:
			for _, r := range rule.Roles {
				got = append(got, r+"*")
			}
		default:
			got = rule.Roles
		}
		if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))) {
			t.Errorf("%s: readable by %v, the contract says %v", rule.Pattern, got, want)
		}
		if strings.Contains(rule.Pattern, "{fund_id}") != (rule.Fund == "path") {
			t.Errorf("%s: fund from %q, want \"path\" exactly when the path holds {fund_id}", rule.Pattern, rule.Fund)
		}
	}
}

// TestEveryRouteIsGuarded walks every route the API registers: without a
// token, or with one that is not valid, each is a 401 (the open ones
// aside); each role reads exactly what its rule says, other roles get a
// 403; a fund outside the token's funds is a 404 that reads like a fund
// that does not exist, before the role is looked at; and the role is
// looked at before the parameters.
func TestEveryRouteIsGuarded(t *testing.T) {
	l := startAuthExample(t)
	rules := (&httpapi.API{}).Rules()
	if len(rules) < 10 {
		t.Fatalf("only %d routes", len(rules))
	}
	expired := l.key.Sign(t, testauth.Std("old", allRoles, []string{"*"}).With("exp", time.Now().Add(-time.Hour).Unix()))
	forged := testauth.NewKey(t, jwa.ES256(), "k1").Sign(t, testauth.Std("mallory", allRoles, []string{"*"}))
	huge := l.key.Sign(t, testauth.Std("big", allRoles, []string{"*"}).With("pad", strings.Repeat("x", 100<<10)))
	noRoles := l.token(nil, []string{"*"})
	unknownRole := l.token([]string{"admin", "root"}, []string{"*"})
	otherFund := l.token(allRoles, []string{fundW})
	otherFundReporting := l.token([]string{httpapi.RoleReporting}, []string{fundW})
	wantMissing := l.want("/v1/funds/no-such-fund", l.token(allRoles, []string{"*"}), http.StatusNotFound)

	for _, rule := range rules {
		path := routePath(rule.Pattern, fundJ)
		t.Run(rule.Pattern, func(t *testing.T) {
			l := &authLedger{Ledger: l.Ledger, key: l.key, t: t}
			if rule.Open {
				for _, tok := range []string{"", forged, expired, noRoles} {
					if code, _, body := l.get(path, tok); code != http.StatusOK {
						t.Errorf("open route with token %.10q: %d %s", tok, code, body)
					}
				}
				return
			}
			for _, tok := range []string{"", "garbage", forged, expired, huge} {
				l.want(path, tok, http.StatusUnauthorized)
			}
			if rule.AnyToken {
				l.want(path, noRoles, http.StatusNotFound)
				return
			}
			for _, tok := range []string{noRoles, unknownRole} {
				l.want(path, tok, http.StatusForbidden)
			}
			for _, role := range allRoles {
				for _, funds := range [][]string{{"*"}, {fundJ}, {fundJ, fundW}} {
					tok := l.token([]string{role}, funds)
					rights := contractRights[resourceOf(rule.Pattern)]
					allowed := slices.Contains(rights, role) || (slices.Contains(rights, role+"*") && funds[0] == "*")
					code, _, body := l.get(path, tok)
					switch {
					case allowed && (code == http.StatusUnauthorized || code == http.StatusForbidden):
						t.Errorf("%s %v: %d %s, want served", role, funds, code, body)
					case allowed && code == http.StatusNotFound && strings.Contains(string(body), "fund "):
						t.Errorf("%s %v: %d %s: the fund exists and is within the token's funds", role, funds, code, body)
					case !allowed && code != http.StatusForbidden:
						t.Errorf("%s %v: %d %s, want 403", role, funds, code, body)
					}
				}
			}
			if rule.Fund == "path" {
				// Outside the token's funds: a 404 worded as for a fund that
				// does not exist, before the role (reporting may not read
				// every route) and before the parameters.
				want := strings.ReplaceAll(wantMissing, "no-such-fund", fundJ)
				for _, p := range []string{path, path + "?limit=abc&after=-1&after_seq=x&as_of_journal_seq=-2"} {
					for _, tok := range []string{otherFund, otherFundReporting} {
						if got := l.want(p, tok, http.StatusNotFound); got != want {
							t.Errorf("fund outside the token: %q, want %q as for a missing fund", got, want)
						}
					}
				}
			}
			// The role before the parameters.
			for _, role := range allRoles {
				if rights := contractRights[resourceOf(rule.Pattern)]; !slices.Contains(rights, role) && !slices.Contains(rights, role+"*") {
					l.want(path+"?limit=abc&after=-1&after_seq=x", l.token([]string{role}, []string{"*"}), http.StatusForbidden)
				}
			}
		})
	}
}

// TestListsShowOnlyTheTokensFunds: /v1/funds and /v1/rejections list
// only the token's funds; another fund's rejections are an empty page;
// _unknown's only for ["*"]; raw only for auditors.
func TestListsShowOnlyTheTokensFunds(t *testing.T) {
	l := startAuthExample(t)
	funds := func(tok string) []string {
		t.Helper()
		var v struct {
			Funds []struct {
				FundID string `json:"fund_id"`
			} `json:"funds"`
		}
		_, _, body := l.get("/v1/funds", tok)
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		var ids []string
		for _, f := range v.Funds {
			ids = append(ids, f.FundID)
		}
		return ids
	}
	for _, c := range []struct {
		funds []string
		want  string
	}{
		{[]string{"*"}, fundJ + " " + fundW},
		{[]string{fundJ}, fundJ},
		{[]string{fundW, "never-opened"}, fundW},
		{nil, ""},
	} {
		if got := strings.Join(funds(l.token([]string{"reporting"}, c.funds)), " "); got != c.want {
			t.Errorf("/v1/funds for %v: %q, want %q", c.funds, got, c.want)
		}
	}

	type page struct {
		Rejections []map[string]any `json:"rejections"`
		NextAfter  int64            `json:"next_after"`
	}
	rejections := func(query, tok string) (page, string) {
		t.Helper()
		var p page
		code, _, body := l.get("/v1/rejections"+query, tok)
		if code != http.StatusOK {
			t.Fatalf("/v1/rejections%s: %d %s", query, code, body)
		}
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range p.Rejections {
			ids = append(ids, fmt.Sprint(r["fund_id"]))
		}
		return p, strings.Join(ids, " ")
	}
	auditorAll := l.token([]string{"auditor"}, []string{"*"})
	all, got := rejections("", auditorAll)
	if got != "jiangjin-care nope jiangjin-care wanzhou-care _unknown" {
		t.Fatalf("every rejection: %s", got)
	}
	for _, c := range []struct {
		name, query string
		funds       []string
		want        string
	}{
		{"one fund", "", []string{fundJ}, "jiangjin-care jiangjin-care"},
		{"two funds, paged by one", "?limit=1", []string{fundJ, fundW}, "jiangjin-care"},
		{"two funds", "", []string{fundJ, fundW}, "jiangjin-care jiangjin-care wanzhou-care"},
		{"a fund never opened", "", []string{"nope"}, "nope"},
		{"another fund asked for", "?fund_id=" + fundW, []string{fundJ}, ""},
		{"its own fund asked for", "?fund_id=" + fundJ, []string{fundJ, fundW}, "jiangjin-care jiangjin-care"},
		{"_unknown asked for, not every fund", "?fund_id=_unknown", []string{fundJ, "_unknown"}, ""},
		{"_unknown named in funds", "", []string{"_unknown"}, ""},
		{"_unknown to every fund", "?fund_id=_unknown", []string{"*"}, "_unknown"},
	} {
		p, got := rejections(c.query, l.token([]string{"officer"}, c.funds))
		if got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
		if got == "" && p.NextAfter != 0 {
			t.Errorf("%s: empty page with next_after %d, want 0 (the after asked)", c.name, p.NextAfter)
		}
	}
	// Paging a two-fund token through the whole list, one at a time.
	tok := l.token([]string{"officer"}, []string{fundJ, fundW})
	var seen []string
	after := int64(0)
	for i := 0; i < 10; i++ {
		p, got := rejections(fmt.Sprintf("?limit=1&after=%d", after), tok)
		if got == "" {
			break
		}
		seen = append(seen, got)
		after = p.NextAfter
	}
	if strings.Join(seen, " ") != "jiangjin-care jiangjin-care wanzhou-care" {
		t.Errorf("paged: %v", seen)
	}

	// raw: auditors only.
	for _, r := range all.Rejections {
		if _, ok := r["raw"]; !ok {
			t.Errorf("auditor: rejection %v has no raw", r["seq"])
		}
	}
	for _, role := range []string{"officer"} {
		p, _ := rejections("", l.token([]string{role}, []string{"*"}))
		if len(p.Rejections) != len(all.Rejections) {
			t.Fatalf("%s sees %d rejections, auditor %d", role, len(p.Rejections), len(all.Rejections))
		}
		for _, r := range p.Rejections {
			for _, k := range []string{"raw", "raw_encoding", "raw_headers"} {
				if _, ok := r[k]; ok {
					t.Errorf("%s: rejection %v shows %s", role, r["seq"], k)
				}
			}
			if r["code"] == "" || r["event_id"] == nil {
				t.Errorf("%s: rejection lost its other fields: %v", role, r)
			}
		}
	}
	p, _ := rejections("", l.token([]string{"officer", "auditor"}, []string{fundJ}))
	if len(p.Rejections) == 0 || p.Rejections[0]["raw"] == nil {
		t.Errorf("officer+auditor: raw missing: %v", p.Rejections)
	}
}

// TestRoutesRegisteredOnlyInTheTable keeps routes.go the one place an
// endpoint is registered: no other Handle or HandleFunc in the package,
// every route pattern written in its source is in the table, and a
// pattern the mux serves without a rule is refused at run time.
func TestRoutesRegisteredOnlyInTheTable(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	handle := regexp.MustCompile(`\.Handle(Func)?\(`)
	pattern := regexp.MustCompile(`"((?:GET|HEAD|POST|PUT|DELETE|PATCH) /[^"]*)"`)
	rules := map[string]bool{}
	for _, r := range (&httpapi.API{}).Rules() {
		rules[r.Pattern] = true
	}
	var registrations []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if handle.MatchString(line) && !strings.HasPrefix(strings.TrimSpace(line), "//") {
				registrations = append(registrations, f+": "+strings.TrimSpace(line))
			}
		}
		for _, m := range pattern.FindAllStringSubmatch(string(b), -1) {
			if !rules[m[1]] {
				t.Errorf("%s names route %q, which the table of routes.go does not hold", f, m[1])
			}
		}
	}
	sort.Strings(registrations)
	if len(registrations) != 1 || !strings.Contains(registrations[0], "a.enforce(rt)") {
		t.Errorf("routes must be registered only from the table (api.go, Handler); found:\n%s", strings.Join(registrations, "\n"))
	}
}
