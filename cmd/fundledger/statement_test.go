package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fundledger/fundledger/internal/testenv"
	"github.com/fundledger/fundledger/ledger"
	"github.com/xuri/excelize/v2"
)

// TestStatementImportReconciles imports the camt.053 fixture of
// bankfile/testdata with the real binary into a real ledger (PostgreSQL
// and JetStream): it is recorded once, reconciled against the books, its
// payees' personal data kept out, and the reconciliation exported as CSV
// and XLSX.
func TestStatementImportReconciles(t *testing.T) {
	bin := buildCLI(t)
	l := testenv.Start(t, testenv.Options{})
	c := &cliRun{t: t, bin: bin, env: append(envWithout("DATABASE_URL", "NATS_URL", "FUNDLEDGER_DATA_DIR"),
		"DATABASE_URL="+l.DBURL, "NATS_URL="+l.NATS.ClientURL())}
	const f = "recon"
	l.Event(f, "fund.opened", map[string]any{"fund_id": f, "name": "Recon fund", "programs": []any{map[string]any{"code": "care_fund"}}})
	l.Event(f, "contribution.received", map[string]any{"contribution_id": "c-1", "source_kind": "fiscal", "payer": "District finance bureau",
		"amount": "10000.00", "bank_ref": "BR-c-1", "received_on": "2026-01-05"})
	l.Event(f, "grant.approved", map[string]any{"grant_id": "g-1", "beneficiary_ref": "ben-1", "program": "care_fund", "category": "living",
		"amount": "3000.00", "requested_by": "a", "approved_by": "b", "approved_on": "2026-01-02"})
	for _, p := range []struct{ id, amount, ref, on string }{{"p-1", "1000.00", "BULK-7", "2026-01-10"}, {"p-2", "500.00", "BULK-7", "2026-01-10"},
		{"p-3", "200.00", "P-3", "2026-01-29"}} {
		l.Event(f, "grant.disbursed", map[string]any{"grant_id": "g-1", "payment_id": p.id, "amount": p.amount, "bank_ref": p.ref, "paid_on": p.on})
	}
	l.Event(f, "bank.charge.recorded", map[string]any{"charge_id": "fee-1", "amount": "12.00", "bank_ref": "FEE-1", "charged_on": "2026-01-31",
		"description": "account fee", "requested_by": "clerk", "approved_by": "officer"})
	fixture := "../../bankfile/testdata/camt053-recon.xml"
	var res struct {
		EventID   string `json:"event_id"`
		Entries   int    `json:"entries"`
		Duplicate bool   `json:"duplicate"`
	}
	if err := json.Unmarshal([]byte(c.ok("statement", "import", "--fund", f, fixture)), &res); err != nil {
		t.Fatal(err)
	}
	if res.Entries != 4 || res.Duplicate {
		t.Fatalf("import: %+v", res)
	}
	// The same file again is the same event: nothing new.
	c.ok("statement", "import", "--fund", f, fixture)
	l.WaitIdle()
	if r := l.Rejections(); len(r) != 0 {
		t.Fatalf("rejections: %+v", r)
	}
	if n := l.Count(`SELECT count(*) FROM bank_statements WHERE fund_id = $1 AND file_sha256 IS NOT NULL AND message_id = 'ICBC-CQ-20260131-0001'`, f); n != 1 {
		t.Fatalf("%d statements recorded with their file's hash and message id", n)
	}
	var body []byte
	if err := l.DB.QueryRow(context.Background(), `SELECT published FROM reconciliations WHERE fund_id = $1 ORDER BY recon_seq DESC LIMIT 1`, f).Scan(&body); err != nil {
		t.Fatal(err)
	}
	var r ledger.Reconciliation
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	if r.ReconciliationSeq != 1 || r.Matched.Count != 4 || len(r.UnmatchedBank)+len(r.UnmatchedBook) != 0 || !r.Reconciled ||
		r.BankBalance != "8288.00" || r.BookBalance != "8288.00" || r.StatementID != "ICBC-3100-0001-2026-01" {
		t.Fatalf("report: %s", body)
	}
	for _, personal := range []string{"张三", "李四", "6217000099998888", "6222000011112222", "江津区财政局"} {
		if n := l.Count(`SELECT count(*) FROM bank_entries WHERE description LIKE '%' || $1 || '%' OR bank_ref LIKE '%' || $1 || '%'`, personal); n != 0 {
			t.Fatalf("the ledger keeps %q from the bank's file", personal)
		}
	}

	// Exports: CSV to stdout, XLSX to a file; the same figures.
	out := c.ok("statement", "export", f)
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var matched, adjusted int
	for _, rec := range recs {
		switch {
		case rec[0] == "matched":
			matched++
		case rec[0] == "balances" && strings.HasPrefix(rec[1], "adjusted balance"):
			adjusted++
			if rec[2] != "8288.00" || rec[3] != "8288.00" {
				t.Fatalf("adjusted balances %v", rec)
			}
		}
	}
	if matched != 5 || adjusted != 1 { // the bulk payment is two items of one match
		t.Fatalf("export: %d matched rows, %d adjusted rows\n%s", matched, adjusted, out)
	}
	path := filepath.Join(t.TempDir(), "recon.xlsx")
	c.ok("statement", "export", f, "--out", path)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	x, err := excelize.OpenReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := x.GetRows(x.GetSheetList()[0])
	if err != nil || len(rows) != len(recs) {
		t.Fatalf("xlsx: %d rows, csv %d (%v)", len(rows), len(recs), err)
	}

	// A file that does not balance is refused before anything is sent,
	// naming what is wrong.
	bad := filepath.Join(t.TempDir(), "bad.xml")
	src, _ := os.ReadFile(fixture)
	if err := os.WriteFile(bad, bytes.Replace(src, []byte("<Amt Ccy=\"CNY\">12.00</Amt>"), []byte("<Amt Ccy=\"CNY\">x</Amt>"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	if msg := c.fails(1, "statement", "import", "--fund", f, bad); !strings.Contains(msg, "Stmt/Ntry[3]/Amt") {
		t.Fatalf("stderr %q does not name the element", msg)
	}
	c.fails(2, "statement", "import", fixture)
	// Without the bank's remarks, for a bank that writes names in them.
	if out := c.ok("statement", "import", "--fund", f, "--dry-run", "--drop-descriptions", fixture); strings.Contains(out, "description") ||
		!strings.Contains(out, `"entry_ref": "E1"`) {
		t.Fatalf("--drop-descriptions --dry-run printed\n%s", out)
	}
}
