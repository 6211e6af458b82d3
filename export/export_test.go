package export

import (
	"bytes"
	"encoding/csv"
	"testing"

	"github.com/fundledger/fundledger/ledger"
	"github.com/shopspring/decimal"
	"github.com/xuri/excelize/v2"
)

// TestPeriodReportCSV: the CSV is written out whole (flushed), every
// record padded to the report's seven columns, amounts as two-place text.
func TestPeriodReportCSV(t *testing.T) {
	r := &ledger.PeriodReport{FundID: "f-1", Period: "2026-03",
		Accounts: []ledger.PeriodAccount{{Account: "cash", Opening: "0.00", Debits: "1234.50", Credits: "0.00", Closing: "1234.50"}}}
	var b bytes.Buffer
	if err := PeriodReportCSV(&b, r); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll() // fails on records of unequal width
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	var found bool
	for _, row := range rows {
		if len(row) != 7 {
			t.Fatalf("record %v has %d fields, want 7", row, len(row))
		}
		if row[0] == "cash" {
			found = row[4] == "1234.50"
		}
	}
	if !found {
		t.Errorf("no cash line closing at 1234.50 in %v", rows)
	}
}

// TestXLSXMoney: an amount is a number cell formatted #,##0.00, and one too
// large for a double to hold every cent is written as text, unrounded.
func TestXLSXMoney(t *testing.T) {
	var b bytes.Buffer
	sh, err := newXLSX(&b, "S", []float64{10, 10})
	if err != nil {
		t.Fatal(err)
	}
	if err := sh.row(money(decimal.RequireFromString("1234567.89")), money(decimal.RequireFromString("12345678901234.56"))); err != nil {
		t.Fatal(err)
	}
	if err := sh.close(); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&b)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if v, _ := f.GetCellValue("S", "A1"); v != "1,234,567.89" {
		t.Errorf("A1 shown as %q", v)
	}
	if typ, _ := f.GetCellType("S", "A1"); typ == excelize.CellTypeInlineString || typ == excelize.CellTypeSharedString {
		t.Errorf("A1 is text, want a number")
	}
	if v, _ := f.GetCellValue("S", "B1"); v != "12345678901234.56" {
		t.Errorf("B1 shown as %q, want the exact text", v)
	}
}
