package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
	_ "time/tzdata" // --tz works on hosts without a zone database

	"github.com/fundledger/fundledger/export"
	"github.com/fundledger/fundledger/ledger/postgres"
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
				return export.City(ctx, s, w, format, pos[0], allFunds)
			}
			return export.Period(ctx, s, w, format, pos[0], pos[1])
		}
	case "statement":
		from, to, err := period(*c.from, *c.to, *c.tz)
		if err != nil {
			return err
		}
		write = func(w io.Writer, s *postgres.Store) error {
			return export.Statement(ctx, s, w, format, pos[0], from, to)
		}
	default:
		write = func(w io.Writer, s *postgres.Store) error { return export.Grants(ctx, s, w, format, pos[0]) }
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
