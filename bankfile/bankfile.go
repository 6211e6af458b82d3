// Package bankfile reads the statement files banks export, ISO 20022
// camt.053 (XML), CSV and XLSX, into the data of a bank.statement.received
// event (CONTRACT.md sections 3 and 10). It keeps only what the ledger
// may hold: the payee's name and account number (对方户名, 对方账号) are
// never read into a Statement. Every error names the line, row or element
// at fault. docs/reconciliation.md documents the columns and elements.
package bankfile

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/fundledger/fundledger/events"
	"github.com/shopspring/decimal"
)

// MaxFileBytes bounds a statement file: 10,000 entries of a camt.053 are
// far less than this.
const MaxFileBytes = 32 << 20

// Statement is a bank statement as the ledger takes it.
type Statement struct {
	StatementID    string
	BankAccount    string
	PeriodStart    time.Time
	PeriodEnd      time.Time
	OpeningBalance decimal.Decimal
	ClosingBalance decimal.Decimal
	MessageID      string // camt.053 GrpHdr/MsgId; "" for other formats
	Entries        []Entry
}

// Entry is one booked entry of a statement.
type Entry struct {
	EntryRef    string
	BookedOn    time.Time
	Direction   string // "credit" or "debit"
	Amount      decimal.Decimal
	BankRef     string
	Description string
}

// Options give what a CSV or XLSX file does not carry; for camt.053 they
// override the file's values when set.
type Options struct {
	StatementID string
	BankAccount string
	From, To    time.Time        // the period; zero: from the file
	Opening     *decimal.Decimal // nil: from the file's balance column
	Closing     *decimal.Decimal
}

// Error is a problem with a statement file, at Where (a line, a row, an
// element path).
type Error struct {
	Where string
	Msg   string
}

func (e *Error) Error() string {
	if e.Where == "" {
		return e.Msg
	}
	return e.Where + ": " + e.Msg
}

func errAt(where, format string, args ...any) *Error {
	return &Error{Where: where, Msg: fmt.Sprintf(format, args...)}
}

// Format names a statement file format.
type Format string

// The formats read.
const (
	CAMT053 Format = "camt.053"
	CSV     Format = "csv"
	XLSX    Format = "xlsx"
)

// Detect says which format a file is in: by its extension (.xml, .csv,
// .xlsx), else by its first bytes.
func Detect(name string, data []byte) (Format, error) {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".xml", ".camt", ".053":
		return CAMT053, nil
	case ".csv", ".txt":
		return CSV, nil
	case ".xlsx":
		return XLSX, nil
	}
	trimmed := bytes.TrimLeft(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), " \t\r\n")
	switch {
	case bytes.HasPrefix(trimmed, []byte("<")):
		return CAMT053, nil
	case bytes.HasPrefix(data, []byte("PK\x03\x04")):
		return XLSX, nil
	case utf8.Valid(data):
		return CSV, nil
	}
	return "", errAt("", "cannot tell the format of %s: name it .xml (camt.053), .csv or .xlsx", name)
}

// Parse reads a statement file of the format Detect finds.
func Parse(name string, data []byte, o Options) (*Statement, error) {
	if len(data) > MaxFileBytes {
		return nil, errAt("", "the file is %d bytes; at most %d are read", len(data), MaxFileBytes)
	}
	f, err := Detect(name, data)
	if err != nil {
		return nil, err
	}
	var s *Statement
	switch f {
	case CAMT053:
		s, err = ParseCAMT053(data)
		if err == nil {
			o.apply(s)
		}
	case CSV:
		s, err = ParseCSV(data, o)
	case XLSX:
		s, err = ParseXLSX(data, o)
	}
	if err != nil {
		return nil, err
	}
	return s, s.Check()
}

func (o Options) apply(s *Statement) {
	if o.StatementID != "" {
		s.StatementID = o.StatementID
	}
	if o.BankAccount != "" {
		s.BankAccount = o.BankAccount
	}
	if !o.From.IsZero() {
		s.PeriodStart = o.From
	}
	if !o.To.IsZero() {
		s.PeriodEnd = o.To
	}
	if o.Opening != nil {
		s.OpeningBalance = *o.Opening
	}
	if o.Closing != nil {
		s.ClosingBalance = *o.Closing
	}
}

// Check runs, before anything is published, the checks the ledger would
// refuse the statement for on its own (not those that need the books:
// continuity, entry refs of earlier statements): so an operator hears of
// a bad file at once, naming the entry.
func (s *Statement) Check() error {
	switch {
	case s.StatementID == "":
		return errAt("", "the statement has no id (camt.053 Stmt/Id, or --statement-id)")
	case s.BankAccount == "":
		return errAt("", "the statement names no bank account (camt.053 Stmt/Acct/Id, or --account)")
	case s.PeriodStart.IsZero() || s.PeriodEnd.IsZero():
		return errAt("", "the statement has no period (camt.053 Stmt/FrToDt, or --from and --to)")
	case s.PeriodEnd.Before(s.PeriodStart):
		return errAt("", "the period ends (%s) before it starts (%s)", s.PeriodEnd.Format(time.DateOnly), s.PeriodStart.Format(time.DateOnly))
	case len(s.Entries) > events.MaxStatementEntries:
		return errAt("", "%d entries; a statement carries at most %d: split the file by day", len(s.Entries), events.MaxStatementEntries)
	}
	for _, v := range []struct {
		what string
		d    decimal.Decimal
	}{{"opening balance", s.OpeningBalance}, {"closing balance", s.ClosingBalance}} {
		if v.d.IsNegative() || !v.d.Equal(v.d.Round(2)) {
			return errAt("", "the %s %s is not an amount of at least 0 with at most 2 places (an overdrawn account cannot be reconciled)", v.what, v.d)
		}
	}
	for _, x := range []string{s.StatementID, s.BankAccount, s.MessageID} {
		if x != "" && !events.ValidID(x) {
			return errAt("", "%q is not an id of 1 to 128 printable characters", x)
		}
	}
	net := s.OpeningBalance
	refs := map[string]int{}
	for i, e := range s.Entries {
		where := fmt.Sprintf("entry %d (%s)", i, e.EntryRef)
		if j, ok := refs[e.EntryRef]; ok {
			return errAt(where, "entry_ref %q repeats entry %d", e.EntryRef, j)
		}
		refs[e.EntryRef] = i
		if e.BookedOn.Before(s.PeriodStart) || e.BookedOn.After(s.PeriodEnd) {
			return errAt(where, "booked on %s, outside the period %s to %s", e.BookedOn.Format(time.DateOnly),
				s.PeriodStart.Format(time.DateOnly), s.PeriodEnd.Format(time.DateOnly))
		}
		if !events.ValidID(e.EntryRef) {
			return errAt(where, "entry_ref %q is not an id of 1 to 128 printable characters", e.EntryRef)
		}
		if _, err := events.ParseMoney(e.Amount.StringFixed(2)); err != nil || !e.Amount.Equal(e.Amount.Round(2)) {
			return errAt(where, "amount %s is not an amount above 0 with at most 2 places", e.Amount)
		}
		if e.Direction == events.DirCredit {
			net = net.Add(e.Amount)
		} else {
			net = net.Sub(e.Amount)
		}
	}
	if !net.Equal(s.ClosingBalance) {
		return errAt("", "opening %s plus credits less debits is %s, not the closing balance %s", s.OpeningBalance.StringFixed(2),
			net.StringFixed(2), s.ClosingBalance.StringFixed(2))
	}
	return nil
}

// Data is the statement as the data of a bank.statement.received event;
// sha256 is the file's SHA-256 in lower-case hex.
func (s *Statement) Data(sha256 string) map[string]any {
	entries := make([]any, len(s.Entries))
	for i, e := range s.Entries {
		m := map[string]any{"entry_ref": e.EntryRef, "booked_on": e.BookedOn.Format(time.DateOnly), "direction": e.Direction,
			"amount": e.Amount.StringFixed(2)}
		if e.BankRef != "" {
			m["bank_ref"] = e.BankRef
		}
		if e.Description != "" {
			m["description"] = e.Description
		}
		entries[i] = m
	}
	d := map[string]any{"statement_id": s.StatementID, "bank_account": s.BankAccount,
		"period_start": s.PeriodStart.Format(time.DateOnly), "period_end": s.PeriodEnd.Format(time.DateOnly),
		"opening_balance": s.OpeningBalance.StringFixed(2), "closing_balance": s.ClosingBalance.StringFixed(2),
		"entries": entries}
	if sha256 != "" {
		d["file_sha256"] = sha256
	}
	if s.MessageID != "" {
		d["message_id"] = s.MessageID
	}
	return d
}

// cleanText makes bank free text fit the contract's text: control
// characters (line breaks of a multi-line remark) become spaces, runs of
// space collapse, and it is cut to 1,024 characters.
func cleanText(s string) string {
	s = strings.Map(func(r rune) rune {
		if !unicode.IsGraphic(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > events.MaxTextRunes {
		s = string([]rune(s)[:events.MaxTextRunes])
	}
	return s
}

// cleanID trims an id; an id with characters the contract refuses is an
// error of the caller's.
func cleanID(s string) string { return strings.TrimSpace(s) }

// parseAmount reads a bank's amount: digits, an optional decimal point and
// thousands separators (",") as many exports write them.
func parseAmount(s string) (decimal.Decimal, error) {
	t := strings.ReplaceAll(strings.TrimSpace(s), ",", "")
	t = strings.TrimPrefix(t, "+")
	if t == "" {
		return decimal.Zero, fmt.Errorf("empty amount")
	}
	for _, r := range t {
		if (r < '0' || r > '9') && r != '.' && r != '-' {
			return decimal.Zero, fmt.Errorf("%q is not an amount", s)
		}
	}
	d, err := decimal.NewFromString(t)
	if err != nil {
		return decimal.Zero, fmt.Errorf("%q is not an amount", s)
	}
	if !d.Equal(d.Round(2)) {
		return decimal.Zero, fmt.Errorf("%q has more than 2 decimal places", s)
	}
	return d, nil
}

// parseDay reads a date as banks write it: 2026-03-05, 2026/03/05,
// 20260305, or the date part of a date-time.
func parseDay(s string) (time.Time, error) {
	t := strings.TrimSpace(s)
	if len(t) > 10 && (t[10] == 'T' || t[10] == ' ') {
		t = t[:10]
	}
	for _, layout := range []string{"2006-01-02", "2006/01/02", "20060102", "2006.01.02", "2006/1/2", "2006-1-2"} {
		if d, err := time.Parse(layout, t); err == nil {
			return d, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date such as 2026-03-05", s)
}
