package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoopbackAddr(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "127.1.2.3:80": true, "[::1]:8080": true, "localhost:8080": true, "127.0.0.1:0": true,
		":8080": false, "0.0.0.0:8080": false, "[::]:8080": false, "10.0.0.5:8080": false, "example.org:8080": false,
		"192.168.1.1:8080": false, "localhost.example.org:80": false, "8080": false, "": false,
	} {
		if got := loopbackAddr(addr); got != want {
			t.Errorf("loopbackAddr(%q) = %v, want %v", addr, got, want)
		}
	}
}

// TestServeAuthSettings: without AUTH_JWKS serve starts only on loopback;
// with it, AUTH_ISSUER is required; AUTH_AUDIENCE defaults to fundledger.
func TestServeAuthSettings(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://example/db")
	for _, c := range []struct {
		jwks, issuer, addr string
		ok                 bool
		says               string
	}{
		{"", "", "127.0.0.1:8080", true, ""},
		{"", "", "localhost:9000", true, ""},
		{"", "", ":8080", false, "not a loopback address"},
		{"", "", "0.0.0.0:8080", false, "AUTH_JWKS"},
		{"/etc/jwks.json", "", "127.0.0.1:8080", false, "AUTH_ISSUER is required"},
		{"/etc/jwks.json", "https://login", ":8080", true, ""},
	} {
		t.Setenv("AUTH_JWKS", c.jwks)
		t.Setenv("AUTH_ISSUER", c.issuer)
		t.Setenv("HTTP_ADDR", c.addr)
		_, auth, err := serveConfig(nil)
		switch {
		case c.ok && err != nil:
			t.Errorf("%+v: %v", c, err)
		case !c.ok && (err == nil || !strings.Contains(err.Error(), c.says)):
			t.Errorf("%+v: error %v, want one saying %q", c, err, c.says)
		case c.ok && auth.Audience != "fundledger":
			t.Errorf("%+v: audience %q", c, auth.Audience)
		}
	}
}

// TestServeRefusesToStart: the binary exits with a usage error, said in a
// JSON log line, before it touches the database.
func TestServeRefusesToStart(t *testing.T) {
	bin := buildCLI(t)
	missing := filepath.Join(t.TempDir(), "nope.json")
	for _, c := range []struct {
		env  []string
		code int
		says string
	}{
		{[]string{"HTTP_ADDR=:8080"}, exitUsage, "not a loopback address"},
		{[]string{"HTTP_ADDR=127.0.0.1:0", "AUTH_JWKS=" + missing}, exitUsage, "AUTH_ISSUER is required"},
		{[]string{"HTTP_ADDR=127.0.0.1:0", "AUTH_JWKS=" + missing, "AUTH_ISSUER=https://login"}, exitFailure, "nope.json"},
	} {
		cmd := exec.Command(bin, "serve")
		cmd.Env = append(envWithout("DATABASE_URL", "NATS_URL", "HTTP_ADDR", "AUTH_JWKS", "AUTH_ISSUER", "AUTH_AUDIENCE"),
			append(c.env, "DATABASE_URL=postgres://nobody@127.0.0.1:1/none")...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != c.code {
			t.Errorf("%v: exit %v, want %d; stderr %s", c.env, err, c.code, stderr.String())
			continue
		}
		var rec struct{ Level, Msg string }
		if err := json.Unmarshal(bytes.TrimSpace(stderr.Bytes()), &rec); err != nil || rec.Level != "ERROR" || !strings.Contains(rec.Msg, c.says) {
			t.Errorf("%v: stderr %q, want one JSON ERROR line saying %q", c.env, stderr.String(), c.says)
		}
	}
}

// TestOpenAPIWarns: an open API says so in the log, as a warning.
func TestOpenAPIWarns(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	if _, err := (&authSettings{}).apiFor(context.Background(), log); err != nil {
		t.Fatal(err)
	}
	var rec struct{ Level, Msg string }
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil || rec.Level != "WARN" || !strings.Contains(rec.Msg, "open") {
		t.Errorf("log %q, want a WARN that the API is open", buf.String())
	}
}
