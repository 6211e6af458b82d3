package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fundledger/fundledger/internal/testenv"
	"github.com/fundledger/fundledger/ledger"
)

// vcRun runs the built binary against DATABASE_URL=url and returns
// stdout, stderr and the exit code.
func vcRun(t *testing.T, bin, url string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "DATABASE_URL="+url)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return out.String(), errb.String(), ee.ExitCode()
	case err != nil:
		t.Fatalf("run %v: %v", args, err)
	}
	return out.String(), errb.String(), 0
}

func TestVerifyCommand(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "fundledger")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	l := testenv.Start(t, testenv.Options{SnapshotEvery: 2})
	const f = "verify-care"
	l.Event(f, "fund.opened", map[string]any{"fund_id": f, "name": "Verify care fund", "programs": []map[string]any{{"code": "care_fund"}}})
	l.Event(f, "contribution.received", map[string]any{"contribution_id": "c-1", "source_kind": "fiscal", "payer": "Bureau",
		"amount": "9000.00", "bank_ref": "BR-1", "received_on": "2026-01-05"})
	l.Event(f, "grant.approved", map[string]any{"grant_id": "g-1", "beneficiary_ref": "ben-1", "program": "care_fund", "category": "living",
		"amount": "700.00", "requested_by": "cw-1", "approved_by": "off-1", "approved_on": "2026-03-02"})
	l.Event(f, "grant.disbursed", map[string]any{"grant_id": "g-1", "payment_id": "p-1", "amount": "700.00", "bank_ref": "BK-1", "paid_on": "2026-03-03"})
	l.Event(f, "snapshot.requested", map[string]any{"requested_by": "auditor", "label": "audit"})
	l.WaitIdle()
	ctx := context.Background()

	out, errs, code := vcRun(t, bin, l.DBURL, "verify", "--output", "json")
	var rep ledger.VerifyReport
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || !rep.OK || rep.CheckedTransactions != 3 {
		t.Fatalf("verify: exit %d, report %+v\n%s%s", code, rep, out, errs)
	}
	if out, errs, code = vcRun(t, bin, l.DBURL, "verify", "--fund", f, "--output", "text"); code != 0 || !strings.Contains(out, "OK: every transaction") {
		t.Fatalf("verify text: exit %d\n%s%s", code, out, errs)
	}

	out, errs, code = vcRun(t, bin, l.DBURL, "keys", "--output", "json")
	var keys struct {
		Keys []verifyKey `json:"keys"`
	}
	pub := base64.StdEncoding.EncodeToString(l.Service.Signer.PublicKey())
	if err := json.Unmarshal([]byte(out), &keys); code != 0 || err != nil || len(keys.Keys) != 1 ||
		keys.Keys[0].KeyID != l.Service.Signer.KeyID() || keys.Keys[0].PublicKey != pub {
		t.Fatalf("keys: exit %d %+v\n%s%s", code, keys, out, errs)
	}
	if out, _, code = vcRun(t, bin, l.DBURL, "keys", "--output", "text"); code != 0 || !strings.Contains(out, l.Service.Signer.KeyID()+"  "+pub) {
		t.Fatalf("keys text: exit %d\n%s", code, out)
	}

	// Pinning the right key passes; pinning another fails every signature.
	if _, errs, code = vcRun(t, bin, l.DBURL, "verify", "--public-key", pub); code != 0 {
		t.Fatalf("verify with the pinned key: exit %d\n%s", code, errs)
	}
	other := base64.StdEncoding.EncodeToString(ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey))
	if _, errs, code = vcRun(t, bin, l.DBURL, "verify", "--public-key", other); code != exitMismatch || !strings.Contains(errs, "signature") {
		t.Fatalf("verify with another key: exit %d, want %d\n%s", code, exitMismatch, errs)
	}

	if _, errs, code = vcRun(t, bin, l.DBURL, "verify", "--fund", "no-such-fund"); code != exitNotFound {
		t.Fatalf("unknown fund: exit %d, want %d\n%s", code, exitNotFound, errs)
	}
	if _, _, code = vcRun(t, bin, l.DBURL, "verify", "--output", "yaml"); code != exitUsage {
		t.Fatalf("--output yaml: exit %d, want %d", code, exitUsage)
	}

	// The published copy of the last snapshot, kept by the auditor; then
	// the tail is cut together with its snapshots and the counters made
	// to agree. Only the kept copy tells.
	var published []byte
	if err := l.DB.QueryRow(ctx, `SELECT published FROM snapshots WHERE fund_id = $1 AND label = 'audit'`, f).Scan(&published); err != nil {
		t.Fatal(err)
	}
	kept := filepath.Join(t.TempDir(), "snapshot.json")
	if err := os.WriteFile(kept, published, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{
		`ALTER TABLE journal DISABLE TRIGGER USER`, `ALTER TABLE postings DISABLE TRIGGER USER`, `ALTER TABLE snapshots DISABLE TRIGGER USER`,
		`DELETE FROM postings WHERE fund_id = 'verify-care' AND seq = 3`,
		`DELETE FROM journal WHERE fund_id = 'verify-care' AND seq = 3`,
		`DELETE FROM snapshots WHERE fund_id = 'verify-care' AND as_of_journal_seq = 3`,
		`UPDATE funds SET head_seq = 2, head_hash = j.hash, head_time = j.recorded_at, open_grants = 1,
		        snapshot_seq = (SELECT max(snapshot_seq) FROM snapshots WHERE fund_id = 'verify-care')
		   FROM journal j WHERE j.fund_id = 'verify-care' AND j.seq = 2 AND funds.fund_id = 'verify-care'`,
		`UPDATE balances SET debits = 9000.00, credits = 0 WHERE fund_id = 'verify-care' AND account = 'cash'`,
		`UPDATE balances SET debits = 0, credits = 700.00 WHERE fund_id = 'verify-care' AND account = 'grants_payable'`,
		`ALTER TABLE journal ENABLE TRIGGER USER`, `ALTER TABLE postings ENABLE TRIGGER USER`, `ALTER TABLE snapshots ENABLE TRIGGER USER`,
	} {
		if _, err := l.DB.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	if out, errs, code = vcRun(t, bin, l.DBURL, "verify", "--fund", f); code != 0 {
		t.Logf("the database alone: exit %d\n%s%s", code, out, errs)
	}
	out, errs, code = vcRun(t, bin, l.DBURL, "verify", "--fund", f, "--snapshot", kept, "--output", "json")
	rep = ledger.VerifyReport{}
	if code != exitMismatch || json.Unmarshal([]byte(out), &rep) != nil || rep.OK ||
		!strings.Contains(errs, "fund verify-care seq 3: truncated") {
		t.Fatalf("tail cut with a kept snapshot: exit %d, want %d\nstdout %s\nstderr %s", code, exitMismatch, out, errs)
	}
}
