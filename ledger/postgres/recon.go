package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fundledger/fundledger/ledger"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// This file is the store of the bank reconciliation (CONTRACT.md section
// 10, migrations/013_bank_reconciliation.sql): the loader's reads for the
// apply stage (ledger.ReconLoader), the batch's writes, and the read API's
// reads of statements and reports.

var _ ledger.ReconLoader = loader{}

func (l loader) ReconState(ctx context.Context, fundID string) (*ledger.ReconState, error) {
	defer l.t.since("load reconciliation", time.Now())
	st := &ledger.ReconState{FundID: fundID}
	err := l.tx.QueryRow(ctx, `
		SELECT bank_account, first_start, opening_bank, opening_book, statements, last_statement_id, last_end,
		       last_closing, recon_seq, matched_count, matched_amount, match_seq
		  FROM recon_state WHERE fund_id = $1`, fundID).Scan(&st.BankAccount, &st.FirstStart, &st.OpeningBank, &st.OpeningBook,
		&st.Statements, &st.LastStatementID, &st.LastEnd, &st.LastClosing, &st.ReconSeq, &st.MatchedCount, &st.MatchedAmount, &st.MatchSeq)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load reconciliation state: %w", err)
	}
	st.FirstStart, st.LastEnd = utcDate(st.FirstStart), utcDate(st.LastEnd)
	return st, nil
}

// utcDate is a date column as the ledger holds dates: midnight UTC.
func utcDate(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func (l loader) ReconOpen(ctx context.Context, fundID string, from time.Time) ([]*ledger.BankEntry, []*ledger.BookItem, decimal.Decimal, error) {
	defer l.t.since("load reconciliation", time.Now())
	rows, err := l.tx.Query(ctx, `
		SELECT statement_id, n, idx, entry_ref, booked_on, direction, amount, coalesce(bank_ref, ''), coalesce(description, '')
		  FROM bank_entries WHERE fund_id = $1 AND match_id IS NULL ORDER BY n, idx`, fundID)
	if err != nil {
		return nil, nil, decimal.Zero, fmt.Errorf("load unmatched bank entries: %w", err)
	}
	entries, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*ledger.BankEntry, error) {
		e := &ledger.BankEntry{FundID: fundID}
		err := r.Scan(&e.StatementID, &e.StatementN, &e.Index, &e.EntryRef, &e.BookedOn, &e.Direction, &e.Amount, &e.BankRef, &e.Description)
		e.BookedOn = utcDate(e.BookedOn)
		return e, err
	})
	if err != nil {
		return nil, nil, decimal.Zero, fmt.Errorf("load unmatched bank entries: %w", err)
	}
	rows, err = l.tx.Query(ctx, `
		SELECT journal_seq, line, type, on_date, direction, amount, coalesce(bank_ref, '')
		  FROM recon_book_open WHERE fund_id = $1 AND on_date >= $2 ORDER BY journal_seq, line`, fundID, from)
	if err != nil {
		return nil, nil, decimal.Zero, fmt.Errorf("load unmatched book items: %w", err)
	}
	var items []*ledger.BookItem
	var it ledger.BookItem
	_, err = pgx.ForEachRow(rows, []any{&it.JournalSeq, &it.Line, &it.Type, &it.Date, &it.Direction, &it.Amount, &it.BankRef}, func() error {
		x := it
		x.FundID, x.Date = fundID, utcDate(x.Date)
		items = append(items, &x)
		return nil
	})
	if err != nil {
		return nil, nil, decimal.Zero, fmt.Errorf("load unmatched book items: %w", err)
	}
	var pre decimal.Decimal
	if err := l.tx.QueryRow(ctx, `
		SELECT coalesce(sum(CASE direction WHEN 'credit' THEN amount ELSE -amount END), 0)
		  FROM recon_book_open WHERE fund_id = $1 AND on_date < $2`, fundID, from).Scan(&pre); err != nil {
		return nil, nil, decimal.Zero, fmt.Errorf("sum book items before the bank's history: %w", err)
	}
	return entries, items, pre, nil
}

func (l loader) EntryRefs(ctx context.Context, fundID string, refs []string) (map[string]string, error) {
	defer l.t.since("load reconciliation", time.Now())
	rows, err := l.tx.Query(ctx, `SELECT entry_ref, statement_id FROM bank_entries WHERE fund_id = $1 AND entry_ref = ANY($2)`, fundID, refs)
	if err != nil {
		return nil, fmt.Errorf("load entry refs: %w", err)
	}
	out := map[string]string{}
	var ref, stmt string
	_, err = pgx.ForEachRow(rows, []any{&ref, &stmt}, func() error { out[ref] = stmt; return nil })
	if err != nil {
		return nil, fmt.Errorf("load entry refs: %w", err)
	}
	return out, nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// writeRecon writes the bank reconciliation's changes: the funds' state,
// new statements and entries, entries and book items matched, the new
// book items, the matches and the reports.
func (u *writer) writeRecon(ledger.Changes) error {
	c := u.books.ReconChanges()
	for _, st := range c.States {
		if err := u.exec("reconciliation state", `
			INSERT INTO recon_state (fund_id, bank_account, first_start, opening_bank, opening_book, statements, last_statement_id,
			       last_end, last_closing, recon_seq, matched_count, matched_amount, match_seq)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
			ON CONFLICT (fund_id) DO UPDATE SET opening_book = excluded.opening_book, statements = excluded.statements,
			       last_statement_id = excluded.last_statement_id, last_end = excluded.last_end, last_closing = excluded.last_closing,
			       recon_seq = excluded.recon_seq, matched_count = excluded.matched_count, matched_amount = excluded.matched_amount,
			       match_seq = excluded.match_seq`,
			st.FundID, st.BankAccount, st.FirstStart, st.OpeningBank, st.OpeningBook, st.Statements, st.LastStatementID,
			st.LastEnd, st.LastClosing, st.ReconSeq, st.MatchedCount, st.MatchedAmount, st.MatchSeq); err != nil {
			return err
		}
	}
	rows := make([][]any, 0, len(c.Statements))
	for _, s := range c.Statements {
		rows = append(rows, []any{s.FundID, s.StatementID, s.N, s.BankAccount, s.PeriodStart, s.PeriodEnd, s.Opening, s.Closing,
			int32(s.Entries), nullable(s.FileSHA256), nullable(s.MessageID), s.EventID})
	}
	if err := u.copy("bank_statements", []string{"fund_id", "statement_id", "n", "bank_account", "period_start", "period_end",
		"opening", "closing", "entries", "file_sha256", "message_id", "event_id"}, rows); err != nil {
		return err
	}
	rows = make([][]any, 0, len(c.Entries))
	for _, e := range c.Entries {
		var match any
		if e.MatchID != 0 {
			match = e.MatchID
		}
		rows = append(rows, []any{e.FundID, e.EntryRef, e.StatementID, e.StatementN, int32(e.Index), e.BookedOn, e.Direction,
			e.Amount, nullable(e.BankRef), nullable(e.Description), match})
	}
	if err := u.copy("bank_entries", []string{"fund_id", "entry_ref", "statement_id", "n", "idx", "booked_on", "direction",
		"amount", "bank_ref", "description", "match_id"}, rows); err != nil {
		return err
	}
	if len(c.Matched) > 0 {
		funds, refs, ids := make([]string, len(c.Matched)), make([]string, len(c.Matched)), make([]int64, len(c.Matched))
		for i, e := range c.Matched {
			funds[i], refs[i], ids[i] = e.FundID, e.EntryRef, e.MatchID
		}
		if err := u.exec("bank entries", `
			UPDATE bank_entries b SET match_id = v.match_id
			  FROM unnest($1::text[], $2::text[], $3::bigint[]) AS v(fund_id, entry_ref, match_id)
			 WHERE b.fund_id = v.fund_id AND b.entry_ref = v.entry_ref`, funds, refs, ids); err != nil {
			return err
		}
	}
	for fund, cut := range c.PreCut {
		if err := u.exec("book items before the bank's history", `DELETE FROM recon_book_open WHERE fund_id = $1 AND on_date < $2`,
			fund, cut); err != nil {
			return err
		}
	}
	if len(c.Gone) > 0 {
		funds, seqs, lines := make([]string, len(c.Gone)), make([]int64, len(c.Gone)), make([]int32, len(c.Gone))
		for i, it := range c.Gone {
			funds[i], seqs[i], lines[i] = it.FundID, it.JournalSeq, int32(it.Line)
		}
		if err := u.exec("matched book items", `
			DELETE FROM recon_book_open o USING unnest($1::text[], $2::bigint[], $3::int[]) AS v(fund_id, journal_seq, line)
			 WHERE o.fund_id = v.fund_id AND o.journal_seq = v.journal_seq AND o.line = v.line`, funds, seqs, lines); err != nil {
			return err
		}
	}
	rows = make([][]any, 0, len(c.Items))
	for _, it := range c.Items {
		rows = append(rows, []any{it.FundID, it.JournalSeq, int32(it.Line), it.Type, it.Date, it.Direction, it.Amount, nullable(it.BankRef)})
	}
	if err := u.copy("recon_book_open", []string{"fund_id", "journal_seq", "line", "type", "on_date", "direction", "amount", "bank_ref"}, rows); err != nil {
		return err
	}
	rows = make([][]any, 0, len(c.Links))
	for _, l := range c.Links {
		rows = append(rows, []any{l.FundID, l.MatchID, l.Rule, l.ReconSeq, l.StatementID, l.EntryRef, l.JournalSeq, int32(l.Line)})
	}
	if err := u.copy("recon_matches", []string{"fund_id", "match_id", "rule", "recon_seq", "statement_id", "entry_ref", "journal_seq", "line"}, rows); err != nil {
		return err
	}
	rows = make([][]any, 0, len(c.Reports))
	for i, r := range c.Reports {
		end, err := time.Parse(time.DateOnly, r.PeriodEnd)
		if err != nil {
			return fmt.Errorf("reconciliation %s/%d: period_end %q: %w", r.FundID, r.ReconciliationSeq, r.PeriodEnd, err)
		}
		diff, err := decimal.NewFromString(r.Difference)
		if err != nil {
			return fmt.Errorf("reconciliation %s/%d: difference %q: %w", r.FundID, r.ReconciliationSeq, r.Difference, err)
		}
		rows = append(rows, []any{r.FundID, r.ReconciliationSeq, r.StatementID, end, r.AsOfJournalSeq, diff, r.Reconciled,
			int32(len(r.UnmatchedBank)), int32(len(r.UnmatchedBook)), c.Bodies[i], u.now})
	}
	return u.copy("reconciliations", []string{"fund_id", "recon_seq", "statement_id", "period_end", "as_of_journal_seq", "difference",
		"reconciled", "unmatched_bank", "unmatched_book", "published", "created_at"}, rows)
}

// Reads for the read API.

// Reconciliation returns report seq of the fund (0: the latest) exactly as
// it was published on ledger.<fund>.reconciliation, so its signature can
// be checked against what the API returns.
func (s *Store) Reconciliation(ctx context.Context, fundID string, seq int64) ([]byte, error) {
	return s.publishedBySeq(ctx, "reconciliations", "recon_seq", "reconciliation", fundID, seq)
}

// ReconciliationInfo is one report in a fund's list of reconciliations.
type ReconciliationInfo struct {
	ReconciliationSeq int64  `json:"reconciliation_seq"`
	StatementID       string `json:"statement_id"`
	PeriodEnd         string `json:"period_end"`
	AsOfJournalSeq    int64  `json:"as_of_journal_seq"`
	Difference        string `json:"difference"`
	Reconciled        bool   `json:"reconciled"`
	UnmatchedBank     int    `json:"unmatched_bank"`
	UnmatchedBook     int    `json:"unmatched_book"`
	CreatedAt         string `json:"created_at"`
}

// ReconciliationPage is one page of a fund's reports, oldest first.
type ReconciliationPage struct {
	Reconciliations []ReconciliationInfo `json:"reconciliations"`
	NextAfter       int64                `json:"next_after"`
}

// Reconciliations lists the fund's reports with reconciliation_seq after
// after.
func (s *Store) Reconciliations(ctx context.Context, fundID string, after int64, limit int) (*ReconciliationPage, error) {
	limit = clampLimit(limit)
	page := &ReconciliationPage{Reconciliations: []ReconciliationInfo{}, NextAfter: after}
	err := s.read(ctx, func(tx pgx.Tx) error {
		if _, err := loadHead(ctx, tx, fundID); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `
			SELECT recon_seq, statement_id, period_end, as_of_journal_seq, difference, reconciled, unmatched_bank, unmatched_book, created_at
			  FROM reconciliations WHERE fund_id = $1 AND recon_seq > $2 ORDER BY recon_seq LIMIT $3`, fundID, after, limit)
		if err != nil {
			return fmt.Errorf("read reconciliations: %w", err)
		}
		var r ReconciliationInfo
		var at, end time.Time
		var diff decimal.Decimal
		_, err = pgx.ForEachRow(rows, []any{&r.ReconciliationSeq, &r.StatementID, &end, &r.AsOfJournalSeq, &diff,
			&r.Reconciled, &r.UnmatchedBank, &r.UnmatchedBook, &at}, func() error {
			r.CreatedAt, r.PeriodEnd, r.Difference = ledger.TimeText(at), end.Format(time.DateOnly), ledger.Money(diff)
			page.Reconciliations = append(page.Reconciliations, r)
			page.NextAfter = r.ReconciliationSeq
			return nil
		})
		if err != nil {
			return fmt.Errorf("read reconciliations: %w", err)
		}
		return nil
	})
	return page, err
}

// BankStatementInfo is one bank statement as GET /v1/funds/{fund_id}/statements
// lists it (CONTRACT.md section 10).
type BankStatementInfo struct {
	StatementID    string `json:"statement_id"`
	BankAccount    string `json:"bank_account"`
	PeriodStart    string `json:"period_start"`
	PeriodEnd      string `json:"period_end"`
	OpeningBalance Amount `json:"opening_balance"`
	ClosingBalance Amount `json:"closing_balance"`
	Entries        int    `json:"entries"`
}

// BankStatements lists the fund's bank statements in period_start order
// (then the order they were received).
func (s *Store) BankStatements(ctx context.Context, fundID string) ([]BankStatementInfo, error) {
	out := []BankStatementInfo{}
	err := s.read(ctx, func(tx pgx.Tx) error {
		if _, err := loadHead(ctx, tx, fundID); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `
			SELECT statement_id, bank_account, period_start, period_end, opening, closing, entries
			  FROM bank_statements WHERE fund_id = $1 ORDER BY period_start, n`, fundID)
		if err != nil {
			return fmt.Errorf("read bank statements: %w", err)
		}
		var b BankStatementInfo
		var start, end time.Time
		var open, closing decimal.Decimal
		_, err = pgx.ForEachRow(rows, []any{&b.StatementID, &b.BankAccount, &start, &end, &open, &closing, &b.Entries}, func() error {
			b.PeriodStart, b.PeriodEnd = start.Format(time.DateOnly), end.Format(time.DateOnly)
			b.OpeningBalance, b.ClosingBalance = Amount(open), Amount(closing)
			out = append(out, b)
			return nil
		})
		if err != nil {
			return fmt.Errorf("read bank statements: %w", err)
		}
		return nil
	})
	return out, err
}

// ReconMatchRow is one book item of a match, with its bank entry, as the
// reconciliation export lists matches.
type ReconMatchRow struct {
	MatchID     int64
	Rule        string
	ReconSeq    int64
	StatementID string
	EntryRef    string
	BookedOn    time.Time
	Direction   string
	EntryAmount decimal.Decimal
	JournalSeq  int64
	Type        string
	Refs        map[string]string
	RecordedAt  time.Time
	ItemAmount  decimal.Decimal
}

// ReconMatches lists the fund's matches made up to report uptoSeq, in the
// order they were made.
func (s *Store) ReconMatches(ctx context.Context, fundID string, uptoSeq int64) ([]ReconMatchRow, error) {
	var out []ReconMatchRow
	err := s.read(ctx, func(tx pgx.Tx) error {
		if _, err := loadHead(ctx, tx, fundID); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `
			SELECT m.match_id, m.rule, m.recon_seq, m.statement_id, m.entry_ref, e.booked_on, e.direction, e.amount,
			       m.journal_seq, j.type, j.refs, j.recorded_at, p.amount
			  FROM recon_matches m
			  JOIN bank_entries e ON e.fund_id = m.fund_id AND e.entry_ref = m.entry_ref
			  JOIN journal j ON j.fund_id = m.fund_id AND j.seq = m.journal_seq
			  JOIN postings p ON p.fund_id = m.fund_id AND p.seq = m.journal_seq AND p.line = m.line
			 WHERE m.fund_id = $1 AND m.recon_seq <= $2
			 ORDER BY m.match_id, m.journal_seq, m.line`, fundID, uptoSeq)
		if err != nil {
			return fmt.Errorf("read matches: %w", err)
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (ReconMatchRow, error) {
			var m ReconMatchRow
			err := r.Scan(&m.MatchID, &m.Rule, &m.ReconSeq, &m.StatementID, &m.EntryRef, &m.BookedOn, &m.Direction, &m.EntryAmount,
				&m.JournalSeq, &m.Type, &m.Refs, &m.RecordedAt, &m.ItemAmount)
			m.BookedOn = utcDate(m.BookedOn)
			return m, err
		})
		if err != nil {
			return fmt.Errorf("read matches: %w", err)
		}
		return nil
	})
	return out, err
}
