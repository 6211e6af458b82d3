package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // --tz works on hosts without a zone database

	"github.com/fundledger/fundledger/ledger"
	"github.com/fundledger/fundledger/ledger/postgres"
	"github.com/shopspring/decimal"
	"github.com/xuri/excelize/v2"
)

func init() {
	register(command{"export", "write a fund's account statement or grants register as CSV or XLSX", runExport})
}

const exportAbout = `Writes a report for finance officers and auditors, as CSV or as an Excel workbook (XLSX).

  export statement FUND --from DATE --to DATE [--tz ZONE]
      The account statement of the period: for every account, in name order, its opening balance,
      each posting of the transactions recorded in the period (dates inclusive, in --tz), and its
      closing balance with the period's debit and credit totals. Balances are on each account's
      normal side. The closing balances equal "balances FUND --as-of-seq N" for the period's last
      transaction N.
      CSV columns: account, line (opening|posting|closing), seq, time, type, event_id, debit,
      credit, balance; the opening and closing lines carry the period's start and end as time.

  export period FUND MONTH
      The fund's period report of MONTH (YYYY-MM), the monthly report sent upward: its header
      (who closed and approved it, as of which journal transaction, signature), its accounts
      (opening, debits, credits, closing), programs, contributions, allocations and prior-period
      adjustments, one block after another.

  export city MONTH
      The city-wide view of MONTH: every fund, closed or not, then the totals of their reports
      (accounts, programs, contributions, allocations gross and net of the city's own funds).

  export grants FUND
      The grants register: every grant, by id, with its approved, paid, returned, cancelled,
      recovered and outstanding amounts and its state, then a TOTAL line. Total outstanding equals
      the grants_payable balance, which the workbook prints under it.

--format defaults to the extension of --out (.xlsx or .csv), else csv. --out "-" (the default)
writes to standard output. A file is written whole or not at all (to a temporary name, then
renamed). In XLSX money is a number cell formatted #,##0.00.`

type exportCmd struct {
	*cmdFlags
	db       *string
	format   *string
	outPath  *string
	from, to *string
	tz       *string
}

func runExport(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		c := newCLI("export", "export statement|grants FUND [flags]", exportAbout, 0, 0)
		c.usage(os.Stdout)
		if len(args) == 0 {
			return usageError{"export what? statement or grants"}
		}
		return nil
	}
	kind, rest := args[0], args[1:]
	var c exportCmd
	switch kind {
	case "statement":
		c.cmdFlags = newCLI("export statement", "export statement FUND --from DATE --to DATE [--tz ZONE] [--format csv|xlsx] [--out FILE]", exportAbout, 1, 1)
		c.from = c.fs.String("from", "", "first day of the period, YYYY-MM-DD (required)")
		c.to = c.fs.String("to", "", "last day of the period, YYYY-MM-DD, inclusive (required)")
		c.tz = c.fs.String("tz", "Asia/Shanghai", "time zone the days are counted in (the recorded times are UTC)")
	case "grants":
		c.cmdFlags = newCLI("export grants", "export grants FUND [--format csv|xlsx] [--out FILE]", exportAbout, 1, 1)
	case "period": // periods_export.go
		c.cmdFlags = newCLI("export period", "export period FUND MONTH [--format csv|xlsx] [--out FILE]", exportAbout, 2, 2)
	case "city": // periods_export.go
		c.cmdFlags = newCLI("export city", "export city MONTH [--format csv|xlsx] [--out FILE]", exportAbout, 1, 1)
	default:
		return usageError{fmt.Sprintf("export %q: want statement, grants, period or city", kind)}
	}
	c.db = c.databaseFlag()
	c.format = c.fs.String("format", "", "csv or xlsx (default: from the extension of --out, else csv)")
	c.outPath = c.fs.String("out", "-", `file to write; "-" is standard output`)
	pos, err := c.parse(rest)
	if err != nil {
		return helpDone(err)
	}
	format := *c.format
	if format == "" {
		format = "csv"
		if strings.EqualFold(filepath.Ext(*c.outPath), ".xlsx") {
			format = "xlsx"
		}
	}
	if format != "csv" && format != "xlsx" {
		return usageError{fmt.Sprintf("--format %q: want csv or xlsx", format)}
	}
	if format == "xlsx" && *c.outPath == "-" && onTerminal(os.Stdout) {
		return usageError{"an XLSX workbook is not for a terminal: give --out FILE"}
	}
	var write func(w io.Writer, s *postgres.Store) error
	switch kind {
	case "period", "city":
		if err := checkMonth(pos[len(pos)-1]); err != nil {
			return err
		}
		write = func(w io.Writer, s *postgres.Store) error {
			if kind == "city" {
				return exportCity(ctx, s, w, format, pos[0])
			}
			return exportPeriod(ctx, s, w, format, pos[0], pos[1])
		}
	case "statement":
		from, to, err := period(*c.from, *c.to, *c.tz)
		if err != nil {
			return err
		}
		write = func(w io.Writer, s *postgres.Store) error {
			return exportStatement(ctx, s, w, format, pos[0], from, to)
		}
	default:
		write = func(w io.Writer, s *postgres.Store) error { return exportGrants(ctx, s, w, format, pos[0]) }
	}
	s, err := openStore(ctx, *c.db)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := writeOut(*c.outPath, func(w io.Writer) error { return write(w, s) }); err != nil {
		return readFailed(err)
	}
	if *c.outPath != "-" {
		fmt.Fprintf(os.Stderr, "fundledger export: wrote %s\n", *c.outPath)
	}
	return nil
}

// period turns inclusive days in a zone into the instants [from, to).
func period(fromDay, toDay, zone string) (time.Time, time.Time, error) {
	if fromDay == "" || toDay == "" {
		return time.Time{}, time.Time{}, usageError{"--from and --to are required (YYYY-MM-DD)"}
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return time.Time{}, time.Time{}, usageError{fmt.Sprintf("--tz %q: %v", zone, err)}
	}
	from, err := time.ParseInLocation(time.DateOnly, fromDay, loc)
	if err != nil {
		return time.Time{}, time.Time{}, usageError{fmt.Sprintf("--from %q is not a date YYYY-MM-DD", fromDay)}
	}
	last, err := time.ParseInLocation(time.DateOnly, toDay, loc)
	if err != nil {
		return time.Time{}, time.Time{}, usageError{fmt.Sprintf("--to %q is not a date YYYY-MM-DD", toDay)}
	}
	if last.Before(from) {
		return time.Time{}, time.Time{}, usageError{fmt.Sprintf("--to %s is before --from %s", toDay, fromDay)}
	}
	return from, last.AddDate(0, 0, 1), nil
}

// writeOut writes to standard output, or to path through a temporary file
// renamed into place only when everything was written.
func writeOut(path string, write func(io.Writer) error) error {
	if path == "-" {
		return write(os.Stdout)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// sheet writes rows to a CSV file or an XLSX worksheet, through one
// interface so each report is written once.
type sheet interface {
	// row writes one row; cells are string, int64 or money.
	row(cells ...any) error
	close() error
}

// money is an amount cell.
type money decimal.Decimal

type csvSheet struct{ w *csv.Writer }

func (s *csvSheet) row(cells ...any) error {
	rec := make([]string, len(cells))
	for i, c := range cells {
		switch v := c.(type) {
		case money:
			rec[i] = ledger.Money(decimal.Decimal(v))
		case nil:
		default:
			rec[i] = fmt.Sprint(v)
		}
	}
	return s.w.Write(rec)
}

func (s *csvSheet) close() error { s.w.Flush(); return s.w.Error() }

type xlsxSheet struct {
	f     *excelize.File
	sw    *excelize.StreamWriter
	out   io.Writer
	n     int
	money int // style id of money cells
	bold  int
}

// newXLSX starts a one-sheet workbook; widths are the columns' widths.
func newXLSX(out io.Writer, name string, widths []float64) (*xlsxSheet, error) {
	f := excelize.NewFile()
	if err := f.SetSheetName("Sheet1", name); err != nil {
		return nil, err
	}
	fmtStr := "#,##0.00"
	moneyStyle, err := f.NewStyle(&excelize.Style{CustomNumFmt: &fmtStr})
	if err != nil {
		return nil, err
	}
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return nil, err
	}
	sw, err := f.NewStreamWriter(name)
	if err != nil {
		return nil, err
	}
	for i, w := range widths {
		if err := sw.SetColWidth(i+1, i+1, w); err != nil {
			return nil, err
		}
	}
	return &xlsxSheet{f: f, sw: sw, out: out, money: moneyStyle, bold: bold}, nil
}

// maxExactMoney is where a double stops holding every cent: up to 2^53
// cents each amount converts exactly back to its two-place decimal.
var maxExactMoney = decimal.New(1, 13)

func (s *xlsxSheet) cells(bold bool, cells []any) []any {
	out := make([]any, len(cells))
	for i, c := range cells {
		switch v := c.(type) {
		case money:
			d := decimal.Decimal(v)
			// Excel stores numbers as IEEE doubles; there is no decimal cell.
			// The two-place string is parsed to the nearest double only
			// here, at the cell, so the workbook sums and sorts as numbers
			// and shows the exact figure with the #,##0.00 format. An
			// amount too large for a double to hold every cent is written
			// as text instead, never rounded.
			if d.Abs().GreaterThanOrEqual(maxExactMoney) {
				out[i] = excelize.Cell{Value: ledger.Money(d)}
				continue
			}
			f, _ := strconv.ParseFloat(ledger.Money(d), 64)
			out[i] = excelize.Cell{StyleID: s.money, Value: f}
		case string:
			if bold {
				out[i] = excelize.Cell{StyleID: s.bold, Value: v}
			} else {
				out[i] = v
			}
		default:
			out[i] = v
		}
	}
	return out
}

func (s *xlsxSheet) row(cells ...any) error { return s.write(false, cells) }

func (s *xlsxSheet) boldRow(cells ...any) error { return s.write(true, cells) }

func (s *xlsxSheet) write(bold bool, cells []any) error {
	s.n++
	cell, err := excelize.CoordinatesToCellName(1, s.n)
	if err != nil {
		return err
	}
	return s.sw.SetRow(cell, s.cells(bold, cells))
}

func (s *xlsxSheet) close() error {
	if err := s.sw.Flush(); err != nil {
		return err
	}
	if _, err := s.f.WriteTo(s.out); err != nil {
		return err
	}
	return s.f.Close()
}

// heading writes a row in bold in a workbook, as is in CSV.
func heading(sh sheet, cells ...any) error {
	if x, ok := sh.(*xlsxSheet); ok {
		return x.boldRow(cells...)
	}
	return sh.row(cells...)
}

func exportStatement(ctx context.Context, s *postgres.Store, w io.Writer, format, fund string, from, to time.Time) error {
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

func exportGrants(ctx context.Context, s *postgres.Store, w io.Writer, format, fund string) error {
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
