package events

import (
	"testing"
	"time"
)

// TestDecodePeriodClosed checks the fields of period.closed in the
// contract's order: period (a real YYYY-MM), closed_by, approved_by.
func TestDecodePeriodClosed(t *testing.T) {
	pc := TypePeriodClosed
	runDecodeCases(t, []decodeCase{
		{name: "valid", typ: pc},
		{name: "December", typ: pc, edits: []edit{data("period", "2025-12")}},
		{name: "period missing", typ: pc, edits: []edit{data("period", absent)}, code: MissingField, msg: "data.period"},
		{name: "period null", typ: pc, edits: []edit{data("period", nil)}, code: MissingField, msg: "data.period"},
		{name: "period empty", typ: pc, edits: []edit{data("period", "")}, code: MissingField, msg: "data.period"},
		{name: "period a number", typ: pc, edits: []edit{data("period", 202602)}, code: InvalidField, msg: "data.period"},
		{name: "month 13", typ: pc, edits: []edit{data("period", "2026-13")}, code: InvalidField, msg: "real month"},
		{name: "month 00", typ: pc, edits: []edit{data("period", "2026-00")}, code: InvalidField, msg: "real month"},
		{name: "year 0000", typ: pc, edits: []edit{data("period", "0000-01")}, code: InvalidField, msg: "real month"},
		{name: "one-digit month", typ: pc, edits: []edit{data("period", "2026-2")}, code: InvalidField, msg: "YYYY-MM"},
		{name: "a date", typ: pc, edits: []edit{data("period", "2026-02-01")}, code: InvalidField, msg: "YYYY-MM"},
		{name: "slash", typ: pc, edits: []edit{data("period", "2026/02")}, code: InvalidField, msg: "YYYY-MM"},
		{name: "signed", typ: pc, edits: []edit{data("period", "+026-02")}, code: InvalidField},
		{name: "period before closed_by", typ: pc, edits: []edit{data("period", "x"), data("closed_by", absent)}, code: InvalidField, msg: "data.period"},
		{name: "closed_by missing", typ: pc, edits: []edit{data("closed_by", absent)}, code: MissingField, msg: "data.closed_by"},
		{name: "closed_by before approved_by", typ: pc, edits: []edit{data("closed_by", ""), data("approved_by", absent)}, code: MissingField, msg: "data.closed_by"},
		{name: "approved_by missing", typ: pc, edits: []edit{data("approved_by", absent)}, code: MissingField, msg: "data.approved_by"},
		{name: "approved_by not printable", typ: pc, edits: []edit{data("approved_by", "a\nb")}, code: InvalidField, msg: "data.approved_by"},
		{name: "same maker and checker is not the decoder's business", typ: pc, edits: []edit{data("approved_by", "accountant-li")}},
	})
}

func TestParsePeriod(t *testing.T) {
	got, err := ParsePeriod("2026-02")
	if err != nil || !got.Equal(time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("ParsePeriod(2026-02) = %v, %v", got, err)
	}
	if e := (PeriodClosed{Period: got}); e.PeriodText() != "2026-02" {
		t.Fatalf("PeriodText %q", e.PeriodText())
	}
	if PeriodMsgID("f", "2026-02") != "period:f:2026-02" || PeriodSubject("f") != "ledger.f.period" {
		t.Fatal("subject or message id")
	}
}
