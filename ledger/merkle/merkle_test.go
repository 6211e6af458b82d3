package merkle

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"
)

// The reference: RFC 9162 section 2.1 written as directly as it reads,
// over the whole list of leaves, D[lo:hi] by its bounds; MTH is
// remembered so the exhaustive tests stay quick.

type ref struct {
	d    [][]byte
	memo map[[2]int]Hash
}

func (r *ref) mth(lo, hi int) Hash {
	if h, ok := r.memo[[2]int{lo, hi}]; ok {
		return h
	}
	var h Hash
	switch hi - lo {
	case 0:
		h = sha256.Sum256(nil)
	case 1:
		h = sha256.Sum256(append([]byte{0}, r.d[lo]...))
	default:
		k := 1
		for k*2 < hi-lo {
			k *= 2
		}
		l, rt := r.mth(lo, lo+k), r.mth(lo+k, hi)
		h = sha256.Sum256(append(append([]byte{1}, l[:]...), rt[:]...))
	}
	r.memo[[2]int{lo, hi}] = h
	return h
}

func (r *ref) path(m, lo, hi int) []Hash {
	if hi-lo <= 1 {
		return nil
	}
	k := 1
	for k*2 < hi-lo {
		k *= 2
	}
	if m < k {
		return append(r.path(m, lo, lo+k), r.mth(lo+k, hi))
	}
	return append(r.path(m-k, lo+k, hi), r.mth(lo, lo+k))
}

func (r *ref) subproof(m, lo, hi int, b bool) []Hash {
	if m == hi-lo {
		if b {
			return nil
		}
		return []Hash{r.mth(lo, hi)}
	}
	k := 1
	for k*2 < hi-lo {
		k *= 2
	}
	if m <= k {
		return append(r.subproof(m, lo, lo+k, b), r.mth(lo+k, hi))
	}
	return append(r.subproof(m-k, lo+k, hi, false), r.mth(lo, lo+k))
}

// tree is a journal's leaves with every complete subtree, as Frontier
// emits them: the Source the store would be.
type tree struct {
	data  [][]byte
	nodes map[Node]Hash
	roots []Hash // roots[n] is the frontier's root at n leaves
}

func build(n int) *tree {
	t := &tree{nodes: map[Node]Hash{}}
	var f Frontier
	t.roots = append(t.roots, f.Root())
	for i := 0; i < n; i++ {
		h := sha256.Sum256([]byte(fmt.Sprint("txn", i)))
		t.data = append(t.data, h[:])
		f.Append(LeafHash(h[:]), func(nd Node, x Hash) { t.nodes[nd] = x })
		t.roots = append(t.roots, f.Root())
	}
	return t
}

func (t *tree) source(size uint64) Source {
	return func(n Node) (Hash, error) {
		if n.End() > size {
			return Hash{}, fmt.Errorf("asked for %v beyond %d leaves", n, size)
		}
		h, ok := t.nodes[n]
		if !ok {
			return Hash{}, fmt.Errorf("no node %v", n)
		}
		return h, nil
	}
}

func same(a, b []Hash) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

const maxLeaves = 300

func TestRootsAgainstReference(t *testing.T) {
	tr := build(maxLeaves)
	rf := &ref{d: tr.data, memo: map[[2]int]Hash{}}
	if EmptyRoot != rf.mth(0, 0) || tr.roots[0] != EmptyRoot {
		t.Fatal("empty root")
	}
	for n := 1; n <= maxLeaves; n++ {
		want := rf.mth(0, n)
		if tr.roots[n] != want {
			t.Fatalf("frontier root at %d leaves differs from the reference", n)
		}
		got, err := RootFrom(uint64(n), tr.source(uint64(n)))
		if err != nil || got != want {
			t.Fatalf("RootFrom(%d) = %v, %v", n, got.Hex(), err)
		}
	}
}

func TestFrontierBytesRoundTrip(t *testing.T) {
	var f Frontier
	for i := 0; i < 70; i++ {
		g, err := FrontierFromBytes(f.Size, f.Bytes())
		if err != nil || g.Root() != f.Root() {
			t.Fatalf("size %d: %v", f.Size, err)
		}
		for j, nd := range FrontierNodes(f.Size) {
			_ = j
			if nd.End() > f.Size {
				t.Fatalf("frontier node %v beyond %d", nd, f.Size)
			}
		}
		f.Append(LeafHash([]byte{byte(i)}), nil)
	}
	if _, err := FrontierFromBytes(3, make([]byte, 32)); err == nil {
		t.Fatal("a frontier of 3 leaves with one hash was accepted")
	}
}

func TestInclusionEverySize(t *testing.T) {
	tr := build(maxLeaves)
	rf := &ref{d: tr.data, memo: map[[2]int]Hash{}}
	for n := 1; n <= maxLeaves; n++ {
		for i := 0; i < n; i++ {
			p, err := InclusionProof(uint64(i), uint64(n), tr.source(uint64(n)))
			if err != nil {
				t.Fatal(err)
			}
			if want := rf.path(i, 0, n); !same(p, want) {
				t.Fatalf("inclusion of %d in %d differs from the reference", i, n)
			}
			if err := VerifyInclusion(uint64(i), uint64(n), LeafHash(tr.data[i]), p, tr.roots[n]); err != nil {
				t.Fatalf("inclusion of %d in %d: %v", i, n, err)
			}
			if got := len(InclusionNodes(uint64(i), uint64(n))); got < len(p) {
				t.Fatalf("InclusionNodes lists %d nodes for a path of %d", got, len(p))
			}
		}
	}
}

func TestConsistencyEverySize(t *testing.T) {
	tr := build(maxLeaves)
	rf := &ref{d: tr.data, memo: map[[2]int]Hash{}}
	for n := 1; n <= maxLeaves; n++ {
		for m := 1; m <= n; m++ {
			p, err := ConsistencyProof(uint64(m), uint64(n), tr.source(uint64(n)))
			if err != nil {
				t.Fatal(err)
			}
			if want := rf.subproof(m, 0, n, true); !same(p, want) {
				t.Fatalf("consistency %d to %d differs from the reference", m, n)
			}
			if err := VerifyConsistency(uint64(m), uint64(n), p, tr.roots[m], tr.roots[n]); err != nil {
				t.Fatalf("consistency %d to %d: %v", m, n, err)
			}
		}
	}
}

func flip(h Hash) Hash { h[7] ^= 0x20; return h }

// Tampering with any leaf, node of a proof, root, index or size is caught.
func TestTamperingCaught(t *testing.T) {
	tr := build(140)
	for _, n := range []int{1, 2, 3, 5, 7, 8, 9, 16, 17, 31, 64, 100, 127, 128, 129, 140} {
		for i := 0; i < n; i++ {
			size, leaf, root := uint64(n), LeafHash(tr.data[i]), tr.roots[n]
			p, _ := InclusionProof(uint64(i), size, tr.source(size))
			if VerifyInclusion(uint64(i), size, flip(leaf), p, root) == nil {
				t.Fatalf("%d/%d: changed leaf passed", i, n)
			}
			if VerifyInclusion(uint64(i), size, leaf, p, flip(root)) == nil {
				t.Fatalf("%d/%d: changed root passed", i, n)
			}
			for j := range p {
				q := append([]Hash(nil), p...)
				q[j] = flip(q[j])
				if VerifyInclusion(uint64(i), size, leaf, q, root) == nil {
					t.Fatalf("%d/%d: changed node %d passed", i, n, j)
				}
			}
			if len(p) > 0 && VerifyInclusion(uint64(i), size, leaf, p[:len(p)-1], root) == nil {
				t.Fatalf("%d/%d: a shortened path passed", i, n)
			}
			if VerifyInclusion(uint64(i), size, leaf, append(p, leaf), root) == nil {
				t.Fatalf("%d/%d: a lengthened path passed", i, n)
			}
			if i+1 < n && VerifyInclusion(uint64(i+1), size, leaf, p, root) == nil {
				t.Fatalf("%d/%d: the leaf passed at another index", i, n)
			}
			if VerifyInclusion(uint64(i), size, leaf, p, tr.roots[n-1]) == nil {
				t.Fatalf("%d/%d: the proof passed against the previous size's root", i, n)
			}
		}
		for m := 1; m <= n; m++ {
			p, _ := ConsistencyProof(uint64(m), uint64(n), tr.source(uint64(n)))
			r1, r2 := tr.roots[m], tr.roots[n]
			if VerifyConsistency(uint64(m), uint64(n), p, flip(r1), r2) == nil {
				t.Fatalf("%d->%d: changed first root passed", m, n)
			}
			if VerifyConsistency(uint64(m), uint64(n), p, r1, flip(r2)) == nil {
				t.Fatalf("%d->%d: changed second root passed", m, n)
			}
			for j := range p {
				q := append([]Hash(nil), p...)
				q[j] = flip(q[j])
				if VerifyConsistency(uint64(m), uint64(n), q, r1, r2) == nil {
					t.Fatalf("%d->%d: changed node %d passed", m, n, j)
				}
			}
			if len(p) > 0 && VerifyConsistency(uint64(m), uint64(n), p[:len(p)-1], r1, r2) == nil {
				t.Fatalf("%d->%d: a shortened proof passed", m, n)
			}
			if m < n && VerifyConsistency(uint64(m), uint64(n), append(p, r1), r1, r2) == nil {
				t.Fatalf("%d->%d: a lengthened proof passed", m, n)
			}
		}
	}
	// A journal whose earlier part was rewritten is not consistent with
	// the head published before.
	other := build(40)
	other.data[3] = []byte("rewritten")
	var f Frontier
	for i := 0; i < 40; i++ {
		f.Append(LeafHash(other.data[i]), func(nd Node, x Hash) { other.nodes[nd] = x })
	}
	p, _ := ConsistencyProof(10, 40, other.source(40))
	if VerifyConsistency(10, 40, p, tr.roots[10], f.Root()) == nil {
		t.Fatal("a rewritten history passed as consistent with the old head")
	}
}

func TestRanges(t *testing.T) {
	tr := build(10)
	if _, err := InclusionProof(10, 10, tr.source(10)); !errors.Is(err, ErrRange) {
		t.Fatalf("leaf beyond the tree: %v", err)
	}
	for _, c := range [][2]uint64{{0, 5}, {6, 5}} {
		if _, err := ConsistencyProof(c[0], c[1], tr.source(10)); !errors.Is(err, ErrRange) {
			t.Fatalf("consistency %v: %v", c, err)
		}
	}
	if err := VerifyConsistency(5, 5, nil, tr.roots[5], tr.roots[5]); err != nil {
		t.Fatal(err)
	}
	if err := VerifyConsistency(5, 5, nil, tr.roots[5], tr.roots[6]); err == nil {
		t.Fatal("two roots of one size passed")
	}
}

// BenchmarkAppend is the apply stage's cost of keeping the tree: one leaf
// hash and, on average, one node hash per transaction.
func BenchmarkAppend(b *testing.B) {
	var f Frontier
	h := sha256.Sum256([]byte("txn"))
	nodes := 0
	for i := 0; i < b.N; i++ {
		f.Append(LeafHash(h[:]), func(n Node, _ Hash) {
			if n.Level >= 6 {
				nodes++
			}
		})
	}
	_ = f.Root()
}
