// Package export writes fundledger's reports for finance officers and
// auditors as CSV or as an Excel workbook (XLSX): a fund's account
// statement, its grants register, its period report, the city-wide view of
// a month and a bank reconciliation statement. The CLI (fundledger export,
// fundledger statement export) and the web console's download links
// (package console) write the same files through it; docs/cli.md describes
// their columns.
//
// Each report is Func(ctx, store, w, format, ...) with format "csv" or
// "xlsx". The writer receives the file from its first byte: a caller that
// must answer an error with a status (the console) buffers it.
package export

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"

	"github.com/fundledger/fundledger/ledger"
	"github.com/shopspring/decimal"
	"github.com/xuri/excelize/v2"
)

// Formats a report is written in.
const (
	CSV  = "csv"
	XLSX = "xlsx"
)

// ContentType is the media type of a file of format.
func ContentType(format string) string {
	if format == XLSX {
		return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	}
	return "text/csv; charset=utf-8"
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
