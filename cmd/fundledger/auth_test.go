package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fundledger/fundledger/internal/testauth"
	"github.com/fundledger/fundledger/internal/testenv"
	"github.com/jackc/pgx/v5"
	"github.com/lestrrat-go/jwx/v3/jwa"
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

// TestServeWithTokens runs `fundledger serve` with AUTH_JWKS (a file) and
// AUTH_ISSUER: the read API wants a token, and every request with one is
// in the access log, the last ones written at the stop.
func TestServeWithTokens(t *testing.T) {
	bin := buildCLI(t)
	dir := t.TempDir()
	key := testauth.NewKey(t, jwa.RS256(), "2026-1")
	jwks := filepath.Join(dir, "jwks.json")
	testauth.WriteJWKS(t, jwks, key)
	db := testenv.NewDatabase(t)
	port := freePort(t)
	serve := exec.Command(bin, "serve")
	serve.Env = append(envWithout("DATABASE_URL", "NATS_URL", "NATS_CREDS", "NATS_NKEY", "HTTP_ADDR", "AUTH_JWKS", "AUTH_ISSUER",
		"AUTH_AUDIENCE", "FUNDLEDGER_DATA_DIR"),
		"DATABASE_URL="+db, "AUTH_JWKS="+jwks, "AUTH_ISSUER="+testauth.Issuer, fmt.Sprintf("HTTP_ADDR=127.0.0.1:%d", port),
		"FUNDLEDGER_DATA_DIR="+filepath.Join(dir, "data"),
		"FUNDLEDGER_SIGNING_KEY_FILE="+filepath.Join(dir, "keys", "signing.key"))
	var log syncBuffer
	serve.Stderr = &log
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			_ = serve.Process.Signal(os.Interrupt)
			_ = serve.Wait()
		}
	}
	defer stop()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	get := func(path, token string) (int, http.Header, string) {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	waitFor(t, 60*time.Second, "serve to answer", func() bool { code, _, _ := get("/healthz", ""); return code == 200 },
		func() string { return log.String() })

	code, h, body := get("/v1/funds", "")
	if code != 401 || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") || !json.Valid([]byte(body)) {
		t.Errorf("no token: %d %q %s", code, h.Get("WWW-Authenticate"), body)
	}
	officer := key.Sign(t, testauth.Std("li.wei", []string{"officer"}, []string{"*"}))
	if code, _, body := get("/v1/funds", officer); code != 200 {
		t.Errorf("officer: %d %s", code, body)
	}
	if code, _, body := get("/v1/keys", ""); code != 200 {
		t.Errorf("keys without a token: %d %s", code, body)
	}
	for i := 0; i < 3; i++ {
		get(fmt.Sprintf("/v1/funds?i=%d", i), officer)
	}
	stop()
	conn, err := pgx.Connect(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM access_log WHERE sub = 'li.wei'`).Scan(&n); err != nil || n != 4 {
		t.Errorf("access log holds %d of li.wei's 4 requests (%v)\n%s", n, err, log.String())
	}
	if strings.Contains(log.String(), officer) {
		t.Error("serve logged a token")
	}
}
