package httpapi_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/fundledger/fundledger/httpapi"
	"github.com/fundledger/fundledger/internal/testenv"
	"github.com/fundledger/fundledger/ledger"
)

// auditBooks runs a small fund through a ledger that serves the read API.
func auditBooks(t *testing.T) *testenv.Ledger {
	t.Helper()
	l := testenv.Start(t, testenv.Options{API: httpapi.New, SnapshotEvery: 2})
	const f = "audit-care"
	l.Event(f, "fund.opened", map[string]any{"fund_id": f, "name": "Audit care fund", "programs": []map[string]any{{"code": "care_fund"}}})
	l.Event(f, "contribution.received", map[string]any{"contribution_id": "c-1", "source_kind": "donation", "payer": "Association",
		"amount": "5000.00", "bank_ref": "BR-1", "received_on": "2026-01-05"})
	l.Event(f, "grant.approved", map[string]any{"grant_id": "g-1", "beneficiary_ref": "ben-1", "program": "care_fund", "category": "living",
		"amount": "800.00", "requested_by": "cw-1", "approved_by": "off-1", "approved_on": "2026-03-02"})
	l.Event(f, "grant.disbursed", map[string]any{"grant_id": "g-1", "payment_id": "p-1", "amount": "800.00", "bank_ref": "BK-1", "paid_on": "2026-03-03"})
	l.Event(f, "snapshot.requested", map[string]any{"requested_by": "auditor", "label": "2026-03"})
	l.WaitIdle()
	return l
}

func auditGet(t *testing.T, l *testenv.Ledger, path string, status int, v any) {
	t.Helper()
	code, h, body := l.Get(path)
	if code != status || h.Get("Content-Type") != "application/json" {
		t.Fatalf("GET %s: %d %s, want %d JSON\n%s", path, code, h.Get("Content-Type"), status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v\n%s", path, err, body)
	}
}

func TestAuditEndpoints(t *testing.T) {
	l := auditBooks(t)

	var rep ledger.VerifyReport
	auditGet(t, l, "/v1/funds/audit-care/verify", 200, &rep)
	if !rep.OK || rep.CheckedTransactions != 3 || rep.CheckedSnapshots < 2 || len(rep.Problems) != 0 {
		t.Fatalf("verify: %+v", rep)
	}

	var nf map[string]string
	auditGet(t, l, "/v1/funds/no-such-fund/verify", 404, &nf)
	if nf["error"] == "" {
		t.Fatalf("404 body %v lacks error", nf)
	}

	var keys struct {
		Keys []ledger.KeyEntryView `json:"keys"`
	}
	auditGet(t, l, "/v1/keys", 200, &keys)
	if len(keys.Keys) != 1 {
		t.Fatalf("keys: %+v", keys)
	}
	k := keys.Keys[0]
	pub, err := base64.StdEncoding.DecodeString(k.PublicKey)
	if err != nil || !ed25519.PublicKey(pub).Equal(l.Service.Signer.PublicKey()) || k.KeyID != l.Service.Signer.KeyID() ||
		k.KeyID != ledger.SigningKeyID(pub) || len(k.KeyID) != 64 || k.Algorithm != "ed25519" || k.Seq != 1 ||
		k.ValidUntil != nil || k.PrevKeyID == nil || *k.PrevKeyID != "" || k.Signature == nil {
		t.Fatalf("key %+v is not the service's %s", k, l.Service.Signer.KeyID())
	}
	// Entry 1 is signed by its own key over the documented bytes.
	from, _ := time.Parse(time.RFC3339Nano, k.ValidFrom)
	sig, _ := base64.StdEncoding.DecodeString(*k.Signature)
	in := ledger.KeyEntrySigningInput(&ledger.KeyEntry{Seq: 1, KeyID: k.KeyID, PublicKey: pub, ValidFrom: from})
	if !ed25519.Verify(pub, in, sig) {
		t.Fatalf("key entry 1's signature does not verify over %q", in)
	}

	// Someone with superuser rights changes an amount: still 200, ok false,
	// naming the transaction.
	ctx := context.Background()
	for _, sql := range []string{
		`ALTER TABLE postings DISABLE TRIGGER USER`,
		`UPDATE postings SET amount = 8000.00 WHERE fund_id = 'audit-care' AND seq = 2`,
		`ALTER TABLE postings ENABLE TRIGGER USER`,
	} {
		if _, err := l.DB.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	rep = ledger.VerifyReport{}
	auditGet(t, l, "/v1/funds/audit-care/verify", 200, &rep)
	if p := rep.First(); rep.OK || p == nil || p.Seq != 2 || p.Kind != ledger.ProblemHash || p.FundID != "audit-care" {
		t.Fatalf("after tampering: ok %v, problems %+v", rep.OK, rep.Problems)
	}
}
