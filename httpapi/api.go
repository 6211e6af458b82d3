// Package httpapi is fundledger's read API over HTTP (CONTRACT.md section
// 7): JSON, read-only, served by the ledger service beside /healthz and
// /metrics. docs/openapi.yaml describes every endpoint; a test checks the
// description against the live server.
//
// Errors are JSON objects {"error": "..."}: 404 for a fund, grant or
// snapshot that does not exist, 400 for a query parameter that is not a
// number in range, 500 (with the cause logged, not shown) when the
// database fails. Who may read what is checked first (access.go, in the
// order of CONTRACT.md section 9: 401, a fund outside the token's funds
// 404, 403), then parameters (400), then whether the fund or grant exists
// (404). A parameter given empty (?after=&limit=, as the contract writes
// the rejections query) is taken as not given.
package httpapi

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/fundledger/fundledger/ledger"
	"github.com/fundledger/fundledger/ledger/postgres"
)

// API serves the read endpoints from the store.
type API struct {
	Store *postgres.Store
	// Log receives the causes of 500 responses and of refused tokens; nil
	// uses slog.Default.
	Log *slog.Logger
	// Auth checks bearer tokens (CONTRACT.md section 9); nil leaves the
	// API open to anyone who reaches it (serve allows that on loopback
	// only).
	Auth *Authenticator
	// AccessLog records the requests that present a token (with Auth);
	// nil records none.
	AccessLog *AccessLog
	// Pages is the web console served at / (package console, routed in
	// routes.go behind the same checks); nil serves no console.
	Pages Pages
}

// New returns the read API's handler, open to anyone who reaches it; it
// serves /v1/... and answers any other path with a JSON 404.
// service.Config.API takes it as is.
func New(store *postgres.Store) http.Handler {
	return (&API{Store: store}).Handler()
}

// Handler routes the endpoints of routes.go, each behind its access
// check.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	rules := map[string]route{}
	for _, rt := range a.routes() {
		mux.Handle(rt.pattern, a.enforce(rt))
		rules[rt.pattern] = rt
	}
	return closingHandler{a.guard(mux, rules), a}
}

// closingHandler is the API's handler; Close writes what the access log
// still holds (service.Service calls it once the HTTP server stopped).
type closingHandler struct {
	http.Handler
	a *API
}

func (h closingHandler) Close() error {
	if h.a.AccessLog != nil {
		return h.a.AccessLog.Close()
	}
	return nil
}

func (a *API) funds(w http.ResponseWriter, r *http.Request) {
	list, err := a.Store.ListFunds(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	list = visibleFunds(principalOf(r), list)
	writeJSON(w, http.StatusOK, struct {
		Funds []postgres.FundSummary `json:"funds"`
	}{list})
}

func (a *API) fund(w http.ResponseWriter, r *http.Request) {
	f, err := a.Store.FundDetail(r.Context(), r.PathValue("fund_id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, f)
}

func (a *API) balances(w http.ResponseWriter, r *http.Request) {
	var asOf *int64 // nil: the current books
	n, err := intParam(r, "as_of_journal_seq", -1, 0)
	if err != nil {
		a.badParam(w, r, err)
		return
	}
	if n >= 0 {
		asOf = &n
	}
	b, err := a.Store.FundBalances(r.Context(), r.PathValue("fund_id"), asOf)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, b)
}

func (a *API) journal(w http.ResponseWriter, r *http.Request) {
	after, limit, err := paging(r, "after_seq")
	if err != nil {
		a.badParam(w, r, err)
		return
	}
	f, err := journalFilter(r) // reads_more.go
	if err != nil {
		a.paramFailed(w, r, err)
		return
	}
	page, err := a.Store.JournalFiltered(r.Context(), r.PathValue("fund_id"), after, limit, f)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (a *API) grant(w http.ResponseWriter, r *http.Request) {
	g, err := a.Store.Grant(r.Context(), r.PathValue("fund_id"), r.PathValue("grant_id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, g)
}

func (a *API) snapshots(w http.ResponseWriter, r *http.Request) {
	after, limit, err := paging(r, "after")
	if err != nil {
		a.badParam(w, r, err)
		return
	}
	page, err := a.Store.Snapshots(r.Context(), r.PathValue("fund_id"), after, limit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// snapshot serves .../snapshots/latest and .../snapshots/{seq} with the
// body exactly as it was published, so a consumer can check the signature
// on what it received here as on what came over JetStream.
func (a *API) snapshot(w http.ResponseWriter, r *http.Request) {
	seq, ok := a.seqParam(w, r, "snapshot")
	if !ok {
		return
	}
	body, err := a.Store.Snapshot(r.Context(), r.PathValue("fund_id"), seq)
	a.writePublished(w, r, body, err)
}

// seqParam reads the {seq} of .../latest (absent: 0) and .../{seq} (a
// positive integer; otherwise 400, and false).
func (a *API) seqParam(w http.ResponseWriter, r *http.Request, what string) (int64, bool) {
	s := r.PathValue("seq")
	if s == "" {
		return 0, true
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 {
		a.badParam(w, r, fmt.Errorf("%s sequence %q is not a positive integer", what, s))
		return 0, false
	}
	return n, true
}

// writePublished serves a signed document (snapshot, reconciliation,
// period report) byte for byte as it was published, so its signature
// checks against what the API returns; or the read's error.
func (a *API) writePublished(w http.ResponseWriter, r *http.Request, body []byte, err error) {
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

func (a *API) rejections(w http.ResponseWriter, r *http.Request) {
	after, limit, err := paging(r, "after")
	if err != nil {
		a.badParam(w, r, err)
		return
	}
	f, err := rejectionFilter(r) // reads_more.go
	if err != nil {
		a.paramFailed(w, r, err)
		return
	}
	page, err := scopedRejections(principalOf(r), f.FundID, after, limit,
		func(fundID string, after int64, limit int) (*postgres.RejectionPage, error) {
			f.FundID = fundID
			return a.Store.RejectionsFiltered(r.Context(), f, after, limit)
		})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rejectionsFor(principalOf(r), page))
}

// paging reads the cursor parameter (a sequence, 0 or more) and limit (1 to
// postgres.MaxLimit, default postgres.DefaultLimit).
func paging(r *http.Request, cursor string) (after int64, limit int, err error) {
	if after, err = intParam(r, cursor, 0, 0); err != nil {
		return 0, 0, err
	}
	l, err := intParam(r, "limit", postgres.DefaultLimit, 1)
	if err != nil {
		return 0, 0, err
	}
	if l > postgres.MaxLimit {
		return 0, 0, fmt.Errorf("limit %d is above the maximum of %d", l, postgres.MaxLimit)
	}
	return after, int(l), nil
}

// intParam reads an integer query parameter of at least min, def when it
// is absent or empty.
func intParam(r *http.Request, name string, def, min int64) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s %q is not an integer", name, s)
	}
	if n < min {
		return 0, fmt.Errorf("%s %d is below the minimum of %d", name, n, min)
	}
	return n, nil
}

// badParam answers a parameter that is not a number in range: a 400,
// also for a fund that does not exist (CONTRACT.md section 9: bad
// parameters come before a missing fund).
func (a *API) badParam(w http.ResponseWriter, r *http.Request, err error) {
	writeError(w, http.StatusBadRequest, err.Error())
}

// fail maps a store error to its status, once, here at the edge.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case ledger.KindOf(err) == ledger.KindNotFound:
		writeError(w, http.StatusNotFound, err.Error())
	case ledger.KindOf(err) == ledger.KindInvalid:
		writeError(w, http.StatusBadRequest, err.Error())
	case r.Context().Err() != nil:
		// The client went away; nobody reads the answer.
		writeError(w, http.StatusServiceUnavailable, "request cancelled")
	default:
		a.logger().Error("read API", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "internal error: the ledger's database could not answer; see the service log")
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal error: "+err.Error())
		return
	}
	b = append(b, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(map[string]string{"error": msg})
	b = append(b, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
