// Package testauth is a token issuer for tests: it makes signing keys,
// publishes them as a JWKS (a file or a loopback URL) and signs JWTs with
// any claims and header, bad ones included, through
// github.com/lestrrat-go/jwx/v3 as a real issuer would.
package testauth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// Issuer is the default iss of tokens.
const Issuer = "https://login.example.test/realms/city"

// Key is one signing key.
type Key struct {
	KID  string
	Alg  jwa.SignatureAlgorithm
	priv any
	Pub  jwk.Key
}

// NewKey makes a key for alg (RS256, ES256 or EdDSA) with key id kid
// ("" for a key without one).
func NewKey(t testing.TB, alg jwa.SignatureAlgorithm, kid string) *Key {
	t.Helper()
	var priv any
	var err error
	switch alg {
	case jwa.RS256():
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case jwa.ES256():
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jwa.EdDSA():
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("testauth: no key for %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	pk, err := jwk.PublicKeyOf(priv)
	if err != nil {
		t.Fatal(err)
	}
	if kid != "" {
		_ = pk.Set(jwk.KeyIDKey, kid)
	}
	_ = pk.Set(jwk.KeyUsageKey, "sig")
	return &Key{KID: kid, Alg: alg, priv: priv, Pub: pk}
}

// JWKS is the document listing keys.
func JWKS(t testing.TB, keys ...*Key) []byte {
	t.Helper()
	set := jwk.NewSet()
	for _, k := range keys {
		if err := set.AddKey(k.Pub); err != nil {
			t.Fatal(err)
		}
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// WriteJWKS writes the keys' JWKS to path (replacing the file whole).
func WriteJWKS(t testing.TB, path string, keys ...*Key) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, JWKS(t, keys...), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// Server serves a JWKS over HTTP on loopback; Set changes what it serves
// (a rotation at the issuer), Fail makes it answer 503.
type Server struct {
	URL string

	mu      sync.Mutex
	doc     []byte
	fail    bool
	fetches int
}

// Serve starts a JWKS server for the test.
func Serve(t testing.TB, keys ...*Key) *Server {
	t.Helper()
	s := &Server{doc: JWKS(t, keys...)}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.fetches++
		if s.fail {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(s.doc)
	}))
	t.Cleanup(hs.Close)
	s.URL = hs.URL + "/jwks.json"
	return s
}

// Set serves these keys from now on.
func (s *Server) Set(t testing.TB, keys ...*Key) {
	doc := JWKS(t, keys...)
	s.mu.Lock()
	s.doc = doc
	s.mu.Unlock()
}

// Fail makes the server answer 503 (true) or serve again (false).
func (s *Server) Fail(v bool) {
	s.mu.Lock()
	s.fail = v
	s.mu.Unlock()
}

// Fetches is how many times the JWKS was asked for.
func (s *Server) Fetches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches
}

// Claims are a token's claims; Std fills the usual ones.
type Claims map[string]any

// Std is a valid token's claims for sub with roles and funds, issued now
// for an hour, for audience "fundledger".
func Std(sub string, roles, funds []string) Claims {
	now := time.Now()
	return Claims{"iss": Issuer, "aud": "fundledger", "sub": sub, "iat": now.Unix(), "nbf": now.Unix(),
		"exp": now.Add(time.Hour).Unix(), "roles": roles, "funds": funds}
}

// With returns a copy of c with name set to v (nil deletes it).
func (c Claims) With(name string, v any) Claims {
	out := Claims{}
	for k, x := range c {
		out[k] = x
	}
	if v == nil {
		delete(out, name)
	} else {
		out[name] = v
	}
	return out
}

// Sign signs claims with k, its kid in the header (when it has one).
func (k *Key) Sign(t testing.TB, c Claims) string {
	t.Helper()
	return k.SignKID(t, c, k.KID)
}

// SignKID signs claims with k, naming kid in the header ("" for none).
func (k *Key) SignKID(t testing.TB, c Claims, kid string) string {
	t.Helper()
	payload, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	hdr := jws.NewHeaders()
	_ = hdr.Set(jws.TypeKey, "JWT")
	if kid != "" {
		_ = hdr.Set(jws.KeyIDKey, kid)
	}
	b, err := jws.Sign(payload, jws.WithKey(k.Alg, k.priv, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// HS256WithPublicKey signs claims with HS256, the secret being the
// bytes of k's public JWK: the old algorithm-confusion attack.
func (k *Key) HS256WithPublicKey(t testing.TB, c Claims) string {
	t.Helper()
	secret, err := json.Marshal(k.Pub)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(c)
	hdr := jws.NewHeaders()
	_ = hdr.Set(jws.KeyIDKey, k.KID)
	b, err := jws.Sign(payload, jws.WithKey(jwa.HS256(), secret, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Unsigned is a token with alg "none" and an empty signature.
func Unsigned(t testing.TB, c Claims, kid string) string {
	t.Helper()
	h := map[string]string{"alg": "none", "typ": "JWT"}
	if kid != "" {
		h["kid"] = kid
	}
	hb, _ := json.Marshal(h)
	pb, _ := json.Marshal(c)
	enc := base64.RawURLEncoding
	return enc.EncodeToString(hb) + "." + enc.EncodeToString(pb) + "."
}
