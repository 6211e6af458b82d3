package postgres_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/fundledger/fundledger/internal/testenv"
	"github.com/fundledger/fundledger/ledger"
	"github.com/fundledger/fundledger/ledger/merkle"
	"github.com/fundledger/fundledger/ledger/postgres"
)

const treeFund = "tree-fund"

// buildTree posts a fund's journal of well over 2^TreeStoredLevel
// transactions over several batches (batch lines are one transaction
// each), with snapshots along the way, and returns the roots of its tree
// at every size, computed from the journal's hashes alone.
func buildTree(t *testing.T) (*testenv.Ledger, []merkle.Hash) {
	t.Helper()
	l := testenv.Start(t, testenv.Options{SnapshotEvery: 50})
	l.Event(treeFund, "fund.opened", map[string]any{"fund_id": treeFund, "name": "Tree", "currency": "CNY",
		"programs": []map[string]any{{"code": "pension_subsidy"}}})
	l.Event(treeFund, "contribution.received", map[string]any{"contribution_id": "c-1", "source_kind": "fiscal",
		"payer": "bureau", "amount": "1000000.00", "bank_ref": "BR-1", "received_on": "2026-01-05"})
	line := 0
	for b, n := range []int{3, 60, 1, 130, 70} {
		var lines []map[string]any
		for i := 0; i < n; i++ {
			line++
			lines = append(lines, map[string]any{"grant_id": fmt.Sprint("g-", line), "beneficiary_ref": fmt.Sprint("ben-", line),
				"category": "living", "amount": "10.00"})
		}
		l.Event(treeFund, "grant.batch.approved", map[string]any{"batch_id": fmt.Sprint("b-", b), "program": "pension_subsidy",
			"requested_by": "caseworker-2", "approved_by": "officer-7", "approved_on": "2026-03-05", "lines": lines})
		if b == 2 {
			l.Event(treeFund, "snapshot.requested", map[string]any{"requested_by": "auditor-1", "label": "mid"})
		}
	}
	l.WaitIdle()
	if r := l.Rejections(); len(r) != 0 {
		t.Fatalf("refused: %+v", r)
	}
	rows, err := l.DB.Query(context.Background(), `SELECT hash FROM journal WHERE fund_id = $1 ORDER BY seq`, treeFund)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var f merkle.Frontier
	roots := []merkle.Hash{f.Root()}
	for rows.Next() {
		var h []byte
		if err := rows.Scan(&h); err != nil {
			t.Fatal(err)
		}
		f.Append(merkle.LeafHash(h), nil)
		roots = append(roots, f.Root())
	}
	if len(roots)-1 != 1+3+60+1+130+70 {
		t.Fatalf("journal of %d transactions", len(roots)-1)
	}
	return l, roots
}

func leafOf(t *testing.T, l *testenv.Ledger, seq int64) merkle.Hash {
	t.Helper()
	var h []byte
	if err := l.DB.QueryRow(context.Background(), `SELECT hash FROM journal WHERE fund_id = $1 AND seq = $2`, treeFund, seq).Scan(&h); err != nil {
		t.Fatal(err)
	}
	return merkle.LeafHash(h)
}

func parseAll(t *testing.T, hs []string) []merkle.Hash {
	t.Helper()
	out := make([]merkle.Hash, len(hs))
	for i, s := range hs {
		h, err := merkle.ParseHash(s)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = h
	}
	return out
}

// TestTreeKeptWithTheJournal: the roots, proofs and snapshot heads the
// store gives agree with the tree computed from the journal alone.
func TestTreeKeptWithTheJournal(t *testing.T) {
	l, roots := buildTree(t)
	ctx := context.Background()
	st := l.Service.Store
	n := int64(len(roots) - 1)

	var frontier []byte
	var head int64
	if err := l.DB.QueryRow(ctx, `SELECT head_seq, merkle_frontier FROM funds WHERE fund_id = $1`, treeFund).Scan(&head, &frontier); err != nil {
		t.Fatal(err)
	}
	kept, err := merkle.FrontierFromBytes(uint64(head), frontier)
	if err != nil || kept.Root() != roots[n] {
		t.Fatalf("the fund's kept frontier gives %s (%v), the journal %s", kept.Root().Hex(), err, roots[n].Hex())
	}
	if got := l.Count(`SELECT count(*) FROM merkle_nodes WHERE fund_id = $1`, treeFund); got == 0 {
		t.Fatal("no Merkle nodes stored")
	}
	for size := int64(0); size <= n; size++ {
		r, err := st.TreeRoot(ctx, treeFund, size)
		if err != nil || r != roots[size] {
			t.Fatalf("TreeRoot(%d) = %s, %v; want %s", size, r.Hex(), err, roots[size].Hex())
		}
	}
	sizes := []int64{1, 2, 3, 63, 64, 65, 127, 128, 129, 200, n - 1, n}
	for _, m := range sizes {
		for seq := int64(1); seq <= m; seq++ {
			p, err := st.InclusionProof(ctx, treeFund, seq, m)
			if err != nil {
				t.Fatal(err)
			}
			leaf := leafOf(t, l, seq)
			if p.LeafHash != leaf.Hex() {
				t.Fatalf("seq %d: leaf_hash %s, want %s", seq, p.LeafHash, leaf.Hex())
			}
			if err := merkle.VerifyInclusion(uint64(seq-1), uint64(m), leaf, parseAll(t, p.AuditPath), roots[m]); err != nil {
				t.Fatalf("inclusion of %d in %d: %v", seq, m, err)
			}
		}
	}
	for _, to := range sizes {
		for from := int64(1); from <= to; from++ {
			p, err := st.ConsistencyProof(ctx, treeFund, from, to)
			if err != nil {
				t.Fatal(err)
			}
			if err := merkle.VerifyConsistency(uint64(from), uint64(to), parseAll(t, p.Proof), roots[from], roots[to]); err != nil {
				t.Fatalf("consistency %d to %d: %v", from, to, err)
			}
		}
	}
	for _, bad := range [][2]int64{{0, 5}, {6, 5}, {1, n + 1}, {-1, 3}} {
		if _, err := st.InclusionProof(ctx, treeFund, bad[0], bad[1]); ledger.KindOf(err) != ledger.KindInvalid {
			t.Errorf("inclusion %v: %v, want invalid", bad, err)
		}
		if _, err := st.ConsistencyProof(ctx, treeFund, bad[0], bad[1]); ledger.KindOf(err) != ledger.KindInvalid {
			t.Errorf("consistency %v: %v, want invalid", bad, err)
		}
	}
	if _, err := st.InclusionProof(ctx, "no-such-fund", 1, 1); ledger.KindOf(err) != ledger.KindNotFound {
		t.Errorf("unknown fund: %v", err)
	}

	// Every snapshot carries the tree head at its seq and the hash of the
	// snapshot before it, under its signature.
	rows, err := l.DB.Query(ctx, `SELECT published FROM snapshots WHERE fund_id = $1 ORDER BY snapshot_seq`, treeFund)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	prev := ledger.ZeroHash
	count := 0
	for rows.Next() {
		var body []byte
		if err := rows.Scan(&body); err != nil {
			t.Fatal(err)
		}
		var s ledger.Snapshot
		if err := json.Unmarshal(body, &s); err != nil {
			t.Fatal(err)
		}
		count++
		if s.TreeSize == nil || *s.TreeSize != s.AsOfJournalSeq || s.TreeRoot != roots[s.AsOfJournalSeq].Hex() {
			t.Fatalf("snapshot %d: tree %v %s, want %d %s", s.SnapshotSeq, s.TreeSize, s.TreeRoot, s.AsOfJournalSeq, roots[s.AsOfJournalSeq].Hex())
		}
		if s.PrevSnapshotHash != prev {
			t.Fatalf("snapshot %d: prev_snapshot_hash %s, want %s", s.SnapshotSeq, s.PrevSnapshotHash, prev)
		}
		prev = fmt.Sprintf("%x", ledger.SnapshotHash(&s))
	}
	if count < 3 {
		t.Fatalf("%d snapshots", count)
	}
	rep, err := st.Verify(ctx, treeFund, nil)
	if err != nil || !rep.OK {
		t.Fatalf("verify: %v %+v", err, rep.Problems)
	}
}

// TestTreeTampering: a changed Merkle node gives a proof that fails
// against the signed head, and a snapshot whose tree head or chain link
// was changed fails verify.
func TestTreeTampering(t *testing.T) {
	l, roots := buildTree(t)
	ctx := context.Background()
	st := l.Service.Store
	n := int64(len(roots) - 1)
	tamperNodes := func(sql string) {
		t.Helper()
		if _, err := l.DB.Exec(ctx, `ALTER TABLE merkle_nodes DISABLE TRIGGER USER; `+sql+`; ALTER TABLE merkle_nodes ENABLE TRIGGER USER`); err != nil {
			t.Fatal(err)
		}
	}
	if rep, err := st.Verify(ctx, treeFund, nil); err != nil || !rep.OK {
		t.Fatalf("before: %v %+v", err, rep.Problems)
	}
	tamperNodes(`UPDATE merkle_nodes SET hash = sha256(hash) WHERE fund_id = 'tree-fund' AND level = 6 AND idx = 0`)
	rep, err := st.Verify(ctx, treeFund, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || !hasProblem(rep, 0, ledger.ProblemTree) {
		t.Fatalf("a changed Merkle node: ok %v, problems %+v", rep.OK, rep.Problems)
	}
	p, err := st.InclusionProof(ctx, treeFund, 100, n)
	if err != nil {
		t.Fatal(err)
	}
	if err := merkle.VerifyInclusion(99, uint64(n), leafOf(t, l, 100), parseAll(t, p.AuditPath), roots[n]); !errors.Is(err, merkle.ErrProof) {
		t.Fatalf("a proof from a changed node: %v", err)
	}
	c, err := st.ConsistencyProof(ctx, treeFund, 70, n)
	if err != nil {
		t.Fatal(err)
	}
	if err := merkle.VerifyConsistency(70, uint64(n), parseAll(t, c.Proof), roots[70], roots[n]); !errors.Is(err, merkle.ErrProof) {
		t.Fatalf("a consistency proof from a changed node: %v", err)
	}
	// Proofs that do not touch the changed node still verify.
	p, err = st.InclusionProof(ctx, treeFund, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if err := merkle.VerifyInclusion(9, 64, leafOf(t, l, 10), parseAll(t, p.AuditPath), roots[64]); err != nil {
		t.Fatal(err)
	}
	// A journal hash changed: the leaf no longer proves.
	tamper(t, l, `UPDATE journal SET hash = sha256(hash) WHERE fund_id = 'tree-fund' AND seq = 5`)
	p, err = st.InclusionProof(ctx, treeFund, 5, n)
	if err != nil {
		t.Fatal(err)
	}
	if err := merkle.VerifyInclusion(4, uint64(n), parseAll(t, []string{p.LeafHash})[0], parseAll(t, p.AuditPath), roots[n]); !errors.Is(err, merkle.ErrProof) {
		t.Fatalf("a changed journal hash proves: %v", err)
	}
}

// TestTreeFrontierTampering: a changed kept frontier (which the next
// snapshot's tree_root comes from) is found by verify.
func TestTreeFrontierTampering(t *testing.T) {
	l, _ := buildTree(t)
	ctx := context.Background()
	if rep, err := l.Service.Store.Verify(ctx, treeFund, nil); err != nil || !rep.OK {
		t.Fatalf("before: %v %+v", err, rep.Problems)
	}
	if _, err := l.DB.Exec(ctx, `UPDATE funds SET merkle_frontier = set_byte(merkle_frontier, 0, get_byte(merkle_frontier, 0) # 1) WHERE fund_id = $1`, treeFund); err != nil {
		t.Fatal(err)
	}
	rep, err := l.Service.Store.Verify(ctx, treeFund, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || !hasProblem(rep, 0, ledger.ProblemHead) {
		t.Fatalf("a changed frontier: ok %v, problems %+v", rep.OK, rep.Problems)
	}
}

// TestSnapshotChainTampering: a snapshot re-signed by someone holding the
// key, with a false tree head or chain link, is found by verify.
func TestSnapshotChainTampering(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(s *ledger.Snapshot)
		want   string
	}{
		{"tree root", func(s *ledger.Snapshot) { s.TreeRoot = merkle.EmptyRoot.Hex() }, "tree_root"},
		{"prev snapshot hash", func(s *ledger.Snapshot) { s.PrevSnapshotHash = ledger.ZeroHash }, "prev_snapshot_hash"},
	} {
		t.Run(c.name, func(t *testing.T) {
			l, _ := buildTree(t)
			ctx := context.Background()
			var body []byte
			if err := l.DB.QueryRow(ctx, `SELECT published FROM snapshots WHERE fund_id = $1 AND snapshot_seq = 2`, treeFund).Scan(&body); err != nil {
				t.Fatal(err)
			}
			var s ledger.Snapshot
			if err := json.Unmarshal(body, &s); err != nil {
				t.Fatal(err)
			}
			c.change(&s)
			s.Signature = signWith(l, ledger.SnapshotSigningInput(&s))
			forged := s.JSON()
			tamper(t, l, `UPDATE snapshots SET published = '\x`+hexString(forged)+`'::bytea, body = '`+string(forged)+`'::jsonb
				WHERE fund_id = 'tree-fund' AND snapshot_seq = 2`)
			rep, err := l.Service.Store.Verify(ctx, treeFund, nil)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK {
				t.Fatal("a re-signed snapshot with a false " + c.name + " verifies")
			}
			found := false
			for _, p := range rep.Problems {
				found = found || (p.Seq == s.AsOfJournalSeq && p.Kind == ledger.ProblemSnapshot && contains(p.Message, c.want))
			}
			if !found {
				t.Fatalf("no snapshot problem naming %s: %+v", c.want, rep.Problems)
			}
		})
	}
}

// signWith signs as the ledger does: someone who took its key.
func signWith(l *testenv.Ledger, msg []byte) string {
	return base64.StdEncoding.EncodeToString(l.Service.Signer.Sign(msg))
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

var _ postgres.InclusionProof

// TestTreeMigrationBackfill: the SQL of migrations/015_merkle.sql that
// builds the tree of a journal written before it gives the same nodes and
// frontiers as the write path.
func TestTreeMigrationBackfill(t *testing.T) {
	l, _ := buildTree(t)
	ctx := context.Background()
	sqlText, err := os.ReadFile("../../migrations/015_merkle.sql")
	if err != nil {
		t.Fatal(err)
	}
	text := string(sqlText)
	from, to := strings.Index(text, "CREATE TEMP TABLE merkle_build"), strings.Index(text, "REVOKE ALL ON merkle_nodes")
	if from < 0 || to < from {
		t.Fatal("the migration's backfill is not where this test looks for it")
	}
	backfill := text[from:to]
	type node struct {
		level int16
		idx   int64
		hash  string
	}
	snapshot := func() (map[node]bool, map[string]string) {
		nodes := map[node]bool{}
		rows, err := l.DB.Query(ctx, `SELECT level, idx, encode(hash, 'hex') FROM merkle_nodes`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var n node
			if err := rows.Scan(&n.level, &n.idx, &n.hash); err != nil {
				t.Fatal(err)
			}
			nodes[n] = true
		}
		rows.Close()
		fr := map[string]string{}
		rows, err = l.DB.Query(ctx, `SELECT fund_id, encode(merkle_frontier, 'hex') FROM funds`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id, f string
			if err := rows.Scan(&id, &f); err != nil {
				t.Fatal(err)
			}
			fr[id] = f
		}
		rows.Close()
		return nodes, fr
	}
	wantNodes, wantFrontiers := snapshot()
	if len(wantNodes) == 0 || wantFrontiers[treeFund] == "" {
		t.Fatal("nothing to compare")
	}
	tx, err := l.DB.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{`ALTER TABLE merkle_nodes DISABLE TRIGGER USER`, `DELETE FROM merkle_nodes`,
		`ALTER TABLE merkle_nodes ENABLE TRIGGER USER`, `UPDATE funds SET merkle_frontier = ''`, backfill} {
		if _, err := tx.Exec(ctx, sql); err != nil {
			t.Fatalf("%.60s: %v", sql, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	gotNodes, gotFrontiers := snapshot()
	if len(gotNodes) != len(wantNodes) {
		t.Fatalf("the backfill made %d nodes, the write path %d", len(gotNodes), len(wantNodes))
	}
	for n := range wantNodes {
		if !gotNodes[n] {
			t.Fatalf("the backfill lacks node %+v", n)
		}
	}
	for id, f := range wantFrontiers {
		if gotFrontiers[id] != f {
			t.Fatalf("fund %s: the backfill's frontier %s, the write path's %s", id, gotFrontiers[id], f)
		}
	}
}

// TestLastSnapshotHashReadBack: a fund whose row does not know its latest
// snapshot's hash (snapshots made before migration 015) reads it back from
// that snapshot, so the next one still links to it.
func TestLastSnapshotHashReadBack(t *testing.T) {
	l, _ := buildTree(t)
	ctx := context.Background()
	if _, err := l.DB.Exec(ctx, `UPDATE funds SET last_snapshot_hash = NULL WHERE fund_id = $1`, treeFund); err != nil {
		t.Fatal(err)
	}
	l.Event(treeFund, "snapshot.requested", map[string]any{"requested_by": "auditor-1", "label": "after"})
	l.WaitIdle()
	var prev, last []byte
	if err := l.DB.QueryRow(ctx, `SELECT published FROM snapshots WHERE fund_id = $1 ORDER BY snapshot_seq DESC LIMIT 1 OFFSET 1`, treeFund).Scan(&prev); err != nil {
		t.Fatal(err)
	}
	if err := l.DB.QueryRow(ctx, `SELECT published FROM snapshots WHERE fund_id = $1 AND label = 'after'`, treeFund).Scan(&last); err != nil {
		t.Fatal(err)
	}
	var p, s ledger.Snapshot
	if err := json.Unmarshal(prev, &p); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(last, &s); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%x", ledger.SnapshotHash(&p)); s.PrevSnapshotHash != want {
		t.Fatalf("prev_snapshot_hash %s, want %s", s.PrevSnapshotHash, want)
	}
	if rep, err := l.Service.Store.Verify(ctx, treeFund, nil); err != nil || !rep.OK {
		t.Fatalf("verify: %v %+v", err, rep.Problems)
	}
}
