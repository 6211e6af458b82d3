package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fundledger/fundledger/internal/testenv"
	"github.com/fundledger/fundledger/ledger"
	"github.com/shopspring/decimal"
	"github.com/xuri/excelize/v2"
)

const exampleEvents = "../../docs/examples/events.jsonl"

// cliRun is the built binary pointed at one test ledger.
type cliRun struct {
	t   *testing.T
	bin string
	env []string
}

// run executes the binary and returns stdout, stderr and the exit code.
func (c *cliRun) run(stdin string, args ...string) (string, string, int) {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Env = c.env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("run %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// ok runs and wants exit 0.
func (c *cliRun) ok(args ...string) string {
	c.t.Helper()
	out, errs, code := c.run("", args...)
	if code != 0 {
		c.t.Fatalf("fundledger %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// fails runs and wants exit code.
func (c *cliRun) fails(code int, args ...string) string {
	c.t.Helper()
	out, errs, got := c.run("", args...)
	if got != code {
		c.t.Fatalf("fundledger %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), got, code, out, errs)
	}
	return errs
}

func (c *cliRun) json(v any, args ...string) {
	c.t.Helper()
	out := c.ok(append(args, "--output", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		c.t.Fatalf("fundledger %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func envWithout(names ...string) []string {
	var env []string
outer:
	for _, kv := range os.Environ() {
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				continue outer
			}
		}
		env = append(env, kv)
	}
	return env
}

func buildCLI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fundledger")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

type publishResult struct {
	Lines, Published, Acknowledged, Duplicates, Errors int64
}

func TestCLI(t *testing.T) {
	bin := buildCLI(t)
	l := testenv.Start(t, testenv.Options{})
	c := &cliRun{t: t, bin: bin, env: append(envWithout("DATABASE_URL", "NATS_URL", "FUNDLEDGER_DATA_DIR"),
		"DATABASE_URL="+l.DBURL, "NATS_URL="+l.NATS.ClientURL())}

	t.Run("publish", func(t *testing.T) {
		c.t = t
		var p publishResult
		c.json(&p, "publish", exampleEvents)
		if p != (publishResult{Lines: 24, Published: 24, Acknowledged: 24}) {
			t.Fatalf("publish = %+v, want 24 published and acknowledged", p)
		}
		l.WaitIdle()
		// The same file again: JetStream's dedup window reports every
		// message as a duplicate, and the books do not move.
		before := l.Count(`SELECT count(*) FROM journal`)
		c.json(&p, "publish", exampleEvents)
		if p != (publishResult{Lines: 24, Published: 24, Acknowledged: 24, Duplicates: 24}) {
			t.Fatalf("second publish = %+v, want 24 duplicates", p)
		}
		l.WaitIdle()
		if after := l.Count(`SELECT count(*) FROM journal`); after != before {
			t.Fatalf("journal grew from %d to %d on duplicates", before, after)
		}
		out := c.ok("publish", exampleEvents, "--output", "table")
		if !strings.Contains(out, "published 24, acknowledged 24, duplicates 24, errors 0") {
			t.Errorf("table summary: %q", out)
		}
	})

	t.Run("publish refuses a bad file whole", func(t *testing.T) {
		c.t = t
		dir := t.TempDir()
		bad := filepath.Join(dir, "bad.jsonl")
		good := `{"fund": "wanzhou-care", "event": {"specversion": "1.0", "id": "x-1", "source": "t", "type": "snapshot.requested", "data": {"requested_by": "a"}}}`
		if err := os.WriteFile(bad, []byte(good+"\nnot json\n{\"specversion\": \"1.0\", \"type\": \"grant.approved\", \"data\": {}}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		msgs := l.Count(`SELECT count(*) FROM inbox`)
		errs := c.fails(1, "publish", bad)
		if !strings.Contains(errs, "line 2") || !strings.Contains(errs, "line 3") || !strings.Contains(errs, "nothing was published") {
			t.Errorf("stderr %q: want lines 2 and 3 named", errs)
		}
		l.WaitIdle()
		if got := l.Count(`SELECT count(*) FROM inbox`); got != msgs {
			t.Errorf("a refused file published %d messages", got-msgs)
		}
		c.fails(1, "publish", filepath.Join(dir, "missing.jsonl"))
		c.fails(2, "publish")
		c.fails(2, "publish", bad, "--fund", "Not A Fund")
	})

	t.Run("publish from stdin with --fund and the data dir's nats.url", func(t *testing.T) {
		c.t = t
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "nats.url"), []byte(l.NATS.ClientURL()+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		line := `{"specversion": "1.0", "id": "stdin-1", "source": "t", "type": "contribution.received", "data": {"contribution_id": "c-9", "source_kind": "other", "payer": "interest", "amount": "0.50", "bank_ref": "I", "received_on": "2026-03-31"}}`
		saved := c.env
		c.env = append(envWithout("DATABASE_URL", "NATS_URL", "FUNDLEDGER_DATA_DIR"), "DATABASE_URL="+l.DBURL, "FUNDLEDGER_DATA_DIR="+dir)
		defer func() { c.env = saved }()
		out, errs, code := c.run(line+"\n", "publish", "-", "--fund", "wanzhou-care", "--output", "json")
		if code != 0 || !strings.Contains(out, `"acknowledged": 1`) {
			t.Fatalf("exit %d: %s %s", code, out, errs)
		}
		l.WaitIdle()
		if got := l.Balance("wanzhou-care", "cash"); got != "250000.50" {
			t.Fatalf("wanzhou-care cash %s, want 250000.50", got)
		}
		c.env = append(envWithout("DATABASE_URL", "NATS_URL", "FUNDLEDGER_DATA_DIR"), "FUNDLEDGER_DATA_DIR="+t.TempDir())
		if errs := c.fails(2, "publish", exampleEvents); !strings.Contains(errs, "NATS_URL") {
			t.Errorf("no server known: %q", errs)
		}
	})

	t.Run("funds", func(t *testing.T) {
		c.t = t
		var got struct {
			Funds []map[string]any `json:"funds"`
		}
		c.json(&got, "funds")
		if len(got.Funds) != 2 || got.Funds[0]["fund_id"] != "jiangjin-care" || got.Funds[0]["available"] != "227150.50" ||
			got.Funds[0]["cash"] != "228250.50" || got.Funds[0]["grants_payable"] != "1100.00" {
			t.Fatalf("funds = %v", got.Funds)
		}
		table := c.ok("funds", "-o", "table")
		if !strings.Contains(table, "FUND_ID") || !strings.Contains(table, "227150.50") || !strings.Contains(table, "江津区退役军人关爱基金") {
			t.Errorf("table:\n%s", table)
		}
		rows := readCSV(t, c.ok("funds", "--output", "csv"))
		if strings.Join(rows[0], ",") != "fund_id,name,currency,cash,grants_payable,available,head_seq" || len(rows) != 3 || rows[1][5] != "227150.50" {
			t.Errorf("csv: %v", rows)
		}
		// Not a terminal: JSON by default.
		if out := c.ok("funds"); !json.Valid([]byte(out)) {
			t.Errorf("default output off a terminal is not JSON: %s", out)
		}
	})

	t.Run("balances", func(t *testing.T) {
		c.t = t
		type line struct{ Account, Debits, Credits, Balance string }
		var now, at11 struct {
			AsOfJournalSeq int64  `json:"as_of_journal_seq"`
			Available      string `json:"available"`
			Balanced       bool   `json:"balanced"`
			ChainHead      string `json:"chain_head"`
			Accounts       []line `json:"accounts"`
		}
		c.json(&now, "balances", "jiangjin-care")
		if now.AsOfJournalSeq != 14 || now.Available != "227150.50" || !now.Balanced {
			t.Fatalf("balances now %+v", now)
		}
		for _, a := range now.Accounts {
			if want := l.Balance("jiangjin-care", a.Account); a.Balance != want {
				t.Errorf("%s %s, database %s", a.Account, a.Balance, want)
			}
		}
		// As of 11 equals the snapshot taken there (label 2026-03).
		c.json(&at11, "balances", "jiangjin-care", "--as-of-seq", "11")
		var snap struct {
			AsOfJournalSeq int64  `json:"as_of_journal_seq"`
			Available      string `json:"available"`
			ChainHead      string `json:"chain_head"`
			Accounts       []line `json:"accounts"`
		}
		c.json(&snap, "snapshots", "jiangjin-care", "--seq", "1")
		if snap.AsOfJournalSeq != 11 || at11.AsOfJournalSeq != 11 || at11.Available != snap.Available || at11.ChainHead != snap.ChainHead ||
			len(at11.Accounts) != len(snap.Accounts) {
			t.Fatalf("as of 11 %+v, snapshot %+v", at11, snap)
		}
		for i := range snap.Accounts {
			if at11.Accounts[i] != snap.Accounts[i] {
				t.Errorf("account %d: balances %+v, snapshot %+v", i, at11.Accounts[i], snap.Accounts[i])
			}
		}
		table := c.ok("balances", "--as-of-seq", "0", "jiangjin-care", "-o", "table")
		if !strings.Contains(table, "as of journal seq 0 of 14") || !strings.Contains(table, "available 0.00; balanced") {
			t.Errorf("table as of 0:\n%s", table)
		}
		rows := readCSV(t, c.ok("balances", "jiangjin-care", "-o", "csv"))
		if strings.Join(rows[0], ",") != "account,debits,credits,balance" || len(rows) != len(now.Accounts)+1 {
			t.Errorf("csv %v", rows)
		}
		if errs := c.fails(exitNotFound, "balances", "nope"); !strings.Contains(errs, `fund "nope" not found`) {
			t.Errorf("stderr %q", errs)
		}
		c.fails(2, "balances", "jiangjin-care", "--as-of-seq", "99")
		c.fails(2, "balances", "jiangjin-care", "--as-of-seq", "abc")
		c.fails(2, "balances")
		c.fails(2, "balances", "a", "b")
		c.fails(2, "balances", "jiangjin-care", "--output", "yaml")
	})

	t.Run("journal", func(t *testing.T) {
		c.t = t
		var page struct {
			Transactions []struct {
				Seq      int64 `json:"seq"`
				Postings []any `json:"postings"`
			} `json:"transactions"`
			NextAfterSeq int64 `json:"next_after_seq"`
		}
		c.json(&page, "journal", "jiangjin-care", "--after", "12")
		if len(page.Transactions) != 2 || page.Transactions[0].Seq != 13 || page.NextAfterSeq != 14 {
			t.Fatalf("journal after 12: %+v", page)
		}
		c.json(&page, "journal", "jiangjin-care", "--limit", "5")
		if len(page.Transactions) != 5 || page.NextAfterSeq != 5 {
			t.Fatalf("journal limit 5: %d, next %d", len(page.Transactions), page.NextAfterSeq)
		}
		c.json(&page, "journal", "jiangjin-care", "--all", "--limit", "1")
		postings := 0
		for _, x := range page.Transactions {
			postings += len(x.Postings)
		}
		if len(page.Transactions) != 14 || page.NextAfterSeq != 14 {
			t.Fatalf("journal --all: %d transactions", len(page.Transactions))
		}
		rows := readCSV(t, c.ok("journal", "jiangjin-care", "--all", "-o", "csv"))
		if len(rows) != postings+1 || strings.Join(rows[0], ",") != "seq,time,type,event_id,account,side,amount" || rows[1][0] != "1" || rows[2][0] != "1" {
			t.Errorf("journal csv: %d rows for %d postings: %v", len(rows), postings, rows[:3])
		}
		c.fails(2, "journal", "jiangjin-care", "--limit", "0")
		c.fails(2, "journal", "jiangjin-care", "--limit", "1001")
		c.fails(exitNotFound, "journal", "nope")
	})

	t.Run("grant", func(t *testing.T) {
		c.t = t
		var g struct {
			State, Outstanding, Paid string
			Payments                 []any
		}
		c.json(&g, "grant", "jiangjin-care", "g-1")
		if g.State != "paid" || g.Outstanding != "0.00" || g.Paid != "1450.00" || len(g.Payments) != 2 {
			t.Fatalf("g-1 %+v", g)
		}
		table := c.ok("grant", "jiangjin-care", "g-2", "-o", "table")
		if !strings.Contains(table, "g-2 of fund jiangjin-care: cancelled") || !strings.Contains(table, "history:") {
			t.Errorf("table:\n%s", table)
		}
		rows := readCSV(t, c.ok("grant", "jiangjin-care", "g-3", "-o", "csv"))
		if len(rows) != 2 || rows[1][0] != "g-3" || rows[1][5] != "open" || rows[1][11] != "500.00" {
			t.Errorf("csv %v", rows)
		}
		c.fails(exitNotFound, "grant", "jiangjin-care", "g-404")
		c.fails(exitNotFound, "grant", "nope", "g-1")
		c.fails(2, "grant", "jiangjin-care")
	})

	t.Run("rejections", func(t *testing.T) {
		c.t = t
		var p struct {
			Rejections []struct {
				Seq  int64
				Code string
			}
			NextAfter int64 `json:"next_after"`
		}
		c.json(&p, "rejections", "--fund", "jiangjin-care")
		if len(p.Rejections) != 2 || p.Rejections[0].Code != "same_maker_checker" || p.Rejections[1].Code != "malformed" {
			t.Fatalf("rejections %+v", p)
		}
		c.json(&p, "rejections", "--after", strconv.FormatInt(p.Rejections[0].Seq, 10), "--limit", "1")
		if len(p.Rejections) != 1 || p.Rejections[0].Code != "unknown_fund" {
			t.Fatalf("rejections after the first %+v", p)
		}
		table := c.ok("rejections", "-o", "table")
		if !strings.Contains(table, "same_maker_checker") || !strings.Contains(table, "unknown_fund") {
			t.Errorf("table:\n%s", table)
		}
		rows := readCSV(t, c.ok("rejections", "-o", "csv"))
		if len(rows) != 4 || rows[0][4] != "code" {
			t.Errorf("csv %v", rows)
		}
	})

	t.Run("snapshots", func(t *testing.T) {
		c.t = t
		var list struct {
			Snapshots []struct {
				SnapshotSeq int64  `json:"snapshot_seq"`
				Label       string `json:"label"`
			}
		}
		c.json(&list, "snapshots", "jiangjin-care")
		if len(list.Snapshots) != 2 || list.Snapshots[0].Label != "2026-03" {
			t.Fatalf("snapshots %+v", list)
		}
		var published []byte
		if err := l.DB.QueryRow(context.Background(), `SELECT published FROM snapshots WHERE fund_id = 'jiangjin-care' AND snapshot_seq = 2`).Scan(&published); err != nil {
			t.Fatal(err)
		}
		if out := c.ok("snapshots", "jiangjin-care", "--latest", "-o", "json"); out != string(published) {
			t.Errorf("--latest prints\n%s\nnot the published bytes\n%s", out, published)
		}
		table := c.ok("snapshots", "jiangjin-care", "--seq", "1", "-o", "table")
		if !strings.Contains(table, `label "2026-03"`) || !strings.Contains(table, "grants_payable") {
			t.Errorf("table:\n%s", table)
		}
		c.fails(exitNotFound, "snapshots", "jiangjin-care", "--seq", "9")
		c.fails(2, "snapshots", "jiangjin-care", "--seq", "1", "--latest")
	})

	t.Run("export grants", func(t *testing.T) {
		c.t = t
		dir := t.TempDir()
		xlsx := filepath.Join(dir, "grants.xlsx")
		c.ok("export", "grants", "jiangjin-care", "--out", xlsx)
		f, err := excelize.OpenFile(xlsx)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		rows, err := f.GetRows("Grants")
		if err != nil {
			t.Fatal(err)
		}
		header := -1
		for i, r := range rows {
			if len(r) > 0 && r[0] == "grant_id" {
				header = i
			}
		}
		if header < 0 {
			t.Fatalf("no header row: %v", rows)
		}
		var total, payable []string
		grants := 0
		for _, r := range rows[header+1:] {
			if len(r) == 0 {
				continue
			}
			switch r[0] {
			case "TOTAL":
				total = r
			case "grants_payable":
				payable = r
			default:
				grants++
			}
		}
		if grants != 5 || total == nil || payable == nil {
			t.Fatalf("rows %v", rows)
		}
		// Cells are numbers: read the raw values, not the formatted text.
		num := func(row int, col int) decimal.Decimal {
			cell, _ := excelize.CoordinatesToCellName(col, row)
			typ, err := f.GetCellType("Grants", cell)
			if err != nil || typ != excelize.CellTypeNumber && typ != excelize.CellTypeUnset {
				t.Fatalf("%s: type %v (%v), want a number", cell, typ, err)
			}
			v, err := f.GetCellValue("Grants", cell, excelize.Options{RawCellValue: true})
			if err != nil {
				t.Fatal(err)
			}
			d, err := decimal.NewFromString(v)
			if err != nil {
				t.Fatalf("%s = %q: %v", cell, v, err)
			}
			return d
		}
		totalRow, payRow := 0, 0
		for i, r := range rows {
			if len(r) > 0 && r[0] == "TOTAL" {
				totalRow = i + 1
			}
			if len(r) > 0 && r[0] == "grants_payable" {
				payRow = i + 1
			}
		}
		if got, want := ledger.Money(num(totalRow, 12)), l.Balance("jiangjin-care", "grants_payable"); got != want {
			t.Errorf("total outstanding %s, grants_payable %s", got, want)
		}
		if got := ledger.Money(num(payRow, 12)); got != "1100.00" {
			t.Errorf("grants_payable row %s", got)
		}
		// approved - cancelled - recovered = the grant expense accounts.
		net := num(totalRow, 7).Sub(num(totalRow, 10)).Sub(num(totalRow, 11))
		exp := decimal.RequireFromString(l.Balance("jiangjin-care", "grant_expense:care_fund")).
			Add(decimal.RequireFromString(l.Balance("jiangjin-care", "grant_expense:pension_subsidy")))
		if !net.Equal(exp) {
			t.Errorf("register net %s, expense accounts %s", net, exp)
		}
		// The money format is #,##0.00.
		cell, _ := excelize.CoordinatesToCellName(7, totalRow)
		style, err := f.GetCellStyle("Grants", cell)
		if err != nil {
			t.Fatal(err)
		}
		st, err := f.GetStyle(style)
		if err != nil || st.CustomNumFmt == nil || *st.CustomNumFmt != "#,##0.00" {
			t.Errorf("%s style %+v: want the #,##0.00 number format", cell, st)
		}
		if text, _ := f.GetCellValue("Grants", cell); text != "5,950.00" {
			t.Errorf("total approved shows %q, want 5,950.00", text)
		}

		csvRows := readCSV(t, c.ok("export", "grants", "jiangjin-care"))
		last := csvRows[len(csvRows)-1]
		if last[0] != "TOTAL" || last[11] != "1100.00" || last[6] != "5950.00" || len(csvRows) != 7 {
			t.Errorf("csv register %v", csvRows)
		}
		c.fails(exitNotFound, "export", "grants", "nope", "--out", filepath.Join(dir, "nope.csv"))
		if _, err := os.Stat(filepath.Join(dir, "nope.csv")); !os.IsNotExist(err) {
			t.Errorf("a failed export left a file: %v", err)
		}
		c.fails(2, "export", "grants", "jiangjin-care", "--format", "pdf")
		c.fails(2, "export", "ledger", "jiangjin-care")
	})

	t.Run("export statement", func(t *testing.T) {
		c.t = t
		today := time.Now().UTC()
		from, to := today.AddDate(0, 0, -1).Format(time.DateOnly), today.AddDate(0, 0, 1).Format(time.DateOnly)
		rows := readCSV(t, c.ok("export", "statement", "jiangjin-care", "--from", from, "--to", to, "--tz", "UTC"))
		if strings.Join(rows[0], ",") != "account,line,seq,time,type,event_id,debit,credit,balance" {
			t.Fatalf("header %v", rows[0])
		}
		closing := map[string]string{}
		postings := 0
		for _, r := range rows[1:] {
			switch r[1] {
			case "opening":
				if r[8] != "0.00" {
					t.Errorf("opening %v: the period starts before the fund", r)
				}
			case "posting":
				postings++
			case "closing":
				closing[r[0]] = r[8]
			}
		}
		var bal struct {
			Accounts []struct{ Account, Balance string }
		}
		c.json(&bal, "balances", "jiangjin-care")
		if len(closing) != len(bal.Accounts) {
			t.Errorf("statement closes %d accounts, the fund has %d", len(closing), len(bal.Accounts))
		}
		for _, a := range bal.Accounts {
			if closing[a.Account] != a.Balance {
				t.Errorf("%s closes at %s, balance %s", a.Account, closing[a.Account], a.Balance)
			}
		}
		if postings != 28 { // 14 transactions of two postings
			t.Errorf("%d postings in the statement, want 28", postings)
		}

		xlsx := filepath.Join(t.TempDir(), "statement.xlsx")
		c.ok("export", "statement", "jiangjin-care", "--from", from, "--to", to, "--out", xlsx)
		f, err := excelize.OpenFile(xlsx)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		xr, err := f.GetRows("Statement", excelize.Options{RawCellValue: true})
		if err != nil {
			t.Fatal(err)
		}
		found := 0
		for _, r := range xr {
			if len(r) >= 9 && r[1] == "closing" {
				found++
				if got := ledger.Money(decimal.RequireFromString(r[8])); got != closing[r[0]] {
					t.Errorf("xlsx %s closes at %s, csv %s", r[0], got, closing[r[0]])
				}
			}
		}
		if found != len(closing) {
			t.Errorf("xlsx has %d closing rows, want %d", found, len(closing))
		}

		// A period before the fund: every account absent, nothing listed.
		rows = readCSV(t, c.ok("export", "statement", "jiangjin-care", "--from", "2001-01-01", "--to", "2001-12-31"))
		if len(rows) != 1 {
			t.Errorf("statement of 2001: %v", rows)
		}
		c.fails(2, "export", "statement", "jiangjin-care", "--from", to, "--to", from)
		c.fails(2, "export", "statement", "jiangjin-care", "--to", to)
		c.fails(2, "export", "statement", "jiangjin-care", "--from", "2026-02-30", "--to", to)
		c.fails(2, "export", "statement", "jiangjin-care", "--from", from, "--to", to, "--tz", "Mars/Olympus")
		c.fails(exitNotFound, "export", "statement", "nope", "--from", from, "--to", to)
	})

	t.Run("help and usage", func(t *testing.T) {
		c.t = t
		for _, cmd := range []string{"funds", "balances", "journal", "grant", "rejections", "snapshots", "publish", "export"} {
			out := c.ok(cmd, "--help")
			if !strings.Contains(out, "Usage: fundledger "+cmd) {
				t.Errorf("%s --help: %q", cmd, out)
			}
		}
		c.ok("export", "statement", "--help")
		c.fails(2, "no-such-command")
		c.fails(2, "funds", "--no-such-flag")
		saved := c.env
		c.env = envWithout("DATABASE_URL")
		c.fails(2, "funds")
		c.env = append(envWithout("DATABASE_URL"), "DATABASE_URL=postgres://nobody@127.0.0.1:1/none?connect_timeout=2")
		c.fails(1, "funds")
		c.env = saved
	})
}

func readCSV(t *testing.T, s string) [][]string {
	t.Helper()
	rows, err := csv.NewReader(strings.NewReader(s)).ReadAll()
	if err != nil {
		t.Fatalf("csv: %v\n%s", err, s)
	}
	return rows
}
