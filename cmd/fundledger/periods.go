package main

// fundledger periods: the closed months of CONTRACT.md section 11. list,
// show and city read like the other read commands (the database, or the
// read API with a token); status reads the database only, as it looks at
// events still held, which the read API does not show.

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fundledger/fundledger/events"
	"github.com/fundledger/fundledger/export"
	"github.com/fundledger/fundledger/httpapi"
	"github.com/fundledger/fundledger/ledger"
	"github.com/fundledger/fundledger/ledger/postgres"
)

func init() {
	register(command{"periods", "closed months: a fund's period reports, the city-wide view, whether a month is ready", runPeriods})
}

const periodsAbout = `The closed months of the funds (CONTRACT.md section 11).

  periods list FUND
      The fund's period reports, in month order, and the last month closed.
  periods show FUND MONTH
      One period report: as JSON exactly the bytes published on ledger.<fund>.period (so its
      signature checks against them), as a table its accounts, programs and adjustments.
  periods city MONTH
      The city-wide view of MONTH: every fund (within the token's funds, with --api), closed or
      not, and the sums of their reports.
  periods status FUND MONTH
      Whether MONTH is ready to close: where the fund's closes stand, whether the month has ended
      in FUNDLEDGER_TZ, the latest bank reconciliation and whether it reaches the month's last day,
      the events still held, the month's rejections by code. Reads the database only.
  periods verify FUND
      Recomputes every period report of the fund from its journal (docs/audit.md section 3b) and
      checks its signature against the ledger's keys; exit 1 with each difference named.

MONTH is YYYY-MM. A month closed only because a later month was the fund's first close has no
report of its own: show answers "not found" (exit 4) for it.`

// periodsReader is what the periods commands read: the store, or the read
// API.
type periodsReader interface {
	FundPeriods(ctx context.Context, fundID string) ([]postgres.PeriodInfo, string, error)
	PeriodReport(ctx context.Context, fundID, period string) ([]byte, error)
	CityPeriod(ctx context.Context, period string, sees func(string) bool) (*ledger.CityPeriod, error)
}

var (
	_ periodsReader = (*postgres.Store)(nil)
	_ periodsReader = (*apiClient)(nil)
)

func (c *apiClient) FundPeriods(ctx context.Context, fundID string) ([]postgres.PeriodInfo, string, error) {
	var v struct {
		Periods    []postgres.PeriodInfo `json:"periods"`
		LastClosed *string               `json:"last_closed"`
	}
	if err := c.getJSON(ctx, fundPath(fundID, "periods"), nil, &v); err != nil {
		return nil, "", err
	}
	last := ""
	if v.LastClosed != nil {
		last = *v.LastClosed
	}
	return v.Periods, last, nil
}

func (c *apiClient) PeriodReport(ctx context.Context, fundID, period string) ([]byte, error) {
	return c.get(ctx, fundPath(fundID, "periods", period), nil)
}

// CityPeriod reads the view the token's funds allow; sees is the server's
// to apply.
func (c *apiClient) CityPeriod(ctx context.Context, period string, _ func(string) bool) (*ledger.CityPeriod, error) {
	var v ledger.CityPeriod
	if err := c.getJSON(ctx, "/v1/periods/"+url.PathEscape(period), nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

func allFunds(string) bool { return true }

func runPeriods(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		c := newCLI("periods", "periods list|show|city|status|verify ...", periodsAbout, 0, 0)
		c.usage(os.Stdout)
		if len(args) == 0 {
			return usageError{"periods what? list, show, city, status or verify"}
		}
		return nil
	}
	kind, rest := args[0], args[1:]
	switch kind {
	case "list":
		return periodsList(ctx, rest)
	case "show":
		return periodsShow(ctx, rest)
	case "city":
		return periodsCity(ctx, rest)
	case "status":
		return periodsStatus(ctx, rest)
	case "verify":
		return periodsVerify(ctx, rest)
	}
	return usageError{fmt.Sprintf("periods %q: want list, show, city, status or verify", kind)}
}

func checkMonth(m string) error {
	if _, err := events.ParsePeriod(m); err != nil {
		return usageError{fmt.Sprintf("MONTH %s", err.(*events.Rejection).Message)}
	}
	return nil
}

func periodsReaderOf(s booksReader) periodsReader {
	return s.(periodsReader) // both implementations are
}

func periodsList(ctx context.Context, args []string) error {
	c := newReadCmd("periods list", "periods list FUND [--output json|table|csv]", periodsAbout, 1, 1)
	pos, out, s, err := c.start(ctx, args)
	if err != nil {
		return helpDone(err)
	}
	defer s.Close()
	list, last, err := periodsReaderOf(s).FundPeriods(ctx, pos[0])
	if err != nil {
		return readFailed(err)
	}
	var lastClosed *string
	if last != "" {
		lastClosed = &last
	}
	return emit(out, struct {
		Periods    []postgres.PeriodInfo `json:"periods"`
		LastClosed *string               `json:"last_closed"`
	}{list, lastClosed}, func() *textTable {
		t := newTable("PERIOD", "CLOSED_BY", "APPROVED_BY", "AS_OF_JOURNAL_SEQ>", "FIRST")
		for _, p := range list {
			t.add(p.Period, p.ClosedBy, p.ApprovedBy, strconv.FormatInt(p.AsOfJournalSeq, 10), strconv.FormatBool(p.First))
		}
		return t
	})
}

func periodsShow(ctx context.Context, args []string) error {
	c := newReadCmd("periods show", "periods show FUND MONTH [--output json|table|csv]", periodsAbout, 2, 2)
	pos, out, s, err := c.start(ctx, args)
	if err != nil {
		return helpDone(err)
	}
	defer s.Close()
	if err := checkMonth(pos[1]); err != nil {
		return err
	}
	body, err := periodsReaderOf(s).PeriodReport(ctx, pos[0], pos[1])
	if err != nil {
		return readFailed(err)
	}
	if out == "json" {
		if _, err := os.Stdout.Write(body); err != nil {
			return err
		}
		if onTerminal(os.Stdout) {
			fmt.Println()
		}
		return nil
	}
	r, err := ledger.ParsePeriodReport(body)
	if err != nil {
		return err
	}
	if out == "csv" {
		return export.PeriodReportCSV(os.Stdout, r)
	}
	return printReport(r)
}

// printReport prints a period report as tables.
func printReport(r *ledger.PeriodReport) error {
	scope := "its reporting period"
	if r.First {
		scope = "the fund's first report: every reporting period up to " + r.Period
	}
	recon := "none"
	if r.ReconciliationSeq != nil {
		recon = strconv.FormatInt(*r.ReconciliationSeq, 10)
	}
	fmt.Printf("period %s of fund %s (%s)\nclosed by %s, approved by %s, as of journal seq %d\nchain head %s\nreconciliation %s; key %s\n\n",
		r.Period, r.FundID, scope, r.ClosedBy, r.ApprovedBy, r.AsOfJournalSeq, r.ChainHead, recon, r.KeyID)
	t := newTable("ACCOUNT", "OPENING>", "DEBITS>", "CREDITS>", "CLOSING>")
	for _, a := range r.Accounts {
		t.add(a.Account, a.Opening, a.Debits, a.Credits, a.Closing)
	}
	if err := t.write(os.Stdout); err != nil {
		return err
	}
	fmt.Println()
	t = newTable("PROGRAM", "APPROVED>", "CANCELLED>", "PAID>", "RETURNED>", "RECOVERED>", "BENEFICIARIES>")
	for _, p := range r.Programs {
		t.add(p.Program, p.Approved, p.Cancelled, p.Paid, p.Returned, p.Recovered, strconv.FormatInt(p.Beneficiaries, 10))
	}
	if err := t.write(os.Stdout); err != nil {
		return err
	}
	fmt.Printf("\ncontributions: fiscal %s, donation %s, other %s; allocations in %s, out %s\n",
		r.Contributions.Fiscal, r.Contributions.Donation, r.Contributions.Other, r.Allocations.In, r.Allocations.Out)
	if len(r.Adjustments) == 0 {
		fmt.Println("no prior-period adjustments")
		return nil
	}
	fmt.Printf("\n%d prior-period adjustments:\n", len(r.Adjustments))
	t = newTable("JOURNAL_SEQ>", "TYPE", "BUSINESS_PERIOD", "AMOUNT>")
	for _, a := range r.Adjustments {
		t.add(strconv.FormatInt(a.JournalSeq, 10), a.Type, a.BusinessPeriod, a.Amount)
	}
	return t.write(os.Stdout)
}

func periodsCity(ctx context.Context, args []string) error {
	c := newReadCmd("periods city", "periods city MONTH [--output json|table|csv]", periodsAbout, 1, 1)
	pos, out, s, err := c.start(ctx, args)
	if err != nil {
		return helpDone(err)
	}
	defer s.Close()
	if err := checkMonth(pos[0]); err != nil {
		return err
	}
	v, err := periodsReaderOf(s).CityPeriod(ctx, pos[0], allFunds)
	if err != nil {
		return readFailed(err)
	}
	if out == "json" {
		return printJSON(os.Stdout, v)
	}
	if out == "csv" {
		return export.CityCSV(os.Stdout, v)
	}
	t := newTable("FUND_ID", "STATE", "CASH_CLOSING>", "APPROVED>", "PAID>", "ADJUSTMENTS>")
	for _, c := range v.Closed {
		if r := reportOf(c); r != nil {
			approved, paid := programSums(r)
			t.add(c.FundID, "closed", accountClosing(r.Accounts, ledger.AccountCash), approved, paid, strconv.Itoa(len(r.Adjustments)))
		} else {
			t.add(c.FundID, "closed, no report of its own", "", "", "", "")
		}
	}
	for _, id := range v.NotClosed {
		t.add(id, "not closed", "", "", "", "")
	}
	fmt.Printf("city-wide view of %s: %d funds closed, %d not\n\n", v.Period, len(v.Closed), len(v.NotClosed))
	if err := t.write(os.Stdout); err != nil {
		return err
	}
	fmt.Println()
	t = newTable("ACCOUNT", "OPENING>", "DEBITS>", "CREDITS>", "CLOSING>")
	for _, a := range v.Totals.Accounts {
		t.add(a.Account, a.Opening, a.Debits, a.Credits, a.Closing)
	}
	if err := t.write(os.Stdout); err != nil {
		return err
	}
	al := v.Totals.Allocations
	fmt.Printf("\ncontributions: fiscal %s, donation %s, other %s\nallocations gross in %s, out %s; net of the view's own funds in %s, out %s\n",
		v.Totals.Contributions.Fiscal, v.Totals.Contributions.Donation, v.Totals.Contributions.Other, al.Gross.In, al.Gross.Out, al.Net.In, al.Net.Out)
	return nil
}

// The city view's helpers, shared with the exports (package export).
var (
	reportOf       = export.ReportOf
	accountClosing = export.AccountClosing
	programSums    = export.ProgramSums
)

func periodsStatus(ctx context.Context, args []string) error {
	c := newCLI("periods status", "periods status FUND MONTH [--output json|table]", periodsAbout, 2, 2)
	outFlag := c.outputFlag()
	db := c.databaseFlag()
	pos, err := c.parse(args)
	if err != nil {
		return helpDone(err)
	}
	out, err := outputFormat(*outFlag)
	if err != nil {
		return err
	}
	if err := checkMonth(pos[1]); err != nil {
		return err
	}
	loc, err := httpapi.Zone()
	if err != nil {
		return usageError{err.Error()}
	}
	s, err := openStore(ctx, *db)
	if err != nil {
		return err
	}
	defer s.Close()
	st, err := s.PeriodStatus(ctx, pos[0], pos[1], loc, time.Now())
	if err != nil {
		return readFailed(err)
	}
	if out == "json" {
		return printJSON(os.Stdout, st)
	}
	return printStatus(st, loc)
}

func printStatus(st *postgres.PeriodStatus, loc *time.Location) error {
	w := os.Stdout
	fmt.Fprintf(w, "fund %s, month %s\n", st.FundID, st.Period)
	switch {
	case st.Closed && st.HasReport:
		fmt.Fprintf(w, "  closed: yes, with its period report (the fund is closed up to %s)\n", st.LastClosed)
	case st.Closed:
		fmt.Fprintf(w, "  closed: yes, by the fund's first close of %s (no report of its own)\n", st.LastClosed)
	case st.LastClosed == "":
		fmt.Fprintf(w, "  closed: no; the fund has no close yet, its first may name any month that has ended\n")
	default:
		fmt.Fprintf(w, "  closed: no; the fund is closed up to %s, the next close must be %s\n", st.LastClosed, st.Next)
	}
	if st.Ended {
		fmt.Fprintf(w, "  ended: yes (in %s)\n", loc)
	} else {
		fmt.Fprintf(w, "  ended: no, not yet in %s: it cannot be closed before\n", loc)
	}
	if r := st.Reconciliation; r == nil {
		fmt.Fprintf(w, "  bank reconciliation: none (no bank statement received)\n")
	} else {
		yes := "no"
		if st.ReconciledToEnd {
			yes = "yes"
		}
		fmt.Fprintf(w, "  reconciled to the month's last day: %s (latest report %d: statement to %s, reconciled %t, difference %s)\n",
			yes, r.Seq, r.PeriodEnd, r.Reconciled, r.Difference)
	}
	fmt.Fprintf(w, "  events still held: %d\n", len(st.Held))
	for _, h := range st.Held {
		fmt.Fprintf(w, "    %s waits on %s since %s (refused as %s at %s)\n", h.EventID, h.WaitingOn, h.ReceivedAt, h.Code, h.Deadline)
	}
	var codes []string
	var total int64
	for c, n := range st.Rejections {
		codes = append(codes, fmt.Sprintf("%s %d", c, n))
		total += n
	}
	sort.Strings(codes)
	fmt.Fprintf(w, "  rejections received in the month: %d", total)
	if total > 0 {
		fmt.Fprintf(w, " (%s)", strings.Join(codes, ", "))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  prior-period adjustments posted to the month so far: %d\n", st.PendingAdjustments)
	return nil
}

// periodsVerify recomputes every period report of a fund from its journal
// (docs/audit.md section 3b) and checks its signature against the
// ledger's keys (the database's, or GET /v1/keys with --api: pin them
// with `fundledger verify --public-key` for a check that does not trust
// the ledger's own list).
func periodsVerify(ctx context.Context, args []string) error {
	c := newReadCmd("periods verify", "periods verify FUND [--tz ZONE]", periodsAbout, 1, 1)
	tz := c.fs.String("tz", "", "FUNDLEDGER_TZ of the ledger: the zone of business dates taken from the clock (default $FUNDLEDGER_TZ, else Asia/Shanghai)")
	pos, _, s, err := c.start(ctx, args)
	if err != nil {
		return helpDone(err)
	}
	defer s.Close()
	if *tz != "" {
		os.Setenv("FUNDLEDGER_TZ", *tz)
	}
	loc, err := httpapi.Zone()
	if err != nil {
		return usageError{err.Error()}
	}
	fund := pos[0]
	pr := periodsReaderOf(s)
	list, _, err := pr.FundPeriods(ctx, fund)
	if err != nil {
		return readFailed(err)
	}
	var reports []*ledger.PeriodReport
	for _, p := range list {
		body, err := pr.PeriodReport(ctx, fund, p.Period)
		if err != nil {
			return readFailed(err)
		}
		r, err := ledger.ParsePeriodReport(body)
		if err != nil {
			return err
		}
		reports = append(reports, r)
	}
	keys, err := periodKeys(ctx, s)
	if err != nil {
		return err
	}
	v := ledger.NewPeriodVerifier(reports, loc)
	var after, n int64
	for {
		page, err := s.Journal(ctx, fund, after, postgres.MaxLimit)
		if err != nil {
			return readFailed(err)
		}
		for _, t := range page.Transactions {
			v.Add(t)
			n++
		}
		if len(page.Transactions) == 0 {
			break
		}
		after = page.NextAfterSeq
	}
	problems := v.Problems(keys)
	fmt.Printf("fund %s: %d period reports recomputed from %d journal transactions (business dates from the clock in %s)\n",
		fund, len(reports), n, loc)
	for _, p := range problems {
		fmt.Println("  PROBLEM " + p)
	}
	if len(problems) > 0 {
		return exitError{1, fmt.Errorf("%d problems in the period reports of %s", len(problems), fund)}
	}
	fmt.Println("  ok: every figure matches the journal and every signature verifies")
	return nil
}

// periodKeys are the ledger's signing keys: from the database, or GET
// /v1/keys.
func periodKeys(ctx context.Context, s booksReader) (map[string]ed25519.PublicKey, error) {
	if st, ok := s.(*postgres.Store); ok {
		return st.SigningKeys(ctx)
	}
	c, ok := s.(*apiClient)
	if !ok {
		return nil, nil
	}
	var v struct {
		Keys []ledger.KeyEntryView `json:"keys"`
	}
	if err := c.getJSON(ctx, "/v1/keys", nil, &v); err != nil {
		return nil, err
	}
	keys := map[string]ed25519.PublicKey{}
	for _, k := range v.Keys {
		b, err := base64.StdEncoding.DecodeString(k.PublicKey)
		if err != nil || len(b) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("GET /v1/keys: key %s is not an Ed25519 public key", k.KeyID)
		}
		keys[ledger.SigningKeyID(ed25519.PublicKey(b))] = ed25519.PublicKey(b)
	}
	return keys, nil
}
