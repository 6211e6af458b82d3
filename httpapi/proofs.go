package httpapi

import (
	"fmt"
	"net/http"
)

// The Merkle proofs of a fund's journal (CONTRACT.md section 12): an
// auditor checks them against the tree_root of a signed snapshot.

// requiredInt is a query parameter that must be given, an integer of at
// least min.
func requiredInt(r *http.Request, name string, min int64) (int64, error) {
	if r.URL.Query().Get(name) == "" {
		return 0, fmt.Errorf("%s is required", name)
	}
	return intParam(r, name, 0, min)
}

// inclusionProof serves .../proofs/inclusion?seq=N&tree_size=M.
func (a *API) inclusionProof(w http.ResponseWriter, r *http.Request) {
	seq, err := requiredInt(r, "seq", 1)
	if err == nil {
		var size int64
		if size, err = requiredInt(r, "tree_size", 1); err == nil && size < seq {
			err = fmt.Errorf("tree_size %d is below seq %d: the tree of %d transactions does not hold it", size, seq, size)
		}
		if err == nil {
			p, err := a.Store.InclusionProof(r.Context(), r.PathValue("fund_id"), seq, size)
			if err != nil {
				a.fail(w, r, err)
				return
			}
			writeJSON(w, http.StatusOK, p)
			return
		}
	}
	a.badParam(w, r, err)
}

// consistencyProof serves .../proofs/consistency?from=M1&to=M2.
func (a *API) consistencyProof(w http.ResponseWriter, r *http.Request) {
	from, err := requiredInt(r, "from", 1)
	if err == nil {
		var to int64
		if to, err = requiredInt(r, "to", 1); err == nil && to < from {
			err = fmt.Errorf("to %d is below from %d", to, from)
		}
		if err == nil {
			p, err := a.Store.ConsistencyProof(r.Context(), r.PathValue("fund_id"), from, to)
			if err != nil {
				a.fail(w, r, err)
				return
			}
			writeJSON(w, http.StatusOK, p)
			return
		}
	}
	a.badParam(w, r, err)
}
