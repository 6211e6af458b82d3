package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fundledger/fundledger/events"
	"github.com/fundledger/fundledger/ledger"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// PeriodInfo is one period report in a fund's list of periods.
type PeriodInfo struct {
	Period         string `json:"period"`
	ClosedBy       string `json:"closed_by"`
	ApprovedBy     string `json:"approved_by"`
	AsOfJournalSeq int64  `json:"as_of_journal_seq"`
	First          bool   `json:"first"`
}

// FundPeriods lists a fund's period reports in month order, and the last
// month closed ("" when none); ErrNotFound when the fund does not exist.
func (s *Store) FundPeriods(ctx context.Context, fundID string) ([]PeriodInfo, string, error) {
	out := []PeriodInfo{}
	var last string
	err := s.read(ctx, func(tx pgx.Tx) error {
		if _, err := loadHead(ctx, tx, fundID); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `SELECT last_closed FROM fund_periods WHERE fund_id = $1`, fundID).Scan(&last)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("read periods: %w", err)
		}
		rows, err := tx.Query(ctx, `
			SELECT period, closed_by, approved_by, as_of_journal_seq, first FROM period_reports
			 WHERE fund_id = $1 ORDER BY period`, fundID)
		if err != nil {
			return fmt.Errorf("read periods: %w", err)
		}
		list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[PeriodInfo])
		if err != nil {
			return fmt.Errorf("read periods: %w", err)
		}
		out = append(out, list...)
		return nil
	})
	return out, last, err
}

// PeriodReport returns a fund's report of one month as published;
// ErrNotFound when the fund does not exist or the month has no report of
// its own (still open, or closed only by a later month's first close).
func (s *Store) PeriodReport(ctx context.Context, fundID, period string) ([]byte, error) {
	var body []byte
	err := s.read(ctx, func(tx pgx.Tx) error {
		if _, err := loadHead(ctx, tx, fundID); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `SELECT published FROM period_reports WHERE fund_id = $1 AND period = $2`, fundID, period).Scan(&body)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("fund %q has no period report for %s", fundID, period)
		}
		if err != nil {
			return fmt.Errorf("read period report: %w", err)
		}
		return nil
	})
	return body, err
}

// CityPeriod is the city-wide view of one month over the funds for which
// sees is true (CONTRACT.md section 11).
func (s *Store) CityPeriod(ctx context.Context, period string, sees func(fundID string) bool) (*ledger.CityPeriod, error) {
	var funds []ledger.CityFund
	err := s.read(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT f.fund_id, coalesce(p.last_closed >= $1, false), r.published
			  FROM funds f
			  LEFT JOIN fund_periods p ON p.fund_id = f.fund_id
			  LEFT JOIN period_reports r ON r.fund_id = f.fund_id AND r.period = $1
			 ORDER BY f.fund_id`, period)
		if err != nil {
			return fmt.Errorf("read city period: %w", err)
		}
		byID := map[string]int{}
		var withReport []string
		for rows.Next() {
			var f ledger.CityFund
			if err := rows.Scan(&f.FundID, &f.Closed, &f.Body); err != nil {
				rows.Close()
				return fmt.Errorf("read city period: %w", err)
			}
			if !sees(f.FundID) {
				continue
			}
			if f.Body != nil {
				r, err := ledger.ParsePeriodReport(f.Body)
				if err != nil {
					rows.Close()
					return err
				}
				f.Report = r
				withReport = append(withReport, f.FundID)
			}
			byID[f.FundID] = len(funds)
			funds = append(funds, f)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read city period: %w", err)
		}
		if len(withReport) == 0 {
			return nil
		}
		rows, err = tx.Query(ctx, `
			SELECT fund_id, journal_seq, period, allocation_id, direction, other_fund, amount
			  FROM period_allocations WHERE fund_id = ANY($1) AND period <= $2`, withReport, period)
		if err != nil {
			return fmt.Errorf("read city period allocations: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var a ledger.PeriodAllocation
			if err := rows.Scan(&a.FundID, &a.JournalSeq, &a.Period, &a.AllocationID, &a.Direction, &a.OtherFund, &a.Amount); err != nil {
				return fmt.Errorf("read city period allocations: %w", err)
			}
			f := &funds[byID[a.FundID]]
			if f.Report.First || a.Period == period { // the reporting periods its report covers
				f.Allocations = append(f.Allocations, a)
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return ledger.NewCityPeriod(period, funds), nil
}

// PeriodStatus is whether a fund's month is ready to close (fundledger
// periods status): where the closes stand, the bank reconciliation, the
// events still held and the month's rejections.
type PeriodStatus struct {
	FundID     string `json:"fund_id"`
	Period     string `json:"period"`
	LastClosed string `json:"last_closed"` // "" when nothing was closed
	Closed     bool   `json:"closed"`
	HasReport  bool   `json:"has_report"`
	// Ended is whether the month has ended in FUNDLEDGER_TZ, now.
	Ended bool `json:"ended"`
	// Next is the month the fund's next close must name; "" before the
	// first close (any month that has ended).
	Next string `json:"next"`
	// Reconciliation is the fund's latest bank reconciliation report, nil
	// when it has none; ReconciledToEnd says it covers the month's last
	// day (its statement's period_end is on or after it) with no
	// difference.
	Reconciliation  *ReconciliationBrief `json:"reconciliation"`
	ReconciledToEnd bool                 `json:"reconciled_to_end"`
	// Held lists the fund's events still held, waiting for a grant or
	// payment.
	Held []HeldBrief `json:"held"`
	// Rejections counts the fund's events refused in the month (received
	// in it, in FUNDLEDGER_TZ), by code.
	Rejections map[string]int64 `json:"rejections"`
	// PendingAdjustments counts the prior-period adjustments posted so far
	// to the month as their reporting period.
	PendingAdjustments int64 `json:"pending_adjustments"`
}

// ReconciliationBrief is what a status says of a reconciliation report.
type ReconciliationBrief struct {
	Seq        int64  `json:"reconciliation_seq"`
	PeriodEnd  string `json:"period_end"`
	Reconciled bool   `json:"reconciled"`
	Difference string `json:"difference"`
}

// HeldBrief is one held event.
type HeldBrief struct {
	EventID    string `json:"event_id"`
	WaitingOn  string `json:"waiting_on"`
	Code       string `json:"code"`
	ReceivedAt string `json:"received_at"`
	Deadline   string `json:"deadline"`
}

// PeriodStatus reads whether month (YYYY-MM) of a fund is ready to close,
// at now in loc; ErrNotFound when the fund does not exist.
func (s *Store) PeriodStatus(ctx context.Context, fundID, month string, loc *time.Location, now time.Time) (*PeriodStatus, error) {
	start, err := time.ParseInLocation(events.PeriodLayout, month, loc)
	if err != nil {
		return nil, fmt.Errorf("period %q: %w", month, err)
	}
	end := start.AddDate(0, 1, 0)
	st := &PeriodStatus{FundID: fundID, Period: month, Ended: !now.Before(end), Held: []HeldBrief{}, Rejections: map[string]int64{}}
	err = s.read(ctx, func(tx pgx.Tx) error {
		if _, err := loadHead(ctx, tx, fundID); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `SELECT last_closed FROM fund_periods WHERE fund_id = $1`, fundID).Scan(&st.LastClosed)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("period status: %w", err)
		}
		st.Closed = st.LastClosed != "" && st.LastClosed >= month
		if st.LastClosed != "" {
			st.Next = ledger.NextPeriod(st.LastClosed)
		}
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM period_reports WHERE fund_id = $1 AND period = $2)`, fundID, month).
			Scan(&st.HasReport); err != nil {
			return fmt.Errorf("period status: %w", err)
		}
		var rb ReconciliationBrief
		var periodEnd time.Time
		var diff decimal.Decimal
		err = tx.QueryRow(ctx, `SELECT recon_seq, period_end, reconciled, difference FROM reconciliations
			WHERE fund_id = $1 ORDER BY recon_seq DESC LIMIT 1`, fundID).Scan(&rb.Seq, &periodEnd, &rb.Reconciled, &diff)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return fmt.Errorf("period status: reconciliation: %w", err)
		default:
			rb.PeriodEnd, rb.Difference = periodEnd.Format(time.DateOnly), ledger.Money(diff)
			st.Reconciliation = &rb
			lastDay := end.AddDate(0, 0, -1).Format(time.DateOnly)
			st.ReconciledToEnd = rb.Reconciled && rb.PeriodEnd >= lastDay
		}
		rows, err := tx.Query(ctx, `SELECT event_id, waiting_on, code, received_at, deadline FROM held WHERE fund_id = $1 ORDER BY stream_seq`, fundID)
		if err != nil {
			return fmt.Errorf("period status: held: %w", err)
		}
		for rows.Next() {
			var h HeldBrief
			var rec, dl time.Time
			if err := rows.Scan(&h.EventID, &h.WaitingOn, &h.Code, &rec, &dl); err != nil {
				rows.Close()
				return fmt.Errorf("period status: held: %w", err)
			}
			h.ReceivedAt, h.Deadline = ledger.TimeText(rec), ledger.TimeText(dl)
			st.Held = append(st.Held, h)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("period status: held: %w", err)
		}
		rows, err = tx.Query(ctx, `SELECT code, count(*) FROM rejections WHERE fund_id = $1 AND received_at >= $2 AND received_at < $3 GROUP BY code`,
			fundID, start, end)
		if err != nil {
			return fmt.Errorf("period status: rejections: %w", err)
		}
		for rows.Next() {
			var code string
			var n int64
			if err := rows.Scan(&code, &n); err != nil {
				rows.Close()
				return fmt.Errorf("period status: rejections: %w", err)
			}
			st.Rejections[code] = n
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("period status: rejections: %w", err)
		}
		return tx.QueryRow(ctx, `SELECT count(*) FROM period_adjustments WHERE fund_id = $1 AND period = $2`, fundID, month).
			Scan(&st.PendingAdjustments)
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}
