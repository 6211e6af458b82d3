package httpapi

import (
	"net/http"
)

// The bank reconciliation's endpoints (CONTRACT.md sections 7 and 10).

// reconciliations lists a fund's reports, oldest first, paged by
// reconciliation_seq (?after=&limit=).
func (a *API) reconciliations(w http.ResponseWriter, r *http.Request) {
	after, limit, err := paging(r, "after")
	if err != nil {
		a.badParam(w, r, err)
		return
	}
	page, err := a.Store.Reconciliations(r.Context(), r.PathValue("fund_id"), after, limit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// reconciliation serves .../reconciliations/latest and
// .../reconciliations/{seq} with the body exactly as it was published, so
// its signature checks against what the API returns.
func (a *API) reconciliation(w http.ResponseWriter, r *http.Request) {
	seq, ok := a.seqParam(w, r, "reconciliation")
	if !ok {
		return
	}
	body, err := a.Store.Reconciliation(r.Context(), r.PathValue("fund_id"), seq)
	a.writePublished(w, r, body, err)
}

// bankStatements lists a fund's bank statements in period_start order.
func (a *API) bankStatements(w http.ResponseWriter, r *http.Request) {
	list, err := a.Store.BankStatements(r.Context(), r.PathValue("fund_id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"statements": list})
}
