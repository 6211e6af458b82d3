package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/fundledger/fundledger/httpapi"
	"github.com/fundledger/fundledger/internal/testenv"
	"github.com/fundledger/fundledger/ledger"
	"github.com/fundledger/fundledger/ledger/merkle"
)

// TestProve: `prove inclusion` and `prove consistency` check proofs from
// the read API against signed snapshots with the public key alone, and
// fail (exit 3) on a wrong key or a head the books do not extend.
func TestProve(t *testing.T) {
	bin := buildCLI(t)
	l := testenv.Start(t, testenv.Options{API: httpapi.New, SnapshotEvery: 2})
	publishExample(t, l)
	l.WaitIdle()
	ctx := context.Background()
	const fund = "jiangjin-care"
	var last, lastSize int64
	if err := l.DB.QueryRow(ctx, `SELECT snapshot_seq, as_of_journal_seq FROM snapshots WHERE fund_id = $1 ORDER BY snapshot_seq DESC LIMIT 1`, fund).
		Scan(&last, &lastSize); err != nil {
		t.Fatal(err)
	}
	if last < 3 || lastSize < 3 {
		t.Fatalf("the example gives %d snapshots up to seq %d", last, lastSize)
	}
	dir := t.TempDir()
	pub := base64.StdEncoding.EncodeToString(l.Service.Signer.PublicKey())
	keyFile := filepath.Join(dir, "ledger.key")
	if err := os.WriteFile(keyFile, []byte(pub+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &cliRun{t: t, bin: bin, env: append(envWithout("DATABASE_URL", "FUNDLEDGER_API", "FUNDLEDGER_TOKEN"), "FUNDLEDGER_API="+l.URL(""))}

	for seq := int64(1); seq <= lastSize; seq++ {
		var res InclusionResult
		c.json(&res, "prove", "inclusion", "--fund", fund, "--seq", strconv.FormatInt(seq, 10), "--key", keyFile)
		if !res.OK || res.Seq != seq || res.TreeSize != lastSize || res.SnapshotSeq != last || !res.KeyPinned {
			t.Fatalf("prove inclusion %d: %+v", seq, res)
		}
	}
	var res InclusionResult
	c.json(&res, "prove", "inclusion", "--fund", fund, "--seq", "1", "--snapshot", "2")
	if res.SnapshotSeq != 2 || res.KeyPinned {
		t.Fatalf("against snapshot 2 with the API's keys: %+v", res)
	}
	out := c.ok("prove", "inclusion", "--fund", fund, "--seq", "2", "--public-key", pub, "--output", "text")
	t.Logf("%s", out)

	var cons ConsistencyResult
	for from := int64(1); from < last; from++ {
		c.json(&cons, "prove", "consistency", "--fund", fund, "--from", strconv.FormatInt(from, 10), "--key", keyFile)
		if !cons.OK || cons.From != from || cons.To != last || cons.ToSize != lastSize {
			t.Fatalf("prove consistency from %d: %+v", from, cons)
		}
	}

	t.Logf("%s", c.ok("prove", "consistency", "--fund", fund, "--from", "1", "--key", keyFile, "--output", "text"))

	// Another key is not trusted; a transaction after the snapshot is not
	// in it.
	other := base64.StdEncoding.EncodeToString(ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey))
	c.fails(exitMismatch, "prove", "inclusion", "--fund", fund, "--seq", "1", "--public-key", other)
	c.fails(exitUsage, "prove", "inclusion", "--fund", fund, "--seq", strconv.FormatInt(lastSize+1, 10), "--key", keyFile)
	c.fails(exitNotFound, "prove", "inclusion", "--fund", "no-such-fund", "--seq", "1", "--key", keyFile)

	// A head someone holding the key signed over other books: its
	// signature verifies, its tree is not a prefix of the ledger's.
	var raw []byte
	if err := l.DB.QueryRow(ctx, `SELECT published FROM snapshots WHERE fund_id = $1 AND snapshot_seq = 2`, fund).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	var s ledger.Snapshot
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	kept := filepath.Join(dir, "snapshot-2.json")
	if err := os.WriteFile(kept, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	c.json(&cons, "prove", "consistency", "--fund", fund, "--from-file", kept, "--key", keyFile)
	s.TreeRoot = merkle.LeafHash([]byte("other books")).Hex()
	s.Signature = base64.StdEncoding.EncodeToString(l.Service.Signer.Sign(ledger.SnapshotSigningInput(&s)))
	forged := filepath.Join(dir, "forged.json")
	if err := os.WriteFile(forged, s.JSON(), 0o600); err != nil {
		t.Fatal(err)
	}
	c.fails(exitMismatch, "prove", "consistency", "--fund", fund, "--from-file", forged, "--key", keyFile)
	c.fails(exitMismatch, "prove", "inclusion", "--fund", fund, "--seq", "1", "--snapshot-file", forged, "--key", keyFile)
}
