package events

import (
	"fmt"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

func bankEntry(ref, on, dir, amount string) map[string]any {
	return map[string]any{"entry_ref": ref, "booked_on": on, "direction": dir, "amount": amount, "bank_ref": "BR-" + ref, "description": "代发工资"}
}

func bankValidData(typ string) map[string]any {
	switch typ {
	case TypeBankStatementReceived:
		return map[string]any{
			"statement_id": "ST-2026-03", "bank_account": "ICBC-3100-0001",
			"period_start": "2026-03-01", "period_end": "2026-03-31",
			"opening_balance": "0", "closing_balance": "900.00",
			"file_sha256": strings.Repeat("ab", 32), "message_id": "CAMT053-0001",
			"entries": []any{
				bankEntry("E1", "2026-03-01", "credit", "1000.00"),
				map[string]any{"entry_ref": "E2", "booked_on": "2026-03-31", "direction": "debit", "amount": "100"},
			},
		}
	case TypeReconciliationRequested:
		return map[string]any{"requested_by": "auditor-chen"}
	case TypeBankChargeRecorded:
		return map[string]any{"charge_id": "FEE-1", "amount": "12.50", "bank_ref": "FEE-2026-03", "charged_on": "2026-03-31",
			"description": "account fee", "requested_by": "clerk-wu", "approved_by": "officer-li"}
	}
	panic(typ)
}

func bankWant() map[string]Event {
	return map[string]Event{
		TypeBankStatementReceived: BankStatementReceived{
			StatementID: "ST-2026-03", BankAccount: "ICBC-3100-0001", PeriodStart: date("2026-03-01"), PeriodEnd: date("2026-03-31"),
			OpeningBalance: decimal.Zero, ClosingBalance: mustMoney("900.00"),
			FileSHA256: strings.Repeat("ab", 32), MessageID: "CAMT053-0001",
			Entries: []StatementEntry{
				{EntryRef: "E1", BookedOn: date("2026-03-01"), Direction: "credit", Amount: mustMoney("1000.00"), BankRef: "BR-E1", Description: "代发工资"},
				{EntryRef: "E2", BookedOn: date("2026-03-31"), Direction: "debit", Amount: mustMoney("100")},
			},
		},
		TypeReconciliationRequested: ReconciliationRequested{RequestedBy: "auditor-chen"},
		TypeBankChargeRecorded: BankChargeRecorded{ChargeID: "FEE-1", Amount: mustMoney("12.50"), BankRef: "FEE-2026-03",
			ChargedOn: date("2026-03-31"), Description: "account fee", RequestedBy: "clerk-wu", ApprovedBy: "officer-li"},
	}
}

// entry sets (or deletes) a field of statement entry i.
func entry(i int, key string, v any) edit {
	return func(e map[string]any) {
		l := e["data"].(map[string]any)["entries"].([]any)[i].(map[string]any)
		if v == absent {
			delete(l, key)
			return
		}
		l[key] = v
	}
}

func TestDecodeBankEvents(t *testing.T) {
	st, charge, recon := TypeBankStatementReceived, TypeBankChargeRecorded, TypeReconciliationRequested
	many := make([]any, MaxStatementEntries+1)
	for i := range many {
		many[i] = bankEntry(fmt.Sprint("E", i), "2026-03-02", "credit", "1.00")
	}
	cases := []struct {
		name  string
		typ   string
		edits []edit
		code  Code
		msg   string
		lines []int // entries marked refused
	}{
		{name: "statement", typ: st},
		{name: "opening 0.00", typ: st, edits: []edit{data("opening_balance", "0.00")}},
		{name: "closing 0", typ: st, edits: []edit{data("closing_balance", "0")}},
		{name: "opening 0.000", typ: st, edits: []edit{data("opening_balance", "0.000")}, code: InvalidAmount},
		{name: "opening negative", typ: st, edits: []edit{data("opening_balance", "-5.00")}, code: InvalidAmount},
		{name: "opening a number", typ: st, edits: []edit{data("opening_balance", 0)}, code: InvalidAmount},
		{name: "opening missing", typ: st, edits: []edit{data("opening_balance", absent)}, code: MissingField},
		{name: "statement_id missing", typ: st, edits: []edit{data("statement_id", "")}, code: MissingField, msg: "data.statement_id"},
		{name: "statement_id before bank_account", typ: st, edits: []edit{data("statement_id", 1), data("bank_account", absent)}, code: InvalidField, msg: "statement_id"},
		{name: "bank_account missing", typ: st, edits: []edit{data("bank_account", absent)}, code: MissingField},
		{name: "period_end before period_start", typ: st, edits: []edit{data("period_end", "2026-02-28")}, code: InvalidField, msg: "before data.period_start"},
		{name: "period_end before start beats a bad opening", typ: st, edits: []edit{data("period_end", "2026-02-28"), data("opening_balance", "x")}, code: InvalidField},
		{name: "period one day", typ: st, edits: []edit{data("period_end", "2026-03-01"), data("entries", []any{}), data("closing_balance", "0")}},
		{name: "file_sha256 upper case", typ: st, edits: []edit{data("file_sha256", strings.Repeat("AB", 32))}, code: InvalidField, msg: "file_sha256"},
		{name: "file_sha256 short", typ: st, edits: []edit{data("file_sha256", "abc")}, code: InvalidField},
		{name: "file_sha256 absent", typ: st, edits: []edit{data("file_sha256", absent), data("message_id", nil)}},
		{name: "entries missing", typ: st, edits: []edit{data("entries", absent)}, code: MissingField, msg: "data.entries"},
		{name: "entries an object", typ: st, edits: []edit{data("entries", map[string]any{})}, code: InvalidField},
		{name: "entries empty", typ: st, edits: []edit{data("entries", []any{})}},
		{name: "entries too many", typ: st, edits: []edit{data("entries", many)}, code: TooLarge, msg: "10001"},
		{name: "entry amount bad", typ: st, edits: []edit{entry(1, "amount", "1.005")}, lines: []int{1}},
		{name: "entry direction bad", typ: st, edits: []edit{entry(0, "direction", "in"), entry(1, "entry_ref", absent)}, lines: []int{0, 1}},
		{name: "entry booked_on before the period", typ: st, edits: []edit{entry(0, "booked_on", "2026-02-28")}, lines: []int{0}},
		{name: "entry booked_on after the period", typ: st, edits: []edit{entry(1, "booked_on", "2026-04-01")}, lines: []int{1}},
		{name: "entry bank_ref null", typ: st, edits: []edit{entry(0, "bank_ref", nil)}},
		{name: "entry not an object", typ: st, edits: []edit{data("entries", []any{"x"})}, lines: []int{0}},
		{name: "recon", typ: recon},
		{name: "recon requested_by missing", typ: recon, edits: []edit{data("requested_by", absent)}, code: MissingField},
		{name: "charge", typ: charge},
		{name: "charge amount zero", typ: charge, edits: []edit{data("amount", "0")}, code: InvalidAmount},
		{name: "charge bank_ref missing", typ: charge, edits: []edit{data("bank_ref", absent)}, code: MissingField},
		{name: "charge charged_on bad", typ: charge, edits: []edit{data("charged_on", "2026-02-30")}, code: InvalidField},
		{name: "charge description missing", typ: charge, edits: []edit{data("description", "")}, code: MissingField},
		{name: "charge approved_by missing", typ: charge, edits: []edit{data("approved_by", absent)}, code: MissingField},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := Decode(subjectOf(c.typ), message(t, c.typ, c.edits...))
			if c.code != "" {
				if d.Rejection == nil || d.Rejection.Code != c.code || !strings.Contains(d.Rejection.Message, c.msg) {
					t.Fatalf("got %v, want %s containing %q", d.Rejection, c.code, c.msg)
				}
				return
			}
			if d.Rejection != nil {
				t.Fatalf("refused: %v", d.Rejection)
			}
			if s, ok := d.Event.(BankStatementReceived); ok {
				var got []int
				for i, e := range s.Entries {
					if e.Refused != nil {
						if e.Refused.Index != i {
							t.Errorf("entry %d refused with index %d", i, e.Refused.Index)
						}
						got = append(got, i)
					}
				}
				if fmt.Sprint(got) != fmt.Sprint(c.lines) {
					t.Fatalf("refused entries %v, want %v", got, c.lines)
				}
			}
		})
	}
}
