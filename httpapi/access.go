package httpapi

// Who may read what (CONTRACT.md section 9), enforced in one place: every
// request passes guard, which finds its route in the table of routes.go,
// and the route's own check. The answers come in the contract's order:
// 401 without a valid token, then 404 for a fund outside the token's
// funds (as if it did not exist), then 403 for a role without the right;
// only then does the handler run, with its 400 for bad parameters and
// 404 for a fund or grant that does not exist.

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/fundledger/fundledger/ledger/postgres"
)

// right is who may read a route.
type right struct {
	name     string   // for messages and docs
	roles    []string // any one of them gives the right
	allFunds bool     // and the token's funds must be ["*"]
	open     bool     // no token needed
	anyToken bool     // any valid token, whatever its roles
}

var (
	// readBooks: funds, balances, snapshots, reconciliations, periods.
	readBooks = right{name: "the books", roles: []string{RoleOfficer, RoleAuditor, RoleReporting}}
	// readDetail: journal, grants, beneficiaries, rejections, proofs,
	// bank statements (section 9 lists them for officers, not reporting).
	readDetail = right{name: "transactions, grants, beneficiaries and rejections", roles: []string{RoleOfficer, RoleAuditor}}
	// readAudit: verify.
	readAudit = right{name: "verification", roles: []string{RoleAuditor}}
	// readAccessLog: the access log, for auditors of every fund.
	readAccessLog = right{name: "the access log", roles: []string{RoleAuditor}, allFunds: true}
	// open: no token needed (public keys).
	open = right{name: "public", open: true}
	// anyToken: any valid token (the answer for unknown paths).
	anyToken = right{name: "any reader", anyToken: true}
)

func (r right) allows(p *Principal) bool {
	switch {
	case r.open, p.open:
		return true
	case r.anyToken:
		return p != nil
	case p == nil:
		return false
	case r.allFunds && !p.allFunds:
		return false
	}
	for _, role := range r.roles {
		if p.HasRole(role) {
			return true
		}
	}
	return false
}

// fundFrom says where a route's fund comes from.
type fundFrom int

const (
	// fundNone: the route is about no fund.
	fundNone fundFrom = iota
	// fundPath: {fund_id} in the path; a fund outside the token's funds
	// is a 404 before the handler runs.
	fundPath
	// fundListed: the handler lists several funds and shows only those
	// within the token's funds.
	fundListed
)

// route is one line of the table in routes.go.
type route struct {
	pattern string
	right   right
	fund    fundFrom
	handle  http.HandlerFunc
}

// RouteRule describes one registered route for tests and docs: its
// pattern, the roles that may read it, whether the token's funds must be
// ["*"], whether it is open, and where its fund comes from ("path",
// "listed" or "").
type RouteRule struct {
	Pattern  string
	Roles    []string
	AllFunds bool
	Open     bool
	AnyToken bool
	Fund     string
}

// Rules lists the routes and who may read them, in the table's order.
func (a *API) Rules() []RouteRule {
	var out []RouteRule
	for _, rt := range a.routes() {
		f := map[fundFrom]string{fundNone: "", fundPath: "path", fundListed: "listed"}[rt.fund]
		out = append(out, RouteRule{Pattern: rt.pattern, Roles: rt.right.roles, AllFunds: rt.right.allFunds,
			Open: rt.right.open, AnyToken: rt.right.anyToken, Fund: f})
	}
	return out
}

type principalKey struct{}

// principalOf is whom the request speaks for; the open principal when
// the API runs without authentication.
func principalOf(r *http.Request) *Principal {
	if p, ok := r.Context().Value(principalKey{}).(*Principal); ok && p != nil {
		return p
	}
	return openPrincipal
}

// enforce puts one route behind its right and its fund: the checks that
// need the route's path values.
func (a *API) enforce(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := r.Context().Value(principalKey{}).(*Principal)
		if p == nil && !rt.right.open {
			// guard did not run: never serve unchecked.
			a.logger().Error("read API: route reached without the access check", "pattern", rt.pattern)
			writeError(w, http.StatusInternalServerError, "internal error: access check missing")
			return
		}
		if rt.fund == fundPath && p != nil && !p.SeesFund(r.PathValue("fund_id")) {
			writeError(w, http.StatusNotFound, fundNotFound(r.PathValue("fund_id")))
			return
		}
		if !rt.right.allows(p) {
			writeError(w, http.StatusForbidden, forbidden(rt.right, p))
			return
		}
		rt.handle(w, r)
	})
}

// fundNotFound is the store's message for a fund that does not exist,
// word for word, so a fund outside the token's funds reads the same.
func fundNotFound(id string) string {
	return "fund " + quote(id) + " not found"
}

func quote(s string) string {
	b := strings.Builder{}
	b.WriteString(`"`)
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteString(`\` + string(r))
		case r < 0x20 || r == 0x7f:
			b.WriteString(`\x`)
			b.WriteString(string("0123456789abcdef"[r>>4]))
			b.WriteString(string("0123456789abcdef"[r&0xf]))
		default:
			b.WriteRune(r)
		}
	}
	b.WriteString(`"`)
	return b.String()
}

func forbidden(rt right, p *Principal) string {
	if rt.allFunds && p != nil && p.HasRole(RoleAuditor) {
		return `forbidden: ` + rt.name + ` is for auditors whose token covers every fund (funds ["*"])`
	}
	return "forbidden: your roles do not include reading " + rt.name + " (it needs one of: " + strings.Join(rt.roles, ", ") + ")"
}

// guard is the read API's front door: it finds the route a request goes
// to, checks the bearer token (401 when a route needs one and there is
// none or it is not valid), records the request in the access log when
// it presented a token, and passes it on with whom it speaks for.
func (a *API) guard(mux *http.ServeMux, rules map[string]route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pattern := mux.Handler(r)
		rt, known := rules[pattern]
		if pattern == "" {
			// The mux answers itself (a redirect to a cleaned path):
			// as the catch-all would, after a valid token.
			rt, known = route{pattern: "", right: anyToken}, true
		}
		start := time.Now()
		token, presented := bearer(r)
		var p *Principal
		var authErr error
		if a.Auth == nil {
			p = openPrincipal
		} else if presented {
			p, authErr = a.Auth.Authenticate(r.Context(), token)
		}
		if a.Auth != nil && presented && a.AccessLog != nil {
			// Recorded, valid or not; never served unrecorded.
			if !a.AccessLog.reserve(r.Context()) {
				a.logger().Error("read API: the access log cannot be written; request refused (503)", "method", r.Method, "path", r.URL.Path)
				w.Header().Set("Retry-After", "5")
				writeError(w, http.StatusServiceUnavailable, "the access log cannot be written just now; try again later")
				return
			}
			rec := &statusWriter{ResponseWriter: w}
			defer func() { a.record(r, start, p, rec.status()) }()
			w = rec
		}
		switch {
		case !known:
			a.logger().Error("read API: no access rule for the route; refused", "pattern", pattern, "path", r.URL.Path)
			writeError(w, http.StatusInternalServerError, "internal error: this route has no access rule")
			return
		case rt.right.open:
			// Public: served whatever the token says.
			mux.ServeHTTP(w, r)
			return
		case a.Auth != nil && (!presented || authErr != nil):
			a.unauthorized(w, r, presented, p, authErr)
			return
		}
		mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

// bearer reads "Authorization: Bearer <token>"; presented is true when
// the header is there at all (a malformed one is a token that is not
// valid, and is recorded as such).
func bearer(r *http.Request) (token string, presented bool) {
	h := r.Header.Values("Authorization")
	if len(h) == 0 {
		return "", false
	}
	if len(h) > 1 {
		return "", true
	}
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h[0]), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", true
	}
	return strings.TrimSpace(tok), true
}

// unauthorized answers 401 with a terse reason, and logs the full one.
func (a *API) unauthorized(w http.ResponseWriter, r *http.Request, presented bool, p *Principal, err error) {
	terse, detail := "authentication required: send Authorization: Bearer <token>", "no Authorization header"
	if presented {
		terse, detail = "invalid token", "Authorization header is not one Bearer token"
		if ae, ok := err.(*authError); ok {
			terse, detail = ae.Terse, ae.Detail
		}
		if ae, ok := err.(*authError); ok && ae.Detail == "no token" {
			detail = "Authorization header is not one Bearer token"
		}
	}
	attrs := []any{"method", r.Method, "path", r.URL.Path, "reason", detail, "remote", r.RemoteAddr}
	if p != nil {
		attrs = append(attrs, "sub", p.Sub)
	}
	a.logger().Info("read API: request refused (401)", attrs...)
	challenge := `Bearer realm="fundledger"`
	if presented {
		challenge += `, error="invalid_token", error_description=` + quote(terse)
	}
	w.Header().Set("WWW-Authenticate", challenge)
	writeError(w, http.StatusUnauthorized, terse)
}

func (a *API) logger() *slog.Logger {
	if a.Log != nil {
		return a.Log
	}
	return slog.Default()
}

// statusWriter remembers the status a handler answered.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) status() int {
	if s.code == 0 {
		return http.StatusOK
	}
	return s.code
}

// Unwrap lets http.ResponseController reach the connection.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// visibleFunds keeps the funds within the token's funds.
func visibleFunds(p *Principal, list []postgres.FundSummary) []postgres.FundSummary {
	if p.allFunds {
		return list
	}
	out := make([]postgres.FundSummary, 0, len(list))
	for _, f := range list {
		if p.SeesFund(f.FundID) {
			out = append(out, f)
		}
	}
	return out
}

// rejectionFetch reads one page of rejections, of one fund or (fundID
// empty) of all.
type rejectionFetch func(fundID string, after int64, limit int) (*postgres.RejectionPage, error)

// scopedRejections pages the rejections within the token's funds. A
// fund_id outside them is an empty page (not a 404: the list is filtered,
// as /v1/funds is). A token of one fund reads that fund's page; one of
// several funds reads the whole list and keeps its funds' rejections
// until the page is full or the list ends, so a page is never short
// unless it is the last.
func scopedRejections(p *Principal, fundID string, after int64, limit int, fetch rejectionFetch) (*postgres.RejectionPage, error) {
	empty := &postgres.RejectionPage{Rejections: []postgres.RejectionView{}, NextAfter: after}
	switch {
	case fundID != "" && !p.SeesFund(fundID):
		return empty, nil
	case fundID != "" || p.allFunds:
		return fetch(fundID, after, limit)
	}
	var mine []string
	for _, f := range p.Funds {
		if p.SeesFund(f) && !slices.Contains(mine, f) {
			mine = append(mine, f)
		}
	}
	switch len(mine) {
	case 0:
		return empty, nil
	case 1:
		return fetch(mine[0], after, limit)
	}
	out := empty
	for {
		page, err := fetch("", out.NextAfter, limit)
		if err != nil {
			return nil, err
		}
		for _, rj := range page.Rejections {
			out.NextAfter = rj.Seq
			if p.SeesFund(rj.FundID) {
				out.Rejections = append(out.Rejections, rj)
				if len(out.Rejections) == limit {
					return out, nil
				}
			}
		}
		if len(page.Rejections) < limit {
			return out, nil
		}
	}
}

// rejectionNoRaw is a rejection without the raw event: the fields of the
// same JSON names at this level hide the embedded ones, and being nil
// they are left out.
type rejectionNoRaw struct {
	postgres.RejectionView
	Raw         *struct{} `json:"raw,omitempty"`
	RawEncoding *struct{} `json:"raw_encoding,omitempty"`
	RawHeaders  *struct{} `json:"raw_headers,omitempty"`
}

// rejectionsFor is the page as the principal may read it: the raw bytes
// of rejected events (beneficiary details, whatever a publisher sent)
// only for auditors.
func rejectionsFor(p *Principal, page *postgres.RejectionPage) any {
	if p.HasRole(RoleAuditor) {
		return page
	}
	list := make([]rejectionNoRaw, len(page.Rejections))
	for i, rj := range page.Rejections {
		list[i] = rejectionNoRaw{RejectionView: rj}
	}
	return struct {
		Rejections []rejectionNoRaw `json:"rejections"`
		NextAfter  int64            `json:"next_after"`
	}{list, page.NextAfter}
}
