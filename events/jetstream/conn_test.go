package jetstream

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"nats://127.0.0.1:4222":                          "nats://127.0.0.1:4222",
		"tls://ledger:s3cret@nats.example:4222":          "tls://***@nats.example:4222",
		"nats://tokenvalue@host:4222,nats://u:p@h2:4222": "nats://***@host:4222,nats://***@h2:4222",
		"nats://u:p%40ss@host:4222":                      "nats://***@host:4222",
		"":                                               "",
	} {
		got := Redact(in)
		if got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
		for _, secret := range []string{"s3cret", "tokenvalue", "p%40ss", ":p@"} {
			if strings.Contains(got, secret) {
				t.Errorf("Redact(%q) = %q keeps %q", in, got, secret)
			}
		}
	}
}

func TestConnAuthOptions(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	for _, c := range []struct {
		a    ConnAuth
		says string // "" when it must succeed
	}{
		{ConnAuth{}, ""},
		{ConnAuth{Creds: file, TLSCA: file}, ""},
		{ConnAuth{Creds: file, NKey: file}, "both"},
		{ConnAuth{TLSCert: file}, "go together"},
		{ConnAuth{TLSKey: file}, "go together"},
		{ConnAuth{Creds: missing}, "NATS_CREDS"},
		{ConnAuth{TLSCA: missing}, "NATS_TLS_CA"},
		{ConnAuth{NKey: file}, "NATS_NKEY"}, // not a seed
	} {
		_, err := c.a.Options()
		switch {
		case c.says == "" && err != nil:
			t.Errorf("%+v: %v", c.a, err)
		case c.says != "" && (err == nil || !strings.Contains(err.Error(), c.says)):
			t.Errorf("%+v: %v, want an error saying %q", c.a, err, c.says)
		}
	}
}
