package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fundledger/fundledger/bankfile"
	"github.com/fundledger/fundledger/events"
	"github.com/fundledger/fundledger/events/jetstream"
	"github.com/fundledger/fundledger/events/natsembed"
	"github.com/fundledger/fundledger/export"
	"github.com/fundledger/fundledger/ledger"
	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"
	"github.com/shopspring/decimal"
)

func init() {
	register(command{"statement", "import a bank statement file; export a bank reconciliation statement", runStatement})
}

const statementAbout = `Bank statements in, bank reconciliation statements out (CONTRACT.md section 10,
docs/reconciliation.md).

  statement import --fund F FILE
      Reads the bank's statement file, ISO 20022 camt.053 (.xml), CSV (.csv) or XLSX (.xlsx), builds a
      bank.statement.received event with the file's SHA-256 (and the camt.053 message id) and
      publishes it on fund.F.bank.statement.received. Payers' and payees' names and account numbers
      are never read from the file. The file is checked first (its balance, dates, references), and
      an error names the line, row or element at fault; nothing is published then. The envelope id
      is derived from the fund and the file's SHA-256, so importing the same file twice is one event.
      A CSV or XLSX file carries no statement id, account or period: give --statement-id and
      --account (the period defaults to the first and last booking dates; --from and --to set it),
      and --opening and --closing when it has no balance column (余额). The columns are in
      docs/reconciliation.md.

  statement export FUND [--seq N] [--format csv|xlsx] [--out FILE]
      The bank reconciliation statement (银行存款余额调节表) of report N (default: the latest):
      the bank and book balances side by side with what each side has that the other lacks and the
      adjusted balances, then the unmatched bank entries, the unmatched book items, and every match
      made up to the report. Money is in two-place decimal text in CSV and a #,##0.00 number in XLSX.

Exit status: 0 on success, 1 when the file is refused or publishing failed, 2 for a usage error.`

func runStatement(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		c := newCLI("statement", "statement import|export ...", statementAbout, 0, 0)
		c.usage(os.Stdout)
		if len(args) == 0 {
			return usageError{"statement what? import or export"}
		}
		return nil
	}
	switch args[0] {
	case "import":
		return statementImport(ctx, args[1:])
	case "export":
		return statementExport(ctx, args[1:])
	}
	return usageError{fmt.Sprintf("statement %q: want import or export", args[0])}
}

func statementImport(ctx context.Context, args []string) error {
	c := newCLI("statement import", "statement import --fund F FILE [--statement-id ID] [--account A] [--from DATE] [--to DATE] [--opening X] [--closing X]", statementAbout, 1, 1)
	fund := c.fs.String("fund", "", "the fund whose bank account the statement is of (required)")
	sid := c.fs.String("statement-id", "", "the statement's id (CSV, XLSX; overrides camt.053 Stmt/Id)")
	account := c.fs.String("account", "", "the bank account (CSV, XLSX; overrides camt.053 Stmt/Acct/Id)")
	from := c.fs.String("from", "", "first day of the statement's period, YYYY-MM-DD")
	to := c.fs.String("to", "", "last day of the statement's period, YYYY-MM-DD")
	opening := c.fs.String("opening", "", "opening balance, for a file without a balance column")
	closing := c.fs.String("closing", "", "closing balance, for a file without a balance column")
	source := c.fs.String("source", "bank/statement-import", "the envelope's source")
	dryRun := c.fs.Bool("dry-run", false, "check the file and print the event's data; publish nothing")
	noText := c.fs.Bool("drop-descriptions", false, "leave the bank's remarks (摘要) out of the event, for a bank that writes payees' names in them")
	natsURL := c.fs.String("nats-url", "", "NATS server URL(s) (default $NATS_URL, else the embedded server's from the data dir)")
	dataDir := c.fs.String("data-dir", env("FUNDLEDGER_DATA_DIR", "./data"), "where serve's embedded server wrote nats.url (FUNDLEDGER_DATA_DIR)")
	pos, err := c.parse(args)
	if err != nil {
		return helpDone(err)
	}
	if !events.ValidFundID(*fund) {
		return usageError{fmt.Sprintf("--fund %q is not a valid fund id (required)", *fund)}
	}
	var o bankfile.Options
	o.StatementID, o.BankAccount = *sid, *account
	for _, d := range []struct {
		flag, v string
		into    *time.Time
	}{{"--from", *from, &o.From}, {"--to", *to, &o.To}} {
		if d.v == "" {
			continue
		}
		t, err := events.ParseDate(d.v)
		if err != nil {
			return usageError{fmt.Sprintf("%s %q is not a date YYYY-MM-DD", d.flag, d.v)}
		}
		*d.into = t
	}
	for _, m := range []struct {
		flag, v string
		into    **decimal.Decimal
	}{{"--opening", *opening, &o.Opening}, {"--closing", *closing, &o.Closing}} {
		if m.v == "" {
			continue
		}
		d, err := decimal.NewFromString(m.v)
		if err != nil || d.IsNegative() {
			return usageError{fmt.Sprintf("%s %q is not an amount", m.flag, m.v)}
		}
		*m.into = &d
	}
	data, err := readBounded(pos[0], bankfile.MaxFileBytes)
	if err != nil {
		return err
	}
	st, err := bankfile.Parse(pos[0], data, o)
	if err != nil {
		return exitError{exitFailure, fmt.Errorf("%s: %w", pos[0], err)}
	}
	if *noText {
		for i := range st.Entries {
			st.Entries[i].Description = ""
		}
	}
	sum := sha256.Sum256(data)
	hexSum := hex.EncodeToString(sum[:])
	id := "statement-" + *fund + "-" + hexSum[:40]
	env := map[string]any{"specversion": "1.0", "id": id, "source": *source, "type": events.TypeBankStatementReceived,
		"time": time.Now().UTC().Format(time.RFC3339), "datacontenttype": "application/json", "data": st.Data(hexSum)}
	body, err := json.Marshal(env)
	if err != nil {
		return err
	}
	if len(body) > events.MaxMessageBytes {
		return exitError{exitFailure, fmt.Errorf("%s: the event would be %d bytes, over the 8 MiB the ledger takes: split the file", pos[0], len(body))}
	}
	if *dryRun {
		return printJSON(os.Stdout, env)
	}
	url := *natsURL
	if url == "" {
		url = os.Getenv("NATS_URL")
	}
	if url == "" {
		if url, err = natsembed.URLFromDataDir(*dataDir); err != nil {
			return usageError{err.Error() + " (set NATS_URL or --nats-url)"}
		}
	}
	auth, err := jetstream.AuthFromEnv().Options()
	if err != nil {
		return usageError{err.Error()}
	}
	nc, err := nats.Connect(url, append([]nats.Option{nats.Name("fundledger statement import"), nats.Timeout(5 * time.Second)}, auth...)...)
	if err != nil {
		return fmt.Errorf("nats %s: %w", jetstream.Redact(url), err)
	}
	defer nc.Close()
	js, err := njs.New(nc)
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ack, err := js.Publish(pctx, events.InboundSubject(*fund, events.TypeBankStatementReceived), body, njs.WithMsgID(id))
	if err != nil {
		return exitError{exitFailure, fmt.Errorf("publish: %w", err)}
	}
	return printJSON(os.Stdout, map[string]any{"event_id": id, "statement_id": st.StatementID, "entries": len(st.Entries),
		"file_sha256": hexSum, "stream_seq": ack.Sequence, "duplicate": ack.Duplicate})
}

// readBounded reads a file of at most max bytes.
func readBounded(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, exitError{exitFailure, fmt.Errorf("%s is larger than %d bytes; a statement file is read whole up to that", path, max)}
	}
	return b, nil
}

func statementExport(ctx context.Context, args []string) error {
	c := newCLI("statement export", "statement export FUND [--seq N] [--format csv|xlsx] [--out FILE] [--tz ZONE]", statementAbout, 1, 1)
	seq := c.fs.Int64("seq", 0, "the report's reconciliation_seq (default: the latest)")
	format := c.fs.String("format", "", "csv or xlsx (default: from the extension of --out, else csv)")
	outPath := c.fs.String("out", "-", `file to write; "-" is standard output`)
	tz := c.fs.String("tz", ledger.DefaultZone, "time zone of the business dates of matched items without a date of their own (FUNDLEDGER_TZ)")
	db := c.databaseFlag()
	pos, err := c.parse(args)
	if err != nil {
		return helpDone(err)
	}
	f := *format
	if f == "" {
		f = "csv"
		if strings.EqualFold(filepath.Ext(*outPath), ".xlsx") {
			f = "xlsx"
		}
	}
	if f != "csv" && f != "xlsx" {
		return usageError{fmt.Sprintf("--format %q: want csv or xlsx", f)}
	}
	if f == "xlsx" && *outPath == "-" && onTerminal(os.Stdout) {
		return usageError{"an XLSX workbook is not for a terminal: give --out FILE"}
	}
	if *seq < 0 {
		return usageError{"--seq must be positive"}
	}
	loc, err := time.LoadLocation(*tz)
	if err != nil {
		return usageError{fmt.Sprintf("--tz %q: %v", *tz, err)}
	}
	s, err := openStore(ctx, *db)
	if err != nil {
		return err
	}
	defer s.Close()
	write := func(w io.Writer) error { return export.Reconciliation(ctx, s, w, f, pos[0], *seq, loc) }
	if err := writeOut(*outPath, write); err != nil {
		return readFailed(err)
	}
	if *outPath != "-" {
		fmt.Fprintf(os.Stderr, "fundledger statement export: wrote %s\n", *outPath)
	}
	return nil
}
