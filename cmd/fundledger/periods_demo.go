package main

// The demo's month-end: the workload closes each month on the first
// working day of the next (workload.Config.MonthCloses); the demo closes
// the last one after the stream and prints the year as closed months.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/fundledger/fundledger/events"
	"github.com/fundledger/fundledger/httpapi"
	"github.com/fundledger/fundledger/ledger"
	"github.com/fundledger/fundledger/service"
	"github.com/fundledger/fundledger/workload"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/shopspring/decimal"
)

// demoYear is the latest year whose first months months have all ended in
// FUNDLEDGER_TZ, so that every month of the demo can be closed (a month is
// closed only once it has ended).
func demoYear(months int) int {
	loc, err := httpapi.Zone()
	if err != nil {
		loc = time.UTC
	}
	now := time.Now().In(loc)
	y := now.Year()
	for now.Before(time.Date(y, time.Month(1+months), 1, 0, 0, 0, 0, loc)) {
		y--
	}
	return y
}

// demoCloseLast closes the stream's last month in every fund (the
// workload leaves it open), four eyes.
func demoCloseLast(ctx context.Context, js jetstream.JetStream, wcfg workload.Config, funds []string) error {
	last := time.Date(wcfg.Year, time.Month(wcfg.Months), 1, 0, 0, 0, 0, time.UTC).Format(events.PeriodLayout)
	now := time.Now()
	for _, id := range funds {
		body, _ := json.Marshal(map[string]any{"specversion": "1.0", "id": fmt.Sprintf("demo-period-%s-%s-%d", id, last, now.UnixNano()),
			"source": "finance/demo", "type": events.TypePeriodClosed, "time": now.Format(time.RFC3339),
			"datacontenttype": "application/json",
			"data":            map[string]any{"period": last, "closed_by": "accountant-demo", "approved_by": "director-demo"}})
		if _, err := js.Publish(ctx, events.InboundSubject(id, events.TypePeriodClosed), body); err != nil {
			return err
		}
	}
	return nil
}

// demoPeriods prints each month of the demo's year as the city-wide view
// shows it, and the year's totals; a month not closed in every fund is a
// problem.
func demoPeriods(ctx context.Context, svc *service.Service, wcfg workload.Config, exp workload.Expected, out io.Writer) error {
	fmt.Fprintln(out, "\nPERIODS (each month closed in every fund, four eyes; city-wide sums of the funds' period reports, CNY)")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "month\tclosed\tcash at close\tcontributions\tapproved\tpaid\tallocations in (gross/net)\tadjustments\t")
	var approved, paid, contrib decimal.Decimal
	adjustments, closedMonths, problems := 0, 0, 0
	for m := 0; m < wcfg.Months; m++ {
		month := time.Date(wcfg.Year, time.Month(1+m), 1, 0, 0, 0, 0, time.UTC).Format(events.PeriodLayout)
		v, err := svc.Store.CityPeriod(ctx, month, allFunds)
		if err != nil {
			return err
		}
		withReport := 0
		var a, p, c decimal.Decimal
		adj := 0
		for _, cl := range v.Closed {
			r := reportOf(cl)
			if r == nil {
				continue
			}
			withReport++
			adj += len(r.Adjustments)
			for _, x := range r.Programs {
				a, p = a.Add(decimal.RequireFromString(x.Approved)), p.Add(decimal.RequireFromString(x.Paid))
			}
			for _, x := range []string{r.Contributions.Fiscal, r.Contributions.Donation, r.Contributions.Other} {
				c = c.Add(decimal.RequireFromString(x))
			}
		}
		if len(v.NotClosed) > 0 || withReport != len(exp.FundIDs) {
			problems++
		} else {
			closedMonths++
		}
		approved, paid, contrib, adjustments = approved.Add(a), paid.Add(p), contrib.Add(c), adjustments+adj
		al := v.Totals.Allocations
		fmt.Fprintf(tw, "%s\t%d/%d\t%s\t%s\t%s\t%s\t%s / %s\t%d\t\n", month, withReport, len(exp.FundIDs),
			demoThousands(accountClosing(v.Totals.Accounts, ledger.AccountCash)), demoThousands(ledger.Money(c)),
			demoThousands(ledger.Money(a)), demoThousands(ledger.Money(p)), demoThousands(al.Gross.In), demoThousands(al.Net.In), adj)
	}
	fmt.Fprintf(tw, "year\t\t\t%s\t%s\t%s\t\t%d\t\n", demoThousands(ledger.Money(contrib)), demoThousands(ledger.Money(approved)),
		demoThousands(ledger.Money(paid)), adjustments)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "%d of %d months closed in every fund with a signed report each (ledger.<fund>.period); %d late payments published after their month was closed, each a prior-period adjustment of the next month.\n",
		closedMonths, wcfg.Months, exp.LatePayments)
	if problems > 0 || adjustments != exp.LatePayments {
		return fmt.Errorf("periods: %d months not closed in every fund, %d adjustments for %d late payments", problems, adjustments, exp.LatePayments)
	}
	return nil
}
