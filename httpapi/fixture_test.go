package httpapi_test

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"regexp"
	"testing"

	"github.com/fundledger/fundledger/httpapi"
	"github.com/fundledger/fundledger/internal/eventfile"
	"github.com/fundledger/fundledger/internal/testenv"
)

// The example events of docs/examples/events.jsonl, as the tests expect
// them to end up: docs/cli.md shows the same books.
const (
	fundJ = "jiangjin-care"
	fundW = "wanzhou-care"
	// figures of jiangjin-care after the whole file
	jCash, jPayable, jAvailable = "228250.50", "1100.00", "227150.50"
	jHead                       = 14
)

var moneyRe = regexp.MustCompile(`^(0|[1-9][0-9]*)\.[0-9]{2}$`)

// startExample runs a ledger with the read API and publishes the example
// file to it, through the same reader `fundledger publish` uses.
func startExample(t *testing.T) *testenv.Ledger {
	t.Helper()
	l := testenv.Start(t, testenv.Options{API: httpapi.New})
	publishFile(t, l, "../docs/examples/events.jsonl")
	l.WaitIdle()
	return l
}

func publishFile(t *testing.T, l *testenv.Ledger, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := eventfile.NewReader(f, "")
	n := 0
	for {
		m, err := r.Next()
		if errors.Is(err, io.EOF) {
			return n
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		l.PublishRaw(m.Subject, m.Data, m.MsgID)
		n++
	}
}

// getJSON GETs path, wants status and a JSON body, and decodes it into v
// (when v is not nil).
func getJSON(t *testing.T, l *testenv.Ledger, path string, status int, v any) []byte {
	t.Helper()
	code, h, body := l.Get(path)
	if code != status {
		t.Fatalf("GET %s: status %d, want %d; body %s", path, code, status, body)
	}
	if ct := h.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("GET %s: Content-Type %q, want application/json", path, ct)
	}
	if !json.Valid(body) {
		t.Fatalf("GET %s: body is not JSON: %s", path, body)
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: decode: %v; body %s", path, err, body)
		}
	}
	return body
}

// wantError GETs path and wants status with a JSON {"error": "..."} body.
func wantError(t *testing.T, l *testenv.Ledger, path string, status int) string {
	t.Helper()
	var e map[string]any
	getJSON(t, l, path, status, &e)
	msg, ok := e["error"].(string)
	if !ok || msg == "" || len(e) != 1 {
		t.Fatalf("GET %s: error body %v, want exactly {\"error\": \"...\"}", path, e)
	}
	return msg
}

// walkMoney fails on any money field in v that is not a two-place string.
// Money fields are known by name: every amount the API reports.
func walkMoney(t *testing.T, where string, v any) {
	t.Helper()
	money := map[string]bool{"cash": true, "grants_payable": true, "available": true, "debits": true, "credits": true,
		"balance": true, "total_debits": true, "total_credits": true, "amount": true, "approved": true, "paid": true,
		"returned": true, "cancelled": true, "recovered": true, "outstanding": true}
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if money[k] {
				s, ok := e.(string)
				if !ok || !moneyRe.MatchString(s) {
					t.Errorf("%s.%s = %#v: money must be a string with exactly 2 places", where, k, e)
				}
				continue
			}
			walkMoney(t, where+"."+k, e)
		}
	case []any:
		for _, e := range x {
			walkMoney(t, where+"[]", e)
		}
	}
}
