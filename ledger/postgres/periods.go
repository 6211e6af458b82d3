package postgres

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/fundledger/fundledger/ledger"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// The period records of CONTRACT.md section 11 (migrations/014_periods.sql):
// what the apply stage reads for a close, and what a batch writes.

// periodStates fills the funds' PeriodState from fund_periods.
func (l loader) periodStates(ctx context.Context, ids []string, byID map[string]*ledger.Fund) error {
	rows, err := l.tx.Query(ctx, `SELECT fund_id, last_closed, reports, last_report_hash FROM fund_periods WHERE fund_id = ANY($1)`, ids)
	if err != nil {
		return fmt.Errorf("load fund periods: %w", err)
	}
	var missing []string
	var id string
	var st ledger.PeriodState
	var last []byte
	if _, err := pgx.ForEachRow(rows, []any{&id, &st.LastClosed, &st.Reports, &last}, func() error {
		st.LastReportHash = ""
		if last != nil {
			st.LastReportHash = hex.EncodeToString(last)
		} else if st.Reports > 0 {
			missing = append(missing, id)
		}
		if f := byID[id]; f != nil {
			f.Close = st
		}
		return nil
	}); err != nil {
		return fmt.Errorf("load fund periods: %w", err)
	}
	return l.lastReportHashes(ctx, missing, byID)
}

// lastReportHashes fills in the hash of the latest period report of funds
// whose fund_periods row does not say it yet (reports made before
// migration 018): read back once, then kept with the close state.
func (l loader) lastReportHashes(ctx context.Context, ids []string, byID map[string]*ledger.Fund) error {
	if len(ids) == 0 {
		return nil
	}
	rows, err := l.tx.Query(ctx, `
		SELECT DISTINCT ON (fund_id) fund_id, published FROM period_reports
		 WHERE fund_id = ANY($1) ORDER BY fund_id, period DESC`, ids)
	if err != nil {
		return fmt.Errorf("load latest period reports: %w", err)
	}
	var id string
	var body []byte
	if _, err := pgx.ForEachRow(rows, []any{&id, &body}, func() error {
		r, err := ledger.ParsePeriodReport(body)
		if err != nil {
			return fmt.Errorf("fund %s: latest period report: %w", id, err)
		}
		if f := byID[id]; f != nil {
			f.Close.LastReportHash = hex.EncodeToString(ledger.PeriodReportHash(r))
		}
		return nil
	}); err != nil {
		return fmt.Errorf("load latest period reports: %w", err)
	}
	return nil
}

func (l loader) PeriodFigures(ctx context.Context, fundID, upTo string) ([]ledger.Figure, error) {
	defer l.t.since("load period figures", time.Now())
	rows, err := l.tx.Query(ctx, `SELECT period, kind, name, amount FROM period_figures WHERE fund_id = $1 AND period <= $2`, fundID, upTo)
	if err != nil {
		return nil, fmt.Errorf("load period figures: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (ledger.Figure, error) {
		f := ledger.Figure{FigureKey: ledger.FigureKey{FundID: fundID}}
		var kind string
		if err := r.Scan(&f.Period, &kind, &f.Name, &f.Amount); err != nil {
			return f, err
		}
		k, ok := ledger.ParseFigureKind(kind)
		if !ok {
			return f, fmt.Errorf("period_figures: unknown kind %q", kind)
		}
		f.Kind = k
		return f, nil
	})
}

func (l loader) PeriodBeneficiaries(ctx context.Context, fundID, from, to string, extra []ledger.BeneficiaryKey) (map[string]int64, error) {
	defer l.t.since("load period beneficiaries", time.Now())
	var progs, bens []string
	periods := map[string]bool{}
	for _, k := range extra {
		progs, bens = append(progs, k.Program), append(bens, k.Beneficiary)
		periods[k.Period] = true
	}
	if from != to { // a first report: which reporting periods have any?
		rows, err := l.tx.Query(ctx, `
			SELECT period FROM period_figures WHERE fund_id = $1 AND kind = 'beneficiaries' AND period >= $2 AND period <= $3`, fundID, from, to)
		if err != nil {
			return nil, fmt.Errorf("load period beneficiaries: %w", err)
		}
		for rows.Next() {
			var p string
			if err := rows.Scan(&p); err != nil {
				rows.Close()
				return nil, fmt.Errorf("load period beneficiaries: %w", err)
			}
			periods[p] = true
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("load period beneficiaries: %w", err)
		}
	}
	var q string
	args := []any{fundID, from, to, progs, bens}
	switch len(periods) {
	case 0, 1: // one reporting period: its kept count, plus what this batch adds
		one := to
		for p := range periods {
			one = p
		}
		args = []any{fundID, one, progs, bens}
		q = `SELECT program, sum(n)::bigint FROM (
			  SELECT name AS program, amount::bigint AS n FROM period_figures
			   WHERE fund_id = $1 AND period = $2 AND kind = 'beneficiaries'
			  UNION ALL
			  SELECT k.program, count(DISTINCT k.ben) FROM unnest($3::text[], $4::text[]) AS k(program, ben)
			   WHERE NOT EXISTS (SELECT 1 FROM period_beneficiaries b
			                      WHERE b.fund_id = $1 AND b.period = $2 AND b.program = k.program AND b.beneficiary_ref = k.ben)
			   GROUP BY k.program) x
			GROUP BY program`
	default: // distinct over several reporting periods: counted
		q = `SELECT program, count(*) FROM (
			  SELECT program, beneficiary_ref FROM period_beneficiaries WHERE fund_id = $1 AND period >= $2 AND period <= $3
			  UNION
			  SELECT * FROM unnest($4::text[], $5::text[])
			) b GROUP BY program`
	}
	rows, err := l.tx.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("load period beneficiaries: %w", err)
	}
	out := map[string]int64{}
	for rows.Next() {
		var p string
		var n int64
		if err := rows.Scan(&p, &n); err != nil {
			return nil, fmt.Errorf("load period beneficiaries: %w", err)
		}
		out[p] = n
	}
	return out, rows.Err()
}

func (l loader) PeriodAdjustments(ctx context.Context, fundID, from, to string) ([]ledger.PeriodAdjustment, error) {
	rows, err := l.tx.Query(ctx, `
		SELECT journal_seq, period, business_period, type, amount FROM period_adjustments
		 WHERE fund_id = $1 AND period >= $2 AND period <= $3 ORDER BY journal_seq`, fundID, from, to)
	if err != nil {
		return nil, fmt.Errorf("load period adjustments: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (ledger.PeriodAdjustment, error) {
		a := ledger.PeriodAdjustment{FundID: fundID}
		err := r.Scan(&a.JournalSeq, &a.Period, &a.BusinessPeriod, &a.Type, &a.Amount)
		return a, err
	})
}

// writePeriods writes the running figures (added to what is stored), the
// beneficiaries seen, adjustments, allocations, the funds' close state and
// the period reports.
func (u *writer) writePeriods(ledger.Changes) error {
	ch := u.books.PeriodChanges()
	if len(ch.Figures) > 0 {
		n := len(ch.Figures)
		funds, periods, kinds, names := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		amounts := make([]decimal.Decimal, n)
		for i, f := range ch.Figures {
			funds[i], periods[i], kinds[i], names[i], amounts[i] = f.FundID, f.Period, f.Kind.String(), f.Name, f.Amount
		}
		if err := u.exec("period figures", `
			INSERT INTO period_figures (fund_id, period, kind, name, amount)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::numeric[])
			ON CONFLICT (fund_id, period, kind, name) DO UPDATE SET amount = period_figures.amount + excluded.amount`,
			funds, periods, kinds, names, amounts); err != nil {
			return err
		}
	}
	if len(ch.Beneficiaries) > 0 {
		n := len(ch.Beneficiaries)
		funds, periods, progs, bens := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		for i, k := range ch.Beneficiaries {
			funds[i], periods[i], progs[i], bens[i] = k.FundID, k.Period, k.Program, k.Beneficiary
		}
		// The count per program is kept with the set, by the statement
		// that inserts into it: a close reads it instead of counting.
		if err := u.exec("period beneficiaries", `
			WITH ins AS (
			  INSERT INTO period_beneficiaries (fund_id, period, program, beneficiary_ref)
			  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) ON CONFLICT DO NOTHING
			  RETURNING fund_id, period, program)
			INSERT INTO period_figures (fund_id, period, kind, name, amount)
			SELECT fund_id, period, 'beneficiaries', program, count(*) FROM ins GROUP BY 1, 2, 4
			ON CONFLICT (fund_id, period, kind, name) DO UPDATE SET amount = period_figures.amount + excluded.amount`,
			funds, periods, progs, bens); err != nil {
			return err
		}
	}
	rows := make([][]any, 0, len(ch.Adjustments))
	for _, a := range ch.Adjustments {
		rows = append(rows, []any{a.FundID, a.JournalSeq, a.Period, a.BusinessPeriod, a.Type, a.Amount})
	}
	if err := u.copy("period_adjustments", []string{"fund_id", "journal_seq", "period", "business_period", "type", "amount"}, rows); err != nil {
		return err
	}
	rows = rows[:0]
	for _, a := range ch.Allocations {
		rows = append(rows, []any{a.FundID, a.JournalSeq, a.Period, a.AllocationID, a.Direction, a.OtherFund, a.Amount})
	}
	if err := u.copy("period_allocations", []string{"fund_id", "journal_seq", "period", "allocation_id", "direction", "other_fund", "amount"}, rows); err != nil {
		return err
	}
	if len(ch.Closed) > 0 {
		var ids, lasts []string
		var reports []int64
		var hashes [][]byte
		for _, f := range ch.Closed {
			ids, lasts, reports = append(ids, f.ID), append(lasts, f.Close.LastClosed), append(reports, f.Close.Reports)
			var h []byte // NULL: no report yet
			if f.Close.LastReportHash != "" {
				var err error
				if h, err = hex.DecodeString(f.Close.LastReportHash); err != nil {
					return fmt.Errorf("fund %s: last report hash: %w", f.ID, err)
				}
			}
			hashes = append(hashes, h)
		}
		if err := u.exec("fund periods", `
			INSERT INTO fund_periods (fund_id, last_closed, reports, last_report_hash)
			SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bytea[])
			ON CONFLICT (fund_id) DO UPDATE SET last_closed = excluded.last_closed, reports = excluded.reports,
			                                    last_report_hash = excluded.last_report_hash`,
			ids, lasts, reports, hashes); err != nil {
			return err
		}
	}
	rows = rows[:0]
	for _, r := range ch.Reports {
		body := r.JSON()
		rows = append(rows, []any{r.FundID, r.Period, r.First, r.ClosedBy, r.ApprovedBy, r.AsOfJournalSeq,
			json.RawMessage(body), body, u.now})
	}
	return u.copy("period_reports", []string{"fund_id", "period", "first", "closed_by", "approved_by", "as_of_journal_seq",
		"body", "published", "created_at"}, rows)
}
