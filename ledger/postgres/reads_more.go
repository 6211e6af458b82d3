package postgres

// The read API's searches (CONTRACT.md section 7): one fund with its
// programs, the journal filtered, the grants list, and a beneficiary's
// usage against each program's cap.
//
// They are made to stay fast on a fund of millions of transactions without
// costing the write path more than they must (docs/performance.md, "The
// read API's filters on a big fund", has the times and what the indexes
// cost):
//
//   - a time range becomes a range of seq: a fund's recorded times never go
//     backwards (ledger.nowOrHead, checked by verify), so the first and
//     last transaction of the range are found by binary search over the
//     journal's primary key, a few dozen probes;
//   - a grant's transactions are those grant_activity lists for it (the
//     grant's history, kept by the write path already, keyed by grant); a
//     beneficiary's are the approvals of its grants, found by the index
//     grants_beneficiary; a small program's are those of the grants of its
//     beneficiaries, whom cap_usage lists by program. Each row found is
//     then tested against the journal row's refs, so these tables only
//     narrow the search, they never decide what matches;
//   - a bank reference, rare by nature, and a type other than the three
//     common ones use the partial indexes journal_bank_ref and
//     journal_rare_type (migration 012);
//   - everything else (a common type, a big program, no filter) walks the
//     journal's primary key (fund_id, seq) in keyset order, testing each
//     row, and stops at the page's limit: quick, as a common value is
//     found every few rows.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fundledger/fundledger/ledger"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// ProgramInfo is one program of a fund and its cap per beneficiary and
// calendar year (nil: no cap).
type ProgramInfo struct {
	Code string  `json:"code"`
	Cap  *Amount `json:"annual_cap_per_beneficiary"`
}

// FundDetail is one fund as GET /v1/funds/{fund_id} shows it: its summary
// and its programs, by code (byte order).
type FundDetail struct {
	FundSummary
	Programs []ProgramInfo `json:"programs"`
}

// FundDetail returns the fund's summary and programs, or a ReadError of
// kind ErrNotFound.
func (s *Store) FundDetail(ctx context.Context, fundID string) (*FundDetail, error) {
	var out *FundDetail
	err := s.read(ctx, func(tx pgx.Tx) error {
		f, err := scanFundSummary(tx.QueryRow(ctx, fundSummarySQL+` WHERE f.fund_id = $1`, fundID))
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("fund %q not found", fundID)
		}
		if err != nil {
			return fmt.Errorf("read fund: %w", err)
		}
		rows, err := tx.Query(ctx, `SELECT code, cap FROM programs WHERE fund_id = $1 ORDER BY code COLLATE "C"`, fundID)
		if err != nil {
			return fmt.Errorf("read programs: %w", err)
		}
		progs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ProgramInfo, error) {
			var p ProgramInfo
			var cap decimal.NullDecimal
			err := r.Scan(&p.Code, &cap)
			if cap.Valid {
				a := Amount(cap.Decimal)
				p.Cap = &a
			}
			return p, err
		})
		if err != nil {
			return fmt.Errorf("read programs: %w", err)
		}
		if progs == nil {
			progs = []ProgramInfo{}
		}
		out = &FundDetail{FundSummary: f, Programs: progs}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// JournalFilter narrows a journal page (CONTRACT.md section 7). Every
// field is optional (the zero value does not filter) and they combine:
// a transaction is listed when it matches all that are set.
type JournalFilter struct {
	// Type is the transaction's type (a batch line's is
	// grant.batch.approved).
	Type string
	// From and To bound the recorded time: From included, To excluded.
	From, To time.Time
	// GrantID, BeneficiaryRef, BankRef and Program match the transaction's
	// refs of the same name.
	GrantID, BeneficiaryRef, BankRef, Program string
}

// IsZero says whether the filter lets every transaction through.
func (f JournalFilter) IsZero() bool { return f == JournalFilter{} }

// JournalFiltered returns up to limit transactions of the fund after
// afterSeq that match f, oldest first, with their postings. NextAfterSeq
// is the last sequence returned, or afterSeq when none matched. To before
// From is a ReadError of kind ErrOutOfRange.
func (s *Store) JournalFiltered(ctx context.Context, fundID string, afterSeq int64, limit int, f JournalFilter) (*JournalPage, error) {
	if f.IsZero() {
		return s.Journal(ctx, fundID, afterSeq, limit)
	}
	limit = clampLimit(limit)
	page := &JournalPage{Transactions: []*ledger.Txn{}, NextAfterSeq: afterSeq}
	err := s.read(ctx, func(tx pgx.Tx) error {
		h, err := loadHead(ctx, tx, fundID)
		if err != nil {
			return err
		}
		if !f.From.IsZero() && !f.To.IsZero() && f.To.Before(f.From) {
			return ledger.Errorf(ledger.KindInvalid, "to %s is before from %s", ledger.TimeText(f.To), ledger.TimeText(f.From))
		}
		lo, hi := afterSeq, h.headSeq
		if !f.From.IsZero() {
			b, err := lastRecordedBefore(ctx, tx, fundID, h.headSeq, f.From)
			if err != nil {
				return err
			}
			lo = max(lo, b)
		}
		if !f.To.IsZero() {
			b, err := lastRecordedBefore(ctx, tx, fundID, h.headSeq, f.To)
			if err != nil {
				return err
			}
			hi = min(hi, b)
		}
		if lo >= hi {
			return nil
		}
		if err := customPlans(ctx, tx); err != nil {
			return err
		}
		byProgram := false
		if f.Program != "" && f.GrantID == "" && f.BeneficiaryRef == "" {
			k, err := programSize(ctx, tx, fundID, f.Program)
			if err != nil || k == 0 {
				return err
			}
			byProgram = k <= ProgramLookupMax
		}
		sql, args := journalFilterSQL(fundID, lo, hi, limit, f, byProgram)
		rows, err := tx.Query(ctx, sql, args...)
		if err != nil {
			return fmt.Errorf("read journal: %w", err)
		}
		txns, err := pgx.CollectRows(rows, scanTxn)
		if err != nil {
			return fmt.Errorf("read journal: %w", err)
		}
		if len(txns) == 0 {
			return nil
		}
		if err := readPostingsOf(ctx, tx, fundID, txns); err != nil {
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

// customPlans makes the planner plan each statement of tx with its
// parameters' values, never with a generic plan cached for the statement:
// which index serves a search depends on the value (a common type walks
// the primary key, a rare one its index), and a generic plan picks one
// for all.
func customPlans(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `SET LOCAL plan_cache_mode = force_custom_plan`); err != nil {
		return fmt.Errorf("set plan_cache_mode: %w", err)
	}
	return nil
}

// lastRecordedBefore is the last seq of the fund recorded before t (0 when
// none): a binary search over seq 1..head, one probe of the primary key per
// step, in one statement. It relies on recorded times never going
// backwards within a fund.
func lastRecordedBefore(ctx context.Context, tx pgx.Tx, fundID string, head int64, t time.Time) (int64, error) {
	var seq int64
	err := tx.QueryRow(ctx, `
		WITH RECURSIVE b(lo, hi) AS (
		    SELECT 0::bigint, $2::bigint
		  UNION ALL
		    SELECT CASE WHEN m.before THEN m.mid ELSE b.lo END,
		           CASE WHEN m.before THEN b.hi ELSE m.mid - 1 END
		      FROM b
		      CROSS JOIN LATERAL (SELECT (b.lo + b.hi + 1) / 2 AS mid) x
		      CROSS JOIN LATERAL (SELECT x.mid, j.recorded_at < $3 AS before
		                            FROM journal j WHERE j.fund_id = $1 AND j.seq = x.mid) m
		     WHERE b.lo < b.hi)
		SELECT lo FROM b WHERE lo = hi`, fundID, head, t).Scan(&seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("find the journal position of %s: fund %q's journal has a gap below seq %d", ledger.TimeText(t), fundID, head)
	}
	if err != nil {
		return 0, fmt.Errorf("find the journal position of %s: %w", ledger.TimeText(t), err)
	}
	return seq, nil
}

// ProgramLookupMax is the size of a program, in (beneficiary, year) rows
// of cap_usage, up to which a search by program goes through the
// program's beneficiaries and their grants rather than walking the journal
// or the grants in order. A bigger program is common enough for the walk
// to find a page quickly, unless it is much younger than the fund (see
// docs/performance.md). A variable so tests can take either way.
var ProgramLookupMax = 1000

// programSize counts the program's (beneficiary, year) rows in cap_usage,
// up to ProgramLookupMax+1. The write path keeps a row for every
// beneficiary and calendar year a grant of the program was approved in
// (the cap's usage, also when the program has no cap), and never deletes
// one: 0 means no transaction of the fund names the program.
func programSize(ctx context.Context, tx pgx.Tx, fundID, program string) (int, error) {
	var k int
	err := tx.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM cap_usage WHERE fund_id = $1 AND program = $2 LIMIT $3) c`,
		fundID, program, ProgramLookupMax+1).Scan(&k)
	if err != nil {
		return 0, fmt.Errorf("size program %q: %w", program, err)
	}
	return k, nil
}

// programGrantsSQL selects the grants of fund $1 in one program (the
// placeholder it is formatted with) through the program's beneficiaries
// in cap_usage and the index grants_beneficiary.
const programGrantsSQL = `
	SELECT g.* FROM (SELECT DISTINCT beneficiary_ref FROM cap_usage WHERE fund_id = $1 AND program = %[1]s) u
	  JOIN grants g ON g.fund_id = $1 AND g.beneficiary_ref = u.beneficiary_ref
	 WHERE g.program = %[1]s`

// commonTypes are the types that make the bulk of a fund's journal, left
// out of the index journal_rare_type (migrations/012_journal_search.sql):
// a page of one of them is found by walking the primary key.
var commonTypes = []string{"grant.approved", "grant.batch.approved", "grant.disbursed"}

// rareTypeSQL is journal_rare_type's WHERE clause, word for word, for the
// planner to see that the index serves a search by a rare type.
const rareTypeSQL = `j.type NOT IN ('grant.approved', 'grant.batch.approved', 'grant.disbursed')`

// journalFilterSQL is the query of one filtered page of transactions
// after lo and up to hi. The conditions on the journal row are always all
// there; what drives the search depends on the filter (see the top of this
// file); byProgram drives a search by program (alone among the refs) from
// its grants.
func journalFilterSQL(fundID string, lo, hi int64, limit int, f JournalFilter, byProgram bool) (string, []any) {
	args := []any{fundID, lo, hi}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	cond := []string{"j.fund_id = $1", "j.seq > $2", "j.seq <= $3"}
	if f.Type != "" {
		cond = append(cond, "j.type = "+arg(f.Type))
		if !slices.Contains(commonTypes, f.Type) {
			cond = append(cond, rareTypeSQL)
		}
	}
	if !f.From.IsZero() {
		cond = append(cond, "j.recorded_at >= "+arg(f.From))
	}
	if !f.To.IsZero() {
		cond = append(cond, "j.recorded_at < "+arg(f.To))
	}
	refs := []struct{ key, value string }{
		{"grant_id", f.GrantID}, {"beneficiary_ref", f.BeneficiaryRef}, {"bank_ref", f.BankRef}, {"program", f.Program}}
	refArg := map[string]string{}
	for _, r := range refs {
		if r.value != "" {
			refArg[r.key] = arg(r.value)
			// The ? test lets the planner use the partial index
			// journal_bank_ref (and costs nothing on the others).
			cond = append(cond, fmt.Sprintf("j.refs ? '%s' AND j.refs->>'%s' = %s", r.key, r.key, refArg[r.key]))
		}
	}
	where := strings.Join(cond, " AND ")
	const cols = `SELECT j.fund_id, j.seq, j.event_id, j.type, j.source, j.recorded_at, j.refs, j.prev_hash, j.hash`
	var sql string
	switch {
	case f.GrantID != "":
		sql = `WITH c AS MATERIALIZED (
		         SELECT DISTINCT a.journal_seq AS seq FROM grant_activity a
		          WHERE a.fund_id = $1 AND a.grant_id = ` + refArg["grant_id"] + ` AND a.journal_seq > $2 AND a.journal_seq <= $3)
		       ` + cols + ` FROM c JOIN journal j ON j.fund_id = $1 AND j.seq = c.seq WHERE ` + where
	case f.BeneficiaryRef != "":
		sql = `WITH c AS MATERIALIZED (
		         SELECT DISTINCT a.journal_seq AS seq FROM grants g
		           JOIN grant_activity a ON a.fund_id = g.fund_id AND a.grant_id = g.grant_id
		          WHERE g.fund_id = $1 AND g.beneficiary_ref = ` + refArg["beneficiary_ref"] + ` AND a.kind = 'approved'
		            AND a.journal_seq > $2 AND a.journal_seq <= $3)
		       ` + cols + ` FROM c JOIN journal j ON j.fund_id = $1 AND j.seq = c.seq WHERE ` + where
	case byProgram:
		sql = `WITH c AS MATERIALIZED (
		         SELECT DISTINCT a.journal_seq AS seq FROM (` + fmt.Sprintf(programGrantsSQL, refArg["program"]) + `) g
		           JOIN grant_activity a ON a.fund_id = g.fund_id AND a.grant_id = g.grant_id
		          WHERE a.journal_seq > $2 AND a.journal_seq <= $3)
		       ` + cols + ` FROM c JOIN journal j ON j.fund_id = $1 AND j.seq = c.seq WHERE ` + where
	default:
		sql = cols + ` FROM journal j WHERE ` + where
	}
	return sql + ` ORDER BY j.seq LIMIT ` + arg(int32(limit)), args
}

// scanTxn reads one journal row as readTxns selects it.
func scanTxn(r pgx.CollectableRow) (*ledger.Txn, error) {
	t := &ledger.Txn{Postings: []ledger.Posting{}}
	var refs map[string]string
	if err := r.Scan(&t.FundID, &t.Seq, &t.EventID, &t.Type, &t.Source, &t.Time, &refs, &t.PrevHash, &t.Hash); err != nil {
		return nil, err
	}
	t.Time = t.Time.UTC()
	for k, v := range refs {
		t.Refs = append(t.Refs, ledger.Ref{Key: k, Value: v})
	}
	ledger.SortRefs(t.Refs)
	return t, nil
}

// readPostingsOf reads the postings of exactly the given transactions of
// one fund (a filtered page's seqs are far apart: no range of them).
func readPostingsOf(ctx context.Context, tx pgx.Tx, fundID string, txns []*ledger.Txn) error {
	seqs := make([]int64, len(txns))
	bySeq := make(map[int64]*ledger.Txn, len(txns))
	for i, t := range txns {
		seqs[i], bySeq[t.Seq] = t.Seq, t
	}
	rows, err := tx.Query(ctx, `
		SELECT p.seq, p.account, p.side, p.amount FROM postings p
		 WHERE p.fund_id = $1 AND p.seq = ANY($2::bigint[]) ORDER BY p.seq, p.line`, fundID, seqs)
	if err != nil {
		return fmt.Errorf("read postings: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var p ledger.Posting
		var side string
		if err := rows.Scan(&seq, &p.Account, &side, &p.Amount); err != nil {
			return fmt.Errorf("read postings: %w", err)
		}
		p.Side = ledger.Side(side)
		if t := bySeq[seq]; t != nil {
			t.Postings = append(t.Postings, p)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read postings: %w", err)
	}
	return nil
}

// Grant states, as ledger.Grant.State names them.
const (
	GrantOpen      = "open"
	GrantPaid      = "paid"
	GrantCancelled = "cancelled"
)

// GrantFilter narrows the grants list; empty fields do not filter.
type GrantFilter struct {
	BeneficiaryRef string
	Program        string
	// State is GrantOpen, GrantPaid or GrantCancelled.
	State string
}

// GrantPage is one page of a fund's grants by grant_id in byte order.
// NextAfter is the last grant_id returned, or the after asked for when
// the page is empty.
type GrantPage struct {
	Grants    []*Grant `json:"grants"`
	NextAfter string   `json:"next_after"`
}

// grantStateSQL is the condition of each state on a grants row, the SQL of
// ledger.Grant.State.
var grantStateSQL = map[string]string{
	GrantCancelled: `closed`,
	GrantPaid:      `NOT closed AND approved - cancelled - paid + returned = 0`,
	GrantOpen:      `NOT closed AND approved - cancelled - paid + returned <> 0`,
}

// Grants lists the fund's grants that match f with a grant_id after after
// (byte order; "" starts at the first), up to limit, each with its
// payments and history as Grant returns it. An unknown state is a
// ReadError of kind ErrOutOfRange.
//
// With a beneficiary the index grants_beneficiary finds its few grants;
// with a program of at most ProgramLookupMax (beneficiary, year) rows,
// the same index finds the grants of its beneficiaries; otherwise the
// list walks the index grants_id_bytes (fund_id, grant_id COLLATE "C") in
// order, testing the filters on the way.
func (s *Store) Grants(ctx context.Context, fundID string, f GrantFilter, after string, limit int) (*GrantPage, error) {
	limit = clampLimit(limit)
	page := &GrantPage{Grants: []*Grant{}, NextAfter: after}
	err := s.read(ctx, func(tx pgx.Tx) error {
		if _, err := loadHead(ctx, tx, fundID); err != nil {
			return err
		}
		if err := customPlans(ctx, tx); err != nil {
			return err
		}
		args := []any{fundID, after}
		arg := func(v any) string {
			args = append(args, v)
			return "$" + strconv.Itoa(len(args))
		}
		cond := []string{`fund_id = $1`, `grant_id COLLATE "C" > $2`}
		if f.BeneficiaryRef != "" {
			cond = append(cond, "beneficiary_ref = "+arg(f.BeneficiaryRef))
		}
		from := "grants"
		if f.Program != "" {
			p := arg(f.Program)
			cond = append(cond, "program = "+p)
			if f.BeneficiaryRef == "" {
				k, err := programSize(ctx, tx, fundID, f.Program)
				if err != nil || k == 0 {
					return err
				}
				if k <= ProgramLookupMax {
					from = `(WITH c AS MATERIALIZED (` + fmt.Sprintf(programGrantsSQL, p) + `) SELECT * FROM c) g`
				}
			}
		}
		if f.State != "" {
			c, ok := grantStateSQL[f.State]
			if !ok {
				return ledger.Errorf(ledger.KindInvalid, "state %q is not one of open, paid, cancelled", f.State)
			}
			cond = append(cond, c)
		}
		sums, evs, err := readGrantSummaries(ctx, tx, fundID, `SELECT `+grantSummaryCols+` FROM `+from+` WHERE `+strings.Join(cond, " AND ")+
			` ORDER BY grant_id COLLATE "C" LIMIT `+arg(int32(limit)), args...)
		if err != nil {
			return err
		}
		if len(sums) == 0 {
			return nil
		}
		page.Grants, err = grantDetails(ctx, tx, fundID, sums, evs)
		page.NextAfter = sums[len(sums)-1].GrantID
		return err
	})
	if err != nil {
		return nil, err
	}
	return page, nil
}

func readGrantSummaries(ctx context.Context, tx pgx.Tx, fundID, sql string, args ...any) ([]GrantSummary, []string, error) {
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("read grants: %w", err)
	}
	defer rows.Close()
	var sums []GrantSummary
	var evs []string
	for rows.Next() {
		g, ev, err := scanGrant(rows, fundID)
		if err != nil {
			return nil, nil, fmt.Errorf("read grants: %w", err)
		}
		sums, evs = append(sums, g), append(evs, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("read grants: %w", err)
	}
	return sums, evs, nil
}

// grantDetails completes grant summaries with their history, returns,
// recoveries, cancellation and payments: two queries for all of them, both
// by the primary keys (grant_activity by grant, payments by the payment
// ids the grants' disbursements name).
func grantDetails(ctx context.Context, tx pgx.Tx, fundID string, sums []GrantSummary, eventIDs []string) ([]*Grant, error) {
	out := make([]*Grant, len(sums))
	byID := make(map[string]*Grant, len(sums))
	ids := make([]string, len(sums))
	for i, s := range sums {
		g := &Grant{FundID: fundID, EventID: eventIDs[i], GrantSummary: s,
			Payments: []Payment{}, Returns: []GrantEvent{}, Recoveries: []GrantEvent{}, History: []GrantEvent{}}
		out[i], byID[s.GrantID], ids[i] = g, g, s.GrantID
	}
	rows, err := tx.Query(ctx, `
		SELECT grant_id, n, kind, ref, amount, journal_seq, event_id, recorded_at
		  FROM grant_activity WHERE fund_id = $1 AND grant_id = ANY($2::text[]) ORDER BY grant_id, n`, fundID, ids)
	if err != nil {
		return nil, fmt.Errorf("read grant activity: %w", err)
	}
	for rows.Next() {
		var id, ref string
		var e GrantEvent
		var amount decimal.Decimal
		var at time.Time
		if err := rows.Scan(&id, &e.N, &e.Kind, &ref, &amount, &e.JournalSeq, &e.EventID, &at); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read grant activity: %w", err)
		}
		g := byID[id]
		if g == nil {
			continue
		}
		e.Amount, e.Time = Amount(amount), ledger.TimeText(at)
		switch e.Kind {
		case "disbursed":
			e.PaymentID = ref
		case "returned":
			e.PaymentID = ref
			g.Returns = append(g.Returns, e)
		case "recovered":
			e.RecoveryID = ref
			g.Recoveries = append(g.Recoveries, e)
		case "cancelled":
			c := e
			g.Cancellation = &c
		}
		g.History = append(g.History, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read grant activity: %w", err)
	}
	// In the order they were paid, which is the order of the history.
	rows, err = tx.Query(ctx, `
		SELECT a.grant_id, p.payment_id, p.amount, p.returned, p.paid_on, p.bank_ref, p.event_id, coalesce(a.journal_seq, 0)
		  FROM grant_activity a
		  JOIN payments p ON p.fund_id = a.fund_id AND p.payment_id = a.ref AND p.grant_id = a.grant_id
		 WHERE a.fund_id = $1 AND a.grant_id = ANY($2::text[]) AND a.kind = 'disbursed'
		 ORDER BY a.grant_id, a.n`, fundID, ids)
	if err != nil {
		return nil, fmt.Errorf("read payments: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var p Payment
		var amount, returned decimal.Decimal
		var paidOn time.Time
		if err := rows.Scan(&id, &p.PaymentID, &amount, &returned, &paidOn, &p.BankRef, &p.EventID, &p.JournalSeq); err != nil {
			return nil, fmt.Errorf("read payments: %w", err)
		}
		p.Amount, p.Returned, p.PaidOn = Amount(amount), Amount(returned), paidOn.Format(time.DateOnly)
		if g := byID[id]; g != nil {
			g.Payments = append(g.Payments, p)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read payments: %w", err)
	}
	return out, nil
}

// BeneficiaryUsage is a beneficiary's use of one program in one calendar
// year (of approved_on): Used is Approved less Cancelled, what the cap is
// checked against. Cap is the program's cap now and Room is Cap less Used
// (negative when the cap was lowered below what was already used); both
// are nil when the program has no cap.
type BeneficiaryUsage struct {
	Program   string  `json:"program"`
	Year      int     `json:"year"`
	Approved  Amount  `json:"approved"`
	Cancelled Amount  `json:"cancelled"`
	Used      Amount  `json:"used"`
	Cap       *Amount `json:"cap"`
	Room      *Amount `json:"room"`
}

// Beneficiary is what a fund holds of one beneficiary reference (GET
// /v1/funds/{fund_id}/beneficiaries/{beneficiary_ref}): its usage by
// program then year, and its grants by grant_id (byte order).
type Beneficiary struct {
	FundID         string             `json:"fund_id"`
	BeneficiaryRef string             `json:"beneficiary_ref"`
	Usage          []BeneficiaryUsage `json:"usage"`
	Grants         []*Grant           `json:"grants"`
}

// Beneficiary returns the beneficiary's usage and grants in the fund, or a
// ReadError of kind ErrNotFound when the fund does not exist or none of
// its grants names the beneficiary.
func (s *Store) Beneficiary(ctx context.Context, fundID, beneficiaryRef string) (*Beneficiary, error) {
	var out *Beneficiary
	err := s.read(ctx, func(tx pgx.Tx) error {
		if _, err := loadHead(ctx, tx, fundID); err != nil {
			return err
		}
		sums, evs, err := readGrantSummaries(ctx, tx, fundID, `SELECT `+grantSummaryCols+` FROM grants
			 WHERE fund_id = $1 AND beneficiary_ref = $2 ORDER BY grant_id COLLATE "C"`, fundID, beneficiaryRef)
		if err != nil {
			return err
		}
		if len(sums) == 0 {
			return notFound("no grant of fund %q names beneficiary %q", fundID, beneficiaryRef)
		}
		b := &Beneficiary{FundID: fundID, BeneficiaryRef: beneficiaryRef, Usage: []BeneficiaryUsage{}}
		rows, err := tx.Query(ctx, `
			SELECT g.program, extract(year FROM g.approved_on)::int AS year, sum(g.approved), sum(g.cancelled), p.cap
			  FROM grants g LEFT JOIN programs p ON p.fund_id = g.fund_id AND p.code = g.program
			 WHERE g.fund_id = $1 AND g.beneficiary_ref = $2
			 GROUP BY g.program, year, p.cap
			 ORDER BY g.program COLLATE "C", year`, fundID, beneficiaryRef)
		if err != nil {
			return fmt.Errorf("read usage: %w", err)
		}
		b.Usage, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (BeneficiaryUsage, error) {
			var u BeneficiaryUsage
			var approved, cancelled decimal.Decimal
			var cap decimal.NullDecimal
			if err := r.Scan(&u.Program, &u.Year, &approved, &cancelled, &cap); err != nil {
				return u, err
			}
			used := approved.Sub(cancelled)
			u.Approved, u.Cancelled, u.Used = Amount(approved), Amount(cancelled), Amount(used)
			if cap.Valid {
				c, room := Amount(cap.Decimal), Amount(cap.Decimal.Sub(used))
				u.Cap, u.Room = &c, &room
			}
			return u, nil
		})
		if err != nil {
			return fmt.Errorf("read usage: %w", err)
		}
		if b.Grants, err = grantDetails(ctx, tx, fundID, sums, evs); err != nil {
			return err
		}
		out = b
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
