package httpapi_test

import (
	"fmt"
	"testing"

	"github.com/fundledger/fundledger/ledger"
	"github.com/fundledger/fundledger/ledger/merkle"
)

// TestProofEndpoints: the proofs of the example fund verify against the
// tree_root of its latest signed snapshot, and every request outside
// 1 <= seq <= tree_size <= head (1 <= from <= to <= head) is a 400; bad
// parameters come before an unknown fund (CONTRACT.md section 9).
func TestProofEndpoints(t *testing.T) {
	l := startExample(t)
	const fund = "jiangjin-care"
	l.Event(fund, "snapshot.requested", map[string]any{"requested_by": "auditor-1", "label": "proofs"})
	l.WaitIdle()
	var s ledger.Snapshot
	getJSON(t, l, "/v1/funds/"+fund+"/snapshots/latest", 200, &s)
	if s.TreeSize == nil || *s.TreeSize < 3 {
		t.Fatalf("latest snapshot: %+v", s)
	}
	head := *s.TreeSize
	root, err := merkle.ParseHash(s.TreeRoot)
	if err != nil {
		t.Fatal(err)
	}
	parse := func(hs []string) []merkle.Hash {
		out := make([]merkle.Hash, len(hs))
		for i, h := range hs {
			if out[i], err = merkle.ParseHash(h); err != nil {
				t.Fatal(err)
			}
		}
		return out
	}
	for seq := int64(1); seq <= head; seq++ {
		var p struct {
			Seq       int64    `json:"seq"`
			TreeSize  int64    `json:"tree_size"`
			LeafHash  string   `json:"leaf_hash"`
			AuditPath []string `json:"audit_path"`
		}
		getJSON(t, l, fmt.Sprintf("/v1/funds/%s/proofs/inclusion?seq=%d&tree_size=%d", fund, seq, head), 200, &p)
		var page struct {
			Transactions []struct {
				Hash string `json:"hash"`
			} `json:"transactions"`
		}
		getJSON(t, l, fmt.Sprintf("/v1/funds/%s/journal?after_seq=%d&limit=1", fund, seq-1), 200, &page)
		h, _ := merkle.ParseHash(page.Transactions[0].Hash)
		leaf := merkle.LeafHash(h[:])
		if p.Seq != seq || p.TreeSize != head || p.LeafHash != leaf.Hex() {
			t.Fatalf("inclusion %d: %+v", seq, p)
		}
		if err := merkle.VerifyInclusion(uint64(seq-1), uint64(head), leaf, parse(p.AuditPath), root); err != nil {
			t.Fatalf("inclusion %d: %v", seq, err)
		}
	}
	var c struct {
		From, To int64
		Proof    []string
	}
	getJSON(t, l, fmt.Sprintf("/v1/funds/%s/proofs/consistency?from=%d&to=%d", fund, head, head), 200, &c)
	if c.Proof == nil || len(c.Proof) != 0 {
		t.Fatalf("a proof between equal sizes: %+v", c)
	}
	// Beyond the fund's head: known only once the fund is found.
	for _, q := range []string{fmt.Sprintf("inclusion?seq=1&tree_size=%d", head+1), fmt.Sprintf("consistency?from=1&to=%d", head+1)} {
		wantError(t, l, "/v1/funds/"+fund+"/proofs/"+q, 400)
		wantError(t, l, "/v1/funds/no-such-fund/proofs/"+q, 404)
	}
	// Wrong in themselves: 400 before the fund is looked up.
	for _, q := range []string{"inclusion?seq=3&tree_size=2", "inclusion?seq=0&tree_size=2", "inclusion?seq=1", "inclusion?tree_size=1",
		"inclusion?seq=x&tree_size=2", "consistency?from=3&to=2", "consistency?from=0&to=2", "consistency?to=2"} {
		wantError(t, l, "/v1/funds/"+fund+"/proofs/"+q, 400)
		wantError(t, l, "/v1/funds/no-such-fund/proofs/"+q, 400)
	}
	wantError(t, l, "/v1/funds/no-such-fund/proofs/inclusion?seq=1&tree_size=1", 404)
	wantError(t, l, "/v1/funds/no-such-fund/proofs/consistency?from=1&to=1", 404)
}
