package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fundledger/fundledger/httpapi"
	"github.com/fundledger/fundledger/internal/eventfile"
	"github.com/fundledger/fundledger/internal/testauth"
	"github.com/fundledger/fundledger/internal/testenv"
	"github.com/fundledger/fundledger/ledger/postgres"
	"github.com/lestrrat-go/jwx/v3/jwa"
)

// TestReadThroughAPI: each read command prints the same through the read
// API with a token as from the database; a 401 and a 403 say what they
// mean (exit 5), a fund outside the token is not found (exit 4), and the
// token is never printed.
func TestReadThroughAPI(t *testing.T) {
	bin := buildCLI(t)
	key := testauth.NewKey(t, jwa.EdDSA(), "k1")
	dir := t.TempDir()
	jwks := filepath.Join(dir, "jwks.json")
	testauth.WriteJWKS(t, jwks, key)
	auth, err := httpapi.NewAuthenticator(context.Background(), httpapi.AuthConfig{JWKS: jwks, Issuer: testauth.Issuer,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	l := testenv.Start(t, testenv.Options{API: func(s *postgres.Store) http.Handler {
		return (&httpapi.API{Store: s, Auth: auth}).Handler()
	}})
	publishExample(t, l)
	l.WaitIdle()

	tokenFile := func(name string, c testauth.Claims) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(key.Sign(t, c)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	auditor := tokenFile("auditor", testauth.Std("audit.ma", []string{"auditor"}, []string{"*"}))
	reporting := tokenFile("reporting", testauth.Std("rep.wu", []string{"reporting"}, []string{"jiangjin-care"}))
	other := tokenFile("other", testauth.Std("off.he", []string{"officer"}, []string{"wanzhou-care"}))
	expired := tokenFile("expired", testauth.Std("late", []string{"auditor"}, []string{"*"}).With("exp", time.Now().Add(-time.Hour).Unix()))
	api := l.URL("")

	db := &cliRun{t: t, bin: bin, env: append(envWithout("DATABASE_URL", "FUNDLEDGER_API", "FUNDLEDGER_TOKEN"), "DATABASE_URL="+l.DBURL)}
	web := &cliRun{t: t, bin: bin, env: envWithout("DATABASE_URL", "FUNDLEDGER_API", "FUNDLEDGER_TOKEN")}
	for _, args := range [][]string{
		{"funds"},
		{"balances", "jiangjin-care"},
		{"balances", "jiangjin-care", "--as-of-seq", "3"},
		{"journal", "jiangjin-care", "--limit", "5", "--after", "2"},
		{"journal", "jiangjin-care", "--all"},
		{"grant", "jiangjin-care", "g-1"},
		{"rejections"},
		{"rejections", "--fund", "jiangjin-care", "--limit", "1"},
		{"snapshots", "jiangjin-care"},
		{"snapshots", "jiangjin-care", "--latest"},
		{"snapshots", "jiangjin-care", "--seq", "1"},
	} {
		for _, format := range []string{"json", "csv", "table"} {
			a := append(append([]string{}, args...), "--output", format)
			want := db.ok(a...)
			got := web.ok(append(a, "--api", api, "--token-file", auditor)...)
			if got != want {
				t.Errorf("%v through the API:\n%s\nfrom the database:\n%s", a, got, want)
			}
		}
	}
	// FUNDLEDGER_API and FUNDLEDGER_TOKEN do what the flags do.
	tok, _ := os.ReadFile(auditor)
	env := &cliRun{t: t, bin: bin, env: append(envWithout("DATABASE_URL", "FUNDLEDGER_API", "FUNDLEDGER_TOKEN"),
		"FUNDLEDGER_API="+api, "FUNDLEDGER_TOKEN="+strings.TrimSpace(string(tok)))}
	if got, want := env.ok("funds", "-o", "json"), db.ok("funds", "-o", "json"); got != want {
		t.Errorf("funds with FUNDLEDGER_API and FUNDLEDGER_TOKEN:\n%s\nwant\n%s", got, want)
	}

	secrets := []string{}
	for _, f := range []string{auditor, reporting, other, expired} {
		b, _ := os.ReadFile(f)
		secrets = append(secrets, strings.TrimSpace(string(b)))
	}
	for _, c := range []struct {
		args []string
		code int
		says []string
	}{
		{[]string{"funds", "--api", api}, exitDenied, []string{"401", "--token-file", "FUNDLEDGER_TOKEN"}},
		{[]string{"funds", "--api", api, "--token-file", expired}, exitDenied, []string{"401", "expired"}},
		{[]string{"journal", "jiangjin-care", "--api", api, "--token-file", reporting}, exitDenied, []string{"403", "roles"}},
		{[]string{"balances", "jiangjin-care", "--api", api, "--token-file", other}, exitNotFound, []string{"not found"}},
		{[]string{"balances", "no-such-fund", "--api", api, "--token-file", auditor}, exitNotFound, []string{"not found"}},
		{[]string{"funds", "--api", api, "--database-url", l.DBURL}, exitUsage, []string{"exclude"}},
		{[]string{"funds", "--api", "ftp://x"}, exitUsage, []string{"--api"}},
		{[]string{"funds", "--api", "http://127.0.0.1:1", "--token-file", auditor}, exitFailure, []string{"read API"}},
	} {
		errs := web.fails(c.code, c.args...)
		for _, s := range c.says {
			if !strings.Contains(errs, s) {
				t.Errorf("%v: stderr %q does not say %q", c.args, errs, s)
			}
		}
		for _, s := range secrets {
			if strings.Contains(errs, s) {
				t.Errorf("%v: stderr shows the token", c.args)
			}
		}
	}
	// What reporting may read, it reads; only its fund.
	if out := web.ok("funds", "--api", api, "--token-file", reporting, "-o", "csv"); strings.Contains(out, "wanzhou-care") || !strings.Contains(out, "jiangjin-care") {
		t.Errorf("reporting's funds: %s", out)
	}
}

// publishExample publishes docs/examples/events.jsonl to the ledger.
func publishExample(t *testing.T, l *testenv.Ledger) {
	t.Helper()
	f, err := os.Open(exampleEvents)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := eventfile.NewReader(f, "")
	for {
		m, err := r.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		l.PublishRaw(m.Subject, m.Data, m.MsgID)
	}
}
