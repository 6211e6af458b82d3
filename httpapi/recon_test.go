package httpapi_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"testing"

	"github.com/fundledger/fundledger/ledger"
	"github.com/fundledger/fundledger/ledger/postgres"
)

// TestReconciliationEndpoints reads the example file's bank statement and
// its reconciliation through the read API: the report is served byte for
// byte as published and its signature verifies with the ledger's key.
func TestReconciliationEndpoints(t *testing.T) {
	l := startExample(t)
	var list struct {
		Statements []postgres.BankStatementInfo `json:"statements"`
	}
	getJSON(t, l, "/v1/funds/"+fundJ+"/statements", 200, &list)
	if len(list.Statements) != 1 || list.Statements[0].StatementID != "JJ-2026-Q1" || list.Statements[0].Entries != 7 ||
		list.Statements[0].ClosingBalance.String() != "227942.50" {
		t.Fatalf("statements %+v", list)
	}
	var latest, first ledger.Reconciliation
	body := getJSON(t, l, "/v1/funds/"+fundJ+"/reconciliations/latest", 200, &latest)
	again := getJSON(t, l, "/v1/funds/"+fundJ+"/reconciliations/1", 200, &first)
	if string(body) != string(again) || latest.ReconciliationSeq != 1 {
		t.Fatalf("latest and /1 differ: %s\n%s", body, again)
	}
	if !latest.Reconciled || latest.Matched.Count != 5 || len(latest.UnmatchedBank) != 2 || len(latest.UnmatchedBook) != 3 ||
		latest.AdjustedBankBalance != "178242.50" || latest.BookBalance != "228250.50" {
		t.Fatalf("report %s", body)
	}
	sig, _ := base64.StdEncoding.DecodeString(latest.Signature)
	if !ed25519.Verify(l.Service.Signer.PublicKey(), ledger.ReconciliationSigningInput(&latest), sig) {
		t.Fatal("the served report's signature does not verify with the ledger's key")
	}
	var page postgres.ReconciliationPage
	getJSON(t, l, "/v1/funds/"+fundJ+"/reconciliations", 200, &page)
	if len(page.Reconciliations) != 1 || page.Reconciliations[0].Difference != "0.00" || page.Reconciliations[0].UnmatchedBook != 3 {
		t.Fatalf("page %+v", page)
	}
	wantError(t, l, "/v1/funds/"+fundW+"/reconciliations/latest", 404)
	wantError(t, l, "/v1/funds/"+fundJ+"/reconciliations/2", 404)
	wantError(t, l, "/v1/funds/"+fundJ+"/reconciliations/0", 400)
}
