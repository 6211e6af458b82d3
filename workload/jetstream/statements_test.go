package jetstream_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/fundledger/fundledger/internal/testenv"
	"github.com/fundledger/fundledger/ledger"
	"github.com/fundledger/fundledger/workload"
	wljs "github.com/fundledger/fundledger/workload/jetstream"
)

// TestWorkloadBankStatements runs a stream with the bank's monthly
// statements (BankStatements) through a real ledger: every statement is
// accepted, each makes a report, the bulk payments match as groups, the
// fees and interest the fund booked after a statement match on the next,
// and every report reconciles (the bank's history starts with the books).
func TestWorkloadBankStatements(t *testing.T) {
	l := testenv.Start(t, testenv.Options{HoldWindow: time.Second, BatchSize: 300})
	cfg := workload.Default(5)
	cfg.Funds, cfg.Months, cfg.GrantsPerMonth, cfg.BatchLines = 1, 3, 20, 40
	cfg.BadRate, cfg.DupRate, cfg.EarlyRate = 0, 0, 0
	cfg.BankStatements = true
	exp, _, err := wljs.Run(context.Background(), l.JS, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	l.WaitIdle()
	if r := l.Rejections(); len(r) != 0 {
		t.Fatalf("%d rejections, first %+v", len(r), r[0])
	}
	if n := l.Count(`SELECT count(*) FROM bank_statements`); n != int64(exp.Statements) || n == 0 {
		t.Fatalf("%d statements stored, %d sent", n, exp.Statements)
	}
	if n := l.Count(`SELECT count(*) FROM journal`); n != exp.Txns {
		t.Errorf("journal has %d transactions, workload expected %d", n, exp.Txns)
	}
	if n := l.Count(`SELECT count(DISTINCT (fund_id, match_id)) FROM recon_matches WHERE rule = 'reference_group'`); n == 0 {
		t.Error("no bulk payment was matched as a group")
	}
	if n := l.Count(`SELECT count(*) FROM recon_matches m JOIN journal j ON j.fund_id = m.fund_id AND j.seq = m.journal_seq WHERE j.type = 'bank.charge.recorded'`); n == 0 {
		t.Error("no bank charge was matched")
	}
	rows, err := l.DB.Query(context.Background(), `SELECT DISTINCT ON (fund_id) published FROM reconciliations ORDER BY fund_id, recon_seq DESC`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	funds := 0
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		var r ledger.Reconciliation
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		funds++
		if !r.Reconciled || r.Matched.Count == 0 {
			t.Errorf("%s report %d: difference %s, %d matched, %d/%d unmatched", r.FundID, r.ReconciliationSeq, r.Difference,
				r.Matched.Count, len(r.UnmatchedBank), len(r.UnmatchedBook))
		}
	}
	if funds != len(exp.FundIDs) {
		t.Fatalf("reports for %d funds of %d", funds, len(exp.FundIDs))
	}
}
