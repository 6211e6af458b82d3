package httpapi_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/fundledger/fundledger/httpapi"
)

// TestAuditChainsPythonOnTheAPI: docs/audit.md's second script checks,
// from what the read API serves, the real ledger's key history, a fund's
// event chain (with a cap change whose data the API escapes) and the
// access log; changed, each fails. Skipped without python3 and
// cryptography.
func TestAuditChainsPythonOnTheAPI(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed")
	}
	if out, err := exec.Command("python3", "-c", "import cryptography").CombinedOutput(); err != nil {
		t.Skipf("python3 has no cryptography package: %s", out)
	}
	doc, err := os.ReadFile("../docs/audit.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?ms)^```python audit-chains\n(.*?)\n```$").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/audit.md has no audit-chains script")
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	script := write("audit_chains.py", append(m[1], '\n'))
	run := func(args ...string) (string, int) {
		out, err := exec.Command("python3", append([]string{script}, args...)...).CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}

	l := startAuth(t, authOptions{accessLog: &httpapi.AccessLogOptions{}})
	// Sent with "<", ">" and "&" as they are: the API escapes them in the
	// data string, and the hash is over the characters received.
	l.PublishRaw("fund.jiangjin-care.fund.program.set", []byte(`{"specversion": "1.0", "id": "cap-raise-1", "source": "approvals/jiangjin",
		"type": "fund.program.set", "data": {"program": "care_fund", "annual_cap_per_beneficiary": "6000.00", "note": "<raised> & kept"}}`), "cap-raise-1")
	l.WaitIdle()
	auditor := l.token([]string{"auditor"}, []string{"*"})
	pages := func(path, list, next string) []byte {
		var out bytes.Buffer
		after := int64(0)
		for {
			code, _, body := l.get(path+strconv.FormatInt(after, 10)+"&limit=2", auditor)
			if code != 200 {
				t.Fatalf("%s: %d %s", path, code, body)
			}
			var page map[string]json.RawMessage
			var items []json.RawMessage
			if err := json.Unmarshal(body, &page); err != nil || json.Unmarshal(page[list], &items) != nil {
				t.Fatalf("%s: %s", path, body)
			}
			if len(items) == 0 {
				return out.Bytes()
			}
			if out.Len() > 1<<20 {
				t.Fatalf("%s: more than 1 MiB of pages: %s", path, body)
			}
			for _, it := range items {
				out.Write(it)
				out.WriteByte('\n')
			}
			if err := json.Unmarshal(page[next], &after); err != nil {
				t.Fatal(err)
			}
			if len(items) < 2 { // a short page is the end: reading the access log adds to it
				return out.Bytes()
			}
		}
	}
	events := pages("/v1/funds/jiangjin-care/events?after_seq=", "events", "next_after_seq")
	if !bytes.Contains(events, []byte(`\u003craised\u003e \u0026 kept`)) {
		t.Fatalf("the API did not escape the data as the doc says it may: %s", events)
	}
	if out, code := run("events", write("events.jsonl", events)); code != 0 || !strings.HasPrefix(out, "OK: ") {
		t.Fatalf("events: exit %d %s", code, out)
	}
	code, _, keys := l.get("/v1/keys", "")
	if code != 200 {
		t.Fatalf("/v1/keys: %d", code)
	}
	pin := base64.StdEncoding.EncodeToString(l.Service.Signer.PublicKey())
	if out, code := run("keys", write("keys.json", keys), pin); code != 0 || !strings.Contains(out, l.Service.Signer.KeyID()) {
		t.Fatalf("keys: exit %d %s", code, out)
	}
	access := pages("/v1/access-log?after=", "entries", "next_after")
	if out, code := run("access", write("access.jsonl", access)); code != 0 || !strings.HasPrefix(out, "OK: ") {
		t.Fatalf("access: exit %d %s", code, out)
	}
	for name, c := range map[string][]string{
		"an event's data":     {"events", write("e2.jsonl", bytes.Replace(events, []byte("6000.00"), []byte("6001.00"), 1))},
		"an access log entry": {"access", write("a2.jsonl", bytes.Replace(access, []byte(`"status":200`), []byte(`"status":201`), 1))},
		"the key history":     {"keys", write("k2.json", bytes.Replace(keys, []byte(`"seq":1`), []byte(`"seq":2`), 1))},
	} {
		if out, code := run(c...); code != 1 || !strings.HasPrefix(out, "MISMATCH") {
			t.Errorf("%s changed: exit %d %s", name, code, out)
		}
	}
}
