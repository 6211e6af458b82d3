// Package merkle is the Merkle tree over a fund's journal, in the manner of
// RFC 9162 (Certificate Transparency v2) section 2.1: leaf n is the hash of
// journal transaction n+1, a leaf is hashed as SHA-256(0x00 || h), an
// interior node as SHA-256(0x01 || left || right), and the root of the
// empty tree is SHA-256 of nothing.
//
// The package makes and checks roots, inclusion proofs and consistency
// proofs. It never holds the tree: a Frontier keeps the right edge so a
// root at any size costs nothing to keep, and proofs are built from
// complete subtree hashes a Source gives (the store keeps those), so no
// proof costs a pass over the journal.
package merkle

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
)

// Hash is one node of the tree.
type Hash [sha256.Size]byte

// Hex is the hash as the wire writes it: lowercase hex.
func (h Hash) Hex() string { return hex.EncodeToString(h[:]) }

// ParseHash reads a hash written in hex.
func ParseHash(s string) (Hash, error) {
	var h Hash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, fmt.Errorf("merkle: %q is not a 64-digit hex hash", s)
	}
	copy(h[:], b)
	return h, nil
}

// EmptyRoot is the root of the tree with no leaves: SHA-256 of nothing.
var EmptyRoot = Hash(sha256.Sum256(nil))

// LeafHash is the leaf of a transaction whose hash is txnHash (32 raw
// bytes): SHA-256(0x00 || txnHash).
func LeafHash(txnHash []byte) Hash {
	var b [1 + sha256.Size]byte
	copy(b[1:], txnHash)
	return sha256.Sum256(b[:1+len(txnHash)])
}

// NodeHash is an interior node: SHA-256(0x01 || left || right).
func NodeHash(left, right Hash) Hash {
	var b [1 + 2*sha256.Size]byte
	b[0] = 1
	copy(b[1:], left[:])
	copy(b[1+sha256.Size:], right[:])
	return sha256.Sum256(b[:])
}

// Node names a complete subtree: the 2^Level leaves from Index*2^Level.
// Level 0 is a leaf.
type Node struct {
	Level uint8
	Index uint64
}

// First and End are the leaves the node covers: [First, End).
func (n Node) First() uint64 { return n.Index << n.Level }

// End is one past the node's last leaf.
func (n Node) End() uint64 { return (n.Index + 1) << n.Level }

// Source gives the hash of a complete subtree of the tree proofs are made
// from. It is asked only for subtrees that lie within the tree's size.
type Source func(Node) (Hash, error)

// Frontier is the right edge of a tree of Size leaves: the hashes of its
// complete subtrees, largest (leftmost) first, one for every bit set in
// Size. It is all a writer needs to append leaves and know the root.
type Frontier struct {
	Size  uint64
	Nodes []Hash
}

// Append adds a leaf. emit, when not nil, is called with every complete
// subtree the leaf completes, the leaf itself included, lowest level first.
func (f *Frontier) Append(leaf Hash, emit func(Node, Hash)) {
	h := leaf
	idx := f.Size
	if emit != nil {
		emit(Node{0, idx}, h)
	}
	// Each trailing one bit of Size is a complete subtree of that level the
	// new leaf's subtree merges with.
	for level := uint8(0); f.Size>>level&1 == 1; level++ {
		left := f.Nodes[len(f.Nodes)-1]
		f.Nodes = f.Nodes[:len(f.Nodes)-1]
		h = NodeHash(left, h)
		idx >>= 1
		if emit != nil {
			emit(Node{level + 1, idx}, h)
		}
	}
	f.Nodes = append(f.Nodes, h)
	f.Size++
}

// Root is the tree's root (RFC 9162 MTH): the frontier's subtrees folded
// from the right.
func (f *Frontier) Root() Hash {
	if len(f.Nodes) == 0 {
		return EmptyRoot
	}
	r := f.Nodes[len(f.Nodes)-1]
	for i := len(f.Nodes) - 2; i >= 0; i-- {
		r = NodeHash(f.Nodes[i], r)
	}
	return r
}

// Clone is an independent copy.
func (f *Frontier) Clone() Frontier {
	return Frontier{Size: f.Size, Nodes: append([]Hash(nil), f.Nodes...)}
}

// Bytes is the frontier as stored: its hashes concatenated. The size is
// kept beside it (it is the fund's head seq).
func (f *Frontier) Bytes() []byte {
	b := make([]byte, 0, len(f.Nodes)*sha256.Size)
	for _, h := range f.Nodes {
		b = append(b, h[:]...)
	}
	return b
}

// FrontierFromBytes reads a stored frontier of a tree of size leaves.
func FrontierFromBytes(size uint64, b []byte) (Frontier, error) {
	n := bits.OnesCount64(size)
	if len(b) != n*sha256.Size {
		return Frontier{}, fmt.Errorf("merkle: a frontier of %d leaves has %d hashes, not %d bytes", size, n, len(b))
	}
	f := Frontier{Size: size, Nodes: make([]Hash, n)}
	for i := range f.Nodes {
		copy(f.Nodes[i][:], b[i*sha256.Size:])
	}
	return f, nil
}

// FrontierNodes names the complete subtrees of a tree of size leaves, as a
// Frontier holds them: largest first.
func FrontierNodes(size uint64) []Node {
	var out []Node
	var first uint64
	for level := 63; level >= 0; level-- {
		if size>>uint(level)&1 == 1 {
			out = append(out, Node{uint8(level), first >> uint(level)})
			first += 1 << uint(level)
		}
	}
	return out
}

// largestPow2Below is the largest power of two smaller than n (n > 1).
func largestPow2Below(n uint64) uint64 { return 1 << (bits.Len64(n-1) - 1) }

// gen builds hashes of ranges of leaves from a Source.
type gen struct {
	src Source
	err error
}

// mth is MTH(D[lo:hi]) for a range that is a subtree of an RFC 9162 tree:
// its left part is always aligned, so it splits into complete subtrees.
func (g *gen) mth(lo, hi uint64) Hash {
	if g.err != nil {
		return Hash{}
	}
	n := hi - lo
	if n&(n-1) == 0 && lo%n == 0 {
		h, err := g.src(Node{uint8(bits.TrailingZeros64(n)), lo / n})
		if err != nil {
			g.err = err
		}
		return h
	}
	k := largestPow2Below(n)
	return NodeHash(g.mth(lo, lo+k), g.mth(lo+k, hi))
}

// path is PATH(m, D[lo:hi]) of RFC 9162 section 2.1.3.1.
func (g *gen) path(m, lo, hi uint64) []Hash {
	n := hi - lo
	if n <= 1 {
		return nil
	}
	k := largestPow2Below(n)
	if m-lo < k {
		return append(g.path(m, lo, lo+k), g.mth(lo+k, hi))
	}
	return append(g.path(m, lo+k, hi), g.mth(lo, lo+k))
}

// subproof is SUBPROOF(m, D[lo:hi], b) of RFC 9162 section 2.1.4.1, m
// counted from lo.
func (g *gen) subproof(m, lo, hi uint64, b bool) []Hash {
	n := hi - lo
	if m == n {
		if b {
			return nil
		}
		return []Hash{g.mth(lo, hi)}
	}
	k := largestPow2Below(n)
	if m <= k {
		return append(g.subproof(m, lo, lo+k, b), g.mth(lo+k, hi))
	}
	return append(g.subproof(m-k, lo+k, hi, false), g.mth(lo, lo+k))
}

// Errors of proof requests and checks.
var (
	ErrRange = errors.New("merkle: out of range")
	ErrProof = errors.New("merkle: the proof does not verify")
)

// InclusionProof is the audit path of leaf index in the tree of size
// leaves (RFC 9162 section 2.1.3.1), from the leaf upwards.
func InclusionProof(index, size uint64, src Source) ([]Hash, error) {
	if index >= size {
		return nil, fmt.Errorf("%w: leaf %d is not in a tree of %d leaves", ErrRange, index, size)
	}
	g := &gen{src: src}
	p := g.path(index, 0, size)
	return p, g.err
}

// ConsistencyProof proves that the tree of size m is a prefix of the tree
// of size n (RFC 9162 section 2.1.4.1); empty when m == n.
func ConsistencyProof(m, n uint64, src Source) ([]Hash, error) {
	if m == 0 || m > n {
		return nil, fmt.Errorf("%w: no consistency proof from %d to %d leaves (need 1 <= from <= to)", ErrRange, m, n)
	}
	if m == n {
		return []Hash{}, nil
	}
	g := &gen{src: src}
	p := g.subproof(m, 0, n, true)
	return p, g.err
}

// RootFrom is the root of the tree of size leaves from its complete
// subtrees.
func RootFrom(size uint64, src Source) (Hash, error) {
	if size == 0 {
		return EmptyRoot, nil
	}
	g := &gen{src: src}
	r := g.mth(0, size)
	return r, g.err
}

// recorder is a Source that lists what it is asked for.
func recorder(out *[]Node) Source {
	seen := map[Node]bool{}
	return func(n Node) (Hash, error) {
		if !seen[n] {
			seen[n] = true
			*out = append(*out, n)
		}
		return Hash{}, nil
	}
}

// InclusionNodes lists the complete subtrees InclusionProof(index, size)
// reads, so a store can fetch them in one go.
func InclusionNodes(index, size uint64) []Node {
	var out []Node
	_, _ = InclusionProof(index, size, recorder(&out))
	return out
}

// ConsistencyNodes lists the complete subtrees ConsistencyProof(m, n)
// reads.
func ConsistencyNodes(m, n uint64) []Node {
	var out []Node
	_, _ = ConsistencyProof(m, n, recorder(&out))
	return out
}

// RootNodes lists the complete subtrees RootFrom(size) reads.
func RootNodes(size uint64) []Node {
	var out []Node
	_, _ = RootFrom(size, recorder(&out))
	return out
}

// VerifyInclusion checks that leaf is leaf index of the tree of size
// leaves whose root is root, with the audit path proof (RFC 9162 section
// 2.1.3.2).
func VerifyInclusion(index, size uint64, leaf Hash, proof []Hash, root Hash) error {
	if index >= size {
		return fmt.Errorf("%w: leaf %d is not in a tree of %d leaves", ErrRange, index, size)
	}
	fn, sn := index, size-1
	r := leaf
	for _, p := range proof {
		if sn == 0 {
			return fmt.Errorf("%w: the path is longer than the tree is high", ErrProof)
		}
		if fn&1 == 1 || fn == sn {
			r = NodeHash(p, r)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = NodeHash(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return fmt.Errorf("%w: the path is shorter than the tree is high", ErrProof)
	}
	if r != root {
		return fmt.Errorf("%w: the path leads to root %s, not %s", ErrProof, r.Hex(), root.Hex())
	}
	return nil
}

// VerifyConsistency checks that the tree of size m with root root1 is a
// prefix of the tree of size n with root root2 (RFC 9162 section 2.1.4.2).
func VerifyConsistency(m, n uint64, proof []Hash, root1, root2 Hash) error {
	switch {
	case m == 0 || m > n:
		return fmt.Errorf("%w: no consistency proof from %d to %d leaves (need 1 <= from <= to)", ErrRange, m, n)
	case m == n:
		if len(proof) != 0 {
			return fmt.Errorf("%w: a proof between trees of the same size is empty", ErrProof)
		}
		if root1 != root2 {
			return fmt.Errorf("%w: two trees of %d leaves have roots %s and %s", ErrProof, m, root1.Hex(), root2.Hex())
		}
		return nil
	case len(proof) == 0:
		return fmt.Errorf("%w: the proof is empty", ErrProof)
	}
	if m&(m-1) == 0 {
		proof = append([]Hash{root1}, proof...)
	}
	fn, sn := m-1, n-1
	for fn&1 == 1 {
		fn >>= 1
		sn >>= 1
	}
	fr, sr := proof[0], proof[0]
	for _, c := range proof[1:] {
		if sn == 0 {
			return fmt.Errorf("%w: the proof is longer than the tree is high", ErrProof)
		}
		if fn&1 == 1 || fn == sn {
			fr = NodeHash(c, fr)
			sr = NodeHash(c, sr)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			sr = NodeHash(sr, c)
		}
		fn >>= 1
		sn >>= 1
	}
	switch {
	case sn != 0:
		return fmt.Errorf("%w: the proof is shorter than the tree is high", ErrProof)
	case fr != root1:
		return fmt.Errorf("%w: the proof gives root %s for %d leaves, not %s", ErrProof, fr.Hex(), m, root1.Hex())
	case sr != root2:
		return fmt.Errorf("%w: the proof gives root %s for %d leaves, not %s", ErrProof, sr.Hex(), n, root2.Hex())
	}
	return nil
}
