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
	"time"

	"github.com/fundledger/fundledger/events"
	"github.com/fundledger/fundledger/internal/testenv"
	"github.com/fundledger/fundledger/ledger"
)

// keysRun runs the built binary with DATABASE_URL=url and more env.
func keysRun(t *testing.T, bin, url string, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(append(os.Environ(), "DATABASE_URL="+url), env...)
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

// TestKeysRotate: `keys rotate` replaces the key in its file, records the
// new key signed by the old one and publishes it; the running ledger
// signs with the new key; snapshots signed before still verify, also for
// an auditor who pinned only the first key; a changed history entry is
// found.
func TestKeysRotate(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "fundledger")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	keyFile := filepath.Join(t.TempDir(), "keys", "signing.key")
	l := testenv.Start(t, testenv.Options{SigningKeyFile: keyFile})
	if l.Config.DataDir == filepath.Dir(keyFile) {
		t.Fatal("the key file must be outside the data dir")
	}
	st, err := os.Stat(keyFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file made on first start: %v, mode %v", err, st)
	}
	first := base64.StdEncoding.EncodeToString(l.Service.Signer.PublicKey())
	firstID := l.Service.Signer.KeyID()
	const f = "keys-care"
	l.Event(f, "fund.opened", map[string]any{"fund_id": f, "name": "Keys care fund", "programs": []map[string]any{{"code": "care_fund"}}})
	l.Event(f, "contribution.received", map[string]any{"contribution_id": "c-1", "source_kind": "fiscal", "payer": "Bureau",
		"amount": "9000.00", "bank_ref": "BR-1", "received_on": "2026-01-05"})
	l.Event(f, "snapshot.requested", map[string]any{"requested_by": "auditor", "label": "before"})
	l.WaitIdle()

	env := []string{"FUNDLEDGER_SIGNING_KEY_FILE=" + keyFile, "FUNDLEDGER_DATA_DIR=" + l.Config.DataDir}
	out, errs, code := keysRun(t, bin, l.DBURL, env, "keys", "rotate")
	if code != 0 || !strings.Contains(out, "key history entry 2") {
		t.Fatalf("keys rotate: exit %d\n%s%s", code, out, errs)
	}
	if strings.Contains(out+errs, mustRead(t, keyFile)) {
		t.Fatal("keys rotate printed the private key")
	}
	out, errs, code = keysRun(t, bin, l.DBURL, nil, "keys", "list", "--output", "json")
	var list struct {
		Keys []ledger.KeyEntryView `json:"keys"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list.Keys) != 2 {
		t.Fatalf("keys list: exit %d\n%s%s", code, out, errs)
	}
	k1, k2 := list.Keys[0], list.Keys[1]
	if k1.KeyID != firstID || k1.ValidUntil == nil || *k1.ValidUntil != k2.ValidFrom || k2.ValidUntil != nil ||
		k2.Seq != 2 || *k2.PrevKeyID != firstID || len(k2.KeyID) != 64 {
		t.Fatalf("history after a rotation: %+v %+v", k1, k2)
	}
	pub2, _ := base64.StdEncoding.DecodeString(k2.PublicKey)
	from2, _ := time.Parse(time.RFC3339Nano, k2.ValidFrom)
	sig2, _ := base64.StdEncoding.DecodeString(*k2.Signature)
	pub1, _ := base64.StdEncoding.DecodeString(first)
	if !ed25519.Verify(pub1, ledger.KeyEntrySigningInput(&ledger.KeyEntry{Seq: 2, KeyID: k2.KeyID, PublicKey: pub2, ValidFrom: from2, PrevKeyID: firstID}), sig2) {
		t.Fatal("entry 2 is not signed by key 1 over the documented bytes")
	}
	if seed := mustRead(t, keyFile); ledger.SigningKeyID(ed25519.NewKeyFromSeed(mustB64(t, seed)).Public().(ed25519.PublicKey)) != k2.KeyID {
		t.Fatal("the key file does not hold the new key")
	}
	out, _, code = keysRun(t, bin, l.DBURL, nil, "keys", "show", "--output", "json")
	if code != 0 || !strings.Contains(out, k2.KeyID) {
		t.Fatalf("keys show: exit %d\n%s", code, out)
	}

	// Published on ledger._keys.rotated.
	ctx := context.Background()
	stream, err := l.JS.Stream(ctx, events.OutboundStream)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		m, err := stream.GetLastMsgForSubject(ctx, "ledger._keys.rotated")
		if err == nil {
			var v ledger.KeyEntryView
			if json.Unmarshal(m.Data, &v) != nil || v.KeyID != k2.KeyID || v.Signature == nil || *v.Signature != *k2.Signature {
				t.Fatalf("published rotation %s", m.Data)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no message on ledger._keys.rotated: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The running ledger follows within seconds: the next snapshot is
	// signed by the new key.
	deadline = time.Now().Add(30 * time.Second)
	for n := 0; ; n++ {
		l.Event(f, "snapshot.requested", map[string]any{"requested_by": "auditor", "label": "after"})
		l.WaitIdle()
		if l.Count(`SELECT count(*) FROM snapshots WHERE fund_id = $1 AND body->>'key_id' = $2`, f, k2.KeyID) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the ledger still signs with the old key 30 s after the rotation")
		}
		time.Sleep(time.Second)
	}
	for _, pin := range [][]string{nil, {"--public-key", first}} {
		args := append([]string{"verify", "--fund", f}, pin...)
		if out, errs, code := keysRun(t, bin, l.DBURL, nil, args...); code != 0 {
			t.Fatalf("%v after a rotation: exit %d\n%s%s", args, code, out, errs)
		}
	}
	// Pinning only the new key does not vouch for what the old one signed.
	if _, _, code := keysRun(t, bin, l.DBURL, nil, "verify", "--fund", f, "--public-key", k2.PublicKey); code != exitMismatch {
		t.Fatalf("verify pinning only the new key: exit %d, want %d", code, exitMismatch)
	}

	// A restart reads the new key from the file.
	l.Stop()
	l.Restart()
	if l.Service.Signer.KeyID() != k2.KeyID {
		t.Fatalf("after a restart the ledger signs with %s, want %s", l.Service.Signer.KeyID(), k2.KeyID)
	}

	// Someone with superuser rights replaces entry 2's key: the history
	// no longer verifies.
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32)).Public().(ed25519.PublicKey)
	for _, sql := range []string{
		`ALTER TABLE key_history DISABLE TRIGGER USER`,
		`UPDATE key_history SET public_key = '\x` + hexOf(other) + `', key_id = '` + ledger.SigningKeyID(other) + `' WHERE seq = 2`,
		`ALTER TABLE key_history ENABLE TRIGGER USER`,
	} {
		if _, err := l.DB.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	out, errs, code = keysRun(t, bin, l.DBURL, nil, "verify", "--fund", f, "--output", "json")
	if code != exitMismatch || !strings.Contains(out, `"kind": "key_history"`) {
		t.Fatalf("verify after the key history was changed: exit %d\n%s%s", code, out, errs)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}
