package ledger_test

import (
	"bytes"
	"crypto/ed25519"
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

	"github.com/fundledger/fundledger/ledger"
)

// docs/audit.md sections 11 to 13 (the key history, the event chain, the
// access log's chain): their examples are checked against the Go code,
// and their Python script is run on them.

// chainBlocks returns the named fenced blocks of docs/audit.md.
func chainBlocks(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(auditDoc)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?ms)^```[a-z]+ ([a-z0-9-]+(?: seq=[0-9]+)?)\n(.*?)\n```$")
	blocks := map[string]string{}
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		blocks[m[1]] = m[2]
	}
	for _, name := range []string{"key-history", "key-input seq=2", "event seq=1", "event-input seq=1", "event seq=2", "access-entry seq=1", "audit-chains"} {
		if _, ok := blocks[name]; !ok {
			t.Fatalf("%s has no block %q", auditDoc, name)
		}
	}
	return blocks
}

func docKeyEntries(t *testing.T, blocks map[string]string) ([]ledger.KeyEntry, []ledger.KeyEntryView) {
	t.Helper()
	var doc struct {
		Keys []ledger.KeyEntryView `json:"keys"`
	}
	if err := json.Unmarshal([]byte(blocks["key-history"]), &doc); err != nil {
		t.Fatal(err)
	}
	var out []ledger.KeyEntry
	for _, v := range doc.Keys {
		pub, _ := base64.StdEncoding.DecodeString(v.PublicKey)
		sig, _ := base64.StdEncoding.DecodeString(*v.Signature)
		from, err := time.Parse(time.RFC3339Nano, v.ValidFrom)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ledger.KeyEntry{Seq: v.Seq, KeyID: v.KeyID, PublicKey: pub, ValidFrom: from, PrevKeyID: *v.PrevKeyID, Signature: sig})
	}
	for i := range out[:len(out)-1] {
		u := out[i+1].ValidFrom
		out[i].ValidUntil = &u
	}
	return out, doc.Keys
}

// TestAuditDocKeyHistory: the example history checks out, its entries are
// the Go views of themselves, entry 2's signing input is the block shown,
// and both signatures are what the example keys make.
func TestAuditDocKeyHistory(t *testing.T) {
	blocks := chainBlocks(t)
	entries, views := docKeyEntries(t, blocks)
	if p := ledger.CheckKeyHistory(entries, entries[0].PublicKey); len(p) != 0 {
		t.Fatalf("the example history: %v", p)
	}
	for i := range entries {
		got, _ := json.Marshal(entries[i].View())
		want, _ := json.Marshal(views[i])
		if !bytes.Equal(got, want) {
			t.Errorf("entry %d: the Go view is %s, the doc shows %s", i+1, got, want)
		}
	}
	if got := string(ledger.KeyEntrySigningInput(&entries[1])); got != blocks["key-input seq=2"]+"\n" {
		t.Errorf("entry 2's signing input:\n%q\nthe doc shows\n%q", got, blocks["key-input seq=2"]+"\n")
	}
	seed1, _ := hex.DecodeString("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
	seed2, _ := hex.DecodeString("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
	k1, k2 := ed25519.NewKeyFromSeed(seed1), ed25519.NewKeyFromSeed(seed2)
	if !bytes.Equal(k1.Public().(ed25519.PublicKey), entries[0].PublicKey) || !bytes.Equal(k2.Public().(ed25519.PublicKey), entries[1].PublicKey) {
		t.Fatal("the example keys are not RFC 8032's first two")
	}
	for i := range entries {
		e := entries[i]
		ledger.SignKeyEntry(&e, k1)
		if !bytes.Equal(e.Signature, entries[i].Signature) {
			t.Errorf("entry %d: signing with key 1 gives %s", i+1, base64.StdEncoding.EncodeToString(e.Signature))
		}
	}
	// Changed, the history no longer checks out.
	bad := append([]ledger.KeyEntry(nil), entries...)
	bad[1].ValidFrom = bad[1].ValidFrom.Add(time.Second)
	if p := ledger.CheckKeyHistory(bad, nil); len(p) == 0 {
		t.Error("a changed valid_from passes")
	}
	// A key pinned after the rotation does not vouch for the one before.
	trusted := ledger.TrustedKeys(entries, map[string]ed25519.PublicKey{entries[1].KeyID: entries[1].PublicKey})
	if _, ok := trusted[entries[0].KeyID]; ok || len(trusted) != 1 {
		t.Errorf("pinning key 2 trusts %v", trusted)
	}
	if trusted := ledger.TrustedKeys(entries, map[string]ed25519.PublicKey{entries[0].KeyID: entries[0].PublicKey}); len(trusted) != 2 {
		t.Errorf("pinning key 1 trusts %d keys, want both", len(trusted))
	}
}

func docEvent(t *testing.T, block string) (*ledger.FundEvent, ledger.EventView) {
	t.Helper()
	var v ledger.EventView
	if err := json.Unmarshal([]byte(block), &v); err != nil {
		t.Fatal(err)
	}
	at, _ := time.Parse(time.RFC3339Nano, v.Time)
	h, _ := hex.DecodeString(v.Hash)
	p, _ := hex.DecodeString(v.PrevHash)
	return &ledger.FundEvent{FundID: v.FundID, Seq: v.Seq, EventID: v.EventID, Type: v.Type, Source: v.Source, Time: at,
		Data: []byte(v.Data), PrevHash: p, Hash: h}, v
}

// TestAuditDocEventChain: the example entries hash as the Go code hashes
// them, chain, and are their own Go views.
func TestAuditDocEventChain(t *testing.T) {
	blocks := chainBlocks(t)
	e1, v1 := docEvent(t, blocks["event seq=1"])
	e2, v2 := docEvent(t, blocks["event seq=2"])
	if got := string(ledger.EventHashInput(e1)); got != blocks["event-input seq=1"]+"\n" {
		t.Errorf("event 1's hash input:\n%q\nthe doc shows\n%q", got, blocks["event-input seq=1"]+"\n")
	}
	for i, c := range []struct {
		e *ledger.FundEvent
		v ledger.EventView
	}{{e1, v1}, {e2, v2}} {
		if got := ledger.HashEvent(c.e); !bytes.Equal(got, c.e.Hash) {
			t.Errorf("event %d hashes to %x, the doc shows %x", i+1, got, c.e.Hash)
		}
		if c.e.View() != c.v {
			t.Errorf("event %d: the Go view %+v differs from the doc's %+v", i+1, c.e.View(), c.v)
		}
	}
	if !bytes.Equal(e2.PrevHash, e1.Hash) || !bytes.Equal(e1.PrevHash, ledger.GenesisHash) {
		t.Error("the example events do not chain")
	}
}

// TestAuditDocAccessLog: the example entry hashes as the Go code hashes it.
func TestAuditDocAccessLog(t *testing.T) {
	blocks := chainBlocks(t)
	var a struct {
		Seq                     int64
		Time, Sub, Method, Path string
		Roles                   []string
		Status                  int
		Hash                    string `json:"hash"`
		PrevHash                string `json:"prev_hash"`
	}
	if err := json.Unmarshal([]byte(blocks["access-entry seq=1"]), &a); err != nil {
		t.Fatal(err)
	}
	at, _ := time.Parse(time.RFC3339Nano, a.Time)
	p, _ := hex.DecodeString(a.PrevHash)
	e := ledger.AccessLogEntry{Seq: a.Seq, Time: at, Sub: a.Sub, Roles: a.Roles, Method: a.Method, Path: a.Path, Status: a.Status, PrevHash: p}
	if got := hex.EncodeToString(ledger.HashAccessLogEntry(&e)); got != a.Hash {
		t.Errorf("the access log entry hashes to %s, the doc shows %s", got, a.Hash)
	}
}

// TestAuditDocChainsPython runs the doc's second script on the examples,
// and on them changed. Without python3 and cryptography it is skipped.
func TestAuditDocChainsPython(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed: the doc's Python script is not checked")
	}
	if out, err := exec.Command("python3", "-c", "import cryptography").CombinedOutput(); err != nil {
		t.Skipf("python3 has no cryptography package: the doc's Python script is not checked: %s", out)
	}
	blocks := chainBlocks(t)
	dir := t.TempDir()
	n := 0
	write := func(content string) string {
		n++
		p := filepath.Join(dir, "in"+strings.Repeat("x", n))
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	script := write(blocks["audit-chains"] + "\n")
	compact := func(s string) string {
		var b bytes.Buffer
		if err := json.Compact(&b, []byte(s)); err != nil {
			t.Fatal(err)
		}
		return b.String() + "\n"
	}
	events := compact(blocks["event seq=1"]) + compact(blocks["event seq=2"])
	access := compact(blocks["access-entry seq=1"])
	keys := blocks["key-history"]
	pin := "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"keys", []string{"keys", write(keys), pin}, "OK: 2 key entries, trusted from the pinned key on: 21fe31df"},
		{"events", []string{"events", write(events)}, "OK: 2 events, chain head 918fb344"},
		{"access", []string{"access", write(access)}, "OK: 1 chained entries"},
		{"a key swapped", []string{"keys", write(strings.Replace(keys, "PUAXw+hDiVqStwqnTRt+vJyYLM8uxJaMwM1V8Sr0Zgw=", "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=", 1))},
			"MISMATCH: key entry 2: its key id is not SHA-256"},
		{"a rotation re-dated", []string{"keys", write(strings.Replace(keys, `"valid_from": "2026-09-01T02:00:00.000000Z"`, `"valid_from": "2026-08-01T02:00:00.000000Z"`, 1))},
			"MISMATCH: key entry 1: valid_until"},
		{"another key pinned", []string{"keys", write(keys), base64.StdEncoding.EncodeToString(make([]byte, 32))}, "MISMATCH: the pinned key is not in the key history"},
		{"a cap changed", []string{"events", write(strings.Replace(events, "6000.00", "60000.00", 1))}, "MISMATCH: event 2: its data does not hash"},
		{"the opening removed", []string{"events", write(compact(blocks["event seq=2"]))}, "MISMATCH: event 2 does not follow event 0"},
		{"a status changed", []string{"access", write(strings.Replace(access, `"status":200`, `"status":403`, 1))}, "MISMATCH: access log entry 1"},
	} {
		out, err := exec.Command("python3", append([]string{script}, c.args...)...).CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(out), c.want) || (code == 0) != strings.HasPrefix(c.want, "OK") {
			t.Errorf("%s: exit %d, output %q; want %q", c.name, code, out, c.want)
		}
	}
}
