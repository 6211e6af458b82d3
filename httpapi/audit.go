package httpapi

// The audit endpoints. GET /v1/funds/{fund_id}/verify recomputes a fund's
// hash chain and balances from its journal and checks its signed
// snapshots (ledger/postgres Store.Verify, as `fundledger verify`).
// GET /v1/keys lists the public keys snapshots are signed with.
// docs/audit.md tells an auditor how to check the same without this code.

import (
	"net/http"

	"github.com/fundledger/fundledger/ledger"
)

// auditVerifySlots bounds the verifications running at once: each reads a
// fund's whole journal on three database connections, and the read API
// must stay responsive meanwhile. Others wait their turn (or until the
// client gives up).
var auditVerifySlots = make(chan struct{}, 2)

// auditVerify answers 200 with {"ok", "checked_transactions", "problems",
// ...} (ok false when something does not match), 404 for a fund that does
// not exist.
func (a *API) auditVerify(w http.ResponseWriter, r *http.Request) {
	select {
	case auditVerifySlots <- struct{}{}:
		defer func() { <-auditVerifySlots }()
	case <-r.Context().Done():
		a.fail(w, r, r.Context().Err())
		return
	}
	rep, err := a.Store.Verify(r.Context(), r.PathValue("fund_id"), nil)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// auditKeys answers GET /v1/keys: every signing key, as its key history
// entry (CONTRACT.md section 12, docs/audit.md section 11), oldest first.
func (a *API) auditKeys(w http.ResponseWriter, r *http.Request) {
	hist, err := a.Store.KeyHistory(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	list := make([]ledger.KeyEntryView, 0, len(hist))
	for i := range hist {
		list = append(list, hist[i].View())
	}
	writeJSON(w, http.StatusOK, struct {
		Keys []ledger.KeyEntryView `json:"keys"`
	}{list})
}

// fundEvents answers GET /v1/funds/{fund_id}/events?after_seq=&limit=: the
// fund's chain of events applied without posting (docs/audit.md section
// 12), oldest first, paged like the journal.
func (a *API) fundEvents(w http.ResponseWriter, r *http.Request) {
	after, limit, err := paging(r, "after_seq")
	if err != nil {
		a.badParam(w, r, err)
		return
	}
	page, err := a.Store.Events(r.Context(), r.PathValue("fund_id"), after, limit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}
