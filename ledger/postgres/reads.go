package postgres

// Reads for the read API, the operator commands and the exports. A read
// that takes more than one query runs in one read-only REPEATABLE READ
// transaction, so what it returns is one state of the books even while the
// consumer commits batches beside it: a balance and the postings it is
// compared with, or a grant and its payments, never straddle a commit.

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fundledger/fundledger/events"
	"github.com/fundledger/fundledger/ledger"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// Kinds of read error (ledger.Kind): the HTTP API maps them to 404 and 400,
// the commands to their exit codes; anything else is the store failing.
var (
	// ErrNotFound: the fund, grant or snapshot asked for does not exist.
	ErrNotFound = ledger.ErrNotFound
	// ErrOutOfRange: the request names a point the books have not reached,
	// such as a journal sequence past the fund's head.
	ErrOutOfRange = ledger.ErrInvalid
)

// ReadError is a read refused for a reason the caller can act on: its Kind
// is KindNotFound or KindInvalid, its Msg says what in plain words.
type ReadError = ledger.Error

func notFound(format string, args ...any) error {
	return ledger.Errorf(ledger.KindNotFound, format, args...)
}

// Amount is money in a read result: exact in Go, and in JSON a string with
// exactly two places, as every API message writes money.
type Amount decimal.Decimal

// Dec is the amount as a decimal.
func (a Amount) Dec() decimal.Decimal { return decimal.Decimal(a) }

// String is the two-place text of the amount.
func (a Amount) String() string { return ledger.Money(decimal.Decimal(a)) }

// MarshalJSON writes the two-place string.
func (a Amount) MarshalJSON() ([]byte, error) { return json.Marshal(a.String()) }

// UnmarshalJSON reads a decimal string, so a read result round-trips.
func (a *Amount) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("amount: want a decimal string: %w", err)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return fmt.Errorf("amount %q: %w", s, err)
	}
	*a = Amount(d)
	return nil
}

// Page sizes of the paged reads.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

func clampLimit(limit int) int {
	if limit <= 0 {
		return DefaultLimit
	}
	return min(limit, MaxLimit)
}

// read runs f in a read-only REPEATABLE READ transaction.
func (s *Store) read(ctx context.Context, f func(pgx.Tx) error) error {
	return pgx.BeginTxFunc(ctx, s.Pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, f)
}

// FundSummary is one fund as GET /v1/funds lists it.
type FundSummary struct {
	FundID        string `json:"fund_id"`
	Name          string `json:"name"`
	Currency      string `json:"currency"`
	Cash          Amount `json:"cash"`
	GrantsPayable Amount `json:"grants_payable"`
	Available     Amount `json:"available"`
	// HeadSeq is the fund's last journal sequence (0 before any posting).
	HeadSeq int64 `json:"head_seq"`
}

const fundSummarySQL = `
	SELECT f.fund_id, f.name, f.currency, f.head_seq,
	       coalesce(c.debits - c.credits, 0), coalesce(g.credits - g.debits, 0)
	  FROM funds f
	  LEFT JOIN balances c ON c.fund_id = f.fund_id AND c.account = 'cash'
	  LEFT JOIN balances g ON g.fund_id = f.fund_id AND g.account = 'grants_payable'`

func scanFundSummary(r pgx.Row) (FundSummary, error) {
	var f FundSummary
	var cash, payable decimal.Decimal
	err := r.Scan(&f.FundID, &f.Name, &f.Currency, &f.HeadSeq, &cash, &payable)
	f.Cash, f.GrantsPayable, f.Available = Amount(cash), Amount(payable), Amount(cash.Sub(payable))
	return f, err
}

// ListFunds lists every fund, by id, with its cash, grants payable and
// available amount from the kept balances.
func (s *Store) ListFunds(ctx context.Context) ([]FundSummary, error) {
	rows, err := s.Pool.Query(ctx, fundSummarySQL+` ORDER BY f.fund_id`)
	if err != nil {
		return nil, fmt.Errorf("list funds: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (FundSummary, error) { return scanFundSummary(r) })
	if err != nil {
		return nil, fmt.Errorf("list funds: %w", err)
	}
	if out == nil {
		out = []FundSummary{}
	}
	return out, nil
}

// Fund returns one fund's summary, or a ReadError of kind ErrNotFound.
func (s *Store) Fund(ctx context.Context, fundID string) (FundSummary, error) {
	f, err := scanFundSummary(s.Pool.QueryRow(ctx, fundSummarySQL+` WHERE f.fund_id = $1`, fundID))
	if errors.Is(err, pgx.ErrNoRows) {
		return f, notFound("fund %q not found", fundID)
	}
	if err != nil {
		return f, fmt.Errorf("read fund: %w", err)
	}
	return f, nil
}

// fundHead is what a read needs to know of a fund's journal.
type fundHead struct {
	id, name, currency string
	openedAt           time.Time
	headSeq            int64
	openGrants         int64
}

func loadHead(ctx context.Context, tx pgx.Tx, fundID string) (fundHead, error) {
	h := fundHead{id: fundID}
	err := tx.QueryRow(ctx, `SELECT name, currency, opened_at, head_seq, open_grants FROM funds WHERE fund_id = $1`, fundID).
		Scan(&h.name, &h.currency, &h.openedAt, &h.headSeq, &h.openGrants)
	if errors.Is(err, pgx.ErrNoRows) {
		return h, notFound("fund %q not found", fundID)
	}
	if err != nil {
		return h, fmt.Errorf("read fund: %w", err)
	}
	return h, nil
}

// Balances is a fund's accounts as they stand after one journal
// transaction, in the shape of a snapshot (CONTRACT.md section 6), so the
// two can be compared field by field.
type Balances struct {
	FundID         string               `json:"fund_id"`
	Currency       string               `json:"currency"`
	AsOfJournalSeq int64                `json:"as_of_journal_seq"`
	AsOf           string               `json:"as_of"`
	ChainHead      string               `json:"chain_head"`
	Accounts       []ledger.AccountLine `json:"accounts"`
	TotalDebits    string               `json:"total_debits"`
	TotalCredits   string               `json:"total_credits"`
	Balanced       bool                 `json:"balanced"`
	Available      string               `json:"available"`
	// OutstandingGrants is given for the current books only: the count of
	// grants with something owed is kept, not derivable from postings.
	OutstandingGrants *ledger.Outstanding `json:"outstanding_grants,omitempty"`
	// HeadSeq is the fund's last journal sequence when this was read.
	HeadSeq int64 `json:"head_seq"`
}

// FundBalances returns the fund's accounts now (asOfSeq nil) or as they
// stood after journal transaction *asOfSeq (0 is the book as opened). A
// sequence past the head is a ReadError of kind ErrOutOfRange.
func (s *Store) FundBalances(ctx context.Context, fundID string, asOfSeq *int64) (*Balances, error) {
	var out *Balances
	err := s.read(ctx, func(tx pgx.Tx) error {
		h, err := loadHead(ctx, tx, fundID)
		if err != nil {
			return err
		}
		seq := h.headSeq
		if asOfSeq != nil {
			seq = *asOfSeq
		}
		if seq < 0 || seq > h.headSeq {
			return ledger.Errorf(ledger.KindInvalid, "as_of_journal_seq %d is outside fund %q's journal (0 to %d)", seq, fundID, h.headSeq)
		}
		bal, err := balancesAt(ctx, tx, h, seq)
		if err != nil {
			return err
		}
		out, err = balancesView(ctx, tx, h, seq, bal)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func balancesView(ctx context.Context, tx pgx.Tx, h fundHead, seq int64, bal map[string]*ledger.Balance) (*Balances, error) {
	asOf, chain := h.openedAt, ledger.GenesisHash
	if seq > 0 {
		if err := tx.QueryRow(ctx, `SELECT recorded_at, hash FROM journal WHERE fund_id = $1 AND seq = $2`, h.id, seq).Scan(&asOf, &chain); err != nil {
			return nil, fmt.Errorf("read journal %s/%d: %w", h.id, seq, err)
		}
	}
	lines, dr, cr := ledger.AccountLines(bal)
	f := ledger.Fund{Balances: bal}
	b := &Balances{
		FundID: h.id, Currency: h.currency, AsOfJournalSeq: seq, AsOf: ledger.TimeText(asOf), ChainHead: hex.EncodeToString(chain),
		Accounts: lines, TotalDebits: ledger.Money(dr), TotalCredits: ledger.Money(cr), Balanced: dr.Equal(cr),
		Available: ledger.Money(f.Available()), HeadSeq: h.headSeq,
	}
	if seq == h.headSeq {
		b.OutstandingGrants = &ledger.Outstanding{Count: h.openGrants, Amount: ledger.Money(f.Amount(ledger.AccountGrantsPayable))}
	}
	return b, nil
}

// balancesAt computes the fund's balances after transaction seq, reading
// as few postings as it can. It starts from the nearest point whose
// balances are known without summing: the empty book (seq 0), the kept
// balances (the head), or the nearest snapshot (each lists every account's
// debits and credits at its as_of_journal_seq, and the ledger takes one
// every SNAPSHOT_EVERY postings). From there it adds the postings up to seq
// or takes away those after it: one range of the postings' primary key
// (fund_id, seq, line), never longer than half the distance between two
// known points. Distance is counted in transactions, which is near enough
// to postings (two each, but for none). The caller's transaction must be
// REPEATABLE READ, so the kept balances, the snapshots and the postings
// agree.
//
// Accounts with no posting up to seq are left out, as a snapshot taken at
// seq would have had no balance row for them.
func balancesAt(ctx context.Context, tx pgx.Tx, h fundHead, seq int64) (map[string]*ledger.Balance, error) {
	bal := map[string]*ledger.Balance{}
	base, dist := int64(0), seq // the empty book
	fromHead := h.headSeq-seq <= dist
	if fromHead {
		base, dist = h.headSeq, h.headSeq-seq
	}
	var snapSeq int64 // snapshot_seq of a nearer snapshot, 0 for none
	if dist > 0 {
		// Every snapshot's as_of_journal_seq is read (a few thousand rows
		// for a fund with tens of millions of postings; an index on
		// snapshots (fund_id, as_of_journal_seq) would make it two probes),
		// but only the chosen one's accounts.
		var sseq, asOf int64
		err := tx.QueryRow(ctx, `
			SELECT snapshot_seq, as_of_journal_seq FROM snapshots WHERE fund_id = $1
			 ORDER BY abs(as_of_journal_seq - $2), snapshot_seq LIMIT 1`, h.id, seq).Scan(&sseq, &asOf)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return nil, fmt.Errorf("find nearest snapshot: %w", err)
		case abs(asOf-seq) < dist:
			snapSeq, base, fromHead = sseq, asOf, false
		}
	}
	switch {
	case fromHead:
		rows, err := tx.Query(ctx, `SELECT account, debits, credits FROM balances WHERE fund_id = $1`, h.id)
		if err != nil {
			return nil, fmt.Errorf("read balances: %w", err)
		}
		for rows.Next() {
			var acct string
			var dr, cr decimal.Decimal
			if err := rows.Scan(&acct, &dr, &cr); err != nil {
				return nil, fmt.Errorf("read balances: %w", err)
			}
			bal[acct] = ledger.NewBalance(dr, cr)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read balances: %w", err)
		}
	case snapSeq > 0:
		var lines []ledger.AccountLine
		if err := tx.QueryRow(ctx, `SELECT body->'accounts' FROM snapshots WHERE fund_id = $1 AND snapshot_seq = $2`, h.id, snapSeq).Scan(&lines); err != nil {
			return nil, fmt.Errorf("read snapshot %d: %w", snapSeq, err)
		}
		for _, l := range lines {
			dr, err1 := decimal.NewFromString(l.Debits)
			cr, err2 := decimal.NewFromString(l.Credits)
			if err := errors.Join(err1, err2); err != nil {
				return nil, fmt.Errorf("snapshot %d account %s: %w", snapSeq, l.Account, err)
			}
			bal[l.Account] = ledger.NewBalance(dr, cr)
		}
	}
	switch {
	case base < seq:
		if err := sumPostings(ctx, tx, h.id, base, seq, bal, false); err != nil {
			return nil, err
		}
	case base > seq:
		if err := sumPostings(ctx, tx, h.id, seq, base, bal, true); err != nil {
			return nil, err
		}
	}
	for acct, b := range bal {
		if b.Debits.IsZero() && b.Credits.IsZero() {
			delete(bal, acct)
		}
	}
	return bal, nil
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// sumPostings adds (or, with subtract, takes away) the postings of
// transactions after from and up to to.
func sumPostings(ctx context.Context, tx pgx.Tx, fundID string, from, to int64, bal map[string]*ledger.Balance, subtract bool) error {
	rows, err := tx.Query(ctx, `
		SELECT account, coalesce(sum(amount) FILTER (WHERE side = 'debit'), 0), coalesce(sum(amount) FILTER (WHERE side = 'credit'), 0)
		  FROM postings WHERE fund_id = $1 AND seq > $2 AND seq <= $3 GROUP BY account`, fundID, from, to)
	if err != nil {
		return fmt.Errorf("sum postings: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var acct string
		var dr, cr decimal.Decimal
		if err := rows.Scan(&acct, &dr, &cr); err != nil {
			return fmt.Errorf("sum postings: %w", err)
		}
		b := bal[acct]
		if b == nil {
			b = ledger.NewBalance(decimal.Zero, decimal.Zero)
			bal[acct] = b
		}
		if subtract {
			b.Debits, b.Credits = b.Debits.Sub(dr), b.Credits.Sub(cr)
		} else {
			b.Debits, b.Credits = b.Debits.Add(dr), b.Credits.Add(cr)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sum postings: %w", err)
	}
	return nil
}

// JournalPage is one page of a fund's journal, oldest first. NextAfterSeq
// is the after_seq of the next page: the last sequence returned, or the
// requested one when the page is empty (nothing newer yet).
type JournalPage struct {
	Transactions []*ledger.Txn `json:"transactions"`
	NextAfterSeq int64         `json:"next_after_seq"`
}

// Journal returns up to limit transactions of the fund after afterSeq,
// with their postings. limit is clamped to 1..MaxLimit (0 means
// DefaultLimit).
func (s *Store) Journal(ctx context.Context, fundID string, afterSeq int64, limit int) (*JournalPage, error) {
	limit = clampLimit(limit)
	page := &JournalPage{Transactions: []*ledger.Txn{}, NextAfterSeq: afterSeq}
	err := s.read(ctx, func(tx pgx.Tx) error {
		if _, err := loadHead(ctx, tx, fundID); err != nil {
			return err
		}
		txns, err := readTxns(ctx, tx, []txnRange{{fundID: fundID, after: afterSeq, n: limit}})
		if err != nil || len(txns) == 0 {
			return err
		}
		page.Transactions, page.NextAfterSeq = txns, txns[len(txns)-1].Seq
		return nil
	})
	if err != nil {
		return nil, err
	}
	return page, nil
}

// GrantSummary is a grant's figures: what the register lists per grant.
// Outstanding and State follow ledger.Grant.
type GrantSummary struct {
	GrantID        string `json:"grant_id"`
	BeneficiaryRef string `json:"beneficiary_ref"`
	Program        string `json:"program"`
	Category       string `json:"category"`
	ApprovedOn     string `json:"approved_on"`
	State          string `json:"state"` // open, paid or cancelled
	Approved       Amount `json:"approved"`
	Paid           Amount `json:"paid"`
	Returned       Amount `json:"returned"`
	Cancelled      Amount `json:"cancelled"`
	Recovered      Amount `json:"recovered"`
	Outstanding    Amount `json:"outstanding"`
}

// Grant is one grant with its payments and history (GET
// /v1/funds/{fund_id}/grants/{grant_id}).
type Grant struct {
	FundID  string `json:"fund_id"`
	EventID string `json:"event_id"` // the approval's envelope id
	GrantSummary
	Payments   []Payment    `json:"payments"`
	Returns    []GrantEvent `json:"returns"`
	Recoveries []GrantEvent `json:"recoveries"`
	// Cancellation is null while the grant is not cancelled.
	Cancellation *GrantEvent `json:"cancellation"`
	// History is everything that happened to the grant, in order.
	History []GrantEvent `json:"history"`
}

// Payment is one disbursement of a grant and how much of it came back.
type Payment struct {
	PaymentID  string `json:"payment_id"`
	Amount     Amount `json:"amount"`
	Returned   Amount `json:"returned"`
	PaidOn     string `json:"paid_on"`
	BankRef    string `json:"bank_ref"`
	EventID    string `json:"event_id"`
	JournalSeq int64  `json:"journal_seq"`
}

// GrantEvent is one line of a grant's history: approved, disbursed,
// returned, cancelled or recovered.
type GrantEvent struct {
	N          int    `json:"n"`
	Kind       string `json:"kind"`
	PaymentID  string `json:"payment_id,omitempty"`  // disbursed, returned
	RecoveryID string `json:"recovery_id,omitempty"` // recovered
	Amount     Amount `json:"amount"`
	// JournalSeq is null when nothing was posted (a cancellation of a
	// grant with nothing outstanding).
	JournalSeq *int64 `json:"journal_seq"`
	EventID    string `json:"event_id"`
	Time       string `json:"time"`
}

const grantSummaryCols = `grant_id, beneficiary_ref, program, category, approved_on, event_id,
	approved, paid, returned, cancelled, recovered, closed`

func scanGrant(r pgx.Row, fundID string) (GrantSummary, string, error) {
	g := ledger.Grant{GrantKey: ledger.GrantKey{FundID: fundID}}
	if err := r.Scan(&g.GrantID, &g.BeneficiaryRef, &g.Program, &g.Category, &g.ApprovedOn, &g.EventID,
		&g.Approved, &g.Paid, &g.Returned, &g.Cancelled, &g.Recovered, &g.Closed); err != nil {
		return GrantSummary{}, "", err
	}
	return GrantSummary{
		GrantID: g.GrantID, BeneficiaryRef: g.BeneficiaryRef, Program: g.Program, Category: g.Category,
		ApprovedOn: g.ApprovedOn.Format(time.DateOnly), State: g.State(),
		Approved: Amount(g.Approved), Paid: Amount(g.Paid), Returned: Amount(g.Returned), Cancelled: Amount(g.Cancelled),
		Recovered: Amount(g.Recovered), Outstanding: Amount(g.Outstanding()),
	}, g.EventID, nil
}

// Grant returns a grant with its payments, returns, recoveries and
// cancellation, or a ReadError of kind ErrNotFound naming the fund or the
// grant that is missing.
func (s *Store) Grant(ctx context.Context, fundID, grantID string) (*Grant, error) {
	var out *Grant
	err := s.read(ctx, func(tx pgx.Tx) error {
		if _, err := loadHead(ctx, tx, fundID); err != nil {
			return err
		}
		sum, ev, err := scanGrant(tx.QueryRow(ctx, `SELECT `+grantSummaryCols+` FROM grants WHERE fund_id = $1 AND grant_id = $2`, fundID, grantID), fundID)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("grant %q not found in fund %q", grantID, fundID)
		}
		if err != nil {
			return fmt.Errorf("read grant: %w", err)
		}
		gs, err := grantDetails(ctx, tx, fundID, []GrantSummary{sum}, []string{ev})
		if err != nil {
			return err
		}
		g := gs[0]
		out = g
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GrantRegister calls row for every grant of the fund, by grant id, with
// the fund's summary read in the same transaction. It streams: a fund with
// millions of grants is not held in memory.
func (s *Store) GrantRegister(ctx context.Context, fundID string, head func(FundSummary) error, row func(GrantSummary) error) error {
	return s.read(ctx, func(tx pgx.Tx) error {
		f, err := scanFundSummary(tx.QueryRow(ctx, fundSummarySQL+` WHERE f.fund_id = $1`, fundID))
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("fund %q not found", fundID)
		}
		if err != nil {
			return fmt.Errorf("read fund: %w", err)
		}
		if err := head(f); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+grantSummaryCols+` FROM grants WHERE fund_id = $1 ORDER BY grant_id`, fundID)
		if err != nil {
			return fmt.Errorf("read grants: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			g, _, err := scanGrant(rows, fundID)
			if err != nil {
				return fmt.Errorf("read grants: %w", err)
			}
			if err := row(g); err != nil {
				return err
			}
		}
		return rows.Err()
	})
}

// RejectionPage is one page of stored rejections, oldest first. NextAfter
// is the after of the next page.
type RejectionPage struct {
	Rejections []RejectionView `json:"rejections"`
	NextAfter  int64           `json:"next_after"`
}

// Rejections lists stored rejections with seq after after, of one fund
// when fundID is not empty (also funds never opened, and "_unknown").
func (s *Store) Rejections(ctx context.Context, fundID string, after int64, limit int) (*RejectionPage, error) {
	return s.RejectionsFiltered(ctx, RejectionFilter{FundID: fundID}, after, limit)
}

// RejectionFilter narrows the rejections list; zero fields do not filter.
type RejectionFilter struct {
	// FundID is the fund token of the subject (also of funds never opened,
	// and "_unknown").
	FundID string
	// Funds, when not nil, keeps only the rejections of these funds (the
	// funds a token may read).
	Funds []string
	// Code is the rejection code; Type the event's type as received.
	Code, Type string
	// From and To bound received_at: From included, To excluded.
	From, To time.Time
}

// RejectionsFiltered lists stored rejections that match f with seq after
// after, oldest first. It walks the rejections' primary key (or, for one
// fund, the index rejections_fund) and tests the other conditions on the
// way: refused events are few beside the journal, and no index more is
// kept for them. To before From is a ReadError of kind ErrOutOfRange.
func (s *Store) RejectionsFiltered(ctx context.Context, f RejectionFilter, after int64, limit int) (*RejectionPage, error) {
	limit = clampLimit(limit)
	if !f.From.IsZero() && !f.To.IsZero() && f.To.Before(f.From) {
		return nil, ledger.Errorf(ledger.KindInvalid, "to %s is before from %s", ledger.TimeText(f.To), ledger.TimeText(f.From))
	}
	args := []any{after}
	cond := []string{"seq > $1"}
	add := func(format string, v any) {
		args = append(args, v)
		cond = append(cond, fmt.Sprintf(format, "$"+strconv.Itoa(len(args))))
	}
	if f.FundID != "" {
		add("fund_id = %s", f.FundID)
	}
	if f.Funds != nil {
		add("fund_id = ANY(%s::text[])", f.Funds)
	}
	if f.Code != "" {
		add("code = %s", f.Code)
	}
	if f.Type != "" {
		add("type = %s", f.Type)
	}
	if !f.From.IsZero() {
		add("received_at >= %s", f.From)
	}
	if !f.To.IsZero() {
		add("received_at < %s", f.To)
	}
	args = append(args, limit)
	rows, err := s.Pool.Query(ctx, `
		SELECT seq, event_id, type, fund_id, code, message, lines, received_at, raw, raw_base64, raw_headers
		  FROM rejections WHERE `+strings.Join(cond, " AND ")+` ORDER BY seq LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("read rejections: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (RejectionView, error) {
		var v RejectionView
		var code string
		var lines []byte
		var at time.Time
		var b64 bool
		var header []byte
		if err := r.Scan(&v.Seq, &v.EventID, &v.Type, &v.FundID, &code, &v.Message, &lines, &at, &v.Raw, &b64, &header); err != nil {
			return v, err
		}
		if len(header) > 0 {
			if err := json.Unmarshal(header, &v.RawHeaders); err != nil {
				return v, fmt.Errorf("rejection %d headers: %w", v.Seq, err)
			}
		}
		v.Code, v.ReceivedAt, v.RawEncoding = events.Code(code), ledger.TimeText(at), "utf-8"
		if b64 {
			v.RawEncoding = "base64"
		}
		v.Lines = []events.LineError{}
		if len(lines) > 0 {
			if err := json.Unmarshal(lines, &v.Lines); err != nil {
				return v, fmt.Errorf("rejection %d lines: %w", v.Seq, err)
			}
		}
		return v, nil
	})
	if err != nil {
		return nil, fmt.Errorf("read rejections: %w", err)
	}
	page := &RejectionPage{Rejections: list, NextAfter: after}
	if page.Rejections == nil {
		page.Rejections = []RejectionView{}
	}
	if n := len(list); n > 0 {
		page.NextAfter = list[n-1].Seq
	}
	return page, nil
}

// Snapshot returns snapshot seq of the fund (0: the latest) exactly as it
// was published on ledger.<fund>.snapshot, byte for byte, so its
// signature can be checked against what the API returns.
func (s *Store) Snapshot(ctx context.Context, fundID string, seq int64) ([]byte, error) {
	return s.publishedBySeq(ctx, "snapshots", "snapshot_seq", "snapshot", fundID, seq)
}

// SnapshotBodies returns the published bytes of the fund's snapshots after
// snapshot_seq after, oldest first, at most limit: the bodies of the page
// Snapshots(ctx, fundID, after, limit) lists, in one read.
func (s *Store) SnapshotBodies(ctx context.Context, fundID string, after int64, limit int) ([][]byte, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.Pool.Query(ctx, `SELECT published FROM snapshots WHERE fund_id = $1 AND snapshot_seq > $2
		ORDER BY snapshot_seq LIMIT $3`, fundID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read snapshots: %w", err)
	}
	bodies, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return nil, fmt.Errorf("read snapshots: %w", err)
	}
	return bodies, nil
}

// publishedBySeq reads the published bytes of a fund's signed document
// numbered seq in column seqCol of table (0: the latest): ErrNotFound when
// the fund does not exist or has no such document. table and seqCol are
// the caller's constants, never input.
func (s *Store) publishedBySeq(ctx context.Context, table, seqCol, what, fundID string, seq int64) ([]byte, error) {
	var body []byte
	err := s.read(ctx, func(tx pgx.Tx) error {
		if _, err := loadHead(ctx, tx, fundID); err != nil {
			return err
		}
		var err error
		if seq == 0 {
			err = tx.QueryRow(ctx, `SELECT published FROM `+table+` WHERE fund_id = $1 ORDER BY `+seqCol+` DESC LIMIT 1`, fundID).Scan(&body)
		} else {
			err = tx.QueryRow(ctx, `SELECT published FROM `+table+` WHERE fund_id = $1 AND `+seqCol+` = $2`, fundID, seq).Scan(&body)
		}
		if errors.Is(err, pgx.ErrNoRows) {
			if seq == 0 {
				return notFound("fund %q has no %s yet", fundID, what)
			}
			return notFound("fund %q has no %s %d", fundID, what, seq)
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", what, err)
		}
		return nil
	})
	return body, err
}

// SnapshotInfo is one snapshot in a fund's list of snapshots.
type SnapshotInfo struct {
	SnapshotSeq    int64  `json:"snapshot_seq"`
	Label          string `json:"label"`
	AsOfJournalSeq int64  `json:"as_of_journal_seq"`
	AsOf           string `json:"as_of"`
	ChainHead      string `json:"chain_head"`
	Balanced       bool   `json:"balanced"`
	Available      string `json:"available"`
	KeyID          string `json:"key_id"`
	CreatedAt      string `json:"created_at"`
	// TreeSize and TreeRoot are the Merkle tree head the snapshot signs
	// (CONTRACT.md section 12), absent for a version 1 snapshot.
	TreeSize *int64 `json:"tree_size,omitempty"`
	TreeRoot string `json:"tree_root,omitempty"`
}

// SnapshotPage is one page of a fund's snapshots, oldest first.
type SnapshotPage struct {
	Snapshots []SnapshotInfo `json:"snapshots"`
	NextAfter int64          `json:"next_after"`
}

// Snapshots lists the fund's snapshots with snapshot_seq after after.
func (s *Store) Snapshots(ctx context.Context, fundID string, after int64, limit int) (*SnapshotPage, error) {
	limit = clampLimit(limit)
	page := &SnapshotPage{Snapshots: []SnapshotInfo{}, NextAfter: after}
	err := s.read(ctx, func(tx pgx.Tx) error {
		if _, err := loadHead(ctx, tx, fundID); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `
			SELECT snapshot_seq, label, as_of_journal_seq, body->>'as_of', body->>'chain_head', (body->>'balanced')::boolean,
			       body->>'available', coalesce(body->>'key_id', ''), created_at,
			       (body->>'tree_size')::bigint, coalesce(body->>'tree_root', '')
			  FROM snapshots WHERE fund_id = $1 AND snapshot_seq > $2 ORDER BY snapshot_seq LIMIT $3`, fundID, after, limit)
		if err != nil {
			return fmt.Errorf("read snapshots: %w", err)
		}
		list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (SnapshotInfo, error) {
			var i SnapshotInfo
			var at time.Time
			err := r.Scan(&i.SnapshotSeq, &i.Label, &i.AsOfJournalSeq, &i.AsOf, &i.ChainHead, &i.Balanced, &i.Available, &i.KeyID, &at,
				&i.TreeSize, &i.TreeRoot)
			i.CreatedAt = ledger.TimeText(at)
			return i, err
		})
		if err != nil {
			return fmt.Errorf("read snapshots: %w", err)
		}
		if n := len(list); n > 0 {
			page.Snapshots, page.NextAfter = list, list[n-1].SnapshotSeq
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return page, nil
}

// StatementInfo heads an account statement: the fund and the journal
// range the period covers. Transactions OpeningSeq+1 to ClosingSeq were
// recorded in [From, To).
type StatementInfo struct {
	FundID, Name, Currency string
	From, To               time.Time
	OpeningSeq, ClosingSeq int64
}

// Kinds of statement line.
const (
	StatementOpening = "opening"
	StatementPosting = "posting"
	StatementClosing = "closing"
)

// StatementLine is one line of an account statement. For each account, in
// name order: an opening line (Balance is the balance before the period),
// its postings in the period in journal order (Debit or Credit by Side,
// Balance the running balance), and a closing line (Debit and Credit are
// the period's totals, Balance the closing balance). Balances are on the
// account's normal side.
type StatementLine struct {
	Kind    string
	Account string
	Seq     int64
	Time    time.Time
	Type    string
	EventID string
	Side    ledger.Side
	Debit   Amount
	Credit  Amount
	Balance Amount
}

// Statement streams the fund's account statement for the transactions
// recorded in [from, to): head first, then every line. Every account with a
// balance before the period or a posting in it has an opening and a
// closing line. The closing balances are the balances as of ClosingSeq.
//
// A fund's recorded times never go backwards (the ledger holds them at the
// head's time when the clock does), so the period is a range of sequence
// numbers, found by walking the journal's primary key back from the head:
// cheap for recent periods, which is what statements are mostly asked for.
func (s *Store) Statement(ctx context.Context, fundID string, from, to time.Time, head func(StatementInfo) error, line func(StatementLine) error) error {
	if !to.After(from) {
		return ledger.Errorf(ledger.KindInvalid, "statement period is empty: %s is not before %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	return s.read(ctx, func(tx pgx.Tx) error {
		h, err := loadHead(ctx, tx, fundID)
		if err != nil {
			return err
		}
		lastBefore := func(t time.Time) (int64, error) {
			var seq int64
			err := tx.QueryRow(ctx, `SELECT seq FROM journal WHERE fund_id = $1 AND recorded_at < $2 ORDER BY seq DESC LIMIT 1`, fundID, t).Scan(&seq)
			if errors.Is(err, pgx.ErrNoRows) {
				return 0, nil
			}
			return seq, err
		}
		info := StatementInfo{FundID: fundID, Name: h.name, Currency: h.currency, From: from, To: to}
		if info.OpeningSeq, err = lastBefore(from); err != nil {
			return fmt.Errorf("statement: find period start: %w", err)
		}
		if info.ClosingSeq, err = lastBefore(to); err != nil {
			return fmt.Errorf("statement: find period end: %w", err)
		}
		opening, err := balancesAt(ctx, tx, h, info.OpeningSeq)
		if err != nil {
			return err
		}
		if err := head(info); err != nil {
			return err
		}
		names := make([]string, 0, len(opening))
		for n := range opening {
			names = append(names, n)
		}
		sort.Strings(names)

		var cur string
		var run, pdr, pcr decimal.Decimal
		open := func(acct string) error {
			run, pdr, pcr = decimal.Zero, decimal.Zero, decimal.Zero
			if b := opening[acct]; b != nil {
				run = b.On(acct)
			}
			cur = acct
			return line(StatementLine{Kind: StatementOpening, Account: acct, Balance: Amount(run)})
		}
		closeCur := func() error {
			return line(StatementLine{Kind: StatementClosing, Account: cur, Debit: Amount(pdr), Credit: Amount(pcr), Balance: Amount(run)})
		}
		quiet := func(acct string) error { // an account with no posting in the period
			if err := open(acct); err != nil {
				return err
			}
			return closeCur()
		}
		next := 0
		rows, err := tx.Query(ctx, `
			SELECT p.account, p.seq, p.side, p.amount, j.recorded_at, j.type, j.event_id
			  FROM postings p JOIN journal j ON j.fund_id = p.fund_id AND j.seq = p.seq
			 WHERE p.fund_id = $1 AND p.seq > $2 AND p.seq <= $3
			 ORDER BY p.account, p.seq, p.line`, fundID, info.OpeningSeq, info.ClosingSeq)
		if err != nil {
			return fmt.Errorf("statement: read postings: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var l StatementLine
			var side string
			var amount decimal.Decimal
			if err := rows.Scan(&l.Account, &l.Seq, &side, &amount, &l.Time, &l.Type, &l.EventID); err != nil {
				return fmt.Errorf("statement: read postings: %w", err)
			}
			if l.Account != cur {
				if cur != "" {
					if err := closeCur(); err != nil {
						return err
					}
				}
				for ; next < len(names) && names[next] < l.Account; next++ {
					if err := quiet(names[next]); err != nil {
						return err
					}
				}
				if next < len(names) && names[next] == l.Account {
					next++
				}
				if err := open(l.Account); err != nil {
					return err
				}
			}
			l.Kind, l.Side, l.Time = StatementPosting, ledger.Side(side), l.Time.UTC()
			debitNormal := ledger.DebitNormal(l.Account)
			if l.Side == ledger.Debit {
				l.Debit, pdr = Amount(amount), pdr.Add(amount)
			} else {
				l.Credit, pcr = Amount(amount), pcr.Add(amount)
			}
			if (l.Side == ledger.Debit) == debitNormal {
				run = run.Add(amount)
			} else {
				run = run.Sub(amount)
			}
			l.Balance = Amount(run)
			if err := line(l); err != nil {
				return err
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("statement: read postings: %w", err)
		}
		if cur != "" {
			if err := closeCur(); err != nil {
				return err
			}
		}
		for ; next < len(names); next++ {
			if err := quiet(names[next]); err != nil {
				return err
			}
		}
		return nil
	})
}
