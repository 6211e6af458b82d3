package export

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/fundledger/fundledger/ledger"
	"github.com/fundledger/fundledger/ledger/postgres"
	"github.com/shopspring/decimal"
)

// reconColumns are the columns of the reconciliation export (CSV header,
// XLSX first row); docs/cli.md describes them.
var reconColumns = []any{"section", "item", "bank_side", "book_side", "statement_id", "entry_ref", "booked_on",
	"journal_seq", "type", "date", "direction", "amount", "bank_ref", "description", "rule"}

// Reconciliation writes fund's bank reconciliation statement of report seq
// (0: the latest): the balances side by side, the unmatched entries and
// items, and every match made up to the report; loc is the zone of the
// business dates of matched items without a date of their own.
func Reconciliation(ctx context.Context, s *postgres.Store, w io.Writer, format, fund string, seq int64, loc *time.Location) error {
	body, err := s.Reconciliation(ctx, fund, seq)
	if err != nil {
		return err
	}
	var r ledger.Reconciliation
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Errorf("the stored report does not decode: %w", err)
	}
	matches, err := s.ReconMatches(ctx, fund, r.ReconciliationSeq)
	if err != nil {
		return err
	}
	var sh sheet
	var bold func(cells ...any) error
	if format == "xlsx" {
		x, err := newXLSX(w, "reconciliation "+strconv.FormatInt(r.ReconciliationSeq, 10),
			[]float64{16, 44, 16, 16, 22, 18, 12, 12, 22, 12, 10, 16, 18, 30, 16})
		if err != nil {
			return err
		}
		sh, bold = x, x.boldRow
	} else {
		c := &csvSheet{w: csv.NewWriter(w)}
		sh, bold = c, c.row
	}
	return reconSheet(sh, bold, &r, matches, loc)
}

func dec(s string) money {
	d, _ := decimal.NewFromString(s)
	return money(d)
}

func optText(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// reconSheet writes the reconciliation statement, side by side: the
// bank's balance and what the books have that the bank has not, against
// the books' balance and what the bank has that the books have not.
func reconSheet(sh sheet, bold func(cells ...any) error, r *ledger.Reconciliation, matches []postgres.ReconMatchRow, loc *time.Location) error {
	sum := func(dir string, bank bool) money {
		t := decimal.Zero
		if bank {
			for _, e := range r.UnmatchedBank {
				if e.Direction == dir {
					t = t.Add(decimal.Decimal(dec(e.Amount)))
				}
			}
		} else {
			for _, i := range r.UnmatchedBook {
				if i.Direction == dir {
					t = t.Add(decimal.Decimal(dec(i.Amount)))
				}
			}
		}
		return money(t)
	}
	rows := [][]any{
		{"report", "fund_id", r.FundID},
		{"report", "reconciliation_seq", r.ReconciliationSeq},
		{"report", "statement_id", r.StatementID},
		{"report", "bank_account", r.BankAccount},
		{"report", "period_end", r.PeriodEnd},
		{"report", "as_of_journal_seq", r.AsOfJournalSeq},
		{"report", "key_id", r.KeyID},
		{"report", "signature", r.Signature},
		{"balances", "opening balance (期初余额)", dec(r.OpeningBankBalance), dec(r.OpeningBookBalance)},
		{"balances", "balance (银行对账单余额 / 银行存款日记账余额)", dec(r.BankBalance), dec(r.BookBalance)},
		{"balances", "add: credits the other side has not (加: 企业已收银行未收 / 银行已收企业未收)", sum("credit", false), sum("credit", true)},
		{"balances", "less: debits the other side has not (减: 企业已付银行未付 / 银行已付企业未付)", sum("debit", false), sum("debit", true)},
		{"balances", "adjusted balance (调节后余额)", dec(r.AdjustedBankBalance), dec(r.AdjustedBookBalance)},
		{"balances", "difference (差额)", dec(r.Difference), nil},
		{"balances", "reconciled", strconv.FormatBool(r.Reconciled)},
		{"balances", "matched so far", r.Matched.Count, dec(r.Matched.Amount)},
	}
	if err := bold(reconColumns...); err != nil {
		return err
	}
	for _, row := range rows {
		for len(row) < len(reconColumns) { // every CSV record has every column
			row = append(row, nil)
		}
		if err := sh.row(row...); err != nil {
			return err
		}
	}
	for _, e := range r.UnmatchedBank {
		if err := sh.row("unmatched_bank", "", nil, nil, e.StatementID, e.EntryRef, e.BookedOn, nil, nil, nil, e.Direction,
			dec(e.Amount), optText(e.BankRef), optText(e.Description), nil); err != nil {
			return err
		}
	}
	for _, i := range r.UnmatchedBook {
		if err := sh.row("unmatched_book", "", nil, nil, nil, nil, nil, i.JournalSeq, i.Type, i.Date, i.Direction,
			dec(i.Amount), optText(i.BankRef), nil, nil); err != nil {
			return err
		}
	}
	for _, m := range matches {
		date := ledger.BusinessDateOf(m.Refs, m.RecordedAt, loc).Format(time.DateOnly)
		if err := sh.row("matched", strconv.FormatInt(m.MatchID, 10), money(m.EntryAmount), money(m.ItemAmount), m.StatementID, m.EntryRef,
			m.BookedOn.Format(time.DateOnly), m.JournalSeq, m.Type, date, m.Direction, money(m.ItemAmount), m.Refs["bank_ref"], nil, m.Rule); err != nil {
			return err
		}
	}
	return sh.close()
}
