package service_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fundledger/fundledger/internal/testenv"
	"github.com/fundledger/fundledger/ledger"
	"github.com/fundledger/fundledger/ledger/postgres"
	"github.com/fundledger/fundledger/service"
	"github.com/jackc/pgx/v5"
)

// TestLoadKey: where the signing key comes from, and what is refused.
func TestLoadKey(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	seed := base64.StdEncoding.EncodeToString(make([]byte, 32))
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))

	if _, err := service.LoadKey(service.KeySource{Seed: seed, File: filepath.Join(dir, "k"), DataDir: data}, true); err == nil {
		t.Error("both FUNDLEDGER_SIGNING_KEY and a key file: accepted")
	}
	if _, err := service.LoadKey(service.KeySource{File: filepath.Join(data, "keys", "signing.key"), DataDir: data}, true); err == nil ||
		!strings.Contains(err.Error(), "inside the data directory") {
		t.Errorf("a key file in the data directory: %v", err)
	}
	if _, err := service.LoadKey(service.KeySource{File: filepath.Join(dir, "missing.key"), DataDir: data}, false); err == nil {
		t.Error("a missing key file with a key history: accepted")
	}
	// Nothing set, nothing kept: a new key in the default file, outside
	// the data directory.
	lk, err := service.LoadKey(service.KeySource{DataDir: data}, true)
	want := filepath.Join(dir, "config", "fundledger", "signing.key")
	if err != nil || !lk.Created || lk.File != want {
		t.Fatalf("default: %+v, %v; want a new key in %s", lk, err, want)
	}
	if st, err := os.Stat(want); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("default key file: %v %v", st, err)
	}
	again, err := service.LoadKey(service.KeySource{DataDir: data}, true)
	if err != nil || again.Created || again.Signer.KeyID() != lk.Signer.KeyID() {
		t.Fatalf("second start: %+v, %v; want the same key read back", again, err)
	}
	// An old data directory's signing.key is still read, marked legacy.
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "signing.key"), []byte(seed+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	old, err := service.LoadKey(service.KeySource{DataDir: data}, false)
	if err != nil || !old.Legacy || old.Signer.KeyID() != ledger.SigningKeyID(ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey)) {
		t.Fatalf("legacy key: %+v, %v", old, err)
	}
}

// TestLegacyKeyKeepsWorking: a ledger from before the key history, with
// its key in <data dir>/signing.key and registered under a 16-digit id,
// starts as before: the key becomes history entry 1, valid from when it
// was registered, and a snapshot signed under the short id still verifies.
func TestLegacyKeyKeepsWorking(t *testing.T) {
	ctx := context.Background()
	url := testenv.NewDatabase(t)
	if err := postgres.Migrate(ctx, url); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	seedBytes := make([]byte, 32)
	seedBytes[0] = 42
	priv := ed25519.NewKeyFromSeed(seedBytes)
	pub := priv.Public().(ed25519.PublicKey)
	if err := os.WriteFile(filepath.Join(data, "signing.key"), []byte(base64.StdEncoding.EncodeToString(seedBytes)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	registered := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO signing_keys (key_id, public_key, created_at) VALUES ($1, $2, $3)`,
		ledger.SigningKeyID(pub)[:16], []byte(pub), registered); err != nil {
		t.Fatal(err)
	}
	nats := testenv.NATS(t, 0)
	cfg := service.Config{DatabaseURL: url, NATSURL: nats.ClientURL(), DataDir: data, HTTPAddr: "127.0.0.1:0",
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	svc := service.New(cfg)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Run(rctx) }()
	defer func() { cancel(); <-done }()
	select {
	case <-svc.Ready():
	case err := <-done:
		t.Fatalf("serve with a legacy key: %v", err)
	}
	cur, err := svc.Store.CurrentKey(ctx)
	if err != nil || cur == nil || cur.Seq != 1 || cur.KeyID != ledger.SigningKeyID(pub) || !cur.ValidFrom.Equal(registered) {
		t.Fatalf("history entry 1: %+v, %v; want the legacy key valid from %s", cur, err, registered)
	}
	hist, err := svc.Store.KeyHistory(ctx)
	if err != nil || len(hist) != 1 || hist[0].Legacy {
		t.Fatalf("key history: %+v, %v (the registered key is entry 1, not listed twice)", hist, err)
	}
	// A snapshot signed under the 16-digit id verifies with the full key.
	s := &ledger.Snapshot{FundID: "f", SnapshotSeq: 1, AsOf: "2026-01-02T03:04:05.000006Z", ChainHead: strings.Repeat("0", 64),
		Accounts: []ledger.AccountLine{}, TotalDebits: "0.00", TotalCredits: "0.00", Balanced: true, Available: "0.00",
		OutstandingGrants: ledger.Outstanding{Amount: "0.00"}, KeyID: ledger.SigningKeyID(pub)[:16]}
	s.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(priv, ledger.SnapshotSigningInput(s)))
	v := ledger.NewVerifier("f", time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC), map[string]ed25519.PublicKey{ledger.SigningKeyID(pub): pub})
	v.Snapshot(ledger.StoredSnapshot{SnapshotSeq: 1, Published: s.JSON(), External: true})
	v.End(nil)
	if !v.OK() {
		t.Fatalf("a snapshot signed under the short key id: %+v", v.Problems())
	}
}

// TestServeRefusesAnotherKey: once the history has a key, serve will not
// sign with another one.
func TestServeRefusesAnotherKey(t *testing.T) {
	l := testenv.Start(t, testenv.Options{})
	cfg := l.Config
	cfg.SigningKey = testenv.TestSigningSeed()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := service.New(cfg).Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "is not the ledger's current key") {
		t.Fatalf("serve with another key: %v", err)
	}
}
