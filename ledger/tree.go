package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/fundledger/fundledger/ledger/merkle"
)

// TreeStoredLevel is the lowest level of the Merkle tree the store keeps:
// complete subtrees of 2^TreeStoredLevel transactions and up. Smaller ones
// are recomputed from the journal's hashes (at most 2^TreeStoredLevel - 1
// rows read by key), which costs a proof little and saves the intake all
// but one node row per 32 transactions (docs/performance.md).
// migrations/015_merkle.sql builds the tree of older journals with it.
const TreeStoredLevel = 6

// TreeNode is one complete subtree of a fund's Merkle tree.
type TreeNode struct {
	FundID string
	merkle.Node
	Hash merkle.Hash
}

// appendLeaf adds a new transaction to its fund's Merkle tree and keeps
// the subtrees it completes for the store.
func (b *Books) appendLeaf(f *Fund, t *Txn) {
	if f.Tree.Size != uint64(t.Seq-1) {
		// The frontier is loaded with the fund and moves only here; a
		// mismatch is a bug, never data to carry on with.
		panic(fmt.Sprintf("ledger: fund %s: Merkle tree of %d leaves, appending seq %d", f.ID, f.Tree.Size, t.Seq))
	}
	f.Tree.Append(merkle.LeafHash(t.Hash), func(n merkle.Node, h merkle.Hash) {
		if n.Level >= TreeStoredLevel {
			b.TreeNodes = append(b.TreeNodes, TreeNode{FundID: f.ID, Node: n, Hash: h})
		}
	})
}

// TreeHead is a fund's Merkle tree head as of its last transaction: what
// a snapshot or a period report made now carries as tree_size and
// tree_root (CONTRACT.md section 12).
func (f *Fund) TreeHead() (size int64, root string) {
	r := f.Tree.Root()
	return int64(f.Tree.Size), r.Hex()
}

// ZeroHash is the prev_snapshot_hash (and prev_report_hash) of a fund's
// first snapshot (report): 64 zeros.
var ZeroHash = hex.EncodeToString(make([]byte, sha256.Size))
