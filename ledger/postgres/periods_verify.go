package postgres

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/fundledger/fundledger/ledger"
	"github.com/jackc/pgx/v5"
)

// verifyPeriodReports gives v the fund's stored period reports and its
// kept close state (fund_periods), to be checked as its journal is read
// (ledger.Verifier.PeriodReports). A fund holds one report per closed
// month: they are read whole.
func verifyPeriodReports(ctx context.Context, tx pgx.Tx, v *ledger.Verifier, fundID string, loc *time.Location) error {
	rows, err := tx.Query(ctx, `
		SELECT period, first, closed_by, approved_by, as_of_journal_seq, body::text, published
		  FROM period_reports WHERE fund_id = $1 ORDER BY period`, fundID)
	if err != nil {
		return fmt.Errorf("read period reports: %w", err)
	}
	stored, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ledger.StoredPeriodReport, error) {
		var st ledger.StoredPeriodReport
		var body string
		err := r.Scan(&st.Period, &st.First, &st.ClosedBy, &st.ApprovedBy, &st.AsOfJournalSeq, &body, &st.Published)
		st.Body = []byte(body)
		return st, err
	})
	if err != nil {
		return fmt.Errorf("read period reports: %w", err)
	}
	var kept ledger.PeriodState
	var last []byte
	err = tx.QueryRow(ctx, `SELECT last_closed, reports, last_report_hash FROM fund_periods WHERE fund_id = $1`, fundID).
		Scan(&kept.LastClosed, &kept.Reports, &last)
	switch {
	case errors.Is(err, pgx.ErrNoRows): // nothing closed: no report
	case err != nil:
		return fmt.Errorf("read fund periods: %w", err)
	case last != nil:
		kept.LastReportHash = fmt.Sprintf("%x", last)
	}
	if len(stored) == 0 && kept.Reports == 0 {
		return nil
	}
	v.PeriodReports(stored, &kept, loc)
	return nil
}

// verifyZone is the zone of business dates taken from the clock: o.Zone,
// else FUNDLEDGER_TZ as serve reads it, else ledger.DefaultZone.
func verifyZone(o VerifyOptions) (*time.Location, error) {
	if o.Zone != nil {
		return o.Zone, nil
	}
	name := os.Getenv("FUNDLEDGER_TZ")
	if name == "" {
		name = ledger.DefaultZone
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("verify: FUNDLEDGER_TZ %q is not a time zone: %w", name, err)
	}
	return loc, nil
}
