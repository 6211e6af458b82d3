package httpapi

// The audit endpoints. GET /v1/funds/{fund_id}/verify recomputes a fund's
// hash chain and balances from its journal and checks its signed
// snapshots (ledger/postgres Store.Verify, as `fundledger verify`).
// GET /v1/keys lists the public keys snapshots are signed with.
// docs/audit.md tells an auditor how to check the same without this code.

import (
	"encoding/base64"
	"net/http"
	"sort"
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

// auditKey is one signing key of GET /v1/keys.
type auditKey struct {
	KeyID     string `json:"key_id"`
	PublicKey string `json:"public_key"` // base64 of the 32-byte Ed25519 key
	Algorithm string `json:"algorithm"`
}

func (a *API) auditKeys(w http.ResponseWriter, r *http.Request) {
	keys, err := a.Store.SigningKeys(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	list := make([]auditKey, 0, len(keys))
	for id, pub := range keys {
		list = append(list, auditKey{KeyID: id, PublicKey: base64.StdEncoding.EncodeToString(pub), Algorithm: "ed25519"})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].KeyID < list[j].KeyID })
	writeJSON(w, http.StatusOK, struct {
		Keys []auditKey `json:"keys"`
	}{list})
}
