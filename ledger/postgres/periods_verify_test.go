package postgres_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/fundledger/fundledger/internal/testenv"
	"github.com/fundledger/fundledger/ledger"
	"github.com/jackc/pgx/v5"
)

// periodFund is the fund of buildClosedBooks: three months, two closes.
const periodFund = "pf"

// buildClosedBooks posts January and February to a fund and closes both
// months: two signed period reports, the second chained to the first.
func buildClosedBooks(t *testing.T) *testenv.Ledger {
	t.Helper()
	l := testenv.Start(t, testenv.Options{})
	l.Event(periodFund, "fund.opened", map[string]any{"fund_id": periodFund, "name": "Care fund", "currency": "CNY",
		"programs": []map[string]any{{"code": "care_fund"}}})
	l.Event(periodFund, "contribution.received", map[string]any{"contribution_id": "c1", "source_kind": "fiscal",
		"payer": "District finance bureau", "amount": "10000.00", "bank_ref": "BR-c1", "received_on": "2026-01-05"})
	grant := func(id, ben, amount, on string) {
		l.Event(periodFund, "grant.approved", map[string]any{"grant_id": id, "beneficiary_ref": ben, "program": "care_fund",
			"category": "medical", "amount": amount, "requested_by": "caseworker-1", "approved_by": "officer-7", "approved_on": on})
	}
	closeMonth := func(p string) {
		l.Event(periodFund, "period.closed", map[string]any{"period": p, "closed_by": "accountant-li", "approved_by": "director-wang"})
	}
	grant("g1", "ben-a", "1000.00", "2026-01-10")
	grant("g2", "ben-b", "500.00", "2026-02-03")
	l.WaitIdle()
	closeMonth("2026-01")
	l.WaitIdle()
	grant("g3", "ben-c", "700.00", "2026-01-30") // late: an adjustment in February
	grant("g4", "ben-a", "300.00", "2026-02-20")
	l.WaitIdle()
	closeMonth("2026-02")
	grant("g5", "ben-d", "50.00", "2026-03-05")
	l.WaitIdle()
	if r := l.Rejections(); len(r) != 0 {
		t.Fatalf("rejections: %+v", r)
	}
	return l
}

// storedPeriod reads a stored report of periodFund.
func storedPeriod(t *testing.T, l *testenv.Ledger, period string) *ledger.PeriodReport {
	t.Helper()
	var body []byte
	if err := l.DB.QueryRow(context.Background(), `SELECT published FROM period_reports WHERE fund_id = $1 AND period = $2`,
		periodFund, period).Scan(&body); err != nil {
		t.Fatal(err)
	}
	r, err := ledger.ParsePeriodReport(body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// resign signs r again with the ledger's own key, as someone holding it
// would after changing the report.
func resign(t *testing.T, l *testenv.Ledger, r *ledger.PeriodReport) *ledger.PeriodReport {
	t.Helper()
	seed, err := base64.StdEncoding.DecodeString(l.Config.SigningKey)
	if err != nil || len(seed) != ed25519.SeedSize {
		t.Fatalf("test signing key: %v", err)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	if id := ledger.SigningKeyID(priv.Public().(ed25519.PublicKey)); !strings.HasPrefix(id, r.KeyID) {
		t.Fatalf("the test key %s did not sign the report (%s)", id, r.KeyID)
	}
	r.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(priv, ledger.PeriodSigningInput(r)))
	return r
}

// tamperPeriods runs statements as a superuser with the period reports'
// append-only triggers off.
func tamperPeriods(t *testing.T, l *testenv.Ledger, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, l.DB, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "ALTER TABLE period_reports DISABLE TRIGGER USER"); err != nil {
			return err
		}
		for _, sql := range stmts {
			if _, err := tx.Exec(ctx, sql); err != nil {
				return errors.New(sql + ": " + err.Error())
			}
		}
		_, err := tx.Exec(ctx, "ALTER TABLE period_reports ENABLE TRIGGER USER")
		return err
	})
	if err != nil {
		t.Fatalf("tamper: %v", err)
	}
}

// replaceReport stores r (published and body) in place of its month's row.
func replaceReport(t *testing.T, l *testenv.Ledger, r *ledger.PeriodReport) {
	t.Helper()
	b := strings.ReplaceAll(string(r.JSON()), "'", "''")
	tamperPeriods(t, l, `UPDATE period_reports SET published = convert_to('`+b+`', 'UTF8'), body = '`+b+`'::jsonb,
		approved_by = '`+r.ApprovedBy+`' WHERE fund_id = '`+periodFund+`' AND period = '`+r.Period+`'`)
}

// verifyPeriods verifies periodFund and wants a problem of kind at seq
// whose message has want.
func verifyPeriods(t *testing.T, l *testenv.Ledger, seq int64, kind, want string) {
	t.Helper()
	rep, err := l.Service.Store.Verify(context.Background(), periodFund, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK {
		t.Fatalf("tampered period reports verify OK")
	}
	for _, p := range rep.Problems {
		if p.FundID == periodFund && p.Seq == seq && p.Kind == kind && strings.Contains(p.Message, want) {
			t.Logf("found: %s (%d problems)", p, len(rep.Problems))
			return
		}
	}
	t.Fatalf("no %s problem at seq %d saying %q: %+v", kind, seq, want, rep.Problems)
}

// TestVerifyPeriodReports: the reports of clean books carry the journal's
// tree head and the chain of reports, and verify.
func TestVerifyPeriodReports(t *testing.T) {
	l := buildClosedBooks(t)
	jan, feb := storedPeriod(t, l, "2026-01"), storedPeriod(t, l, "2026-02")
	if jan.TreeSize == nil || *jan.TreeSize != jan.AsOfJournalSeq || jan.PrevReportHash != ledger.ZeroHash {
		t.Errorf("January: tree_size %v, prev_report_hash %s", jan.TreeSize, jan.PrevReportHash)
	}
	if want := hex.EncodeToString(ledger.PeriodReportHash(jan)); feb.PrevReportHash != want {
		t.Errorf("February prev_report_hash %s, January hashes to %s", feb.PrevReportHash, want)
	}
	root, err := l.Service.Store.TreeRoot(context.Background(), periodFund, feb.AsOfJournalSeq)
	if err != nil || root.Hex() != feb.TreeRoot {
		t.Errorf("February tree_root %s, the store's tree of %d: %s (%v)", feb.TreeRoot, feb.AsOfJournalSeq, root.Hex(), err)
	}
	var kept []byte
	if err := l.DB.QueryRow(context.Background(), `SELECT last_report_hash FROM fund_periods WHERE fund_id = $1`, periodFund).Scan(&kept); err != nil ||
		hex.EncodeToString(kept) != hex.EncodeToString(ledger.PeriodReportHash(feb)) {
		t.Errorf("kept last_report_hash %x (%v), February hashes to %x", kept, err, ledger.PeriodReportHash(feb))
	}
	rep, err := l.Service.Store.Verify(context.Background(), periodFund, nil)
	if err != nil || !rep.OK || rep.CheckedPeriodReports != 2 {
		t.Fatalf("clean books: ok %v, %d period reports checked, err %v, problems %+v", rep.OK, rep.CheckedPeriodReports, err, rep.Problems)
	}
}

// TestVerifyPeriodSignature: a report's figure changed in the database is
// found by its signature (and by the recomputation).
func TestVerifyPeriodSignature(t *testing.T) {
	l := buildClosedBooks(t)
	feb := storedPeriod(t, l, "2026-02")
	feb.Programs[0].Approved = "1.00"
	replaceReport(t, l, feb)
	verifyPeriods(t, l, feb.AsOfJournalSeq, ledger.ProblemSignature, "signature does not verify")
}

// TestVerifyPeriodTreeRoot: a report signed with a tree_root that is not
// the journal's tree at its as_of_journal_seq.
func TestVerifyPeriodTreeRoot(t *testing.T) {
	l := buildClosedBooks(t)
	jan, feb := storedPeriod(t, l, "2026-01"), storedPeriod(t, l, "2026-02")
	feb.TreeRoot = jan.TreeRoot
	replaceReport(t, l, resign(t, l, feb))
	verifyPeriods(t, l, feb.AsOfJournalSeq, ledger.ProblemPeriod, "tree_root")
}

// TestVerifyPeriodChain: January changed and re-signed with the ledger's
// key: February's prev_report_hash, under its own signature, does not
// match it any more.
func TestVerifyPeriodChain(t *testing.T) {
	l := buildClosedBooks(t)
	jan, feb := storedPeriod(t, l, "2026-01"), storedPeriod(t, l, "2026-02")
	jan.ApprovedBy = "director-zhao"
	replaceReport(t, l, resign(t, l, jan))
	verifyPeriods(t, l, feb.AsOfJournalSeq, ledger.ProblemPeriod, "prev_report_hash")
}

// TestVerifyPeriodStoredBody: the stored JSON (what the read API serves)
// or a listed column changed, the published bytes left alone.
func TestVerifyPeriodStoredBody(t *testing.T) {
	l := buildClosedBooks(t)
	feb := storedPeriod(t, l, "2026-02")
	tamperPeriods(t, l, `UPDATE period_reports SET body = jsonb_set(body, '{contributions,fiscal}', '"99999.00"')
		WHERE fund_id = '`+periodFund+`' AND period = '2026-02'`)
	verifyPeriods(t, l, feb.AsOfJournalSeq, ledger.ProblemPeriod, "stored JSON")

	l2 := buildClosedBooks(t)
	feb = storedPeriod(t, l2, "2026-02")
	tamperPeriods(t, l2, `UPDATE period_reports SET closed_by = 'nobody' WHERE fund_id = '`+periodFund+`' AND period = '2026-02'`)
	verifyPeriods(t, l2, feb.AsOfJournalSeq, ledger.ProblemPeriod, "the table was changed")
}

// TestVerifyPeriodRemoved: the last report deleted (no report after it
// to miss it): the fund's kept count and hash say it was there.
func TestVerifyPeriodRemoved(t *testing.T) {
	l := buildClosedBooks(t)
	tamperPeriods(t, l, `DELETE FROM period_reports WHERE fund_id = '`+periodFund+`' AND period = '2026-02'`)
	verifyPeriods(t, l, 0, ledger.ProblemPeriod, "2 period reports but 1 are stored")
}

// TestPeriodChainFromV1Reports: reports signed as version 1 (before the
// proofs), with fund_periods not yet holding last_report_hash (a database
// from before migration 018): they verify, and the next close reads the
// last one back and chains its version 2 report to it.
func TestPeriodChainFromV1Reports(t *testing.T) {
	l := buildClosedBooks(t)
	l.Stop()
	jan, feb := storedPeriod(t, l, "2026-01"), storedPeriod(t, l, "2026-02")
	for _, r := range []*ledger.PeriodReport{jan, feb} {
		r.TreeSize, r.TreeRoot, r.PrevReportHash = nil, "", ""
		replaceReport(t, l, resign(t, l, r))
	}
	tamperPeriods(t, l, `UPDATE fund_periods SET last_report_hash = NULL WHERE fund_id = '`+periodFund+`'`)
	l.Restart()
	rep, err := l.Service.Store.Verify(context.Background(), periodFund, nil)
	if err != nil || !rep.OK || rep.CheckedPeriodReports != 2 {
		t.Fatalf("version 1 reports: ok %v, err %v, problems %+v", rep.OK, err, rep.Problems)
	}
	l.Event(periodFund, "period.closed", map[string]any{"period": "2026-03", "closed_by": "accountant-li", "approved_by": "director-wang"})
	l.WaitIdle()
	mar := storedPeriod(t, l, "2026-03")
	if want := hex.EncodeToString(ledger.PeriodReportHash(feb)); mar.TreeSize == nil || mar.PrevReportHash != want {
		t.Fatalf("March: tree_size %v, prev_report_hash %s; February (v1) hashes to %s", mar.TreeSize, mar.PrevReportHash, want)
	}
	rep, err = l.Service.Store.Verify(context.Background(), periodFund, nil)
	if err != nil || !rep.OK || rep.CheckedPeriodReports != 3 {
		t.Fatalf("v1, v1, v2: ok %v, err %v, problems %+v", rep.OK, err, rep.Problems)
	}
}
