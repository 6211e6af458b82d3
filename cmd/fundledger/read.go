package main

// The read commands: what an officer or auditor asks of the books. Two
// ways: straight from the ledger's database (DATABASE_URL) through the
// same queries as the HTTP read API, for an operator on the ledger's host;
// or through the read API itself with a token (--api URL, --token-file or
// FUNDLEDGER_TOKEN; apiclient.go), for officers and auditors, who then
// read what their token allows. Either way `--output json` prints what
// the API returns.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"

	"github.com/fundledger/fundledger/ledger"
	"github.com/fundledger/fundledger/ledger/postgres"
)

func init() {
	register(command{"funds", "list every fund with its cash, grants payable and available amount", runFunds})
	register(command{"balances", "a fund's accounts, now or as of a journal sequence", runBalances})
	register(command{"journal", "a fund's journal transactions with their postings", runJournal})
	register(command{"grant", "one grant: payments, returns, recoveries, outstanding, state", runGrant})
	register(command{"rejections", "refused events, with their codes and messages", runRejections})
	register(command{"snapshots", "a fund's snapshots, or one of them as published", runSnapshots})
}

// readCmd is the common start of a read command: flags parsed, format
// resolved, the books open (the database, or the read API with --api).
type readCmd struct {
	*cmdFlags
	out       *string
	db        *string
	api       *string
	tokenFile *string
}

func newReadCmd(name, synopsis, about string, minPos, maxPos int) *readCmd {
	c := &readCmd{cmdFlags: newCLI(name, synopsis, about+readModes, minPos, maxPos)}
	c.out = c.outputFlag()
	c.db = c.databaseFlag()
	c.api = c.fs.String("api", "", "read through the read API at this base URL (http(s)://host:port) with a token, instead of the database (default $FUNDLEDGER_API)")
	c.tokenFile = c.fs.String("token-file", "", "file holding the bearer token for --api (default: the token in $FUNDLEDGER_TOKEN)")
	return c
}

// readModes ends every read command's help.
const readModes = `

Two ways to read: with DATABASE_URL (or --database-url), straight from the ledger's database, for
an operator on the ledger's host; with --api URL (or FUNDLEDGER_API) and a token (--token-file FILE
or FUNDLEDGER_TOKEN), through the read API, for officers and auditors, who see what their token's
roles and funds allow. It exits with 5 when the read API refused the token (401: missing, expired or not
for this ledger) or its rights (403: the roles do not allow this).`

func (c *readCmd) start(ctx context.Context, args []string) (pos []string, out string, s booksReader, err error) {
	if pos, err = c.parse(args); err != nil {
		return nil, "", nil, err
	}
	if out, err = outputFormat(*c.out); err != nil {
		return nil, "", nil, err
	}
	api := *c.api
	if api == "" && *c.db == "" {
		api = os.Getenv("FUNDLEDGER_API")
	}
	switch {
	case api != "" && *c.db != "":
		return nil, "", nil, usageError{"--api and --database-url exclude each other: read through the API or the database"}
	case api != "":
		s, err = newAPIClient(api, *c.tokenFile)
		if err != nil {
			return nil, "", nil, err
		}
		return pos, out, s, nil
	case *c.tokenFile != "":
		return nil, "", nil, usageError{"--token-file goes with --api: the database is read without a token"}
	}
	st, err := openStore(ctx, *c.db)
	if err != nil {
		return nil, "", nil, err
	}
	return pos, out, st, nil
}

func runFunds(ctx context.Context, args []string) error {
	c := newReadCmd("funds", "funds [--output json|table|csv]",
		"Lists every fund, by id, with its cash, grants payable and available amount (cash less grants payable)\nand the sequence of its last journal transaction.", 0, 0)
	_, out, s, err := c.start(ctx, args)
	if err != nil {
		return helpDone(err)
	}
	defer s.Close()
	list, err := s.ListFunds(ctx)
	if err != nil {
		return readFailed(err)
	}
	return emit(out, struct {
		Funds []postgres.FundSummary `json:"funds"`
	}{list}, func() *textTable {
		t := newTable("FUND_ID", "NAME", "CURRENCY", "CASH>", "GRANTS_PAYABLE>", "AVAILABLE>", "HEAD_SEQ>")
		for _, f := range list {
			t.add(f.FundID, f.Name, f.Currency, f.Cash.String(), f.GrantsPayable.String(), f.Available.String(), strconv.FormatInt(f.HeadSeq, 10))
		}
		return t
	})
}

func runBalances(ctx context.Context, args []string) error {
	c := newReadCmd("balances", "balances FUND [--as-of-seq N] [--output json|table|csv]",
		`Prints the fund's accounts as a snapshot lists them: debits, credits and the balance on each
account's normal side, the totals, and the available amount. With --as-of-seq N the figures are those
right after journal transaction N (0: before any posting).`, 1, 1)
	var seq *int64
	c.fs.Func("as-of-seq", "show the balances as they stood after journal sequence `N` (default: now)", func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("want a journal sequence, 0 or more")
		}
		seq = &n
		return nil
	})
	pos, out, s, err := c.start(ctx, args)
	if err != nil {
		return helpDone(err)
	}
	defer s.Close()
	b, err := s.FundBalances(ctx, pos[0], seq)
	if err != nil {
		return readFailed(err)
	}
	if out == "table" {
		t := newTable("ACCOUNT", "DEBITS>", "CREDITS>", "BALANCE>")
		for _, a := range b.Accounts {
			t.add(a.Account, a.Debits, a.Credits, a.Balance)
		}
		t.add("total", b.TotalDebits, b.TotalCredits, "")
		fmt.Printf("fund %s (%s), as of journal seq %d of %d, %s\n\n", b.FundID, b.Currency, b.AsOfJournalSeq, b.HeadSeq, b.AsOf)
		if err := t.write(os.Stdout); err != nil {
			return err
		}
		balanced := "balanced"
		if !b.Balanced {
			balanced = "NOT BALANCED"
		}
		fmt.Printf("\navailable %s; %s; chain head %s\n", b.Available, balanced, b.ChainHead)
		if g := b.OutstandingGrants; g != nil {
			fmt.Printf("outstanding grants: %d owing %s\n", g.Count, g.Amount)
		}
		return nil
	}
	return emit(out, b, func() *textTable {
		t := newTable("ACCOUNT", "DEBITS", "CREDITS", "BALANCE")
		for _, a := range b.Accounts {
			t.add(a.Account, a.Debits, a.Credits, a.Balance)
		}
		return t
	})
}

func runJournal(ctx context.Context, args []string) error {
	c := newReadCmd("journal", "journal FUND [--after N] [--limit M | --all] [--output json|table|csv]",
		`Prints the fund's journal transactions after sequence N, oldest first, with their postings: at most
M of them (1 to 1000), or every one with --all. Table and CSV print one row per posting.`, 1, 1)
	after := c.fs.Int64("after", 0, "start after this journal sequence")
	limit := c.fs.Int("limit", postgres.DefaultLimit, "most transactions to print (1 to 1000)")
	all := c.fs.Bool("all", false, "print every transaction after --after, page by page")
	pos, out, s, err := c.start(ctx, args)
	if err != nil {
		return helpDone(err)
	}
	defer s.Close()
	if *after < 0 || *limit < 1 || *limit > postgres.MaxLimit {
		return usageError{fmt.Sprintf("--after must be 0 or more and --limit 1 to %d", postgres.MaxLimit)}
	}
	page := &postgres.JournalPage{Transactions: []*ledger.Txn{}, NextAfterSeq: *after}
	for {
		n := *limit
		if *all {
			n = postgres.MaxLimit
		}
		p, err := s.Journal(ctx, pos[0], page.NextAfterSeq, n)
		if err != nil {
			return readFailed(err)
		}
		page.Transactions, page.NextAfterSeq = append(page.Transactions, p.Transactions...), p.NextAfterSeq
		if !*all || len(p.Transactions) < n {
			break
		}
	}
	return emit(out, page, func() *textTable {
		t := newTable("SEQ>", "TIME", "TYPE", "EVENT_ID", "ACCOUNT", "SIDE", "AMOUNT>")
		for _, x := range page.Transactions {
			for i, p := range x.Postings {
				if i == 0 || out == "csv" {
					t.add(strconv.FormatInt(x.Seq, 10), ledger.TimeText(x.Time), x.Type, x.EventID, p.Account, string(p.Side), ledger.Money(p.Amount))
				} else {
					t.add("", "", "", "", p.Account, string(p.Side), ledger.Money(p.Amount))
				}
			}
		}
		return t
	})
}

func runGrant(ctx context.Context, args []string) error {
	c := newReadCmd("grant", "grant FUND GRANT_ID [--output json|table|csv]",
		`Prints one grant: who and what it is for, its approved, paid, returned, cancelled and recovered
amounts, what is outstanding and its state (open, paid or cancelled), its payments and its history.
CSV prints the grant's figures as one row, in the columns of "export grants".`, 2, 2)
	pos, out, s, err := c.start(ctx, args)
	if err != nil {
		return helpDone(err)
	}
	defer s.Close()
	g, err := s.Grant(ctx, pos[0], pos[1])
	if err != nil {
		return readFailed(err)
	}
	switch out {
	case "json":
		return printJSON(os.Stdout, g)
	case "csv":
		t := grantTable()
		addGrantRow(t, g.GrantSummary)
		return t.writeCSV(os.Stdout)
	}
	fmt.Printf("grant %s of fund %s: %s\n", g.GrantID, g.FundID, g.State)
	fmt.Printf("beneficiary %s, program %s, category %s, approved on %s (event %s)\n\n", g.BeneficiaryRef, g.Program, g.Category, g.ApprovedOn, g.EventID)
	fig := newTable("APPROVED>", "PAID>", "RETURNED>", "CANCELLED>", "RECOVERED>", "OUTSTANDING>")
	fig.add(g.Approved.String(), g.Paid.String(), g.Returned.String(), g.Cancelled.String(), g.Recovered.String(), g.Outstanding.String())
	if err := fig.write(os.Stdout); err != nil {
		return err
	}
	if len(g.Payments) > 0 {
		fmt.Println("\npayments:")
		t := newTable("PAYMENT_ID", "AMOUNT>", "RETURNED>", "PAID_ON", "BANK_REF", "JOURNAL_SEQ>")
		for _, p := range g.Payments {
			t.add(p.PaymentID, p.Amount.String(), p.Returned.String(), p.PaidOn, p.BankRef, strconv.FormatInt(p.JournalSeq, 10))
		}
		if err := t.write(os.Stdout); err != nil {
			return err
		}
	}
	fmt.Println("\nhistory:")
	t := newTable("N>", "KIND", "REF", "AMOUNT>", "JOURNAL_SEQ>", "TIME")
	for _, e := range g.History {
		seq := "-"
		if e.JournalSeq != nil {
			seq = strconv.FormatInt(*e.JournalSeq, 10)
		}
		t.add(strconv.Itoa(e.N), e.Kind, e.PaymentID+e.RecoveryID, e.Amount.String(), seq, e.Time)
	}
	return t.write(os.Stdout)
}

// grantTable is the register's columns, shared with export grants.
func grantTable() *textTable {
	return newTable("GRANT_ID", "BENEFICIARY_REF", "PROGRAM", "CATEGORY", "APPROVED_ON", "STATE",
		"APPROVED>", "PAID>", "RETURNED>", "CANCELLED>", "RECOVERED>", "OUTSTANDING>")
}

func addGrantRow(t *textTable, g postgres.GrantSummary) {
	t.add(g.GrantID, g.BeneficiaryRef, g.Program, g.Category, g.ApprovedOn, g.State,
		g.Approved.String(), g.Paid.String(), g.Returned.String(), g.Cancelled.String(), g.Recovered.String(), g.Outstanding.String())
}

func runRejections(ctx context.Context, args []string) error {
	c := newReadCmd("rejections", "rejections [--fund F] [--after N] [--limit M] [--output json|table|csv]",
		`Prints refused events, oldest first: the code and message of each, the event's id and type, the fund
it was sent to (also funds that were never opened, and _unknown). --after N starts after rejection N;
the next page starts after the last seq printed.`, 0, 0)
	fund := c.fs.String("fund", "", "only this fund's rejections")
	after := c.fs.Int64("after", 0, "start after this rejection seq")
	limit := c.fs.Int("limit", postgres.DefaultLimit, "most rejections to print (1 to 1000)")
	_, out, s, err := c.start(ctx, args)
	if err != nil {
		return helpDone(err)
	}
	defer s.Close()
	if *after < 0 || *limit < 1 || *limit > postgres.MaxLimit {
		return usageError{fmt.Sprintf("--after must be 0 or more and --limit 1 to %d", postgres.MaxLimit)}
	}
	page, err := s.Rejections(ctx, *fund, *after, *limit)
	if err != nil {
		return readFailed(err)
	}
	return emit(out, page, func() *textTable {
		if out == "csv" {
			t := newTable("SEQ", "RECEIVED_AT", "FUND_ID", "TYPE", "CODE", "EVENT_ID", "MESSAGE", "LINES", "RAW", "RAW_ENCODING")
			for _, r := range page.Rejections {
				lines, _ := json.Marshal(r.Lines)
				t.add(strconv.FormatInt(r.Seq, 10), r.ReceivedAt, r.FundID, r.Type, string(r.Code), r.EventID, r.Message, string(lines), r.Raw, r.RawEncoding)
			}
			return t
		}
		t := newTable("SEQ>", "RECEIVED_AT", "FUND_ID", "TYPE", "CODE", "EVENT_ID", "MESSAGE")
		for _, r := range page.Rejections {
			msg := r.Message
			if n := len(r.Lines); n > 0 {
				msg += fmt.Sprintf(" (%d bad lines)", n)
			}
			t.add(strconv.FormatInt(r.Seq, 10), r.ReceivedAt, r.FundID, r.Type, string(r.Code), r.EventID, msg)
		}
		return t
	})
}

func runSnapshots(ctx context.Context, args []string) error {
	c := newReadCmd("snapshots", "snapshots FUND [--seq N | --latest] [--after N] [--limit M] [--output json|table|csv]",
		`Lists the fund's snapshots, oldest first. With --seq N or --latest it prints one snapshot: as JSON
exactly the bytes published on ledger.<fund>.snapshot (so its signature can be checked on them), as a
table its accounts.`, 1, 1)
	seq := c.fs.Int64("seq", 0, "print snapshot N")
	latest := c.fs.Bool("latest", false, "print the latest snapshot")
	after := c.fs.Int64("after", 0, "list snapshots after this snapshot seq")
	limit := c.fs.Int("limit", postgres.DefaultLimit, "most snapshots to list (1 to 1000)")
	pos, out, s, err := c.start(ctx, args)
	if err != nil {
		return helpDone(err)
	}
	defer s.Close()
	if *seq < 0 || *after < 0 || *limit < 1 || *limit > postgres.MaxLimit || (*seq > 0 && *latest) {
		return usageError{"--seq and --latest exclude each other; --seq and --after are 0 or more, --limit 1 to 1000"}
	}
	if *seq > 0 || *latest {
		body, err := s.Snapshot(ctx, pos[0], *seq)
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
		var snap ledger.Snapshot
		if err := json.Unmarshal(body, &snap); err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
		t := newTable("ACCOUNT", "DEBITS>", "CREDITS>", "BALANCE>")
		for _, a := range snap.Accounts {
			t.add(a.Account, a.Debits, a.Credits, a.Balance)
		}
		if out == "csv" {
			return t.writeCSV(os.Stdout)
		}
		t.add("total", snap.TotalDebits, snap.TotalCredits, "")
		fmt.Printf("snapshot %d of fund %s, label %q, as of journal seq %d, %s\nchain head %s\nkey %s\n\n",
			snap.SnapshotSeq, snap.FundID, snap.Label, snap.AsOfJournalSeq, snap.AsOf, snap.ChainHead, snap.KeyID)
		if err := t.write(os.Stdout); err != nil {
			return err
		}
		fmt.Printf("\navailable %s; balanced %t; outstanding grants: %d owing %s\n",
			snap.Available, snap.Balanced, snap.OutstandingGrants.Count, snap.OutstandingGrants.Amount)
		return nil
	}
	page, err := s.Snapshots(ctx, pos[0], *after, *limit)
	if err != nil {
		return readFailed(err)
	}
	return emit(out, page, func() *textTable {
		t := newTable("SNAPSHOT_SEQ>", "LABEL", "AS_OF_JOURNAL_SEQ>", "AS_OF", "AVAILABLE>", "BALANCED", "KEY_ID", "CREATED_AT")
		for _, i := range page.Snapshots {
			t.add(strconv.FormatInt(i.SnapshotSeq, 10), i.Label, strconv.FormatInt(i.AsOfJournalSeq, 10), i.AsOf, i.Available,
				strconv.FormatBool(i.Balanced), i.KeyID, i.CreatedAt)
		}
		return t
	})
}
