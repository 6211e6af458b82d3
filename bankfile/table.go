package bankfile

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/fundledger/fundledger/events"
	"github.com/shopspring/decimal"
	"github.com/xuri/excelize/v2"
)

// A CSV or XLSX statement is a table: a header row, then one row per
// entry. Title rows above the header (an account name, a printing date)
// are skipped: the header is the first row, among the first 20, that names
// an entry reference and a date column. Columns are found by name, in
// English or as Chinese banks print them (docs/reconciliation.md):
var columns = map[string][]string{
	"entry_ref":   {"entry_ref", "流水号", "交易流水号", "交易流水", "凭证号"},
	"booked_on":   {"booked_on", "交易日期", "记账日期", "入账日期"},
	"direction":   {"direction", "借贷标志", "借贷方向"},
	"amount":      {"amount", "金额", "交易金额", "发生额"},
	"debit":       {"debit", "借方发生额", "支出金额", "支出"},
	"credit":      {"credit", "贷方发生额", "收入金额", "收入"},
	"balance":     {"balance", "余额", "账户余额"},
	"bank_ref":    {"bank_ref", "业务参考号", "参考号", "客户参考号"},
	"description": {"description", "摘要", "用途", "附言"},
}

// Any other column is not read: the counterparty's name and account
// (对方户名, 对方账号) never enter a Statement.

// maxTitleRows is how far down the header row is looked for.
const maxTitleRows = 20

// ParseCSV reads a CSV statement (UTF-8, an optional byte-order mark,
// comma separated). The statement's id, account and (when there is no
// balance column) its balances come from o.
func ParseCSV(data []byte, o Options) (*Statement, error) {
	if len(data) > MaxFileBytes {
		return nil, errAt("", "the file is %d bytes; at most %d are read", len(data), MaxFileBytes)
	}
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))))
	r.FieldsPerRecord = -1
	r.ReuseRecord = false
	var rows [][]string
	var lines []int
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, errAt(fmt.Sprintf("line %d", pe.Line), "%v", pe.Err)
			}
			return nil, errAt("", "%v", err)
		}
		line, _ := r.FieldPos(0)
		rows, lines = append(rows, rec), append(lines, line)
	}
	return parseTable(rows, func(i int) string { return fmt.Sprintf("line %d", lines[i]) }, o)
}

// ParseXLSX reads the first sheet of an XLSX statement as ParseCSV reads
// a CSV file.
func ParseXLSX(data []byte, o Options) (*Statement, error) {
	if len(data) > MaxFileBytes {
		return nil, errAt("", "the file is %d bytes; at most %d are read", len(data), MaxFileBytes)
	}
	f, err := excelize.OpenReader(bytes.NewReader(data), excelize.Options{UnzipSizeLimit: 2 * MaxFileBytes, UnzipXMLSizeLimit: MaxFileBytes / 2})
	if err != nil {
		return nil, errAt("", "not an XLSX workbook: %v", err)
	}
	defer f.Close()
	sheets := f.GetSheetList()
	if len(sheets) == 0 {
		return nil, errAt("", "the workbook has no sheet")
	}
	sheet := sheets[0]
	rows, err := f.GetRows(sheet, excelize.Options{RawCellValue: false})
	if err != nil {
		return nil, errAt("sheet "+sheet, "%v", err)
	}
	return parseTable(rows, func(i int) string { return fmt.Sprintf("sheet %s row %d", sheet, i+1) }, o)
}

// parseTable reads the rows of a CSV or XLSX statement; where names row i
// in errors.
func parseTable(rows [][]string, where func(int) string, o Options) (*Statement, error) {
	head, col := -1, map[string]int{}
	for i := 0; i < len(rows) && i < maxTitleRows; i++ {
		c := map[string]int{}
		for j, name := range rows[i] {
			name = strings.ToLower(strings.TrimSpace(name))
			for key, names := range columns {
				for _, n := range names {
					if name == n {
						if _, dup := c[key]; !dup {
							c[key] = j
						}
					}
				}
			}
		}
		if _, ok := c["entry_ref"]; ok {
			if _, ok := c["booked_on"]; ok {
				head, col = i, c
				break
			}
		}
	}
	if head < 0 {
		return nil, errAt("", "no header row naming entry_ref (流水号) and booked_on (交易日期) in the first %d rows", maxTitleRows)
	}
	_, hasAmount := col["amount"]
	_, hasDir := col["direction"]
	_, hasDebit := col["debit"]
	_, hasCredit := col["credit"]
	if !(hasAmount && hasDir) && !(hasDebit && hasCredit) {
		return nil, errAt(where(head), "the header names neither direction and amount nor debit and credit (借方发生额, 贷方发生额) columns")
	}
	cell := func(r []string, key string) string {
		if j, ok := col[key]; ok && j < len(r) {
			return strings.TrimSpace(r[j])
		}
		return ""
	}
	s := &Statement{StatementID: o.StatementID, BankAccount: o.BankAccount}
	var firstBal, lastBal *decimal.Decimal
	for i := head + 1; i < len(rows); i++ {
		r := rows[i]
		if strings.TrimSpace(strings.Join(r, "")) == "" {
			continue
		}
		at := where(i)
		e := Entry{EntryRef: cleanID(cell(r, "entry_ref")), BankRef: cleanText(cell(r, "bank_ref")), Description: cleanText(cell(r, "description"))}
		if e.EntryRef == "" {
			if isTotals(r) {
				continue // a closing "合计" line
			}
			return nil, errAt(at, "entry_ref is empty")
		}
		var err error
		if e.BookedOn, err = parseDay(cell(r, "booked_on")); err != nil {
			return nil, errAt(at, "booked_on: %v", err)
		}
		if hasAmount && hasDir {
			switch d := strings.ToLower(cell(r, "direction")); d {
			case "credit", "cr", "c", "贷", "收", "收入":
				e.Direction = events.DirCredit
			case "debit", "dr", "d", "借", "付", "支出":
				e.Direction = events.DirDebit
			default:
				return nil, errAt(at, "direction %q is neither credit (贷) nor debit (借)", d)
			}
			if e.Amount, err = parseAmount(cell(r, "amount")); err != nil {
				return nil, errAt(at, "amount: %v", err)
			}
		} else {
			dr, cr := cell(r, "debit"), cell(r, "credit")
			drAmt, crAmt := decimal.Zero, decimal.Zero
			if dr != "" {
				if drAmt, err = parseAmount(dr); err != nil {
					return nil, errAt(at, "debit: %v", err)
				}
			}
			if cr != "" {
				if crAmt, err = parseAmount(cr); err != nil {
					return nil, errAt(at, "credit: %v", err)
				}
			}
			switch {
			case drAmt.IsPositive() && crAmt.IsZero():
				e.Direction, e.Amount = events.DirDebit, drAmt
			case crAmt.IsPositive() && drAmt.IsZero():
				e.Direction, e.Amount = events.DirCredit, crAmt
			default:
				return nil, errAt(at, "exactly one of debit (%q) and credit (%q) must be an amount above zero", dr, cr)
			}
		}
		if !e.Amount.IsPositive() {
			return nil, errAt(at, "amount %s is not above zero", e.Amount)
		}
		if b := cell(r, "balance"); b != "" {
			bal, err := parseAmount(b)
			if err != nil {
				return nil, errAt(at, "balance: %v", err)
			}
			if firstBal == nil {
				open := bal.Sub(signedEntry(e))
				firstBal = &open
			}
			lastBal = &bal
		}
		s.Entries = append(s.Entries, e)
	}
	if firstBal != nil {
		s.OpeningBalance, s.ClosingBalance = *firstBal, *lastBal
	}
	for _, e := range s.Entries {
		if s.PeriodStart.IsZero() || e.BookedOn.Before(s.PeriodStart) {
			s.PeriodStart = e.BookedOn
		}
		if e.BookedOn.After(s.PeriodEnd) {
			s.PeriodEnd = e.BookedOn
		}
	}
	o.apply(s)
	if firstBal == nil && (o.Opening == nil || o.Closing == nil) {
		return nil, errAt("", "the file has no balance column (余额): give --opening and --closing")
	}
	return s, nil
}

func signedEntry(e Entry) decimal.Decimal {
	if e.Direction == events.DirDebit {
		return e.Amount.Neg()
	}
	return e.Amount
}

func isTotals(r []string) bool {
	for _, c := range r {
		c = strings.TrimSpace(c)
		if c == "合计" || c == "总计" || strings.EqualFold(c, "total") {
			return true
		}
	}
	return false
}
