package events

import "time"

// TypePeriodClosed closes one month of one fund (CONTRACT.md sections 3
// and 11).
const TypePeriodClosed = "period.closed"

// PeriodAlreadyClosed is the rejection code of a period.closed naming a
// month that is closed already (that month, or a later one, was closed).
const PeriodAlreadyClosed Code = "period_closed"

// PeriodLayout is the layout of a period (a month) on the wire: YYYY-MM.
const PeriodLayout = "2006-01"

// PeriodClosed closes Period (the first instant of the month, UTC) and
// every month before it, four eyes.
type PeriodClosed struct {
	Period     time.Time
	ClosedBy   string
	ApprovedBy string
}

// EventType is TypePeriodClosed.
func (PeriodClosed) EventType() string { return TypePeriodClosed }

// PeriodText is Period as on the wire, YYYY-MM.
func (e PeriodClosed) PeriodText() string { return e.Period.Format(PeriodLayout) }

// PeriodSubject carries the period reports of a fund, one per closed month.
func PeriodSubject(fundID string) string { return "ledger." + fundID + ".period" }

// PeriodMsgID is the Nats-Msg-Id of a fund's period report: a month has
// at most one report, ever.
func PeriodMsgID(fundID, period string) string { return "period:" + fundID + ":" + period }

// ParsePeriod parses a month of the contract, exactly YYYY-MM with a month
// from 01 to 12 (and a year from 0001), to its first instant in UTC. The
// error, when not nil, is a *Rejection with Code InvalidField whose message
// starts with the quoted value.
func ParsePeriod(s string) (time.Time, error) {
	if len(s) != 7 || s[4] != '-' || !allDigits(s[0:4]) || !allDigits(s[5:7]) {
		return time.Time{}, &Rejection{Code: InvalidField, Message: quote(s) + " is not a month in the form YYYY-MM"}
	}
	t, err := time.Parse(PeriodLayout, s)
	if err != nil || t.Year() < 1 {
		return time.Time{}, &Rejection{Code: InvalidField, Message: quote(s) + " is not a real month (YYYY-MM, month 01 to 12)"}
	}
	return t, nil
}

// period is a required month, YYYY-MM.
func (f *fields) period(name string) time.Time {
	s := f.required(name)
	if f.rej != nil {
		return time.Time{}
	}
	t, err := ParsePeriod(s)
	if err != nil {
		f.fail(InvalidField, "%s%s %s", f.prefix(), name, err.(*Rejection).Message)
		return time.Time{}
	}
	return t
}

func decodePeriodClosed(f *fields, _ string) Event {
	return f.done(PeriodClosed{
		Period:     f.period("period"),
		ClosedBy:   f.id("closed_by"),
		ApprovedBy: f.id("approved_by"),
	})
}
