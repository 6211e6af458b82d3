package ledger

import (
	"testing"
	"time"
)

func TestBusinessDate(t *testing.T) {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	// 2026-05-31 17:30 UTC is already 1 June in Chongqing.
	recorded := time.Date(2026, 5, 31, 17, 30, 0, 0, time.UTC)
	cases := []struct {
		name string
		refs []Ref
		loc  *time.Location
		want string
	}{
		{"paid_on wins over the recorded time", []Ref{{"grant_id", "G-1"}, {"paid_on", "2026-04-30"}}, shanghai, "2026-04-30"},
		{"returned_on", []Ref{{"returned_on", "2026-03-02"}}, shanghai, "2026-03-02"},
		{"charged_on", []Ref{{"charged_on", "2026-01-31"}}, time.UTC, "2026-01-31"},
		{"no date: the recorded time in the zone", []Ref{{"grant_id", "G-1"}}, shanghai, "2026-06-01"},
		{"no date: the recorded time in UTC", nil, time.UTC, "2026-05-31"},
		{"no date and no zone is UTC", nil, nil, "2026-05-31"},
		{"a ref that only looks like a date is not one", []Ref{{"label", "2026-01-01"}}, time.UTC, "2026-05-31"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tx := &Txn{Refs: c.refs, Time: recorded}
			if got := BusinessDate(tx, c.loc).Format(time.DateOnly); got != c.want {
				t.Fatalf("BusinessDate = %s, want %s", got, c.want)
			}
			m := map[string]string{}
			for _, r := range c.refs {
				m[r.Key] = r.Value
			}
			if got := BusinessDateOf(m, recorded, c.loc).Format(time.DateOnly); got != c.want {
				t.Fatalf("BusinessDateOf = %s, want %s", got, c.want)
			}
			if got, want := BusinessPeriod(tx, c.loc), c.want[:7]; got != want {
				t.Fatalf("BusinessPeriod = %s, want %s", got, want)
			}
		})
	}
}

func TestWithDateKeepsOldHashes(t *testing.T) {
	refs := []Ref{{"grant_id", "G-1"}}
	if got := withDate(refs, "returned_on", time.Time{}); len(got) != 1 {
		t.Fatalf("an absent date added a ref: %v", got)
	}
	got := withDate(refs, "returned_on", time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC))
	if len(got) != 2 || got[1] != (Ref{"returned_on", "2026-03-02"}) {
		t.Fatalf("withDate = %v", got)
	}
}
