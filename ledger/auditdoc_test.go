package ledger_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fundledger/fundledger/events"
	"github.com/fundledger/fundledger/ledger"
	"github.com/fundledger/fundledger/ledger/merkle"
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

// TestAuditDocPythonProofs runs the doc's Python on inclusion and
// consistency proofs made from a journal of 150 transactions posted by the
// real rules and snapshots signed with the example key: every proof the Go
// code makes passes, and a changed proof, transaction or head fails.
func TestAuditDocPythonProofs(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed: the doc's Python script is not checked")
	}
	if out, err := exec.Command("python3", "-c", "import cryptography").CombinedOutput(); err != nil {
		t.Skipf("python3 has no cryptography package: the doc's Python script is not checked: %s", out)
	}
	blocks := auditBlocks(t)
	priv := auditDocKey(t, blocks)
	pub := base64.StdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey))
	b := ledger.NewBooks(context.Background(), vtLoader{}, ledger.Settings{Signer: docSigner{priv}})
	at := time.Date(2026, 3, 1, 0, 30, 0, 0, time.UTC)
	n := 0
	apply := func(ev events.Event) {
		n++
		at = at.Add(time.Second)
		out, err := b.Apply(ledger.Input{EventID: fmt.Sprintf("evt-%d", n), Type: ev.EventType(), Source: "approvals/jiangjin", FundID: "jiangjin-care", Event: ev, Time: at})
		if err != nil || out.Kind != ledger.Applied {
			t.Fatalf("%s: %v %+v", ev.EventType(), err, out)
		}
	}
	apply(events.FundOpened{FundID: "jiangjin-care", Name: "江津区关爱基金", Currency: "CNY", Programs: []events.Program{{Code: "care_fund"}}})
	apply(events.ContributionReceived{ContributionID: "c-1", SourceKind: "fiscal", Payer: "财政局 <&>", Amount: decimal.RequireFromString("900000"),
		BankRef: "BR-1", ReceivedOn: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)})
	for i := 2; i <= 150; i++ {
		apply(events.GrantApproved{GrantID: fmt.Sprintf("g-%d", i), BeneficiaryRef: fmt.Sprintf("ben-%d", i), Program: "care_fund", Category: "medical",
			Amount: decimal.RequireFromString("10.00"), RequestedBy: "caseworker-1", ApprovedBy: "officer-7", ApprovedOn: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)})
		if i == 37 || i == 64 || i == 100 || i == 150 {
			apply(events.SnapshotRequested{RequestedBy: "auditor-1"})
		}
	}
	nodes := map[merkle.Node]merkle.Hash{}
	var f merkle.Frontier
	for _, x := range b.Txns {
		f.Append(merkle.LeafHash(x.Hash), func(nd merkle.Node, h merkle.Hash) { nodes[nd] = h })
	}
	src := func(nd merkle.Node) (merkle.Hash, error) { return nodes[nd], nil }
	hexes := func(hs []merkle.Hash) []string {
		out := []string{}
		for _, h := range hs {
			out = append(out, h.Hex())
		}
		return out
	}
	dir := t.TempDir()
	write := func(name string, v any) string {
		p := filepath.Join(dir, name)
		b, ok := v.([]byte)
		if !ok {
			var err error
			if b, err = json.Marshal(v); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	script := write("audit_verify.py", []byte(blocks["audit-verify"]+"\n"))
	run := func(want string, args ...string) {
		t.Helper()
		out, err := exec.Command("python3", append([]string{script}, args...)...).CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(want, "OK") != (code == 0) || !strings.HasPrefix(string(out), want) {
			t.Fatalf("audit_verify.py %v: exit %d %q, want %q", args[0], code, out, want)
		}
	}
	snaps := map[int64]string{}
	for _, s := range b.Snapshots {
		snaps[*s.TreeSize] = write(fmt.Sprintf("snapshot-%d.json", s.SnapshotSeq), s.JSON())
	}
	// The whole journal against the last snapshot: the tree root too.
	var jsonl []byte
	for _, x := range b.Txns {
		j, _ := json.Marshal(x)
		jsonl = append(append(jsonl, j...), '\n')
	}
	run("OK: 150 transactions", write("txns.jsonl", jsonl), snaps[150], pub)

	for _, size := range []int64{37, 150} {
		snap := snaps[size]
		for _, seq := range []int64{1, 36, 37, 64, 65, 150} {
			if seq > size {
				continue
			}
			x := b.Txns[seq-1]
			path, err := merkle.InclusionProof(uint64(seq-1), uint64(size), src)
			if err != nil {
				t.Fatal(err)
			}
			proof := map[string]any{"seq": seq, "tree_size": size, "leaf_hash": merkle.LeafHash(x.Hash).Hex(), "audit_path": hexes(path)}
			txn := write(fmt.Sprintf("txn-%d.json", seq), x)
			run("OK: seq", "inclusion", txn, write("proof.json", proof), snap, pub)
			if len(path) > 0 {
				path[len(path)/2][3] ^= 1
				proof["audit_path"] = hexes(path)
				run("MISMATCH: seq", "inclusion", txn, write("bad-proof.json", proof), snap, pub)
			}
		}
	}
	j, _ := json.Marshal(b.Txns[4])
	changed := strings.Replace(string(j), `"10.00"`, `"11.00"`, 2)
	path, _ := merkle.InclusionProof(4, 37, src)
	run("MISMATCH: seq 5: its content does not hash", "inclusion", write("changed.json", []byte(changed)),
		write("proof.json", map[string]any{"seq": 5, "tree_size": 37, "leaf_hash": "", "audit_path": hexes(path)}), snaps[37], pub)

	sizes := []int64{37, 64, 150}
	for i, m := range sizes {
		for _, n := range sizes[i:] {
			p, err := merkle.ConsistencyProof(uint64(m), uint64(n), src)
			if err != nil {
				t.Fatal(err)
			}
			proof := map[string]any{"from": m, "to": n, "proof": hexes(p)}
			run("OK: the tree of", "consistency", write("cons.json", proof), snaps[m], snaps[n], pub)
			if len(p) > 0 {
				p[0][0] ^= 1
				proof["proof"] = hexes(p)
				run("MISMATCH: snapshot", "consistency", write("bad-cons.json", proof), snaps[m], snaps[n], pub)
			}
		}
	}
	// A head re-signed over other books is not consistent with the later one.
	var s ledger.Snapshot
	if err := json.Unmarshal(b.Snapshots[0].JSON(), &s); err != nil {
		t.Fatal(err)
	}
	s.TreeRoot = merkle.LeafHash([]byte("other books")).Hex()
	s.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(priv, ledger.SnapshotSigningInput(&s)))
	p, _ := merkle.ConsistencyProof(37, 150, src)
	run("MISMATCH: snapshot", "consistency", write("cons.json", map[string]any{"from": 37, "to": 150, "proof": hexes(p)}),
		write("forged.json", s.JSON()), snaps[150], pub)
	// And a head changed without the key does not pass its signature.
	run("MISMATCH: snapshot 1: the signature", "consistency", write("cons.json", map[string]any{"from": 37, "to": 150, "proof": hexes(p)}),
		write("unsigned.json", []byte(strings.Replace(string(b.Snapshots[0].JSON()), `"tree_size":37`, `"tree_size":36`, 1))), snaps[150], pub)
}

// TestAuditDocPythonPeriods runs the doc's Python on the period reports
// of periodStream: they verify and chain; a changed figure fails its
// signature; a report re-signed after a change breaks the next one's
// prev_report_hash; a version 1 report (signed before the proofs) still
// verifies and chains.
func TestAuditDocPythonPeriods(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed: the doc's Python script is not checked")
	}
	if out, err := exec.Command("python3", "-c", "import cryptography").CombinedOutput(); err != nil {
		t.Skipf("python3 has no cryptography package: the doc's Python script is not checked: %s", out)
	}
	blocks := auditBlocks(t)
	l := runPeriodStream(t, false, itT0)
	jan, feb := l.st.report(t, "f", "2026-01"), l.st.report(t, "f", "2026-02")
	pub := base64.StdEncoding.EncodeToString(itKey.pub())
	dir := t.TempDir()
	n := 0
	write := func(b []byte) string {
		n++
		p := filepath.Join(dir, fmt.Sprintf("f%d", n))
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	script := write([]byte(blocks["audit-verify"] + "\n"))
	resign := func(r *ledger.PeriodReport) []byte {
		r.Signature = base64.StdEncoding.EncodeToString(itKey.Sign(ledger.PeriodSigningInput(r)))
		return r.JSON()
	}
	clone := func(r *ledger.PeriodReport) *ledger.PeriodReport {
		c, err := ledger.ParsePeriodReport(r.JSON())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	run := func(want string, reports ...[]byte) {
		t.Helper()
		args := []string{script, "periods", pub}
		for _, r := range reports {
			args = append(args, write(r))
		}
		out, err := exec.Command("python3", args...).CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(want, "OK") != (code == 0) || !strings.HasPrefix(string(out), want) {
			t.Fatalf("audit_verify.py periods: exit %d %q, want %q", code, out, want)
		}
	}
	run("OK: 2 period reports signed and chained, the last hashing to "+hex.EncodeToString(ledger.PeriodReportHash(feb)), jan.JSON(), feb.JSON())
	changed := clone(feb)
	changed.Accounts[0].Closing = "1.00"
	run("MISMATCH: period report f 2026-02: the signature does not verify", jan.JSON(), changed.JSON())
	jan2 := clone(jan)
	jan2.ApprovedBy = "someone-else"
	run("MISMATCH: period report f 2026-02: prev_report_hash", resign(jan2), feb.JSON())
	v1 := clone(jan)
	v1.TreeSize, v1.TreeRoot, v1.PrevReportHash = nil, "", ""
	feb2 := clone(feb)
	feb2.PrevReportHash = hex.EncodeToString(ledger.PeriodReportHash(v1))
	run("OK: 2 period reports", resign(v1), resign(feb2))
}
