package export

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"time"

	"github.com/fundledger/fundledger/ledger"
	"github.com/fundledger/fundledger/ledger/postgres"
	"github.com/shopspring/decimal"
)

// Statement writes fund's account statement of the instants [from, to):
// for every account, in name order, its opening balance, each posting of
// the transactions recorded in the period and its closing balance with the
// period's debit and credit totals. Times are shown in from's zone.
func Statement(ctx context.Context, s *postgres.Store, w io.Writer, format, fund string, from, to time.Time) error {
	var sh sheet
	loc := from.Location()
	// Local time in the period's zone, to the microsecond the journal keeps.
	stamp := func(t time.Time) string { return t.In(loc).Format("2006-01-02T15:04:05.000000Z07:00") }
	var err error
	if format == "xlsx" {
		sh, err = newXLSX(w, "Statement", []float64{26, 10, 8, 22, 22, 26, 16, 16, 16})
		if err != nil {
			return err
		}
	} else {
		sh = &csvSheet{csv.NewWriter(w)}
		if err := sh.row("account", "line", "seq", "time", "type", "event_id", "debit", "credit", "balance"); err != nil {
			return err
		}
	}
	err = s.Statement(ctx, fund, from, to, func(i postgres.StatementInfo) error {
		if format != "xlsx" {
			return nil
		}
		for _, r := range [][]any{
			{"Account statement", i.FundID + " " + i.Name},
			{"Currency", i.Currency},
			{"Period", fmt.Sprintf("%s to %s inclusive, %s time", i.From.Format(time.DateOnly), i.To.AddDate(0, 0, -1).Format(time.DateOnly), loc)},
			{"Journal", fmt.Sprintf("transactions %d to %d (opening as of seq %d)", i.OpeningSeq+1, i.ClosingSeq, i.OpeningSeq)},
			{},
		} {
			if err := heading(sh, r...); err != nil {
				return err
			}
		}
		return heading(sh, "account", "line", "seq", "time", "type", "event_id", "debit", "credit", "balance")
	}, func(l postgres.StatementLine) error {
		switch l.Kind {
		case postgres.StatementOpening:
			return sh.row(l.Account, l.Kind, nil, stamp(from), nil, nil, nil, nil, money(l.Balance))
		case postgres.StatementClosing:
			return sh.row(l.Account, l.Kind, nil, stamp(to), nil, nil, money(l.Debit), money(l.Credit), money(l.Balance))
		}
		var dr, cr any
		if l.Side == ledger.Debit {
			dr = money(l.Debit)
		} else {
			cr = money(l.Credit)
		}
		return sh.row(l.Account, l.Kind, l.Seq, stamp(l.Time), l.Type, l.EventID, dr, cr, money(l.Balance))
	})
	if err != nil {
		return err
	}
	return sh.close()
}

// Grants writes fund's grants register: every grant by id with its
// amounts and state, then a TOTAL line (and, in a workbook, the
// grants_payable balance under it).
func Grants(ctx context.Context, s *postgres.Store, w io.Writer, format, fund string) error {
	var sh sheet
	var err error
	cols := []any{"grant_id", "beneficiary_ref", "program", "category", "approved_on", "state",
		"approved", "paid", "returned", "cancelled", "recovered", "outstanding"}
	if format == "xlsx" {
		if sh, err = newXLSX(w, "Grants", []float64{18, 18, 20, 14, 12, 10, 16, 16, 16, 16, 16, 16}); err != nil {
			return err
		}
	} else {
		sh = &csvSheet{csv.NewWriter(w)}
		if err := sh.row(cols...); err != nil {
			return err
		}
	}
	var head postgres.FundSummary
	var total [6]decimal.Decimal
	var n int64
	err = s.GrantRegister(ctx, fund, func(f postgres.FundSummary) error {
		head = f
		if format != "xlsx" {
			return nil
		}
		for _, r := range [][]any{
			{"Grants register", f.FundID + " " + f.Name},
			{"Currency", f.Currency},
			{"As of journal seq", f.HeadSeq},
			{},
		} {
			if err := heading(sh, r...); err != nil {
				return err
			}
		}
		return heading(sh, cols...)
	}, func(g postgres.GrantSummary) error {
		n++
		for i, a := range []postgres.Amount{g.Approved, g.Paid, g.Returned, g.Cancelled, g.Recovered, g.Outstanding} {
			total[i] = total[i].Add(a.Dec())
		}
		return sh.row(g.GrantID, g.BeneficiaryRef, g.Program, g.Category, g.ApprovedOn, g.State,
			money(g.Approved), money(g.Paid), money(g.Returned), money(g.Cancelled), money(g.Recovered), money(g.Outstanding))
	})
	if err != nil {
		return err
	}
	totals := []any{"TOTAL", fmt.Sprintf("%d grants", n), nil, nil, nil, nil}
	for _, t := range total {
		totals = append(totals, money(t))
	}
	if err := heading(sh, totals...); err != nil {
		return err
	}
	// In the workbook, the books' own figure under the total, so a reader
	// sees the register agree with it.
	if x, ok := sh.(*xlsxSheet); ok {
		if err := x.row("grants_payable", "balance of the account", nil, nil, nil, nil, nil, nil, nil, nil, nil, money(head.GrantsPayable)); err != nil {
			return err
		}
	}
	return sh.close()
}
