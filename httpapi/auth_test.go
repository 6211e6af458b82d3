package httpapi_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fundledger/fundledger/httpapi"
	"github.com/fundledger/fundledger/internal/testauth"
	"github.com/lestrrat-go/jwx/v3/jwa"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// clock is a movable clock for the authenticator and the tokens alike.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func fileAuth(t *testing.T, now func() time.Time, keys ...*testauth.Key) (*httpapi.Authenticator, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jwks.json")
	testauth.WriteJWKS(t, path, keys...)
	a, err := httpapi.NewAuthenticator(context.Background(), httpapi.AuthConfig{JWKS: path, Issuer: testauth.Issuer, Now: now, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return a, path
}

// TestTokens: every kind of bad token is refused with a reason, and a
// good one of each accepted algorithm names its holder.
func TestTokens(t *testing.T) {
	rs := testauth.NewKey(t, jwa.RS256(), "rs-1")
	es := testauth.NewKey(t, jwa.ES256(), "es-1")
	ed := testauth.NewKey(t, jwa.EdDSA(), "ed-1")
	noKID := testauth.NewKey(t, jwa.ES256(), "")
	other := testauth.NewKey(t, jwa.RS256(), "rs-1") // same kid, not in the JWKS
	a, _ := fileAuth(t, nil, rs, es, ed, noKID)

	std := testauth.Std("li.wei", []string{"officer"}, []string{"jiangjin-care"})
	now := time.Now()
	good := []struct {
		name, token string
	}{
		{"RS256", rs.Sign(t, std)},
		{"ES256", es.Sign(t, std)},
		{"EdDSA", ed.Sign(t, std)},
		{"no kid in the token: tried against every key", ed.SignKID(t, std, "")},
		{"key without kid in the JWKS", noKID.Sign(t, std)},
		{"aud as a list", rs.Sign(t, std.With("aud", []string{"other", "fundledger"}))},
		{"expired 30 s ago (skew 60 s)", rs.Sign(t, std.With("exp", now.Add(-30*time.Second).Unix()))},
		{"nbf in 30 s", rs.Sign(t, std.With("nbf", now.Add(30*time.Second).Unix()))},
		{"iat in 30 s", rs.Sign(t, std.With("iat", now.Add(30*time.Second).Unix()))},
		{"no nbf, no iat", rs.Sign(t, std.With("nbf", nil).With("iat", nil))},
	}
	for _, c := range good {
		p, err := a.Authenticate(context.Background(), c.token)
		if err != nil {
			t.Errorf("%s: refused: %v", c.name, err)
			continue
		}
		if p.Sub != "li.wei" || !p.HasRole(httpapi.RoleOfficer) || !p.SeesFund("jiangjin-care") || p.SeesFund("wanzhou-care") {
			t.Errorf("%s: principal %+v", c.name, p)
		}
	}

	bad := []struct {
		name, token string
		signed      bool // the signature verifies: the holder is named
		reason      string
	}{
		{"empty", "", false, "missing"},
		{"malformed", "not-a-token", false, "compact JWS"},
		{"three dots of nothing", "a.b.c", false, "invalid token"},
		{"alg none", testauth.Unsigned(t, std, "rs-1"), false, "algorithm"},
		{"alg none without kid", testauth.Unsigned(t, std, ""), false, "algorithm"},
		{"HS256 with the public key as secret", rs.HS256WithPublicKey(t, std), false, "algorithm"},
		{"wrong signature (a key not in the JWKS, same kid)", other.Sign(t, std), false, "does not verify"},
		{"unknown kid", rs.SignKID(t, std, "rs-404"), false, "no RS256 key with kid"},
		{"expired", rs.Sign(t, std.With("exp", now.Add(-90*time.Second).Unix())), true, "expired"},
		{"not yet valid", rs.Sign(t, std.With("nbf", now.Add(90*time.Second).Unix())), true, "not yet valid"},
		{"issued in the future", rs.Sign(t, std.With("iat", now.Add(90*time.Second).Unix())), true, "not yet valid"},
		{"no exp", rs.Sign(t, std.With("exp", nil)), true, "exp"},
		{"no sub", rs.Sign(t, std.With("sub", nil)), true, "sub"},
		{"empty sub", rs.Sign(t, std.With("sub", "")), true, "sub"},
		{"wrong issuer", rs.Sign(t, std.With("iss", "https://evil.example")), true, "issuer"},
		{"wrong audience", rs.Sign(t, std.With("aud", "other")), true, "audience"},
		{"audience list without ours", rs.Sign(t, std.With("aud", []string{"a", "b"})), true, "audience"},
		{"huge", strings.Repeat("A", httpapi.MaxTokenBytes+1), false, "bytes"},
	}
	for _, c := range bad {
		p, err := a.Authenticate(context.Background(), c.token)
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.reason) {
			t.Errorf("%s: reason %q does not say %q", c.name, err, c.reason)
		}
		switch {
		case c.signed && (p == nil || p.Sub != std["sub"] && c.name != "no sub" && c.name != "empty sub"):
			t.Errorf("%s: signature verified, principal %+v should name the holder", c.name, p)
		case !c.signed && p != nil:
			t.Errorf("%s: signature did not verify, yet principal %+v", c.name, p)
		}
	}
}

// TestRoles: roles add up, an unknown role gives nothing, "*" is every
// fund but the fund "_unknown" is only for "*".
func TestRoles(t *testing.T) {
	k := testauth.NewKey(t, jwa.EdDSA(), "k")
	a, _ := fileAuth(t, nil, k)
	auth := func(c testauth.Claims) *httpapi.Principal {
		t.Helper()
		p, err := a.Authenticate(context.Background(), k.Sign(t, c))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := auth(testauth.Std("a", []string{"officer", "reporting", "admin"}, []string{"f1", "f2"}))
	if !p.HasRole("officer") || !p.HasRole("reporting") || p.HasRole("auditor") || p.HasRole("admin") {
		t.Errorf("roles %v: officer+reporting only", p.Roles)
	}
	if len(p.Roles) != 3 {
		t.Errorf("roles as stated %v, want all three names", p.Roles)
	}
	if !p.SeesFund("f2") || p.SeesFund("f3") || p.SeesFund("_unknown") || p.AllFunds() {
		t.Errorf("funds f1,f2: %+v", p)
	}
	p = auth(testauth.Std("b", []string{"superuser"}, []string{"*"}))
	if p.HasRole("officer") || p.HasRole("auditor") || p.HasRole("reporting") {
		t.Errorf("unknown role gave a right")
	}
	if !p.AllFunds() || !p.SeesFund("anything") || !p.SeesFund("_unknown") {
		t.Errorf(`funds ["*"] should see every fund and _unknown`)
	}
	p = auth(testauth.Std("c", []string{"auditor"}, []string{"_unknown"}).With("funds", []string{"_unknown"}))
	if p.SeesFund("_unknown") {
		t.Errorf(`"_unknown" in funds is not ["*"]`)
	}
	p = auth(testauth.Std("d", nil, nil).With("roles", nil).With("funds", nil))
	if p.HasRole("officer") || p.SeesFund("f1") {
		t.Errorf("no roles and no funds give nothing")
	}
}

// TestJWKSFileRotation: a changed file is picked up (the test's clock
// moves past the check interval); a broken file refuses every token.
func TestJWKSFileRotation(t *testing.T) {
	c := &clock{t: time.Now()}
	k1 := testauth.NewKey(t, jwa.RS256(), "2026-01")
	k2 := testauth.NewKey(t, jwa.ES256(), "2026-02")
	a, path := fileAuth(t, c.Now, k1)
	std := testauth.Std("x", []string{"auditor"}, []string{"*"})
	try := func(k *testauth.Key) error {
		_, err := a.Authenticate(context.Background(), k.Sign(t, std))
		return err
	}
	if err := try(k1); err != nil {
		t.Fatal(err)
	}
	if try(k2) == nil {
		t.Fatal("k2 accepted before it is in the JWKS")
	}
	testauth.WriteJWKS(t, path, k1, k2)
	c.Add(3 * time.Second)
	if err := try(k2); err != nil {
		t.Fatalf("k2 after the file changed: %v", err)
	}
	testauth.WriteJWKS(t, path, k2)
	c.Add(3 * time.Second)
	if try(k1) == nil {
		t.Fatal("k1 still accepted after it left the file")
	}
	if err := os.WriteFile(path, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.Add(3 * time.Second)
	if err := try(k2); err == nil || !strings.Contains(err.Error(), "keys unavailable") {
		t.Fatalf("broken JWKS file: %v, want refused", err)
	}
	testauth.WriteJWKS(t, path, k2)
	c.Add(3 * time.Second)
	if err := try(k2); err != nil {
		t.Fatalf("mended JWKS file: %v", err)
	}

	// Real time: a change is seen within 10 s without any help.
	bpath := filepath.Join(t.TempDir(), "jwks.json")
	testauth.WriteJWKS(t, bpath, k1)
	real, err := httpapi.NewAuthenticator(context.Background(), httpapi.AuthConfig{JWKS: bpath, Issuer: testauth.Issuer, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	testauth.WriteJWKS(t, bpath, k2)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := real.Authenticate(context.Background(), k2.Sign(t, std))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("changed JWKS file not picked up within 10 s: %v", err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func TestJWKSFileRequired(t *testing.T) {
	dir := t.TempDir()
	for name, cfg := range map[string]httpapi.AuthConfig{
		"missing file":  {JWKS: filepath.Join(dir, "nope.json"), Issuer: testauth.Issuer},
		"no issuer":     {JWKS: filepath.Join(dir, "nope.json")},
		"no usable key": {JWKS: writeFile(t, dir, "empty.json", `{"keys":[]}`), Issuer: testauth.Issuer},
		"HMAC key only": {JWKS: writeFile(t, dir, "hmac.json", `{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`), Issuer: testauth.Issuer},
	} {
		cfg.Log = quiet
		if _, err := httpapi.NewAuthenticator(context.Background(), cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestJWKSURLRotation: a key the issuer adds is accepted on its first
// token; a key it removes is refused after the next refresh; an issuer
// that cannot be reached at the start refuses tokens (never opens up)
// until it answers.
func TestJWKSURLRotation(t *testing.T) {
	c := &clock{t: time.Now()}
	k1 := testauth.NewKey(t, jwa.RS256(), "r1")
	k2 := testauth.NewKey(t, jwa.EdDSA(), "r2")
	srv := testauth.Serve(t, k1)
	srv.Fail(true)
	a, err := httpapi.NewAuthenticator(context.Background(), httpapi.AuthConfig{JWKS: srv.URL, Issuer: testauth.Issuer,
		Now: c.Now, Log: quiet, MinRefetch: time.Millisecond, RefreshEvery: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	std := testauth.Std("x", []string{"officer"}, []string{"f"})
	try := func(k *testauth.Key) error {
		_, err := a.Authenticate(context.Background(), k.Sign(t, std))
		return err
	}
	if err := try(k1); err == nil {
		t.Fatal("accepted while the JWKS cannot be fetched")
	}
	srv.Fail(false)
	c.Add(time.Second)
	if err := try(k1); err != nil {
		t.Fatalf("after the issuer came back: %v", err)
	}
	srv.Set(t, k1, k2)
	c.Add(10 * time.Millisecond)
	if err := try(k2); err != nil {
		t.Fatalf("a key added at the issuer: %v", err)
	}
	srv.Set(t, k2)
	c.Add(2 * time.Minute) // the periodic refresh is due; it runs beside the request
	_ = try(k2)
	deadline := time.Now().Add(5 * time.Second)
	for try(k1) == nil {
		if time.Now().After(deadline) {
			t.Fatal("a key removed at the issuer is still accepted after the refresh")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestJWKSURLBurst: many tokens with key ids the issuer does not have, at
// once, cost one fetch, not one each.
func TestJWKSURLBurst(t *testing.T) {
	k := testauth.NewKey(t, jwa.RS256(), "r1")
	srv := testauth.Serve(t, k)
	a, err := httpapi.NewAuthenticator(context.Background(), httpapi.AuthConfig{JWKS: srv.URL, Issuer: testauth.Issuer,
		Log: quiet, MinRefetch: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	tok := k.SignKID(t, testauth.Std("x", []string{"officer"}, []string{"f"}), "nope")
	before := srv.Fetches()
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := a.Authenticate(context.Background(), tok); err == nil {
				t.Error("unknown kid accepted")
			}
		}()
	}
	wg.Wait()
	if n := srv.Fetches() - before; n < 1 || n > 2 {
		t.Errorf("%d fetches for 20 tokens with an unknown kid at once, want 1 (2 at most)", n)
	}
}

// TestVerifiedTokenStillExpires: a token verified once is remembered, yet
// its claims are checked on every use: it expires on time, and a key
// that leaves the JWKS takes its tokens with it.
func TestVerifiedTokenStillExpires(t *testing.T) {
	c := &clock{t: time.Now()}
	k := testauth.NewKey(t, jwa.RS256(), "k")
	k2 := testauth.NewKey(t, jwa.RS256(), "k2")
	a, path := fileAuth(t, c.Now, k, k2)
	tok := k.Sign(t, testauth.Std("x", []string{"officer"}, []string{"f"}).With("exp", c.Now().Add(10*time.Minute).Unix()))
	for i := 0; i < 3; i++ {
		if _, err := a.Authenticate(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	c.Add(11 * time.Minute)
	if _, err := a.Authenticate(context.Background(), tok); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("remembered token past its exp: %v", err)
	}
	tok2 := k.Sign(t, testauth.Std("x", []string{"officer"}, []string{"f"}).With("exp", c.Now().Add(10*time.Minute).Unix()))
	if _, err := a.Authenticate(context.Background(), tok2); err != nil {
		t.Fatal(err)
	}
	testauth.WriteJWKS(t, path, k2)
	c.Add(3 * time.Second)
	if _, err := a.Authenticate(context.Background(), tok2); err == nil {
		t.Fatal("remembered token accepted after its key left the JWKS")
	}
}

// TestClaimsOfTheWrongType: a signed token whose standard claim has the
// wrong type is refused, saying so.
func TestClaimsOfTheWrongType(t *testing.T) {
	k := testauth.NewKey(t, jwa.EdDSA(), "k")
	a, _ := fileAuth(t, nil, k)
	for _, c := range []testauth.Claims{
		testauth.Std("x", nil, nil).With("exp", "tomorrow"),
		testauth.Std("x", nil, nil).With("sub", 42),
		testauth.Std("x", nil, nil).With("aud", 7),
	} {
		if _, err := a.Authenticate(context.Background(), k.Sign(t, c)); err == nil || !strings.Contains(err.Error(), "claims") {
			t.Errorf("%v: %v, want refused for its claims", c, err)
		}
	}
}

// TestJWKSURLStale: keys whose URL stopped answering are used for a while,
// then every token is refused until it answers again.
func TestJWKSURLStale(t *testing.T) {
	c := &clock{t: time.Now()}
	k := testauth.NewKey(t, jwa.ES256(), "k")
	srv := testauth.Serve(t, k)
	a, err := httpapi.NewAuthenticator(context.Background(), httpapi.AuthConfig{JWKS: srv.URL, Issuer: testauth.Issuer,
		Now: c.Now, Log: quiet, RefreshEvery: time.Minute, MaxStale: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	try := func() error {
		_, err := a.Authenticate(context.Background(), k.Sign(t, testauth.Std("x", []string{"officer"}, []string{"f"}).With("exp", c.Now().Add(time.Hour).Unix()).With("iat", c.Now().Unix()).With("nbf", c.Now().Unix())))
		return err
	}
	if err := try(); err != nil {
		t.Fatal(err)
	}
	srv.Fail(true)
	c.Add(5 * time.Minute)
	if err := try(); err != nil {
		t.Fatalf("keys 5 minutes old, the issuer down: %v", err)
	}
	c.Add(6 * time.Minute)
	if err := try(); err == nil || !strings.Contains(err.Error(), "does not answer") {
		t.Fatalf("keys 11 minutes old, the issuer down: %v, want refused", err)
	}
	before := srv.Fetches()
	for i := 0; i < 10; i++ {
		_ = try()
	}
	if n := srv.Fetches() - before; n > 1 {
		t.Errorf("%d fetches for 10 tokens while the issuer is down, want at most 1", n)
	}
	srv.Fail(false)
	c.Add(3 * time.Second)
	if err := try(); err != nil {
		t.Fatalf("after the issuer came back: %v", err)
	}
}
