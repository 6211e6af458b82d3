package ledger

import (
	"time"
)

// BusinessDateRefs are the transaction refs that carry a business date
// (CONTRACT.md section 11), in the order they are looked for. A
// transaction carries at most one of them.
var BusinessDateRefs = []string{
	"approved_on", "paid_on", "received_on", "returned_on",
	"cancelled_on", "recovered_on", "charged_on",
}

// withDate adds the optional business date of an event to its refs, only
// when the event carried one: a transaction without it hashes exactly as
// it did before business dates existed.
func withDate(refs []Ref, key string, d time.Time) []Ref {
	if d.IsZero() {
		return refs
	}
	return append(refs, Ref{key, d.Format(time.DateOnly)})
}

// BusinessDate is the transaction's business date (CONTRACT.md section
// 11): the date its event carried (one of BusinessDateRefs), or else the
// date of its recorded time in loc (FUNDLEDGER_TZ). The result is that
// date at midnight UTC, like the decoded dates of events.
func BusinessDate(t *Txn, loc *time.Location) time.Time {
	for _, r := range t.Refs {
		if isDateRef(r.Key) {
			if d, err := time.Parse(time.DateOnly, r.Value); err == nil {
				return d
			}
		}
	}
	return DateIn(t.Time, loc)
}

// BusinessDateOf is BusinessDate for a transaction known only by its refs
// and recorded time (as read back from the journal).
func BusinessDateOf(refs map[string]string, recorded time.Time, loc *time.Location) time.Time {
	for _, k := range BusinessDateRefs {
		if v, ok := refs[k]; ok {
			if d, err := time.Parse(time.DateOnly, v); err == nil {
				return d
			}
		}
	}
	return DateIn(recorded, loc)
}

// DateIn is the calendar date of instant t in loc, at midnight UTC.
func DateIn(t time.Time, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Period is the month of a date, YYYY-MM.
func Period(d time.Time) string { return d.Format("2006-01") }

// BusinessPeriod is the month of the transaction's business date, YYYY-MM.
func BusinessPeriod(t *Txn, loc *time.Location) string { return Period(BusinessDate(t, loc)) }

func isDateRef(k string) bool {
	for _, x := range BusinessDateRefs {
		if x == k {
			return true
		}
	}
	return false
}
