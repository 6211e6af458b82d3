// Package ledger is the domain of fundledger: funds and their chart of
// accounts, money, the posting rules that turn an accepted event into
// balanced journal transactions, the checks that refuse one, the per-fund
// hash chain and reconciliation snapshots. It imports no database, network
// or HTTP package: the store in ledger/postgres loads what a unit of work
// needs into Books and writes back what changed.
package ledger

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/fundledger/fundledger/events"
	"github.com/fundledger/fundledger/ledger/merkle"
	"github.com/shopspring/decimal"
)

// Accounts of every fund's chart (CONTRACT.md section 3).
const (
	AccountCash          = "cash"
	AccountGrantsPayable = "grants_payable"
	AccountAllocIn       = "allocations:in"
	AccountAllocOut      = "allocations:out"
	contributionsPrefix  = "contributions:"
	grantExpensePrefix   = "grant_expense:"
)

// ContributionAccount is the income account for a contribution source kind.
func ContributionAccount(sourceKind string) string { return contributionsPrefix + sourceKind }

// GrantExpenseAccount is the expense account of a program.
func GrantExpenseAccount(program string) string { return grantExpensePrefix + program }

// DebitNormal reports whether an account's balance is reported on the debit
// side (assets, expenses, outflows) rather than the credit side.
func DebitNormal(account string) bool {
	return account == AccountCash || account == AccountAllocOut || strings.HasPrefix(account, grantExpensePrefix) ||
		account == AccountBankCharges
}

// Side is the side of a posting.
type Side string

// The two sides of a posting.
const (
	Debit  Side = "debit"
	Credit Side = "credit"
)

// Money formats an amount the way every wire and API message does: a string
// with exactly two places.
func Money(d decimal.Decimal) string { return d.StringFixed(2) }

// Posting is one line of a journal transaction.
type Posting struct {
	Account string          `json:"account"`
	Side    Side            `json:"side"`
	Amount  decimal.Decimal `json:"amount"`
}

// MarshalJSON writes the posting in the outbound contract's shape
// (events.PostingJSON): the amount a two-place string.
func (p Posting) MarshalJSON() ([]byte, error) {
	return json.Marshal(events.PostingJSON{Account: p.Account, Side: string(p.Side), Amount: Money(p.Amount)})
}

// Ref is a named reference recorded with a transaction: business ids, the
// people named in the event, the counterparty fund.
type Ref struct {
	Key   string
	Value string
}

// Txn is one journal transaction of one fund.
type Txn struct {
	FundID   string
	Seq      int64
	EventID  string
	Type     string
	Source   string
	Time     time.Time // recorded time, UTC, microsecond precision
	Refs     []Ref     // sorted by key
	Postings []Posting
	PrevHash []byte
	Hash     []byte
}

// TimeText is the recorded time as written on the wire and hashed:
// RFC 3339 in UTC with exactly six fraction digits (events.RecordedTime).
func TimeText(t time.Time) string { return events.RecordedTime(t) }

// Posted is the transaction in the values of the outbound contract
// (events.PostedTxn).
func (t *Txn) Posted() events.PostedTxn {
	refs := make(map[string]string, len(t.Refs))
	for _, r := range t.Refs {
		refs[r.Key] = r.Value
	}
	ps := make([]events.PostedPosting, len(t.Postings))
	for i, p := range t.Postings {
		ps[i] = events.PostedPosting{Account: p.Account, Side: string(p.Side), Amount: p.Amount}
	}
	return events.PostedTxn{FundID: t.FundID, Seq: t.Seq, EventID: t.EventID, Type: t.Type, Source: t.Source, Time: t.Time,
		Refs: refs, PrevHash: t.PrevHash, Hash: t.Hash, Postings: ps}
}

// TxnFromPosted is the transaction a posted message or a journal page
// describes, with its refs sorted as the hash chain takes them.
func TxnFromPosted(p events.PostedTxn) *Txn {
	t := &Txn{FundID: p.FundID, Seq: p.Seq, EventID: p.EventID, Type: p.Type, Source: p.Source, Time: p.Time.UTC(),
		PrevHash: p.PrevHash, Hash: p.Hash}
	for k, v := range p.Refs {
		t.Refs = append(t.Refs, Ref{Key: k, Value: v})
	}
	SortRefs(t.Refs)
	for _, q := range p.Postings {
		t.Postings = append(t.Postings, Posting{Account: q.Account, Side: Side(q.Side), Amount: q.Amount})
	}
	return t
}

// MarshalJSON writes the transaction in the outbound contract's shape
// (events.EncodePosted): the read API's journal and the payload of
// ledger.<fund>.posted are the same bytes.
func (t *Txn) MarshalJSON() ([]byte, error) {
	return events.EncodePosted(t.Posted()), nil
}

// Balance is the running debit and credit totals of one account.
type Balance struct {
	Debits, Credits decimal.Decimal
	// loaded totals, so the store can write only the change.
	loadedDebits, loadedCredits decimal.Decimal
}

// NewBalance is a balance as loaded from the store.
func NewBalance(debits, credits decimal.Decimal) *Balance {
	return &Balance{Debits: debits, Credits: credits, loadedDebits: debits, loadedCredits: credits}
}

// Delta is what changed since the balance was loaded.
func (b *Balance) Delta() (debits, credits decimal.Decimal) {
	return b.Debits.Sub(b.loadedDebits), b.Credits.Sub(b.loadedCredits)
}

// On returns the balance on the account's normal side.
func (b *Balance) On(account string) decimal.Decimal {
	if DebitNormal(account) {
		return b.Debits.Sub(b.Credits)
	}
	return b.Credits.Sub(b.Debits)
}

// Program is a spending program of a fund with its optional yearly cap per
// beneficiary.
type Program struct {
	Code  string
	Cap   *decimal.Decimal
	Dirty bool
}

// Fund is one fund's book as held in a unit of work.
type Fund struct {
	ID, Name, Currency string
	OpenedEventID      string
	OpenedAt           time.Time
	HeadSeq            int64
	HeadHash           []byte
	HeadTime           time.Time
	OpenGrants         int64
	SnapshotSeq        int64
	SnapshotJournalSeq int64
	// Tree is the right edge of the fund's Merkle tree (CONTRACT.md
	// section 12): Tree.Size is HeadSeq, Tree.Root() the tree_root of a
	// snapshot or report made now.
	Tree merkle.Frontier
	// LastSnapshotHash is SHA-256 of the latest snapshot's signed bytes
	// (the next one's prev_snapshot_hash); nil before the first.
	LastSnapshotHash []byte
	Programs         map[string]*Program
	Balances         map[string]*Balance
	// Close is what the fund's period closes left (period.go).
	Close PeriodState

	New   bool // opened in this unit of work
	Dirty bool // head or counters changed
}

// Balance returns an account's balance, creating an empty one.
func (f *Fund) Balance(account string) *Balance {
	b := f.Balances[account]
	if b == nil {
		b = NewBalance(decimal.Zero, decimal.Zero)
		f.Balances[account] = b
	}
	return b
}

// Amount is an account's balance on its normal side (zero if never used).
func (f *Fund) Amount(account string) decimal.Decimal {
	if b := f.Balances[account]; b != nil {
		return b.On(account)
	}
	return decimal.Zero
}

// Available is cash less grants payable: what the fund may still commit.
func (f *Fund) Available() decimal.Decimal {
	return f.Amount(AccountCash).Sub(f.Amount(AccountGrantsPayable))
}

// GrantKey names a grant within its fund.
type GrantKey struct{ FundID, GrantID string }

// PaymentKey names a payment within its fund.
type PaymentKey struct{ FundID, PaymentID string }

// BizKey names a business id of a kind within a fund.
type BizKey struct{ FundID, Kind, ID string }

// CapKey names a beneficiary's usage of a program in a calendar year.
type CapKey struct {
	FundID, Program, Beneficiary string
	Year                         int
}

// Kinds of business id.
const (
	BizGrant        = "grant"
	BizPayment      = "payment"
	BizContribution = "contribution"
	BizAllocation   = "allocation"
	BizRecovery     = "recovery"
	BizBatch        = "batch"
)

// BizID records that a business id was taken by an applied event.
type BizID struct {
	BizKey
	EventID string
	Hash    [32]byte
	New     bool
}

// Grant is one approved grant and what has happened to it.
type Grant struct {
	GrantKey
	BeneficiaryRef string
	Program        string
	Category       string
	ApprovedOn     time.Time
	EventID        string
	Approved       decimal.Decimal
	Paid           decimal.Decimal
	Returned       decimal.Decimal
	Cancelled      decimal.Decimal
	Recovered      decimal.Decimal
	Closed         bool
	ActivityN      int

	New, Dirty bool
}

// Outstanding is what is still owed on the grant.
func (g *Grant) Outstanding() decimal.Decimal {
	return g.Approved.Sub(g.Cancelled).Sub(g.Paid).Add(g.Returned)
}

// Recoverable is what the grant has paid net of returns and recoveries,
// never below zero: a bank may return a payment after money was recovered
// from the grant, which leaves nothing more to recover.
func (g *Grant) Recoverable() decimal.Decimal {
	return decimal.Max(decimal.Zero, g.Paid.Sub(g.Returned).Sub(g.Recovered))
}

// State is open, paid or cancelled, as the read API reports it.
func (g *Grant) State() string {
	switch {
	case g.Closed:
		return "cancelled"
	case g.Outstanding().IsZero():
		return "paid"
	default:
		return "open"
	}
}

// Payment is one disbursement of a grant.
type Payment struct {
	PaymentKey
	GrantID  string
	Amount   decimal.Decimal
	Returned decimal.Decimal
	PaidOn   time.Time
	BankRef  string
	EventID  string

	New, Dirty bool
}

// CapUsage is approved less cancelled for one beneficiary, program and year.
type CapUsage struct {
	CapKey
	Used   decimal.Decimal
	loaded decimal.Decimal
	Dirty  bool
	// Stored says the store holds a row for the key (it was loaded): the
	// store updates it, else it inserts one.
	Stored bool
}

// NewCapUsage is a usage as loaded from the store.
func NewCapUsage(k CapKey, used decimal.Decimal) *CapUsage {
	return &CapUsage{CapKey: k, Used: used, loaded: used}
}

// Delta is what changed since the usage was loaded.
func (c *CapUsage) Delta() decimal.Decimal { return c.Used.Sub(c.loaded) }

// Activity is one line of a grant's history.
type Activity struct {
	GrantKey
	N          int
	Kind       string // approved, disbursed, returned, cancelled, recovered
	Ref        string // payment or recovery id
	Amount     decimal.Decimal
	JournalSeq int64 // 0 when nothing was posted
	EventID    string
	Time       time.Time
}
