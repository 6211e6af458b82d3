package ledger

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"sort"
	"strconv"
	"strings"

	"github.com/shopspring/decimal"
)

// AccountLine is one account of a snapshot or a balances report.
type AccountLine struct {
	Account string `json:"account"`
	Debits  string `json:"debits"`
	Credits string `json:"credits"`
	Balance string `json:"balance"`
}

// Outstanding counts the grants with something still owed.
type Outstanding struct {
	Count  int64  `json:"count"`
	Amount string `json:"amount"`
}

// Snapshot is a reconciliation snapshot (CONTRACT.md section 6). Field order
// here is the published field order.
type Snapshot struct {
	FundID            string        `json:"fund_id"`
	SnapshotSeq       int64         `json:"snapshot_seq"`
	Label             string        `json:"label"`
	AsOfJournalSeq    int64         `json:"as_of_journal_seq"`
	AsOf              string        `json:"as_of"`
	ChainHead         string        `json:"chain_head"`
	Accounts          []AccountLine `json:"accounts"`
	TotalDebits       string        `json:"total_debits"`
	TotalCredits      string        `json:"total_credits"`
	Balanced          bool          `json:"balanced"`
	Available         string        `json:"available"`
	OutstandingGrants Outstanding   `json:"outstanding_grants"`
	// TreeSize, TreeRoot and PrevSnapshotHash (CONTRACT.md section 12) are
	// in every snapshot signed as fundledger-snapshot-v2 and absent from
	// the v1 snapshots made before; a nil TreeSize is a v1 snapshot.
	TreeSize         *int64 `json:"tree_size,omitempty"`
	TreeRoot         string `json:"tree_root,omitempty"`
	PrevSnapshotHash string `json:"prev_snapshot_hash,omitempty"`
	KeyID            string `json:"key_id"`
	Signature        string `json:"signature"`
}

// Signer signs snapshots. KeyID names the public key an auditor verifies
// with.
type Signer interface {
	KeyID() string
	Sign(msg []byte) []byte
}

// AccountLines lists balances sorted by account name, with totals.
func AccountLines(balances map[string]*Balance) (lines []AccountLine, debits, credits decimal.Decimal) {
	names := make([]string, 0, len(balances))
	for name := range balances {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		b := balances[name]
		debits = debits.Add(b.Debits)
		credits = credits.Add(b.Credits)
		lines = append(lines, AccountLine{Account: name, Debits: Money(b.Debits), Credits: Money(b.Credits), Balance: Money(b.On(name))})
	}
	if lines == nil {
		lines = []AccountLine{}
	}
	return lines, debits, credits
}

// TakeSnapshot makes the fund's next snapshot from its kept balances and
// signs it.
func TakeSnapshot(f *Fund, label string, signer Signer) *Snapshot {
	lines, dr, cr := AccountLines(f.Balances)
	f.SnapshotSeq++
	f.SnapshotJournalSeq = f.HeadSeq
	f.Dirty = true
	asOf := f.OpenedAt
	if f.HeadSeq > 0 {
		asOf = f.HeadTime
	}
	s := &Snapshot{
		FundID:         f.ID,
		SnapshotSeq:    f.SnapshotSeq,
		Label:          label,
		AsOfJournalSeq: f.HeadSeq,
		AsOf:           TimeText(asOf),
		ChainHead:      hex.EncodeToString(f.HeadHash),
		Accounts:       lines,
		TotalDebits:    Money(dr),
		TotalCredits:   Money(cr),
		Balanced:       dr.Equal(cr),
		Available:      Money(f.Available()),
		OutstandingGrants: Outstanding{
			Count:  f.OpenGrants,
			Amount: Money(f.Amount(AccountGrantsPayable)),
		},
	}
	size, root := f.TreeHead()
	s.TreeSize, s.TreeRoot, s.PrevSnapshotHash = &size, root, ZeroHash
	if f.LastSnapshotHash != nil {
		s.PrevSnapshotHash = hex.EncodeToString(f.LastSnapshotHash)
	}
	if signer != nil {
		s.KeyID = signer.KeyID()
		s.Signature = encodeSig(signer.Sign(SnapshotSigningInput(s)))
	}
	f.LastSnapshotHash = SnapshotHash(s)
	return s
}

// SnapshotVersion is the first line of a snapshot's signing input:
// fundledger-snapshot-v2 since snapshots carry their Merkle tree head and
// the hash of the snapshot before (SnapshotVersionV1 before that).
const SnapshotVersion = "fundledger-snapshot-v2"

// SnapshotVersionV1 is the first line of the signing input of snapshots
// made before version 2: no tree_size, tree_root or prev_snapshot_hash.
const SnapshotVersionV1 = "fundledger-snapshot-v1"

// SnapshotHash is SHA-256 of a snapshot's signing input: what the next
// snapshot of its fund carries as prev_snapshot_hash.
func SnapshotHash(s *Snapshot) []byte {
	sum := sha256.Sum256(SnapshotSigningInput(s))
	return sum[:]
}

// SnapshotSigningInput is the exact byte string signed for a snapshot:
// every published field but the signature, one per line-feed-terminated
// line, in the published order; accounts as four lines each. A snapshot
// without a tree_size is a version 1 snapshot and gets the version 1
// input, so what was signed before version 2 still verifies.
func SnapshotSigningInput(s *Snapshot) []byte {
	var b strings.Builder
	line := func(v string) { b.WriteString(v); b.WriteByte('\n') }
	if s.TreeSize == nil {
		line(SnapshotVersionV1)
	} else {
		line(SnapshotVersion)
	}
	line(s.FundID)
	line(strconv.FormatInt(s.SnapshotSeq, 10))
	line(s.Label)
	line(strconv.FormatInt(s.AsOfJournalSeq, 10))
	line(s.AsOf)
	line(s.ChainHead)
	line(strconv.Itoa(len(s.Accounts)))
	for _, a := range s.Accounts {
		line(a.Account)
		line(a.Debits)
		line(a.Credits)
		line(a.Balance)
	}
	line(s.TotalDebits)
	line(s.TotalCredits)
	line(strconv.FormatBool(s.Balanced))
	line(s.Available)
	line(strconv.FormatInt(s.OutstandingGrants.Count, 10))
	line(s.OutstandingGrants.Amount)
	if s.TreeSize != nil {
		line(strconv.FormatInt(*s.TreeSize, 10))
		line(s.TreeRoot)
		line(s.PrevSnapshotHash)
	}
	line(s.KeyID)
	return []byte(b.String())
}

func encodeSig(sig []byte) string { return base64.StdEncoding.EncodeToString(sig) }

// JSON is the snapshot as published and stored (CONTRACT.md section 6).
func (s *Snapshot) JSON() []byte {
	b, err := json.Marshal(s)
	if err != nil { // strings and ints only
		panic("ledger: snapshot does not encode: " + err.Error())
	}
	return b
}
