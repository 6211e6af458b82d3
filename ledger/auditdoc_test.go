package ledger_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fundledger/fundledger/events"
	"github.com/fundledger/fundledger/ledger"
	"github.com/shopspring/decimal"
)

// docs/audit.md is the auditor's specification of the hashing and
// signing. These tests read its worked example and its Python
// re-implementation and check them against the Go code, so the page
// cannot drift from what the ledger does.

const auditDoc = "../docs/audit.md"

// auditBlocks returns the fenced blocks of docs/audit.md that carry a
// name after their language ("```text hash-input seq=1"), by name.
func auditBlocks(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(auditDoc)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?ms)^```[a-z]+ ([a-z0-9-]+(?: seq=[0-9]+)?)\n(.*?)\n```$")
	blocks := map[string]string{}
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		if _, dup := blocks[m[1]]; dup {
			t.Fatalf("%s: two blocks named %q", auditDoc, m[1])
		}
		blocks[m[1]] = m[2]
	}
	for _, name := range []string{"posted seq=1", "hash-input seq=1", "sha256 seq=1", "posted seq=2", "hash-input seq=2",
		"sha256 seq=2", "signing-key", "snapshot", "signing-input", "audit-verify"} {
		if _, ok := blocks[name]; !ok {
			t.Fatalf("%s has no block %q", auditDoc, name)
		}
	}
	return blocks
}

// auditDocTxns decodes the example's transactions.
func auditDocTxns(t *testing.T, blocks map[string]string) []*ledger.Txn {
	t.Helper()
	var txns []*ledger.Txn
	for _, seq := range []string{"1", "2"} {
		x, err := ledger.DecodeTxnJSON([]byte(blocks["posted seq="+seq]))
		if err != nil {
			t.Fatalf("posted seq=%s: %v", seq, err)
		}
		txns = append(txns, x)
	}
	return txns
}

// TestAuditDocHashes: each example transaction's hash input is the block
// shown, byte for byte; its SHA-256 is the hash shown and published; the
// chain links from 32 zero bytes.
func TestAuditDocHashes(t *testing.T) {
	blocks := auditBlocks(t)
	prev := ledger.GenesisHash
	for i, x := range auditDocTxns(t, blocks) {
		seq := []string{"1", "2"}[i]
		want := blocks["hash-input seq="+seq] + "\n" // every line ends with a line feed
		if got := string(ledger.HashInput(x)); got != want {
			t.Errorf("seq %s: the doc's hash input differs from HashInput:\n--- doc\n%s--- code\n%s", seq, want, got)
		}
		sum := sha256.Sum256([]byte(want))
		if hexSum := hex.EncodeToString(sum[:]); hexSum != strings.TrimSpace(blocks["sha256 seq="+seq]) || hexSum != hex.EncodeToString(x.Hash) {
			t.Errorf("seq %s: sha256 of the doc's input is %s; the doc says %s, the posted JSON %x",
				seq, hexSum, blocks["sha256 seq="+seq], x.Hash)
		}
		if !bytes.Equal(ledger.HashTxn(x), x.Hash) {
			t.Errorf("seq %s: HashTxn does not give the published hash", seq)
		}
		if !bytes.Equal(x.PrevHash, prev) {
			t.Errorf("seq %s: prev_hash %x, want %x", seq, x.PrevHash, prev)
		}
		prev = x.Hash
	}
}

// auditDocKey reads the example's key block and checks what it derives.
func auditDocKey(t *testing.T, blocks map[string]string) ed25519.PrivateKey {
	t.Helper()
	fields := map[string]string{}
	for _, line := range strings.Split(blocks["signing-key"], "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("signing-key line %q", line)
		}
		fields[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	seed, err := hex.DecodeString(fields["seed (hex)"])
	if err != nil || len(seed) != ed25519.SeedSize {
		t.Fatalf("seed %q", fields["seed (hex)"])
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	sum := sha256.Sum256(pub)
	for name, want := range map[string]string{
		"public key (hex)":    hex.EncodeToString(pub),
		"public key (base64)": base64.StdEncoding.EncodeToString(pub),
		"sha256(public key)":  hex.EncodeToString(sum[:]),
		"key_id":              ledger.SigningKeyID(pub),
	} {
		if fields[name] != want {
			t.Errorf("signing-key %s is %q; the seed gives %q", name, fields[name], want)
		}
	}
	return priv
}

// TestAuditDocSnapshot: the example snapshot's signing input is the block
// shown, its signature is what the seed signs, and it verifies.
func TestAuditDocSnapshot(t *testing.T) {
	blocks := auditBlocks(t)
	priv := auditDocKey(t, blocks)
	var s ledger.Snapshot
	if err := json.Unmarshal([]byte(blocks["snapshot"]), &s); err != nil {
		t.Fatal(err)
	}
	input := ledger.SnapshotSigningInput(&s)
	if want := blocks["signing-input"] + "\n"; string(input) != want {
		t.Errorf("the doc's signing input differs from SnapshotSigningInput:\n--- doc\n%s--- code\n%s", want, input)
	}
	if s.KeyID != ledger.SigningKeyID(priv.Public().(ed25519.PublicKey)) {
		t.Errorf("snapshot key_id %s is not the example key's", s.KeyID)
	}
	if sig := base64.StdEncoding.EncodeToString(ed25519.Sign(priv, input)); sig != s.Signature {
		t.Errorf("signature in the doc %s; the seed signs %s", s.Signature, sig)
	}
	sig, _ := base64.StdEncoding.DecodeString(s.Signature)
	if !ed25519.Verify(priv.Public().(ed25519.PublicKey), input, sig) {
		t.Error("the doc's snapshot signature does not verify")
	}
}

// docSigner signs with the example's key.
type docSigner struct{ priv ed25519.PrivateKey }

func (s docSigner) KeyID() string          { return ledger.SigningKeyID(s.priv.Public().(ed25519.PublicKey)) }
func (s docSigner) Sign(msg []byte) []byte { return ed25519.Sign(s.priv, msg) }

// TestAuditDocIsWhatTheLedgerPosts runs the example's events through the
// real posting rules: they post exactly the transactions and snapshot the
// doc shows, and the Verifier accepts them.
func TestAuditDocIsWhatTheLedgerPosts(t *testing.T) {
	blocks := auditBlocks(t)
	priv := auditDocKey(t, blocks)
	b := ledger.NewBooks(context.Background(), vtLoader{}, ledger.Settings{Signer: docSigner{priv}})
	day := func(s string) time.Time { d, _ := time.Parse(time.DateOnly, s); return d }
	apply := func(id, source string, at time.Time, ev events.Event) {
		out, err := b.Apply(ledger.Input{EventID: id, Type: ev.EventType(), Source: source, FundID: "jiangjin-care", Event: ev, Time: at})
		if err != nil || out.Kind != ledger.Applied {
			t.Fatalf("%s: %v %+v", ev.EventType(), err, out)
		}
	}
	apply("5e0f2a9c-6d1b-4f7e-9a38-0c2d4b6e8f01", "approvals/jiangjin", time.Date(2026, 3, 1, 0, 30, 0, 0, time.UTC),
		events.FundOpened{FundID: "jiangjin-care", Name: "江津区关爱基金", Currency: "CNY", Programs: []events.Program{{Code: "care_fund"}}})
	apply("0b9c3c3e-1f7e-4c44-9a53-3cda2b0d8f10", "finance/jiangjin", time.Date(2026, 3, 2, 1, 15, 0, 123456000, time.UTC),
		events.ContributionReceived{ContributionID: "c-2026-0001", SourceKind: "fiscal", Payer: "江津区财政局",
			Amount: decimal.RequireFromString("20000"), BankRef: "BR-2026-0001", ReceivedOn: day("2026-03-01")})
	apply("7f3d2c1a-8b4e-4d6f-a1c2-93e5f7a9b0d4", "approvals/jiangjin", time.Date(2026, 3, 2, 1, 20, 7, 42000, time.UTC),
		events.GrantApproved{GrantID: "g-2026-0042", BeneficiaryRef: "ben-0042", Program: "care_fund", Category: "medical",
			Amount: decimal.RequireFromString("1250.00"), RequestedBy: "caseworker-1", ApprovedBy: "officer-7", ApprovedOn: day("2026-03-02")})
	apply("c41e9b7d-2a6f-4e58-b3d0-7f1a2c3e4d5b", "audit/jiangjin", time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC),
		events.SnapshotRequested{RequestedBy: "auditor-1", Label: "2026-03"})

	compact := func(s string) string {
		var buf bytes.Buffer
		if err := json.Compact(&buf, []byte(s)); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	if len(b.Txns) != 2 || len(b.Snapshots) != 1 {
		t.Fatalf("posted %d transactions and %d snapshots, want 2 and 1", len(b.Txns), len(b.Snapshots))
	}
	for i, x := range b.Txns {
		got, _ := json.Marshal(x)
		if want := compact(blocks["posted seq="+[]string{"1", "2"}[i]]); string(got) != want {
			t.Errorf("the ledger posts\n%s\nthe doc shows\n%s", got, want)
		}
	}
	published, _ := json.Marshal(b.Snapshots[0])
	if want := compact(blocks["snapshot"]); string(published) != want {
		t.Errorf("the ledger publishes\n%s\nthe doc shows\n%s", published, want)
	}

	v := ledger.NewVerifier("jiangjin-care", time.Date(2026, 3, 1, 0, 30, 0, 0, time.UTC),
		map[string]ed25519.PublicKey{docSigner{priv}.KeyID(): priv.Public().(ed25519.PublicKey)})
	for _, x := range auditDocTxns(t, blocks) {
		v.Txn(x)
	}
	v.Snapshot(ledger.StoredSnapshot{SnapshotSeq: 1, AsOfJournalSeq: 2, Published: published})
	v.End(nil)
	if !v.OK() {
		t.Fatalf("the example does not verify: %v", v.Problems())
	}
}

// TestAuditDocPython runs the doc's Python re-implementation on the
// example, and on the example changed three ways. It needs python3 with
// the cryptography package; without them it is skipped, saying so.
func TestAuditDocPython(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed: the doc's Python script is not checked")
	}
	if out, err := exec.Command("python3", "-c", "import cryptography").CombinedOutput(); err != nil {
		t.Skipf("python3 has no cryptography package (pip install cryptography): the doc's Python script is not checked: %s", out)
	}
	blocks := auditBlocks(t)
	priv := auditDocKey(t, blocks)
	pub := base64.StdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey))
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	script := write("audit_verify.py", blocks["audit-verify"]+"\n")
	var jsonl strings.Builder
	for _, seq := range []string{"1", "2"} {
		var buf bytes.Buffer
		if err := json.Compact(&buf, []byte(blocks["posted seq="+seq])); err != nil {
			t.Fatal(err)
		}
		jsonl.WriteString(buf.String() + "\n")
	}
	txns := write("txns.jsonl", jsonl.String())
	snap := write("snapshot.json", blocks["snapshot"])
	run := func(args ...string) (string, int) {
		cmd := exec.Command("python3", append([]string{script}, args...)...)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	if out, code := run(txns, snap, pub); code != 0 || !strings.HasPrefix(out, "OK: 2 transactions") || !strings.Contains(out, "signed and matching") {
		t.Fatalf("the example: exit %d\n%s", code, out)
	}
	for _, c := range []struct {
		name, txns, snap, want string
	}{
		{"amount changed", strings.Replace(jsonl.String(), `"20000.00"`, `"20001.00"`, 2), blocks["snapshot"], "MISMATCH: seq 1: its content does not hash"},
		{"tail cut", strings.SplitAfter(jsonl.String(), "\n")[0], blocks["snapshot"], "MISMATCH: the snapshot covers seq 2, the journal ends at 1"},
		{"first transaction removed", strings.SplitAfter(jsonl.String(), "\n")[1], blocks["snapshot"], "MISMATCH: seq 2 does not follow seq 0"},
		{"snapshot changed", jsonl.String(), strings.Replace(blocks["snapshot"], `"2026-03"`, `"2026-04"`, 1), "MISMATCH: snapshot 1: the signature does not verify"},
	} {
		out, code := run(write(c.name+".jsonl", c.txns), write(c.name+".json", c.snap), pub)
		if code != 1 || !strings.HasPrefix(out, c.want) {
			t.Errorf("%s: exit %d, output %q; want exit 1 and %q", c.name, code, out, c.want)
		}
	}
}
