package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fundledger/fundledger/ledger"
	"github.com/jackc/pgx/v5"
)

// periodTxns is every journal transaction with its business period (the
// rules of ledger.BusinessDate, in SQL), for BackfillPeriods. $1 is the
// time zone of FUNDLEDGER_TZ.
const periodTxns = `WITH t AS (
  SELECT j.fund_id, j.seq, j.type, j.refs,
         to_char(coalesce((j.refs->>'approved_on')::date, (j.refs->>'paid_on')::date, (j.refs->>'received_on')::date,
                          (j.refs->>'returned_on')::date, (j.refs->>'cancelled_on')::date, (j.refs->>'recovered_on')::date,
                          (j.refs->>'charged_on')::date, (j.recorded_at AT TIME ZONE $1)::date), 'YYYY-MM') AS period,
         (SELECT sum(p.amount) FROM postings p WHERE p.fund_id = j.fund_id AND p.seq = j.seq AND p.side = 'debit') AS amount
    FROM journal j)
`

// BackfillPeriods gives the transactions of a journal written before the
// period records existed (migrations/014_periods.sql) their running
// figures, once: nothing was closed before them, so each one's reporting
// period is its business period, dated in loc (FUNDLEDGER_TZ; nil is
// ledger.DefaultZone). It runs under the consumer lease, before the
// intake; it returns how many transactions it counted (0 when there was
// nothing to do).
func (s *Store) BackfillPeriods(ctx context.Context, loc *time.Location) (int64, error) {
	zone := ledger.DefaultZone
	if loc != nil {
		zone = loc.String()
	}
	var n int64
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		var pending bool
		err := tx.QueryRow(ctx, `SELECT pending FROM period_backfill FOR UPDATE`).Scan(&pending)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && !pending) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("period backfill: %w", err)
		}
		steps := []string{
			periodTxns + `INSERT INTO period_figures (fund_id, period, kind, name, amount)
			SELECT t.fund_id, t.period, CASE p.side WHEN 'debit' THEN 'debits' ELSE 'credits' END, p.account, sum(p.amount)
			  FROM t JOIN postings p ON p.fund_id = t.fund_id AND p.seq = t.seq GROUP BY 1, 2, 3, 4
			ON CONFLICT (fund_id, period, kind, name) DO UPDATE SET amount = period_figures.amount + excluded.amount`,
			periodTxns + `INSERT INTO period_figures (fund_id, period, kind, name, amount)
			SELECT fund_id, period, kind, program, sum(amount) FROM (
			  SELECT t.fund_id, t.period, t.refs->>'program' AS program, t.amount,
			         CASE t.type WHEN 'grant.approved' THEN 'approved' WHEN 'grant.batch.approved' THEN 'approved'
			           WHEN 'grant.cancelled' THEN 'cancelled' WHEN 'grant.disbursed' THEN 'paid'
			           WHEN 'payment.returned' THEN 'returned' WHEN 'grant.recovered' THEN 'recovered' END AS kind
			    FROM t WHERE t.refs->>'program' <> '') x
			 WHERE kind IS NOT NULL GROUP BY 1, 2, 3, 4
			ON CONFLICT (fund_id, period, kind, name) DO UPDATE SET amount = period_figures.amount + excluded.amount`,
			periodTxns + `, ins AS (
			  INSERT INTO period_beneficiaries (fund_id, period, program, beneficiary_ref)
			  SELECT DISTINCT t.fund_id, t.period, t.refs->>'program', t.refs->>'beneficiary_ref' FROM t
			   WHERE t.type IN ('grant.approved', 'grant.batch.approved') AND t.refs->>'beneficiary_ref' <> ''
			  ON CONFLICT DO NOTHING RETURNING fund_id, period, program)
			INSERT INTO period_figures (fund_id, period, kind, name, amount)
			SELECT fund_id, period, 'beneficiaries', program, count(*) FROM ins GROUP BY 1, 2, 4
			ON CONFLICT (fund_id, period, kind, name) DO UPDATE SET amount = period_figures.amount + excluded.amount`,
			periodTxns + `INSERT INTO period_allocations (fund_id, journal_seq, period, allocation_id, direction, other_fund, amount)
			SELECT t.fund_id, t.seq, t.period, t.refs->>'allocation_id',
			       CASE WHEN t.refs ? 'to_fund_id' THEN 'out' ELSE 'in' END,
			       coalesce(t.refs->>'to_fund_id', t.refs->>'from_fund_id'), t.amount
			  FROM t WHERE t.type = 'allocation.approved'
			ON CONFLICT DO NOTHING`,
		}
		for i, q := range steps {
			if _, err := tx.Exec(ctx, q, zone); err != nil {
				return fmt.Errorf("period backfill step %d: %w", i+1, err)
			}
		}
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM journal`).Scan(&n); err != nil {
			return fmt.Errorf("period backfill: %w", err)
		}
		_, err = tx.Exec(ctx, `DELETE FROM period_backfill`)
		return err
	})
	return n, err
}
