package postgres

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"

	"github.com/fundledger/fundledger/ledger"
	"github.com/fundledger/fundledger/ledger/merkle"
	"github.com/jackc/pgx/v5"
)

// This file keeps each fund's Merkle tree (CONTRACT.md section 12,
// migrations/015_merkle.sql) and serves its proofs. The tree's complete
// subtrees of ledger.TreeStoredLevel and up are rows of merkle_nodes,
// written with the journal rows they cover; smaller ones are recomputed
// from the journal's hashes. A proof reads O(log N) rows by key.

// lastSnapshotHashes fills in the hash of the latest snapshot of funds
// that have one but whose funds row does not say it yet (snapshots made
// before migration 015): read back once, then kept with the fund.
func (l loader) lastSnapshotHashes(ctx context.Context, funds []*ledger.Fund) error {
	var ids []string
	byID := map[string]*ledger.Fund{}
	for _, f := range funds {
		if f.LastSnapshotHash == nil && f.SnapshotSeq > 0 {
			ids = append(ids, f.ID)
			byID[f.ID] = f
		}
	}
	if len(ids) == 0 {
		return nil
	}
	rows, err := l.tx.Query(ctx, `
		SELECT DISTINCT ON (fund_id) fund_id, published FROM snapshots
		 WHERE fund_id = ANY($1) ORDER BY fund_id, snapshot_seq DESC`, ids)
	if err != nil {
		return fmt.Errorf("load latest snapshots: %w", err)
	}
	var id string
	var body []byte
	_, err = pgx.ForEachRow(rows, []any{&id, &body}, func() error {
		var s ledger.Snapshot
		if err := json.Unmarshal(body, &s); err != nil {
			return fmt.Errorf("fund %s: latest snapshot: %w", id, err)
		}
		byID[id].LastSnapshotHash = ledger.SnapshotHash(&s)
		return nil
	})
	if err != nil {
		return fmt.Errorf("load latest snapshots: %w", err)
	}
	return nil
}

func (u *writer) writeTreeNodes(ledger.Changes) error {
	rows := make([][]any, 0, len(u.books.TreeNodes))
	for _, n := range u.books.TreeNodes {
		rows = append(rows, []any{n.FundID, int16(n.Level), int64(n.Index), n.Hash[:]})
	}
	return u.copy("merkle_nodes", []string{"fund_id", "level", "idx", "hash"}, rows)
}

// treeNodes reads the complete subtrees of a fund's tree that nodes names:
// those of ledger.TreeStoredLevel and up from merkle_nodes, the smaller
// ones hashed from the journal rows they cover.
func treeNodes(ctx context.Context, tx pgx.Tx, fundID string, nodes []merkle.Node) (map[merkle.Node]merkle.Hash, error) {
	got := make(map[merkle.Node]merkle.Hash, len(nodes))
	var levels []int16
	var idxs []int64
	var seqs []int64
	seen := map[int64]bool{}
	for _, n := range nodes {
		if n.Level >= ledger.TreeStoredLevel {
			levels, idxs = append(levels, int16(n.Level)), append(idxs, int64(n.Index))
			continue
		}
		for i := n.First(); i < n.End(); i++ {
			if s := int64(i) + 1; !seen[s] {
				seen[s] = true
				seqs = append(seqs, s)
			}
		}
	}
	if len(levels) > 0 {
		rows, err := tx.Query(ctx, `
			SELECT m.level, m.idx, m.hash FROM unnest($2::smallint[], $3::bigint[]) AS v(level, idx)
			  JOIN merkle_nodes m ON m.fund_id = $1 AND m.level = v.level AND m.idx = v.idx`, fundID, levels, idxs)
		if err != nil {
			return nil, fmt.Errorf("read Merkle nodes: %w", err)
		}
		var level int16
		var idx int64
		var h []byte
		if _, err := pgx.ForEachRow(rows, []any{&level, &idx, &h}, func() error {
			if len(h) != len(merkle.Hash{}) {
				return fmt.Errorf("node %d/%d is %d bytes", level, idx, len(h))
			}
			got[merkle.Node{Level: uint8(level), Index: uint64(idx)}] = merkle.Hash(h)
			return nil
		}); err != nil {
			return nil, fmt.Errorf("read Merkle nodes: %w", err)
		}
	}
	leaves := make(map[uint64]merkle.Hash, len(seqs))
	if len(seqs) > 0 {
		rows, err := tx.Query(ctx, `SELECT seq, hash FROM journal WHERE fund_id = $1 AND seq = ANY($2)`, fundID, seqs)
		if err != nil {
			return nil, fmt.Errorf("read journal hashes: %w", err)
		}
		var seq int64
		var h []byte
		if _, err := pgx.ForEachRow(rows, []any{&seq, &h}, func() error {
			leaves[uint64(seq-1)] = merkle.LeafHash(h)
			return nil
		}); err != nil {
			return nil, fmt.Errorf("read journal hashes: %w", err)
		}
	}
	for _, n := range nodes {
		if n.Level >= ledger.TreeStoredLevel {
			continue
		}
		var f merkle.Frontier
		for i := n.First(); i < n.End(); i++ {
			h, ok := leaves[i]
			if !ok {
				return nil, fmt.Errorf("fund %s: the journal has no seq %d", fundID, i+1)
			}
			f.Append(h, nil)
		}
		got[n] = f.Root()
	}
	return got, nil
}

// treeSource is a merkle.Source over nodes read beforehand.
func treeSource(fundID string, got map[merkle.Node]merkle.Hash) merkle.Source {
	return func(n merkle.Node) (merkle.Hash, error) {
		h, ok := got[n]
		if !ok {
			return h, fmt.Errorf("fund %s: Merkle node %d/%d is not stored", fundID, n.Level, n.Index)
		}
		return h, nil
	}
}

// InclusionProof is the answer of GET /v1/funds/{fund_id}/proofs/inclusion
// (CONTRACT.md section 12).
type InclusionProof struct {
	Seq       int64    `json:"seq"`
	TreeSize  int64    `json:"tree_size"`
	LeafHash  string   `json:"leaf_hash"`
	AuditPath []string `json:"audit_path"`
}

// ConsistencyProof is the answer of GET
// /v1/funds/{fund_id}/proofs/consistency.
type ConsistencyProof struct {
	From  int64    `json:"from"`
	To    int64    `json:"to"`
	Proof []string `json:"proof"`
}

func hexes(hs []merkle.Hash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.Hex()
	}
	return out
}

// treeRead runs f over a fund's head seq, in one read-only transaction;
// an unknown fund is not found.
func (s *Store) treeRead(ctx context.Context, fundID string, f func(tx pgx.Tx, head int64) error) error {
	return s.read(ctx, func(tx pgx.Tx) error {
		h, err := loadHead(ctx, tx, fundID)
		if err != nil {
			return err
		}
		return f(tx, h.headSeq)
	})
}

// InclusionProof proves that transaction seq is in the fund's tree of
// treeSize transactions: 1 <= seq <= treeSize <= the fund's head seq, or
// the request is invalid.
func (s *Store) InclusionProof(ctx context.Context, fundID string, seq, treeSize int64) (InclusionProof, error) {
	var p InclusionProof
	err := s.treeRead(ctx, fundID, func(tx pgx.Tx, head int64) error {
		if seq < 1 || seq > treeSize || treeSize > head {
			return ledger.Errorf(ledger.KindInvalid, "seq and tree_size must satisfy 1 <= seq <= tree_size <= %d (the fund's last seq)", head)
		}
		idx, size := uint64(seq-1), uint64(treeSize)
		nodes := merkle.InclusionNodes(idx, size)
		nodes = append(nodes, merkle.Node{Level: 0, Index: idx})
		got, err := treeNodes(ctx, tx, fundID, nodes)
		if err != nil {
			return err
		}
		path, err := merkle.InclusionProof(idx, size, treeSource(fundID, got))
		if err != nil {
			return err
		}
		p = InclusionProof{Seq: seq, TreeSize: treeSize, LeafHash: got[merkle.Node{Level: 0, Index: idx}].Hex(), AuditPath: hexes(path)}
		return nil
	})
	return p, err
}

// ConsistencyProof proves that the fund's tree of from transactions is a
// prefix of its tree of to: 1 <= from <= to <= the fund's head seq, or the
// request is invalid.
func (s *Store) ConsistencyProof(ctx context.Context, fundID string, from, to int64) (ConsistencyProof, error) {
	var p ConsistencyProof
	err := s.treeRead(ctx, fundID, func(tx pgx.Tx, head int64) error {
		if from < 1 || from > to || to > head {
			return ledger.Errorf(ledger.KindInvalid, "from and to must satisfy 1 <= from <= to <= %d (the fund's last seq)", head)
		}
		m, n := uint64(from), uint64(to)
		got, err := treeNodes(ctx, tx, fundID, merkle.ConsistencyNodes(m, n))
		if err != nil {
			return err
		}
		proof, err := merkle.ConsistencyProof(m, n, treeSource(fundID, got))
		if err != nil {
			return err
		}
		p = ConsistencyProof{From: from, To: to, Proof: hexes(proof)}
		return nil
	})
	return p, err
}

// TreeRoot is the root of the fund's tree of size transactions, from the
// stored nodes (size <= the fund's head seq).
func (s *Store) TreeRoot(ctx context.Context, fundID string, size int64) (merkle.Hash, error) {
	var root merkle.Hash
	err := s.treeRead(ctx, fundID, func(tx pgx.Tx, head int64) error {
		if size < 0 || size > head {
			return ledger.Errorf(ledger.KindInvalid, "tree size must be 0 to %d (the fund's last seq)", head)
		}
		got, err := treeNodes(ctx, tx, fundID, merkle.RootNodes(uint64(size)))
		if err != nil {
			return err
		}
		root, err = merkle.RootFrom(uint64(size), treeSource(fundID, got))
		return err
	})
	return root, err
}

// verifyTreeNodes compares the fund's stored Merkle nodes with the tree of
// the journal the verifier read: the same nodes, in the order they
// complete, digested a row at a time. The sort is over one row per 32
// transactions, in the database; the process holds nothing but the digest.
func verifyTreeNodes(ctx context.Context, tx pgx.Tx, v *ledger.Verifier, fundID string) error {
	rows, err := tx.Query(ctx, `
		SELECT level, idx, hash FROM merkle_nodes WHERE fund_id = $1 ORDER BY (idx + 1) << level, level`, fundID)
	if err != nil {
		return fmt.Errorf("read Merkle nodes: %w", err)
	}
	d := sha256.New()
	var n int64
	var level int16
	var idx int64
	var h []byte
	if _, err := pgx.ForEachRow(rows, []any{&level, &idx, &h}, func() error {
		var hh merkle.Hash
		copy(hh[:], h)
		if len(h) != len(hh) || level < 0 || level > 63 || idx < 0 {
			hh = merkle.Hash{} // cannot match
		}
		d.Write(ledger.TreeNodeDigestEntry(merkle.Node{Level: uint8(level), Index: uint64(idx)}, hh))
		n++
		return nil
	}); err != nil {
		return fmt.Errorf("read Merkle nodes: %w", err)
	}
	want, wantN := v.TreeNodesDigest()
	if n != wantN || !bytes.Equal(d.Sum(nil), want) {
		v.Problemf(0, ledger.ProblemTree, "the %d stored Merkle nodes (complete subtrees of %d transactions and more) are not the %d the journal gives: the table was changed; proofs made from it do not verify",
			n, 1<<ledger.TreeStoredLevel, wantN)
	}
	return nil
}
