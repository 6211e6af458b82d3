package ledger

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/fundledger/fundledger/events"
	"github.com/fundledger/fundledger/ledger/merkle"
	"github.com/shopspring/decimal"
)

// ErrUnknownFund is returned by a verification of a fund that was never
// opened.
var ErrUnknownFund = errors.New("unknown fund")

// Kinds of verification problem. The list only grows: auditors' tools may
// match on these names.
const (
	// ProblemSeq: the transaction does not carry the next sequence number
	// (a gap: a transaction is missing; a repeat; a reordering).
	ProblemSeq = "seq"
	// ProblemPrevHash: prev_hash is not the hash of the transaction before
	// (the genesis value for seq 1).
	ProblemPrevHash = "prev_hash"
	// ProblemHash: the stored hash is not SHA-256 of the transaction's hash
	// input: its content was changed after it was posted.
	ProblemHash = "hash"
	// ProblemUnbalanced: debits differ from credits, or fewer than two
	// postings.
	ProblemUnbalanced = "unbalanced"
	// ProblemPosting: a posting is not well formed (side, amount, account).
	ProblemPosting = "posting"
	// ProblemMalformed: a stored row cannot be read as a transaction.
	ProblemMalformed = "malformed"
	// ProblemTime: a recorded time is earlier than its predecessor's.
	ProblemTime = "time"
	// ProblemBalance: a kept balance differs from the sum of the journal.
	ProblemBalance = "balance"
	// ProblemHead: the fund's kept chain head (seq, hash, time, open grant
	// count) differs from the journal's last transaction.
	ProblemHead = "head"
	// ProblemSnapshot: a snapshot disagrees with the journal at its
	// as_of_journal_seq, or snapshots are missing.
	ProblemSnapshot = "snapshot"
	// ProblemSignature: a snapshot's signature does not verify, or its key
	// is unknown.
	ProblemSignature = "signature"
	// ProblemTruncated: a snapshot covers transactions the journal no
	// longer has: its tail was cut.
	ProblemTruncated = "truncated"
	// ProblemKeyHistory: an entry of the signing keys' history does not
	// follow the one before (numbering, key id, order of times, or the
	// previous key's signature). Its fund_id is empty and seq 0.
	ProblemKeyHistory = "key_history"
	// ProblemEvent: the fund's chain of non-posting events (docs/audit.md
	// section 9) is broken at that event seq: a gap, a prev_hash or hash
	// that does not match, data that does not hash to data_sha256, a time
	// going back, or a kept head that differs. Seq is the event's seq.
	ProblemEvent = "event"
	// ProblemAccessLog: the access log's chain is broken at that entry
	// (seq is the entry's; fund_id is empty).
	ProblemAccessLog = "access_log"
	// ProblemAllocation: the two legs of an allocation do not match
	// across funds (a leg missing, another amount, or the same
	// direction twice).
	ProblemAllocation = "allocation"
	// ProblemTree: the Merkle tree the store keeps for proofs (the
	// complete subtrees of merkle_nodes, docs/audit.md section 10) is not
	// the tree of the journal: proofs made from it would not verify.
	ProblemTree = "tree"
	// ProblemPeriod: a period report (CONTRACT.md section 11) differs
	// from its recomputation from the journal (docs/audit.md section 3b),
	// its tree_size, tree_root or prev_report_hash do not match the
	// journal's tree or the report before, or its stored row differs from
	// its published bytes. Seq is the report's as_of_journal_seq.
	ProblemPeriod = "period"
)

// MaxProblems is the most problems a report lists; the rest are counted in
// ProblemsOmitted. The first problems name where the books went wrong; a
// thousand more of the same would hide that.
const MaxProblems = 100

// Problem is one thing that does not match.
type Problem struct {
	FundID string `json:"fund_id"`
	// Seq is the journal transaction concerned, 0 when the problem is about
	// the fund as a whole.
	Seq     int64  `json:"seq"`
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	if p.Seq > 0 {
		return fmt.Sprintf("fund %s seq %d: %s: %s", p.FundID, p.Seq, p.Kind, p.Message)
	}
	return fmt.Sprintf("fund %s: %s: %s", p.FundID, p.Kind, p.Message)
}

// FundVerified summarises one verified fund.
type FundVerified struct {
	FundID string `json:"fund_id"`
	// HeadSeq and ChainHead are the last transaction read and its stored
	// hash (hex): an auditor who writes them down can later prove that the
	// journal up to there did not change.
	HeadSeq             int64  `json:"head_seq"`
	ChainHead           string `json:"chain_head"`
	CheckedTransactions int64  `json:"checked_transactions"`
	CheckedSnapshots    int64  `json:"checked_snapshots"`
	CheckedEvents       int64  `json:"checked_events"`
	// CheckedPeriodReports counts the period reports checked.
	CheckedPeriodReports int64 `json:"checked_period_reports,omitempty"`
	OK                   bool  `json:"ok"`
}

// VerifyReport is the result of a verification (CONTRACT.md section 7):
// ok is true when no problem was found. Problems are listed in the order
// found, which is journal order within a fund, so the first one names the
// first transaction that does not match.
type VerifyReport struct {
	OK                  bool  `json:"ok"`
	CheckedTransactions int64 `json:"checked_transactions"`
	CheckedSnapshots    int64 `json:"checked_snapshots"`
	CheckedEvents       int64 `json:"checked_events"`
	// CheckedPeriodReports counts the period reports checked.
	CheckedPeriodReports int64 `json:"checked_period_reports,omitempty"`
	// CheckedAccessLog counts the access log's chained entries checked
	// (a verification of every fund checks the log too).
	CheckedAccessLog int64          `json:"checked_access_log,omitempty"`
	Funds            []FundVerified `json:"funds"`
	Problems         []Problem      `json:"problems"`
	ProblemsOmitted  int            `json:"problems_omitted,omitempty"`
}

// AddProblem adds a problem that is not one fund's journal's (the key
// history's, an allocation across funds).
func (r *VerifyReport) AddProblem(p Problem) {
	r.OK = false
	if len(r.Problems) < MaxProblems {
		r.Problems = append(r.Problems, p)
	} else {
		r.ProblemsOmitted++
	}
}

// NewVerifyReport is an empty, OK report.
func NewVerifyReport() VerifyReport {
	return VerifyReport{OK: true, Funds: []FundVerified{}, Problems: []Problem{}}
}

// First returns the first problem found, or nil.
func (r *VerifyReport) First() *Problem {
	if len(r.Problems) == 0 {
		return nil
	}
	return &r.Problems[0]
}

// Add merges a fund's verification into the report.
func (r *VerifyReport) Add(v *Verifier) {
	r.CheckedTransactions += v.checked
	r.CheckedSnapshots += v.snapshots
	ok := len(v.problems) == 0 && v.omitted == 0
	r.CheckedEvents += v.events
	r.CheckedPeriodReports += v.PeriodReportsChecked()
	r.Funds = append(r.Funds, FundVerified{FundID: v.fundID, HeadSeq: v.seq, ChainHead: hex.EncodeToString(v.head),
		CheckedTransactions: v.checked, CheckedSnapshots: v.snapshots, CheckedEvents: v.events,
		CheckedPeriodReports: v.PeriodReportsChecked(), OK: ok})
	for _, p := range v.problems {
		if len(r.Problems) < MaxProblems {
			r.Problems = append(r.Problems, p)
		} else {
			r.ProblemsOmitted++
		}
	}
	r.ProblemsOmitted += v.omitted
	if !ok {
		r.OK = false
	}
}

// StoredSnapshot is a snapshot as kept or published: its exact bytes, and
// what the store indexed it under (0 when it was not indexed, for example
// a copy an auditor kept).
type StoredSnapshot struct {
	SnapshotSeq    int64
	AsOfJournalSeq int64
	Published      []byte
	// Body is the snapshot's JSON as the store keeps it for its own reads
	// (the balances as of a seq are read from it), nil when not kept: it
	// must say what the published bytes say.
	Body []byte
	// External marks a snapshot that did not come from the ledger's own
	// table (a copy from JetStream or an auditor's file): it is not
	// counted in the table's numbering.
	External bool
}

// KeptState is what the store keeps about a fund besides its journal: the
// head of its chain, counters and the running balances. Verification
// compares it with the sum of the journal.
type KeptState struct {
	HeadSeq     int64
	HeadHash    []byte
	HeadTime    time.Time // zero when the journal is empty
	OpenGrants  int64
	SnapshotSeq int64
	Balances    map[string]*Balance
	// Tree is the fund's kept Merkle frontier (merkle.Frontier.Bytes),
	// nil when not kept: the next snapshot's tree_root comes from it.
	Tree []byte
}

// Verifier checks one fund's journal, streamed in seq order, against its
// hash chain, its snapshots and its kept balances. It holds the running
// balances and the grants with something outstanding, never the journal,
// so it runs in memory bounded by the chart of accounts and the open
// grants, whatever the journal's length.
type Verifier struct {
	fundID   string
	openedAt time.Time
	keys     map[string]ed25519.PublicKey

	seq      int64 // last transaction read (its seq as stored)
	head     []byte
	headTime time.Time
	balances map[string]*Balance
	open     map[string]decimal.Decimal // grant_id -> outstanding, only when not zero
	pending  []StoredSnapshot           // snapshots as of a transaction not read yet
	tree     merkle.Frontier            // the Merkle tree of the transactions read
	prevSnap []byte                     // SHA-256 of the last table snapshot's signed bytes
	// prevSnapV2: a version 2 snapshot was seen in the table.
	prevSnapV2 bool
	// treeNodes digests the complete subtrees the store keeps, as the
	// journal gives them, in the order they complete (TreeNodesDigest).
	treeNodes  hash.Hash
	treeNodesN int64

	lastSnapSeq int64           // last snapshot_seq of the store's table seen
	events      int64           // event chain entries read (eventchain.go)
	legs        []AllocationLeg // allocations_verify.go
	periods     *periodCheck    // period_verify.go; nil when not given
	checked     int64
	snapshots   int64
	problems    []Problem
	omitted     int
}

// NewVerifier starts the verification of a fund opened at openedAt.
// keys are the public keys snapshots may be signed with, by key id.
func NewVerifier(fundID string, openedAt time.Time, keys map[string]ed25519.PublicKey) *Verifier {
	return &Verifier{fundID: fundID, openedAt: openedAt, keys: keys, head: GenesisHash,
		balances: map[string]*Balance{}, open: map[string]decimal.Decimal{}}
}

// Seq is the last transaction read.
func (v *Verifier) Seq() int64 { return v.seq }

// Checked counts the transactions read.
func (v *Verifier) Checked() int64 { return v.checked }

// OK reports whether no problem was found so far.
func (v *Verifier) OK() bool { return len(v.problems) == 0 && v.omitted == 0 }

// Problems lists the problems found so far (at most MaxProblems).
func (v *Verifier) Problems() []Problem { return v.problems }

// Problemf records a problem; the store uses it for rows it cannot read.
func (v *Verifier) Problemf(seq int64, kind, format string, args ...any) {
	if len(v.problems) >= MaxProblems {
		v.omitted++
		return
	}
	v.problems = append(v.problems, Problem{FundID: v.fundID, Seq: seq, Kind: kind, Message: fmt.Sprintf(format, args...)})
}

// Prepared is a transaction with its hash recomputed, ready for
// Verifier.Prepared. Preparing is the costly part of a check and needs no
// state, so a reader may prepare transactions on another goroutine.
type Prepared struct {
	txn      *Txn
	refs     []Ref // sorted as hashed
	computed []byte
}

// Prepare recomputes t's hash from its content. t.Refs may be in any
// order; t is not changed.
func Prepare(t *Txn) Prepared {
	refs := append([]Ref(nil), t.Refs...)
	sortRefs(refs)
	c := *t
	c.Refs = refs
	return Prepared{txn: t, refs: refs, computed: HashTxn(&c)}
}

// Txn checks the next transaction and adds its postings to the balances.
// t.Hash and t.PrevHash are as stored; t.Refs in any order.
func (v *Verifier) Txn(t *Txn) { v.Prepared(Prepare(t)) }

// Prepared is Txn for a transaction prepared beforehand.
func (v *Verifier) Prepared(p Prepared) {
	t := p.txn
	v.checked++
	want := v.seq + 1
	linked := true
	switch {
	case t.Seq == want:
	case t.Seq > want:
		v.Problemf(want, ProblemSeq, "transaction %d is missing: the journal goes from seq %d to seq %d", want, v.seq, t.Seq)
		linked = false // its predecessor is gone: prev_hash cannot match what is left
	default:
		v.Problemf(t.Seq, ProblemSeq, "seq %d comes after seq %d: the journal is out of order or repeats a transaction", t.Seq, v.seq)
	}
	if t.FundID != v.fundID {
		v.Problemf(t.Seq, ProblemMalformed, "transaction of fund %q in the journal of fund %q", t.FundID, v.fundID)
	}
	if linked && !bytes.Equal(t.PrevHash, v.head) {
		v.Problemf(t.Seq, ProblemPrevHash, "prev_hash %s is not the hash of seq %d (%s)", hex.EncodeToString(t.PrevHash), v.seq, hex.EncodeToString(v.head))
	}
	if !bytes.Equal(p.computed, t.Hash) {
		v.Problemf(t.Seq, ProblemHash, "stored hash %s, but the transaction's content hashes to %s: it was changed after it was posted",
			hex.EncodeToString(t.Hash), hex.EncodeToString(p.computed))
	}
	refs := p.refs
	if v.seq > 0 && t.Time.Before(v.headTime) {
		v.Problemf(t.Seq, ProblemTime, "recorded at %s, before seq %d (%s)", TimeText(t.Time), v.seq, TimeText(v.headTime))
	}
	v.postings(t, refs)
	v.allocationLeg(t, refs)
	if t.Seq > v.seq {
		v.seq = t.Seq
	}
	v.head, v.headTime = t.Hash, t.Time
	v.tree.Append(merkle.LeafHash(t.Hash), v.treeNode)
	if v.periods != nil {
		v.periods.add(t, v.treeRootHex)
	}
	if len(v.pending) > 0 {
		v.flushPending(false)
	}
}

func (v *Verifier) postings(t *Txn, refs []Ref) {
	var dr, cr decimal.Decimal
	grant := ""
	for _, r := range refs {
		if r.Key == "grant_id" {
			grant = r.Value
		}
	}
	for i, p := range t.Postings {
		if p.Account == "" || strings.ContainsAny(p.Account, "\n") {
			v.Problemf(t.Seq, ProblemPosting, "posting %d has no valid account", i)
		}
		if !p.Amount.IsPositive() || !p.Amount.Equal(p.Amount.Truncate(2)) {
			v.Problemf(t.Seq, ProblemPosting, "posting %d amount %s is not a positive amount with at most 2 places", i, p.Amount.String())
		}
		b := v.balances[p.Account]
		if b == nil {
			b = &Balance{}
			v.balances[p.Account] = b
		}
		var gp decimal.Decimal // change of grants_payable on its normal (credit) side
		switch p.Side {
		case Debit:
			dr = dr.Add(p.Amount)
			b.Debits = b.Debits.Add(p.Amount)
			gp = p.Amount.Neg()
		case Credit:
			cr = cr.Add(p.Amount)
			b.Credits = b.Credits.Add(p.Amount)
			gp = p.Amount
		default:
			v.Problemf(t.Seq, ProblemPosting, "posting %d side %q is neither debit nor credit", i, string(p.Side))
		}
		if p.Account == AccountGrantsPayable {
			if grant == "" {
				v.Problemf(t.Seq, ProblemPosting, "posting %d moves grants_payable but the transaction names no grant_id", i)
				continue
			}
			if o := v.open[grant].Add(gp); o.IsZero() {
				delete(v.open, grant)
			} else {
				v.open[grant] = o
			}
		}
	}
	if len(t.Postings) < 2 || !dr.Equal(cr) {
		v.Problemf(t.Seq, ProblemUnbalanced, "%d postings, debits %s, credits %s", len(t.Postings), Money(dr), Money(cr))
	}
}

// openGrants counts the grants with something outstanding.
func (v *Verifier) openGrants() int64 {
	var n int64
	for _, o := range v.open {
		if o.IsPositive() {
			n++
		}
	}
	return n
}

// Snapshot checks a snapshot against the books as they stand after the
// transaction it is as of. Give it once that transaction was read and
// before the next one is. A snapshot as of a transaction not read yet is
// held: if the next transaction read is later than its as_of_journal_seq,
// the journal lacks the transaction it covers; if the journal ends first,
// its tail was cut (End).
func (v *Verifier) Snapshot(st StoredSnapshot) {
	if st.AsOfJournalSeq > v.seq {
		v.pending = append(v.pending, st)
		return
	}
	v.checkSnapshot(st, false)
}

// flushPending checks the held snapshots the journal has now reached or
// passed.
func (v *Verifier) flushPending(atEnd bool) {
	keep := v.pending[:0]
	for _, st := range v.pending {
		if atEnd || st.AsOfJournalSeq <= v.seq {
			v.checkSnapshot(st, atEnd)
		} else {
			keep = append(keep, st)
		}
	}
	v.pending = keep
}

func (v *Verifier) checkSnapshot(st StoredSnapshot, atEnd bool) {
	v.snapshots++
	var s Snapshot
	dec := json.NewDecoder(bytes.NewReader(st.Published))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		v.Problemf(st.AsOfJournalSeq, ProblemSnapshot, "snapshot %d is not a snapshot: %v", st.SnapshotSeq, err)
		return
	}
	name := fmt.Sprintf("snapshot %d", s.SnapshotSeq)
	if st.External {
		name = "external " + name
	}
	at := s.AsOfJournalSeq
	if !st.External {
		if s.SnapshotSeq != st.SnapshotSeq || s.AsOfJournalSeq != st.AsOfJournalSeq {
			v.Problemf(at, ProblemSnapshot, "%s is stored as snapshot %d at seq %d: the table was changed", name, st.SnapshotSeq, st.AsOfJournalSeq)
		}
		if want := v.lastSnapSeq + 1; s.SnapshotSeq != want {
			v.Problemf(at, ProblemSnapshot, "%s follows snapshot %d: snapshots are missing or reordered", name, v.lastSnapSeq)
		}
		if s.SnapshotSeq > v.lastSnapSeq {
			v.lastSnapSeq = s.SnapshotSeq
		}
		v.checkSnapshotChain(name, &s)
	}
	if s.FundID != v.fundID {
		v.Problemf(at, ProblemSnapshot, "%s is of fund %q", name, s.FundID)
		return
	}
	v.checkSignature(name, &s)
	if !st.External && st.Body != nil && !sameJSON(st.Body, st.Published) {
		v.Problemf(at, ProblemSnapshot, "%s: its stored JSON (which the balances as of a seq are read from) says something else than its published bytes: the table was changed", name)
	}
	switch {
	case at > v.seq && atEnd:
		v.Problemf(v.seq+1, ProblemTruncated, "%s covers the journal up to seq %d (chain head %s), but the journal ends at seq %d: transactions %d to %d were removed",
			name, at, s.ChainHead, v.seq, v.seq+1, at)
		return
	case at != v.seq:
		v.Problemf(at, ProblemSnapshot, "%s is as of seq %d, which the journal does not have in sequence (it is at seq %d)", name, at, v.seq)
		return
	}
	want := v.expected(&s)
	diffs := diffSnapshots(&s, want)
	for _, d := range diffs {
		v.Problemf(at, ProblemSnapshot, "%s: %s", name, d)
	}
	if len(diffs) == 0 && !st.External {
		if b, err := json.Marshal(want); err == nil && !bytes.Equal(b, st.Published) {
			v.Problemf(at, ProblemSnapshot, "%s: its stored bytes are not the bytes it was published with", name)
		}
	}
}

// expected is the snapshot the journal gives at the current seq, with the
// identity fields (snapshot_seq, label, key, signature) of s.
func (v *Verifier) expected(s *Snapshot) *Snapshot {
	lines, dr, cr := AccountLines(v.balances)
	asOf := v.openedAt
	if v.seq > 0 {
		asOf = v.headTime
	}
	gp := decimal.Zero
	if b := v.balances[AccountGrantsPayable]; b != nil {
		gp = b.On(AccountGrantsPayable)
	}
	cash := decimal.Zero
	if b := v.balances[AccountCash]; b != nil {
		cash = b.On(AccountCash)
	}
	w := &Snapshot{
		FundID: v.fundID, SnapshotSeq: s.SnapshotSeq, Label: s.Label, AsOfJournalSeq: v.seq,
		AsOf: TimeText(asOf), ChainHead: hex.EncodeToString(v.head), Accounts: lines,
		TotalDebits: Money(dr), TotalCredits: Money(cr), Balanced: dr.Equal(cr), Available: Money(cash.Sub(gp)),
		OutstandingGrants: Outstanding{Count: v.openGrants(), Amount: Money(gp)},
		KeyID:             s.KeyID, Signature: s.Signature,
	}
	if s.TreeSize != nil { // version 2: the tree head too
		size, root := int64(v.tree.Size), v.tree.Root()
		w.TreeSize, w.TreeRoot, w.PrevSnapshotHash = &size, root.Hex(), s.PrevSnapshotHash
	}
	return w
}

func (v *Verifier) treeNode(n merkle.Node, h merkle.Hash) {
	if n.Level < TreeStoredLevel {
		return
	}
	if v.treeNodes == nil {
		v.treeNodes = sha256.New()
	}
	v.treeNodes.Write(TreeNodeDigestEntry(n, h))
	v.treeNodesN++
}

// TreeNodeDigestEntry is one node's bytes in a digest of stored Merkle
// nodes: its level, its index (8 bytes, big-endian) and its hash.
func TreeNodeDigestEntry(n merkle.Node, h merkle.Hash) []byte {
	b := make([]byte, 0, 1+8+len(h))
	b = append(b, n.Level)
	b = binary.BigEndian.AppendUint64(b, n.Index)
	return append(b, h[:]...)
}

// TreeNodesDigest is SHA-256 over TreeNodeDigestEntry of every complete
// subtree of TreeStoredLevel and up of the journal read, in the order
// they complete (by their last leaf, then level), and their number: the
// store compares its merkle_nodes with it, a row at a time, in flat
// memory.
func (v *Verifier) TreeNodesDigest() ([]byte, int64) {
	if v.treeNodes == nil {
		return sha256.New().Sum(nil), 0
	}
	return v.treeNodes.Sum(nil), v.treeNodesN
}

// checkSnapshotChain checks a table snapshot's prev_snapshot_hash against
// the snapshot before it in the table (snapshots come in order).
func (v *Verifier) checkSnapshotChain(name string, s *Snapshot) {
	at := s.AsOfJournalSeq
	switch {
	case s.TreeSize == nil && v.prevSnapV2:
		v.Problemf(at, ProblemSnapshot, "%s is a version 1 snapshot after a version 2 one", name)
	case s.TreeSize != nil:
		want := ZeroHash
		if v.prevSnap != nil {
			want = hex.EncodeToString(v.prevSnap)
		}
		if s.PrevSnapshotHash != want {
			v.Problemf(at, ProblemSnapshot, "%s: prev_snapshot_hash is %s, but the snapshot before it hashes to %s: a snapshot was removed, changed or reordered",
				name, s.PrevSnapshotHash, want)
		}
		v.prevSnapV2 = true
	}
	v.prevSnap = SnapshotHash(s)
}

// sameJSON reports whether two JSON texts hold the same values (as jsonb
// compares them: key order and spacing aside, numbers exactly).
func sameJSON(a, b []byte) bool {
	var x, y any
	da, db := json.NewDecoder(bytes.NewReader(a)), json.NewDecoder(bytes.NewReader(b))
	da.UseNumber()
	db.UseNumber()
	if da.Decode(&x) != nil || db.Decode(&y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// diffSnapshots names the fields of got that differ from want.
func diffSnapshots(got, want *Snapshot) []string {
	var d []string
	field := func(name, g, w string) {
		if g != w {
			d = append(d, fmt.Sprintf("%s is %q, the journal gives %q", name, g, w))
		}
	}
	field("as_of", got.AsOf, want.AsOf)
	field("chain_head", got.ChainHead, want.ChainHead)
	gotAcc := map[string]AccountLine{}
	for _, a := range got.Accounts {
		gotAcc[a.Account] = a
	}
	for _, w := range want.Accounts {
		g, ok := gotAcc[w.Account]
		if !ok {
			d = append(d, fmt.Sprintf("account %s is missing (the journal gives debits %s, credits %s)", w.Account, w.Debits, w.Credits))
			continue
		}
		delete(gotAcc, w.Account)
		if g != w {
			d = append(d, fmt.Sprintf("account %s has debits %s, credits %s, balance %s; the journal gives %s, %s, %s",
				w.Account, g.Debits, g.Credits, g.Balance, w.Debits, w.Credits, w.Balance))
		}
	}
	extra := make([]string, 0, len(gotAcc))
	for name := range gotAcc {
		extra = append(extra, name)
	}
	sort.Strings(extra)
	for _, name := range extra {
		d = append(d, fmt.Sprintf("account %s is not in the journal", name))
	}
	if len(d) == 0 && len(got.Accounts) == len(want.Accounts) {
		for i := range got.Accounts {
			if got.Accounts[i].Account != want.Accounts[i].Account {
				d = append(d, "accounts are not sorted by name")
				break
			}
		}
	}
	field("total_debits", got.TotalDebits, want.TotalDebits)
	field("total_credits", got.TotalCredits, want.TotalCredits)
	field("balanced", fmt.Sprint(got.Balanced), fmt.Sprint(want.Balanced))
	field("available", got.Available, want.Available)
	field("outstanding_grants.count", fmt.Sprint(got.OutstandingGrants.Count), fmt.Sprint(want.OutstandingGrants.Count))
	field("outstanding_grants.amount", got.OutstandingGrants.Amount, want.OutstandingGrants.Amount)
	if got.TreeSize != nil && want.TreeSize != nil {
		field("tree_size", fmt.Sprint(*got.TreeSize), fmt.Sprint(*want.TreeSize))
		field("tree_root", got.TreeRoot, want.TreeRoot)
	}
	return d
}

func (v *Verifier) checkSignature(name string, s *Snapshot) {
	at := s.AsOfJournalSeq
	if s.KeyID == "" || s.Signature == "" {
		v.Problemf(at, ProblemSignature, "%s is not signed", name)
		return
	}
	pub, ok := LookupKey(v.keys, s.KeyID)
	if !ok {
		v.Problemf(at, ProblemSignature, "%s is signed with key %s, which is not a known signing key", name, s.KeyID)
		return
	}
	if len(pub) != ed25519.PublicKeySize {
		v.Problemf(at, ProblemSignature, "%s: the public key listed as %s is %d bytes, not an Ed25519 key", name, s.KeyID, len(pub))
		return
	}
	if !KeyIDMatches(pub, s.KeyID) {
		v.Problemf(at, ProblemSignature, "%s: the public key listed as %s has key id %s", name, s.KeyID, SigningKeyID(pub))
		return
	}
	sig, err := base64.StdEncoding.DecodeString(s.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize || !ed25519.Verify(pub, SnapshotSigningInput(s), sig) {
		v.Problemf(at, ProblemSignature, "%s: the signature does not verify with key %s: the snapshot was changed or not signed by the ledger", name, s.KeyID)
	}
}

// End is called once the whole journal was read: it checks the snapshots
// still held (they cover transactions the journal does not have) and, when
// kept is not nil, compares the end of the journal with what the store
// keeps: the chain head, the open grant count, the snapshot counter and
// the balances.
func (v *Verifier) End(kept *KeptState) {
	v.flushPending(true)
	v.endPeriods()
	if kept != nil {
		v.endKept(*kept)
	}
}

func (v *Verifier) endKept(k KeptState) {
	switch {
	case k.HeadSeq > v.seq:
		v.Problemf(v.seq+1, ProblemTruncated, "the fund's head is seq %d but the journal ends at seq %d: transactions %d to %d are missing",
			k.HeadSeq, v.seq, v.seq+1, k.HeadSeq)
	case k.HeadSeq < v.seq:
		v.Problemf(k.HeadSeq+1, ProblemHead, "the fund's head is seq %d but the journal goes on to seq %d", k.HeadSeq, v.seq)
	case !bytes.Equal(k.HeadHash, v.head):
		v.Problemf(v.seq, ProblemHead, "the fund's head hash is %s but seq %d's hash is %s", hex.EncodeToString(k.HeadHash), v.seq, hex.EncodeToString(v.head))
	case v.seq > 0 && !k.HeadTime.Equal(v.headTime):
		v.Problemf(v.seq, ProblemHead, "the fund's head time is %s but seq %d was recorded at %s", TimeText(k.HeadTime), v.seq, TimeText(v.headTime))
	}
	if n := v.openGrants(); k.OpenGrants != n {
		v.Problemf(0, ProblemHead, "the fund counts %d grants with something outstanding; the journal gives %d", k.OpenGrants, n)
	}
	if k.SnapshotSeq != v.lastSnapSeq {
		v.Problemf(0, ProblemSnapshot, "the fund has taken %d snapshots but %d are stored", k.SnapshotSeq, v.lastSnapSeq)
	}
	if k.Tree != nil && k.HeadSeq == v.seq && !bytes.Equal(k.Tree, v.tree.Bytes()) {
		v.Problemf(0, ProblemHead, "the fund's kept Merkle frontier is not the right edge of its journal's tree: the next snapshot's tree_root would be wrong")
	}
	names := make([]string, 0, len(v.balances)+len(k.Balances))
	for name := range v.balances {
		names = append(names, name)
	}
	for name := range k.Balances {
		if v.balances[name] == nil {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	zero := &Balance{}
	for _, name := range names {
		got, want := k.Balances[name], v.balances[name]
		if got == nil {
			got = zero
		}
		if want == nil {
			want = zero
		}
		if !got.Debits.Equal(want.Debits) || !got.Credits.Equal(want.Credits) {
			v.Problemf(0, ProblemBalance, "account %s is kept at debits %s, credits %s; the journal gives debits %s, credits %s",
				name, Money(got.Debits), Money(got.Credits), Money(want.Debits), Money(want.Credits))
		}
	}
}

// sortRefs orders references as SortRefs does (by key, then value),
// without sort.Slice's reflection: it runs once per transaction verified.
func sortRefs(refs []Ref) {
	slices.SortFunc(refs, func(a, b Ref) int {
		if c := strings.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return strings.Compare(a.Value, b.Value)
	})
}

// VerifyFund runs v over a fund: nextTxn returns its transactions in seq
// order and nextSnap its snapshots in (as_of_journal_seq, snapshot_seq)
// order, each nil at the end. Each snapshot is checked right after the
// transaction it is as of, so nothing but the running state is held.
// kept, when not nil, is compared at the end.
func VerifyFund(v *Verifier, nextTxn func() (*Txn, error), nextSnap func() (*StoredSnapshot, error), kept *KeptState) error {
	return VerifyPrepared(v, func() (*Prepared, error) {
		t, err := nextTxn()
		if t == nil || err != nil {
			return nil, err
		}
		p := Prepare(t)
		return &p, nil
	}, nextSnap, kept)
}

// VerifyPrepared is VerifyFund over transactions prepared beforehand.
func VerifyPrepared(v *Verifier, nextTxn func() (*Prepared, error), nextSnap func() (*StoredSnapshot, error), kept *KeptState) error {
	snap, err := nextSnap()
	if err != nil {
		return err
	}
	for {
		p, err := nextTxn()
		if err != nil {
			return err
		}
		if p == nil {
			break
		}
		for snap != nil && snap.AsOfJournalSeq < p.txn.Seq {
			v.Snapshot(*snap)
			if snap, err = nextSnap(); err != nil {
				return err
			}
		}
		v.Prepared(*p)
	}
	for snap != nil {
		v.Snapshot(*snap)
		if snap, err = nextSnap(); err != nil {
			return err
		}
	}
	v.End(kept)
	return nil
}

// DecodeTxnJSON reads a transaction in the JSON of the read API's journal
// and of ledger.<fund>.posted messages (events.DecodePosted), so it can be
// verified.
func DecodeTxnJSON(b []byte) (*Txn, error) {
	p, err := events.DecodePosted(b)
	if err != nil {
		return nil, err
	}
	return TxnFromPosted(p), nil
}
