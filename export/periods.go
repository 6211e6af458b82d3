package export

// The monthly reports of CONTRACT.md section 11 as CSV or XLSX (export
// period, export city): the form a district's officers send upward, and
// the city's sum of them.

import (
	"context"
	"encoding/csv"
	"io"
	"strconv"

	"github.com/fundledger/fundledger/ledger"
	"github.com/fundledger/fundledger/ledger/postgres"
	"github.com/shopspring/decimal"
)

// moneyCell is a two-place amount of a report as a money cell; an
// unreadable one (never, the ledger writes them) as text.
func moneyCell(s string) any {
	d, err := decimal.NewFromString(s)
	if err != nil {
		return s
	}
	return money(d)
}

// Period writes fund's period report of month (YYYY-MM): its header, its
// accounts, programs, contributions, allocations and adjustments, one
// block after another.
func Period(ctx context.Context, s *postgres.Store, w io.Writer, format, fund, month string) error {
	body, err := s.PeriodReport(ctx, fund, month)
	if err != nil {
		return err
	}
	r, err := ledger.ParsePeriodReport(body)
	if err != nil {
		return err
	}
	sh, err := newSheet(w, format, "period "+month, []float64{26, 16, 16, 16, 16, 16, 16})
	if err != nil {
		return err
	}
	if err := reportSheet(sh, r); err != nil {
		return err
	}
	return sh.close()
}

// City writes the city-wide view of month over the funds sees admits (the
// CLI: every fund; the console: the token's funds, as GET /v1/periods/{period}).
func City(ctx context.Context, s *postgres.Store, w io.Writer, format, month string, sees func(fundID string) bool) error {
	v, err := s.CityPeriod(ctx, month, sees)
	if err != nil {
		return err
	}
	sh, err := newSheet(w, format, "city "+month, []float64{26, 16, 16, 16, 16, 16, 16})
	if err != nil {
		return err
	}
	if err := citySheet(sh, v); err != nil {
		return err
	}
	return sh.close()
}

// PeriodReportCSV writes a parsed period report as the CSV of Period.
func PeriodReportCSV(w io.Writer, r *ledger.PeriodReport) error {
	sh, _ := newSheet(w, CSV, "", make([]float64, 7))
	if err := reportSheet(sh, r); err != nil {
		return err
	}
	return sh.close()
}

// CityCSV writes a city-wide view as the CSV of City.
func CityCSV(w io.Writer, v *ledger.CityPeriod) error {
	sh, _ := newSheet(w, CSV, "", make([]float64, 7))
	if err := citySheet(sh, v); err != nil {
		return err
	}
	return sh.close()
}

// newSheet starts a CSV or a one-sheet workbook.
func newSheet(w io.Writer, format, name string, widths []float64) (sheet, error) {
	if format == "xlsx" {
		return newXLSX(w, name, widths)
	}
	return paddedSheet{&csvSheet{w: csv.NewWriter(w)}, len(widths)}, nil
}

// paddedSheet gives every CSV row the same number of fields, as CSV
// readers expect, though the report's blocks have fewer columns.
type paddedSheet struct {
	sheet
	n int
}

func (p paddedSheet) row(cells ...any) error {
	for len(cells) < p.n {
		cells = append(cells, nil)
	}
	return p.sheet.row(cells...)
}

// reportSheet writes a fund's period report as blocks: the report's
// header, its accounts, programs, contributions and allocations, its
// adjustments.
func reportSheet(sh sheet, r *ledger.PeriodReport) error {
	recon := ""
	if r.ReconciliationSeq != nil {
		recon = strconv.FormatInt(*r.ReconciliationSeq, 10)
	}
	rows := [][]any{
		{"fund_id", r.FundID}, {"period", r.Period}, {"first", strconv.FormatBool(r.First)},
		{"closed_by", r.ClosedBy}, {"approved_by", r.ApprovedBy}, {"as_of_journal_seq", r.AsOfJournalSeq},
		{"chain_head", r.ChainHead}, {"reconciliation_seq", recon}, {"key_id", r.KeyID}, {"signature", r.Signature},
	}
	if err := heading(sh, "period report"); err != nil {
		return err
	}
	for _, row := range rows {
		if err := sh.row(row...); err != nil {
			return err
		}
	}
	if err := accountBlock(sh, r.Accounts); err != nil {
		return err
	}
	if err := programBlock(sh, r.Programs); err != nil {
		return err
	}
	if err := moneyBlock(sh, r.Contributions, []any{"allocations", "in", moneyCell(r.Allocations.In), "out", moneyCell(r.Allocations.Out)}); err != nil {
		return err
	}
	if err := sh.row(); err != nil {
		return err
	}
	if err := heading(sh, "adjustment journal_seq", "type", "business_period", "amount"); err != nil {
		return err
	}
	for _, a := range r.Adjustments {
		if err := sh.row(a.JournalSeq, a.Type, a.BusinessPeriod, moneyCell(a.Amount)); err != nil {
			return err
		}
	}
	return nil
}

func accountBlock(sh sheet, accounts []ledger.PeriodAccount) error {
	if err := sh.row(); err != nil {
		return err
	}
	if err := heading(sh, "account", "opening", "debits", "credits", "closing"); err != nil {
		return err
	}
	for _, a := range accounts {
		if err := sh.row(a.Account, moneyCell(a.Opening), moneyCell(a.Debits), moneyCell(a.Credits), moneyCell(a.Closing)); err != nil {
			return err
		}
	}
	return nil
}

func programBlock(sh sheet, programs []ledger.PeriodProgram) error {
	if err := sh.row(); err != nil {
		return err
	}
	if err := heading(sh, "program", "approved", "cancelled", "paid", "returned", "recovered", "beneficiaries"); err != nil {
		return err
	}
	for _, p := range programs {
		if err := sh.row(p.Program, moneyCell(p.Approved), moneyCell(p.Cancelled), moneyCell(p.Paid), moneyCell(p.Returned),
			moneyCell(p.Recovered), p.Beneficiaries); err != nil {
			return err
		}
	}
	return nil
}

func moneyBlock(sh sheet, c ledger.PeriodContributions, more ...[]any) error {
	if err := sh.row(); err != nil {
		return err
	}
	if err := sh.row("contributions", "fiscal", moneyCell(c.Fiscal), "donation", moneyCell(c.Donation), "other", moneyCell(c.Other)); err != nil {
		return err
	}
	for _, m := range more {
		if err := sh.row(m...); err != nil {
			return err
		}
	}
	return nil
}

// citySheet writes the city-wide view: the funds and their state, then
// the totals.
func citySheet(sh sheet, v *ledger.CityPeriod) error {
	if err := heading(sh, "city-wide view", v.Period); err != nil {
		return err
	}
	if err := heading(sh, "fund_id", "state", "cash closing", "approved", "paid", "adjustments", "as_of_journal_seq"); err != nil {
		return err
	}
	for _, c := range v.Closed {
		r := ReportOf(c)
		if r == nil {
			if err := sh.row(c.FundID, "closed, no report of its own"); err != nil {
				return err
			}
			continue
		}
		approved, paid := ProgramSums(r)
		if err := sh.row(c.FundID, "closed", moneyCell(AccountClosing(r.Accounts, ledger.AccountCash)), moneyCell(approved), moneyCell(paid),
			int64(len(r.Adjustments)), r.AsOfJournalSeq); err != nil {
			return err
		}
	}
	for _, id := range v.NotClosed {
		if err := sh.row(id, "not closed"); err != nil {
			return err
		}
	}
	t := v.Totals
	if err := accountBlock(sh, t.Accounts); err != nil {
		return err
	}
	if err := programBlock(sh, t.Programs); err != nil {
		return err
	}
	return moneyBlock(sh, t.Contributions,
		[]any{"allocations gross", "in", moneyCell(t.Allocations.Gross.In), "out", moneyCell(t.Allocations.Gross.Out)},
		[]any{"allocations net", "in", moneyCell(t.Allocations.Net.In), "out", moneyCell(t.Allocations.Net.Out)})
}

// ReportOf parses a city view entry's report; nil for none.
func ReportOf(c ledger.CityClosed) *ledger.PeriodReport {
	if len(c.Report) == 0 || string(c.Report) == "null" {
		return nil
	}
	r, err := ledger.ParsePeriodReport(c.Report)
	if err != nil {
		return nil
	}
	return r
}

// AccountClosing is account's closing balance in list, 0.00 when absent.
func AccountClosing(list []ledger.PeriodAccount, account string) string {
	for _, a := range list {
		if a.Account == account {
			return a.Closing
		}
	}
	return "0.00"
}

// ProgramSums are a report's approved and paid amounts over its programs.
func ProgramSums(r *ledger.PeriodReport) (approved, paid string) {
	var a, p decimal.Decimal
	for _, x := range r.Programs {
		a, p = a.Add(decimal.RequireFromString(x.Approved)), p.Add(decimal.RequireFromString(x.Paid))
	}
	return ledger.Money(a), ledger.Money(p)
}
