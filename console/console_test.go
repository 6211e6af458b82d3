package console

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

// TestMessagesComplete: every word is in both languages, and every event
// type and rejection code the filters offer has a word.
func TestMessagesComplete(t *testing.T) {
	zh, en := messages["zh"], messages["en"]
	for k := range zh {
		if en[k] == "" {
			t.Errorf("%q has no English", k)
		}
	}
	for k := range en {
		if zh[k] == "" {
			t.Errorf("%q has no Chinese", k)
		}
	}
	for _, typ := range eventTypes {
		if zh["t_"+typ] == "" {
			t.Errorf("event type %s has no word", typ)
		}
	}
	for _, c := range rejectionCodes {
		if zh["code_"+c] == "" {
			t.Errorf("code %s has no reason in words", c)
		}
	}
}

func TestMoney(t *testing.T) {
	for in, want := range map[string]string{
		"0": "0.00", "5": "5.00", "999.5": "999.50", "1000": "1,000.00", "1234567.89": "1,234,567.89",
		"-1234.5": "-1,234.50", "999999999999.99": "999,999,999,999.99", "100000": "100,000.00",
	} {
		if got := money(decimal.RequireFromString(in)); got != want {
			t.Errorf("money(%s) = %s, want %s", in, got, want)
		}
		if got := money(in); got != want {
			t.Errorf("money(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestVendoredAssetsMatchTheirSums: the embedded libraries are the files
// scripts/console-assets.sh copied from the tarballs it checked against
// the lock file's integrity hashes; a file edited by hand fails here.
func TestVendoredAssetsMatchTheirSums(t *testing.T) {
	sums, err := fs.ReadFile(staticFS, "static/vendor/SHA256SUMS")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
		want, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q", line)
		}
		b, err := fs.ReadFile(staticFS, "static/vendor/"+name)
		if err != nil {
			t.Fatal(err)
		}
		got := sha256.Sum256(b)
		if hex.EncodeToString(got[:]) != want {
			t.Errorf("%s: sha256 %x, SHA256SUMS says %s: run scripts/console-assets.sh", name, got, want)
		}
		n++
	}
	for name, file := range assetFiles {
		if _, err := fs.ReadFile(staticFS, file); err != nil {
			t.Errorf("asset %s: %v", name, err)
		}
	}
	if n != 2 {
		t.Errorf("%d vendored files summed, want 2 (htmx, echarts)", n)
	}
}

// TestTemplatesParse: every page's template parses (New panics if not).
func TestTemplatesParse(t *testing.T) {
	c := New(nil, nil)
	if len(c.pages) < 12 {
		t.Fatalf("%d pages", len(c.pages))
	}
}
