package ledger

import (
	"encoding/json"
	"sort"

	"github.com/shopspring/decimal"
)

// CityPeriod is the city-wide view of one month (CONTRACT.md section 11):
// every fund within the reader's funds, closed or not, and the plain sums
// of the reports.
type CityPeriod struct {
	Period    string       `json:"period"`
	Closed    []CityClosed `json:"closed"`
	NotClosed []string     `json:"not_closed"`
	Totals    CityTotals   `json:"totals"`
}

// CityClosed is a fund whose month is closed, with its report: null when
// the month was closed only by a later month's first close.
type CityClosed struct {
	FundID string          `json:"fund_id"`
	Report json.RawMessage `json:"report"`
}

// CityTotals are the sums over the reports of a city-wide view.
type CityTotals struct {
	Accounts      []PeriodAccount     `json:"accounts"`
	Programs      []PeriodProgram     `json:"programs"`
	Contributions PeriodContributions `json:"contributions"`
	Allocations   CityAllocations     `json:"allocations"`
}

// CityAllocations are the allocations of the view: gross, as the reports
// sum them, and net of those that only moved money between the view's own
// funds (both transactions in reports of the view).
type CityAllocations struct {
	Gross PeriodAllocations `json:"gross"`
	Net   PeriodAllocations `json:"net"`
}

// CityFund is one fund's part in a city-wide view, as the store reads it.
type CityFund struct {
	FundID string
	Closed bool          // the month is closed (LastClosed >= the month)
	Report *PeriodReport // nil when closed without a report, or open
	Body   []byte        // the report as published
	// Allocations are the fund's allocation transactions in the reporting
	// periods its report covers (every one up to the month for a first
	// report).
	Allocations []PeriodAllocation
}

// NewCityPeriod builds the view of month period from the funds within the
// reader's funds, sorted by fund id.
func NewCityPeriod(period string, funds []CityFund) *CityPeriod {
	v := &CityPeriod{Period: period, Closed: []CityClosed{}, NotClosed: []string{}}
	sort.Slice(funds, func(i, j int) bool { return funds[i].FundID < funds[j].FundID })
	accounts := map[string]*[4]decimal.Decimal{}
	programs := map[string]*[5]decimal.Decimal{}
	bens := map[string]int64{}
	var contrib [3]decimal.Decimal
	var in, out decimal.Decimal
	type allocKey struct{ from, id string }
	outs := map[allocKey]decimal.Decimal{}
	ins := map[allocKey]bool{}
	for _, f := range funds {
		if !f.Closed {
			v.NotClosed = append(v.NotClosed, f.FundID)
			continue
		}
		c := CityClosed{FundID: f.FundID, Report: json.RawMessage("null")}
		if f.Report == nil {
			v.Closed = append(v.Closed, c)
			continue
		}
		c.Report = json.RawMessage(f.Body)
		v.Closed = append(v.Closed, c)
		r := f.Report
		for _, a := range r.Accounts {
			s := accounts[a.Account]
			if s == nil {
				s = &[4]decimal.Decimal{}
				accounts[a.Account] = s
			}
			for i, x := range []string{a.Opening, a.Debits, a.Credits, a.Closing} {
				s[i] = s[i].Add(cityDec(x))
			}
		}
		for _, p := range r.Programs {
			s := programs[p.Program]
			if s == nil {
				s = &[5]decimal.Decimal{}
				programs[p.Program] = s
			}
			for i, x := range []string{p.Approved, p.Cancelled, p.Paid, p.Returned, p.Recovered} {
				s[i] = s[i].Add(cityDec(x))
			}
			bens[p.Program] += p.Beneficiaries
		}
		for i, x := range []string{r.Contributions.Fiscal, r.Contributions.Donation, r.Contributions.Other} {
			contrib[i] = contrib[i].Add(cityDec(x))
		}
		in, out = in.Add(cityDec(r.Allocations.In)), out.Add(cityDec(r.Allocations.Out))
		for _, a := range f.Allocations {
			if a.Direction == "out" {
				outs[allocKey{a.FundID, a.AllocationID}] = a.Amount
			} else {
				ins[allocKey{a.OtherFund, a.AllocationID}] = true
			}
		}
	}
	t := &v.Totals
	t.Accounts, t.Programs = []PeriodAccount{}, []PeriodProgram{}
	for _, n := range citySortedKeys(accounts) {
		s := accounts[n]
		t.Accounts = append(t.Accounts, PeriodAccount{Account: n, Opening: Money(s[0]), Debits: Money(s[1]), Credits: Money(s[2]), Closing: Money(s[3])})
	}
	for _, n := range citySortedKeys(programs) {
		s := programs[n]
		t.Programs = append(t.Programs, PeriodProgram{Program: n, Approved: Money(s[0]), Cancelled: Money(s[1]), Paid: Money(s[2]),
			Returned: Money(s[3]), Recovered: Money(s[4]), Beneficiaries: bens[n]})
	}
	t.Contributions = PeriodContributions{Fiscal: Money(contrib[0]), Donation: Money(contrib[1]), Other: Money(contrib[2])}
	t.Allocations.Gross = PeriodAllocations{In: Money(in), Out: Money(out)}
	netIn, netOut := in, out
	for k, amt := range outs {
		if ins[k] {
			netIn, netOut = netIn.Sub(amt), netOut.Sub(amt)
		}
	}
	t.Allocations.Net = PeriodAllocations{In: Money(netIn), Out: Money(netOut)}
	return v
}

func cityDec(s string) decimal.Decimal {
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Zero
	}
	return d
}

func citySortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
