package events

import (
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// This file is the bank side of the contract (CONTRACT.md sections 3 and
// 10): the bank's statements, the requests to reconcile again, and the
// fees a bank charges, with the rejection codes only statements have.

// Event types of the bank reconciliation.
const (
	TypeBankStatementReceived   = "bank.statement.received"
	TypeReconciliationRequested = "reconciliation.requested"
	TypeBankChargeRecorded      = "bank.charge.recorded"
)

// Rejection codes only a statement has.
const (
	// StatementUnbalanced: opening plus credits less debits is not closing.
	StatementUnbalanced Code = "statement_unbalanced"
	// StatementGap: the statement does not continue the account's previous
	// one (its start date or its opening balance).
	StatementGap Code = "statement_gap"
)

// MaxStatementEntries is the most entries one statement may carry.
const MaxStatementEntries = 10000

// Directions of a bank entry, as the bank sees its account: credit is
// money into it, debit money out.
const (
	DirCredit = "credit"
	DirDebit  = "debit"
)

// StatementEntry is one line of a bank statement. Refused is set when the
// entry's own fields are not valid (or its booked_on is outside the
// statement's period); the other fields are then unreliable, except
// EntryRef when it was itself valid.
type StatementEntry struct {
	EntryRef    string
	BookedOn    time.Time
	Direction   string // DirCredit or DirDebit
	Amount      decimal.Decimal
	BankRef     string // "" when absent
	Description string // "" when absent
	Refused     *LineError
}

// BankStatementReceived is the bank's statement of the fund's account for
// a period. Entries holds every entry of data.entries in order, so an
// entry's index is its position; bad entries are marked, as batch lines
// are, for Apply to name them all.
type BankStatementReceived struct {
	StatementID    string
	BankAccount    string
	PeriodStart    time.Time
	PeriodEnd      time.Time
	OpeningBalance decimal.Decimal
	ClosingBalance decimal.Decimal
	FileSHA256     string // lower-case hex; "" when absent
	MessageID      string // "" when absent
	Entries        []StatementEntry
}

// ReconciliationRequested asks the ledger to reconcile again and publish a
// report.
type ReconciliationRequested struct {
	RequestedBy string
}

// BankChargeRecorded books a fee the bank took from the fund's account,
// four eyes.
type BankChargeRecorded struct {
	ChargeID    string
	Amount      decimal.Decimal
	BankRef     string
	ChargedOn   time.Time
	Description string
	RequestedBy string
	ApprovedBy  string
}

// EventType is TypeBankStatementReceived.
func (BankStatementReceived) EventType() string { return TypeBankStatementReceived }

// EventType is TypeReconciliationRequested.
func (ReconciliationRequested) EventType() string { return TypeReconciliationRequested }

// EventType is TypeBankChargeRecorded.
func (BankChargeRecorded) EventType() string { return TypeBankChargeRecorded }

// ReconciliationSubject carries the bank reconciliation reports of a fund.
func ReconciliationSubject(fundID string) string { return "ledger." + fundID + ".reconciliation" }

// ReconciliationMsgID is the Nats-Msg-Id of a fund's reconciliation report.
func ReconciliationMsgID(fundID string, seq int64) string {
	return "reconciliation:" + fundID + ":" + strconv.FormatInt(seq, 10)
}

// balance is a required amount that may also be zero ("0", "0.00"): a
// statement's opening and closing balances. Anything else is checked as
// money is.
func (f *fields) balance(name string) decimal.Decimal {
	if f.rej != nil {
		return decimal.Decimal{}
	}
	if n := f.lookup(name); n >= 0 && f.d.nodes[n].kind == kindString && zeroMoney(f.d.stringOf(n)) {
		return decimal.Zero
	}
	return f.money(name)
}

// zeroMoney reports whether s is a well-formed amount equal to zero.
func zeroMoney(s string) bool {
	intPart, frac, hasDot := strings.Cut(s, ".")
	if !allDigits(intPart) || (hasDot && !allDigits(frac)) || len(frac) > 2 {
		return false
	}
	return strings.Trim(intPart+frac, "0") == ""
}

// sha256Hex is an optional SHA-256 in lower-case hex (64 characters).
func (f *fields) sha256Hex(name string) string {
	s := f.optional(name)
	if f.rej != nil || s == "" {
		return ""
	}
	if len(s) != 64 || strings.Trim(s, "0123456789abcdef") != "" {
		f.fail(InvalidField, "%s%s %s is not a SHA-256 in lower-case hex (64 characters of 0-9, a-f)", f.prefix(), name, quote(s))
		return ""
	}
	return s
}

// optID is an id that may be absent, null or empty.
func (f *fields) optID(name string) string {
	s := f.optional(name)
	if f.rej != nil || s == "" {
		return ""
	}
	if p := idProblem(s, MaxIDRunes); p != "" {
		f.fail(InvalidField, "%s%s %s %s", f.prefix(), name, quote(s), p)
		return ""
	}
	return s
}

func decodeBankStatement(f *fields, _ string) Event {
	e := BankStatementReceived{
		StatementID: f.id("statement_id"),
		BankAccount: f.id("bank_account"),
		PeriodStart: f.date("period_start"),
		PeriodEnd:   f.date("period_end"),
	}
	if f.rej == nil && e.PeriodEnd.Before(e.PeriodStart) {
		f.fail(InvalidField, "data.period_end %s is before data.period_start %s", e.PeriodEnd.Format(time.DateOnly), e.PeriodStart.Format(time.DateOnly))
	}
	e.OpeningBalance = f.balance("opening_balance")
	e.ClosingBalance = f.balance("closing_balance")
	e.FileSHA256 = f.sha256Hex("file_sha256")
	e.MessageID = f.optID("message_id")
	if f.rej != nil {
		return nil
	}
	arr := f.lookup("entries")
	if arr < 0 {
		f.fail(MissingField, "data.entries is missing")
		return nil
	}
	if k := f.d.nodes[arr].kind; k != kindArray {
		f.fail(InvalidField, "data.entries must be a JSON array of entries, not the JSON %s %s", k, snippet(f.d.raw(arr)))
		return nil
	}
	if n := f.d.count(arr); n > MaxStatementEntries {
		f.fail(TooLarge, "data.entries has %d entries; at most %d are accepted in one statement", n, MaxStatementEntries)
		return nil
	}
	e.Entries = make([]StatementEntry, f.d.count(arr))
	path := f.path + "entries"
	i := 0
	for c := arr + 1; c < f.d.nodes[arr].after; c = f.d.nodes[c].after {
		ef := f.element(path, i, c)
		x := StatementEntry{
			EntryRef:    ef.id("entry_ref"),
			BookedOn:    ef.date("booked_on"),
			Direction:   ef.oneOf("direction", DirCredit, DirDebit),
			Amount:      ef.money("amount"),
			BankRef:     ef.optText("bank_ref", MaxTextRunes),
			Description: ef.optText("description", MaxTextRunes),
		}
		if ef.rej == nil && (x.BookedOn.Before(e.PeriodStart) || x.BookedOn.After(e.PeriodEnd)) {
			ef.fail(InvalidField, "%s[%d].booked_on %s is outside the statement's period %s to %s", path, i,
				x.BookedOn.Format(time.DateOnly), e.PeriodStart.Format(time.DateOnly), e.PeriodEnd.Format(time.DateOnly))
		}
		if ef.rej != nil {
			x.Refused = &LineError{Index: i, Code: ef.rej.Code, Message: ef.rej.Message}
		}
		e.Entries[i] = x
		i++
	}
	return e
}

func decodeReconciliationRequested(f *fields, _ string) Event {
	return f.done(ReconciliationRequested{RequestedBy: f.id("requested_by")})
}

func decodeBankCharge(f *fields, _ string) Event {
	return f.done(BankChargeRecorded{
		ChargeID:    f.id("charge_id"),
		Amount:      f.money("amount"),
		BankRef:     f.text("bank_ref", MaxTextRunes),
		ChargedOn:   f.date("charged_on"),
		Description: f.text("description", MaxTextRunes),
		RequestedBy: f.id("requested_by"),
		ApprovedBy:  f.id("approved_by"),
	})
}
