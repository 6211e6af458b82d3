package httpapi

// Bearer tokens (CONTRACT.md section 9). A token is a JWT signed with
// RS256, ES256 or EdDSA by a key of the JWKS that AUTH_JWKS names (a URL
// or a file). The signature and the claims are checked by
// github.com/lestrrat-go/jwx/v3; this file only chooses the keys a token
// may be checked against and reads the claims the ledger defines (roles,
// funds).
//
// Keys change without a restart: a JWKS file is read again when its bytes
// change (looked at, at most every FileCheckEvery, on the requests that
// need it, so a change is seen within seconds); a JWKS URL is fetched
// again every RefreshEvery, and at once (at most every MinRefetch) when a
// token names a key id the set does not hold or no key verifies it, so a
// key the issuer just rotated in works on its first token.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// The roles a token may hold (claim "roles"). Any other name gives nothing.
const (
	RoleOfficer   = "officer"
	RoleAuditor   = "auditor"
	RoleReporting = "reporting"
)

// AllFunds is the "funds" claim's entry that means every fund.
const AllFunds = "*"

const (
	// ClockSkew is allowed on exp, nbf and iat.
	ClockSkew = 60 * time.Second
	// DefaultAudience is the aud a token must carry when AUTH_AUDIENCE is
	// not set.
	DefaultAudience = "fundledger"
	// MaxTokenBytes bounds a bearer token: a longer one is refused before
	// it is parsed.
	MaxTokenBytes = 16 << 10
	// maxJWKSBytes bounds a JWKS document.
	maxJWKSBytes = 1 << 20
)

// AuthConfig says where the keys are and what a token must claim.
type AuthConfig struct {
	// JWKS is an http(s) URL of a JWKS document, or the path of a file
	// holding one.
	JWKS string
	// Issuer is the required iss (required).
	Issuer string
	// Audience is the required aud (DefaultAudience when empty).
	Audience string
	// Client fetches a JWKS URL (a client with a 10 s timeout when nil).
	Client *http.Client
	// FileCheckEvery is how often a JWKS file is looked at (default 2 s).
	FileCheckEvery time.Duration
	// RefreshEvery is how often a JWKS URL is fetched again (default 5 min).
	RefreshEvery time.Duration
	// MinRefetch is the least time between two fetches of a JWKS URL
	// caused by tokens with keys the set does not hold (default 2 s).
	MinRefetch time.Duration
	// MaxStale is how long keys fetched from a URL stay in use while the
	// URL cannot be fetched again (default 1 h); after that every token
	// is refused until the URL answers.
	MaxStale time.Duration
	// Now is the clock (time.Now when nil); tests move it.
	Now func() time.Time
	// Log receives why keys could not be loaded (slog.Default when nil).
	Log *slog.Logger
}

// Principal is who a request speaks for, as its token says.
type Principal struct {
	// Sub is the token's subject: the person.
	Sub string
	// Roles are the roles as the token states them, unknown ones too (the
	// access log records them so); only the known ones give rights.
	Roles []string
	// Funds are the fund ids the token names ("*": every fund).
	Funds []string

	officer, auditor, reporting bool
	allFunds                    bool
	open                        bool // the API runs without authentication
}

// openPrincipal is everyone when the API runs without AUTH_JWKS.
var openPrincipal = &Principal{officer: true, auditor: true, reporting: true, allFunds: true, open: true}

func newPrincipal(sub string, roles, funds []string) *Principal {
	p := &Principal{Sub: sub, Roles: roles, Funds: funds}
	for _, r := range roles {
		switch r {
		case RoleOfficer:
			p.officer = true
		case RoleAuditor:
			p.auditor = true
		case RoleReporting:
			p.reporting = true
		}
	}
	p.allFunds = slices.Contains(funds, AllFunds)
	return p
}

// HasRole says whether the principal holds role.
func (p *Principal) HasRole(role string) bool {
	switch role {
	case RoleOfficer:
		return p.officer
	case RoleAuditor:
		return p.auditor
	case RoleReporting:
		return p.reporting
	}
	return false
}

// AllFunds says whether the token's funds are ["*"].
func (p *Principal) AllFunds() bool { return p.allFunds }

// SeesFund says whether fundID is within the token's funds. The fund
// "_unknown" (rejections whose fund could not be read) only to ["*"].
func (p *Principal) SeesFund(fundID string) bool {
	return p.allFunds || (fundID != "" && !strings.HasPrefix(fundID, "_") && slices.Contains(p.Funds, fundID))
}

// Open says whether the API runs without authentication.
func (p *Principal) Open() bool { return p.open }

// authError is why a token was refused: Terse goes in the 401 body,
// Detail in the service's log.
type authError struct {
	Terse, Detail string
}

func (e *authError) Error() string { return e.Terse + ": " + e.Detail }

func refuse(terse, format string, args ...any) *authError {
	return &authError{Terse: terse, Detail: fmt.Sprintf(format, args...)}
}

// Authenticator checks bearer tokens against a JWKS.
type Authenticator struct {
	issuer, audience string
	now              func() time.Time
	log              *slog.Logger
	keys             keySource
	verified         verifiedCache
}

// verifiedCache remembers tokens whose signature verified, with the key
// set that verified them, so a client sending the same token on every
// request pays for the signature once (the claims, exp and nbf above all,
// are checked on every request all the same). A token is looked up by
// its SHA-256; an entry counts only while the key set is the same one,
// so a key removed from the JWKS stops its tokens at once.
type verifiedCache struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]verifiedToken
}

type verifiedToken struct {
	set *keySet
	tok jwt.Token
	p   *Principal // as the token states it; never changed once made
}

// verifiedCacheSize bounds the cache; when full it starts afresh.
const verifiedCacheSize = 4096

func (c *verifiedCache) get(k [sha256.Size]byte, set *keySet) (verifiedToken, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok && v.set == set
}

func (c *verifiedCache) put(k [sha256.Size]byte, v verifiedToken) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= verifiedCacheSize {
		c.m = make(map[[sha256.Size]byte]verifiedToken)
	}
	c.m[k] = v
}

// NewAuthenticator checks the configuration and loads the keys once: a
// JWKS file that cannot be read or parsed is an error here (serve then
// refuses to start); a URL that cannot be fetched yet is not (its keys
// are fetched again on the next token, and until then every token is
// refused).
func NewAuthenticator(ctx context.Context, cfg AuthConfig) (*Authenticator, error) {
	if cfg.JWKS == "" {
		return nil, errors.New("AUTH_JWKS is empty")
	}
	if cfg.Issuer == "" {
		return nil, errors.New("AUTH_ISSUER is required when AUTH_JWKS is set: it is the iss every token must carry")
	}
	if cfg.Audience == "" {
		cfg.Audience = DefaultAudience
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	a := &Authenticator{issuer: cfg.Issuer, audience: cfg.Audience, now: cfg.Now, log: cfg.Log}
	if strings.HasPrefix(cfg.JWKS, "https://") || strings.HasPrefix(cfg.JWKS, "http://") {
		src := &urlKeys{url: cfg.JWKS, shown: redactURL(cfg.JWKS), client: cfg.Client, every: cfg.RefreshEvery, minGap: cfg.MinRefetch,
			maxStale: cfg.MaxStale, now: cfg.Now, log: cfg.Log}
		src.defaults()
		if err := src.fetch(ctx); err != nil {
			cfg.Log.Warn("JWKS not fetched yet; every token is refused until it is", "jwks", src.shown, "err", err.Error())
		}
		a.keys = src
		return a, nil
	}
	src := &fileKeys{path: cfg.JWKS, every: cfg.FileCheckEvery, now: cfg.Now, log: cfg.Log}
	if src.every <= 0 {
		src.every = 2 * time.Second
	}
	if err := src.load(); err != nil {
		return nil, fmt.Errorf("AUTH_JWKS %s: %w", cfg.JWKS, err)
	}
	a.keys = src
	return a, nil
}

// Authenticate checks a bearer token and returns whom it speaks for. On
// a refusal the error is an *authError, and the principal is still
// returned (with Sub and Roles as stated) when the signature verified,
// for the access log: an expired token's holder is named, a forged one's
// never.
func (a *Authenticator) Authenticate(ctx context.Context, token string) (*Principal, error) {
	if token == "" {
		return nil, refuse("missing bearer token", "no token")
	}
	if len(token) > MaxTokenBytes {
		return nil, refuse("invalid token", "token of %d bytes, more than %d", len(token), MaxTokenBytes)
	}
	digest := sha256.Sum256([]byte(token))
	if set, err := a.keys.current(ctx); err == nil {
		if v, ok := a.verified.get(digest, set); ok {
			return a.validate(v.tok, v.p)
		}
	}
	msg, err := jws.Parse([]byte(token), jws.WithCompact())
	if err != nil {
		return nil, refuse("invalid token", "not a compact JWS: %v", err)
	}
	sigs := msg.Signatures()
	if len(sigs) != 1 {
		return nil, refuse("invalid token", "%d signatures, want 1", len(sigs))
	}
	hdr := sigs[0].ProtectedHeaders()
	alg, _ := hdr.Algorithm()
	if !allowedAlg(alg) {
		return nil, refuse("invalid token", "algorithm %q is not accepted (RS256, ES256, EdDSA only)", alg.String())
	}
	kid, hasKid := hdr.KeyID()

	set, err := a.keys.current(ctx)
	if err != nil {
		return nil, refuse("invalid token", "signing keys unavailable: %v", err)
	}
	tok, offered, err := verifyWith(token, set, alg, kid, hasKid)
	if err != nil {
		// A key the issuer just added, or a set that changed since it
		// was read: read it again once.
		if fresh, rerr := a.keys.refresh(ctx); rerr == nil && fresh != set {
			set = fresh
			tok, offered, err = verifyWith(token, set, alg, kid, hasKid)
		}
	}
	var ce errClaims
	if errors.As(err, &ce) {
		return nil, refuse("invalid token: claims not readable", "%v", ce.error)
	}
	if err != nil {
		if offered == 0 {
			if hasKid {
				return nil, refuse("invalid token", "no %s key with kid %q in the JWKS", alg.String(), kid)
			}
			return nil, refuse("invalid token", "no %s key in the JWKS", alg.String())
		}
		return nil, refuse("invalid token", "signature does not verify (kid %q, %d keys tried): %v", kid, offered, err)
	}

	// The signature holds: from here on the token names its holder.
	sub, _ := tok.Subject()
	p := newPrincipal(sub, stringList(tok, "roles"), stringList(tok, "funds"))
	a.verified.put(digest, verifiedToken{set: set, tok: tok, p: p})
	return a.validate(tok, p)
}

// validate checks the claims of a token whose signature verified.
func (a *Authenticator) validate(tok jwt.Token, p *Principal) (*Principal, error) {
	sub := p.Sub
	err := jwt.Validate(tok,
		jwt.WithClock(jwt.ClockFunc(a.now)),
		jwt.WithAcceptableSkew(ClockSkew),
		jwt.WithTruncation(0),
		jwt.WithIssuer(a.issuer),
		jwt.WithAudience(a.audience),
		jwt.WithRequiredClaim(jwt.ExpirationKey),
		jwt.WithRequiredClaim(jwt.SubjectKey),
	)
	switch {
	case err == nil && sub == "":
		return p, refuse("invalid token", "empty sub")
	case err == nil:
		return p, nil
	case errors.Is(err, jwt.TokenExpiredError()):
		exp, _ := tok.Expiration()
		return p, refuse("token expired", "exp %s is past (skew %s)", exp.UTC().Format(time.RFC3339), ClockSkew)
	case errors.Is(err, jwt.TokenNotYetValidError()):
		nbf, _ := tok.NotBefore()
		return p, refuse("token not yet valid", "nbf %s is ahead (skew %s)", nbf.UTC().Format(time.RFC3339), ClockSkew)
	case errors.Is(err, jwt.InvalidIssuedAtError()):
		iat, _ := tok.IssuedAt()
		return p, refuse("token not yet valid", "iat %s is ahead (skew %s)", iat.UTC().Format(time.RFC3339), ClockSkew)
	case errors.Is(err, jwt.InvalidIssuerError()):
		iss, _ := tok.Issuer()
		return p, refuse("invalid token: wrong issuer", "iss %q, want %q", iss, a.issuer)
	case errors.Is(err, jwt.InvalidAudienceError()):
		aud, _ := tok.Audience()
		return p, refuse("invalid token: wrong audience", "aud %q, want %q", aud, a.audience)
	case errors.Is(err, jwt.MissingRequiredClaimError()):
		return p, refuse("invalid token: missing claim", "%v", err)
	}
	return p, refuse("invalid token", "%v", err)
}

func allowedAlg(alg jwa.SignatureAlgorithm) bool {
	return alg == jwa.RS256() || alg == jwa.ES256() || alg == jwa.EdDSA()
}

// verifyWith checks the token's signature against the keys of set that
// fit its alg (and its kid, when it has one: a token without kid is tried
// against every key). offered counts the keys tried.
func verifyWith(token string, set *keySet, alg jwa.SignatureAlgorithm, kid string, hasKid bool) (jwt.Token, int, error) {
	p := &keyPicker{set: set, alg: alg, kid: kid, hasKid: hasKid}
	if _, err := jws.Verify([]byte(token), jws.WithKeyProvider(p)); err != nil {
		return nil, p.offered, err
	}
	// The bytes just verified: read their claims.
	tok, err := jwt.ParseInsecure([]byte(token))
	if err != nil {
		return nil, p.offered, errClaims{err}
	}
	return tok, p.offered, nil
}

// errClaims is a token whose signature verified and whose claims cannot
// be read (a standard claim of the wrong type).
type errClaims struct{ error }

// keyPicker offers jwx the keys a token may be checked with: its
// algorithm only, a key of the matching type (RSA for RS256, P-256 for
// ES256, Ed25519 for EdDSA), never a key marked for another algorithm or
// for encryption.
type keyPicker struct {
	set     *keySet
	alg     jwa.SignatureAlgorithm
	kid     string
	hasKid  bool
	offered int
}

func (p *keyPicker) FetchKeys(_ context.Context, sink jws.KeySink, sig *jws.Signature, _ *jws.Message) error {
	if a, _ := sig.ProtectedHeaders().Algorithm(); a != p.alg {
		return fmt.Errorf("algorithm changed under the picker")
	}
	for _, k := range p.set.keys {
		if p.hasKid && k.kid != p.kid {
			continue
		}
		if k.alg != "" && k.alg != p.alg.String() {
			continue
		}
		if !keyFits(p.alg, k.pub) {
			continue
		}
		sink.Key(p.alg, k.pub)
		p.offered++
	}
	if p.offered == 0 {
		return errors.New("no key fits the token")
	}
	return nil
}

func keyFits(alg jwa.SignatureAlgorithm, pub crypto.PublicKey) bool {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return alg == jwa.RS256()
	case *ecdsa.PublicKey:
		return alg == jwa.ES256() && k.Curve == elliptic.P256()
	case ed25519.PublicKey:
		return alg == jwa.EdDSA()
	}
	return false
}

// stringList reads a claim that is a list of strings (a single string is
// a list of one); anything else is no list.
func stringList(tok jwt.Token, name string) []string {
	var v any
	if err := tok.Get(name, &v); err != nil {
		return nil
	}
	switch x := v.(type) {
	case string:
		return []string{x}
	case []string:
		return x
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// keySet is a JWKS read into the public keys a token may be checked with.
type keySet struct {
	keys []verifyKey
}

type verifyKey struct {
	kid string
	alg string // the key's "alg", when it names one
	pub crypto.PublicKey
}

// parseKeySet reads a JWKS document. Keys the ledger cannot use (for
// encryption, of another type, RSA shorter than 2048 bits) are left out
// and named in skipped; a document with no usable key is an error.
func parseKeySet(b []byte) (*keySet, []string, error) {
	set, err := jwk.Parse(b)
	if err != nil {
		return nil, nil, fmt.Errorf("not a JWKS document: %w", err)
	}
	out := &keySet{}
	var skipped []string
	for i := 0; i < set.Len(); i++ {
		k, _ := set.Key(i)
		kid, _ := k.KeyID()
		name := fmt.Sprintf("key %d (kid %q)", i, kid)
		if use, ok := k.KeyUsage(); ok && use != "" && use != jwk.ForSignature.String() {
			skipped = append(skipped, name+": use "+use)
			continue
		}
		pk, err := jwk.PublicKeyOf(k)
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		var raw any
		if err := jwk.Export(pk, &raw); err != nil {
			skipped = append(skipped, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		var alg string
		if a, ok := k.Algorithm(); ok {
			alg = a.String()
		}
		switch r := raw.(type) {
		case *rsa.PublicKey:
			if r.N.BitLen() < 2048 {
				skipped = append(skipped, fmt.Sprintf("%s: RSA key of %d bits, fewer than 2048", name, r.N.BitLen()))
				continue
			}
		case *ecdsa.PublicKey:
			if r.Curve != elliptic.P256() {
				skipped = append(skipped, name+": EC key not on P-256")
				continue
			}
		case ed25519.PublicKey:
		default:
			skipped = append(skipped, fmt.Sprintf("%s: a %T cannot check RS256, ES256 or EdDSA", name, raw))
			continue
		}
		out.keys = append(out.keys, verifyKey{kid: kid, alg: alg, pub: raw})
	}
	if len(out.keys) == 0 {
		return nil, skipped, fmt.Errorf("no usable signing key (%d keys: %s)", set.Len(), strings.Join(skipped, "; "))
	}
	return out, skipped, nil
}

// keySource hands out the current keys.
type keySource interface {
	// current returns the keys to check a token with, or why there are
	// none.
	current(ctx context.Context) (*keySet, error)
	// refresh reads the keys again, unless that was done a moment ago,
	// and returns the (maybe unchanged) current ones.
	refresh(ctx context.Context) (*keySet, error)
}

// fileKeys is a JWKS file, read again when its bytes change.
type fileKeys struct {
	path  string
	every time.Duration
	now   func() time.Time
	log   *slog.Logger

	mu      sync.Mutex
	checked time.Time
	bytes   []byte
	set     *keySet
	err     error
	started bool // loaded once: NewAuthenticator reports the first load's error itself
}

// load reads the file now: a file that cannot be read or holds no usable
// key leaves no keys (every token is refused), never the old ones.
func (f *fileKeys) load() error {
	b, err := readLimited(f.path)
	f.checked = f.now()
	if err == nil && f.set != nil && bytes.Equal(b, f.bytes) {
		return nil
	}
	var set *keySet
	var skipped []string
	if err == nil {
		set, skipped, err = parseKeySet(b)
	}
	if err != nil {
		if f.started && (f.err == nil || f.err.Error() != err.Error()) {
			f.log.Error("JWKS file unusable; every token is refused until it is fixed", "jwks", f.path, "err", err.Error())
		}
		f.set, f.bytes, f.err = nil, nil, err
		return err
	}
	for _, s := range skipped {
		f.log.Warn("JWKS key left out", "jwks", f.path, "key", s)
	}
	if f.started {
		f.log.Info("JWKS file changed; keys reloaded", "jwks", f.path, "keys", len(set.keys))
	}
	f.set, f.bytes, f.err, f.started = set, b, nil, true
	return nil
}

func readLimited(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, maxJWKSBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxJWKSBytes {
		return nil, fmt.Errorf("more than %d bytes", maxJWKSBytes)
	}
	return b, nil
}

func (f *fileKeys) current(context.Context) (*keySet, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.now().Sub(f.checked) >= f.every {
		_ = f.load()
	}
	return f.set, f.err
}

func (f *fileKeys) refresh(context.Context) (*keySet, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.now().Sub(f.checked) >= 200*time.Millisecond {
		_ = f.load()
	}
	return f.set, f.err
}

// urlKeys is a JWKS fetched over HTTP(S).
type urlKeys struct {
	url      string
	shown    string // url without a password, for the log
	client   *http.Client
	every    time.Duration
	minGap   time.Duration
	maxStale time.Duration
	now      func() time.Time
	log      *slog.Logger

	mu        sync.Mutex
	set       *keySet
	fetchedAt time.Time // of set
	tried     time.Time // last attempt, good or not
	err       error     // of the last attempt
	inFlight  chan struct{}
}

// redactURL is a URL as the log may show it: without its user's password.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}

func (u *urlKeys) defaults() {
	if u.client == nil {
		u.client = &http.Client{Timeout: 10 * time.Second}
	}
	if u.every <= 0 {
		u.every = 5 * time.Minute
	}
	if u.minGap <= 0 {
		u.minGap = 2 * time.Second
	}
	if u.maxStale <= 0 {
		u.maxStale = time.Hour
	}
}

// fetch gets the document once; one fetch at a time.
func (u *urlKeys) fetch(ctx context.Context) error {
	u.mu.Lock()
	if u.inFlight != nil {
		ch := u.inFlight
		u.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		u.mu.Lock()
		defer u.mu.Unlock()
		return u.err
	}
	ch := make(chan struct{})
	u.inFlight = ch
	u.tried = u.now()
	u.mu.Unlock()

	set, err := u.get(ctx)

	u.mu.Lock()
	defer u.mu.Unlock()
	u.inFlight = nil
	close(ch)
	if err != nil {
		if u.err == nil || u.err.Error() != err.Error() {
			u.log.Error("JWKS fetch failed", "jwks", u.shown, "err", err.Error())
		}
		u.err = err
		return err
	}
	if u.set != nil && len(set.keys) != len(u.set.keys) {
		u.log.Info("JWKS keys changed", "jwks", u.shown, "keys", len(set.keys))
	}
	u.set, u.fetchedAt, u.err = set, u.now(), nil
	return nil
}

func (u *urlKeys) get(ctx context.Context) (*keySet, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	resp, err := u.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxJWKSBytes {
		return nil, fmt.Errorf("JWKS of more than %d bytes", maxJWKSBytes)
	}
	set, skipped, err := parseKeySet(b)
	for _, s := range skipped {
		u.log.Warn("JWKS key left out", "jwks", u.shown, "key", s)
	}
	return set, err
}

func (u *urlKeys) current(ctx context.Context) (*keySet, error) {
	u.mu.Lock()
	set, at, tried, err := u.set, u.fetchedAt, u.tried, u.err
	now := u.now()
	u.mu.Unlock()
	switch {
	case set == nil:
		// Never fetched: try now, at most every minGap.
		if now.Sub(tried) >= u.minGap {
			if ferr := u.fetch(ctx); ferr != nil {
				return nil, ferr
			}
			return u.snapshot()
		}
		if err == nil {
			err = errors.New("not fetched yet")
		}
		return nil, err
	case now.Sub(at) >= u.maxStale:
		if now.Sub(tried) < u.minGap {
			// Tried a moment ago and failed: refuse without asking again.
			return nil, fmt.Errorf("keys fetched %s ago and the JWKS URL does not answer: %v", now.Sub(at).Round(time.Second), err)
		}
		if ferr := u.fetch(ctx); ferr != nil {
			return nil, fmt.Errorf("keys fetched %s ago and the JWKS URL does not answer: %w", now.Sub(at).Round(time.Second), ferr)
		}
		return u.snapshot()
	case now.Sub(at) >= u.every && now.Sub(tried) >= u.minGap:
		// Due: fetch beside this request, which goes on with the keys in
		// hand.
		go func() { _ = u.fetch(context.Background()) }()
	}
	return set, nil
}

func (u *urlKeys) snapshot() (*keySet, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.set == nil {
		return nil, u.err
	}
	return u.set, nil
}

func (u *urlKeys) refresh(ctx context.Context) (*keySet, error) {
	u.mu.Lock()
	wait := u.minGap - u.now().Sub(u.tried)
	u.mu.Unlock()
	if wait > 0 {
		// Fetched a moment ago: wait out the gap (bounded by the
		// request), so a burst of unknown key ids costs one fetch.
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
	u.mu.Lock()
	fresh := u.now().Sub(u.tried) < u.minGap && u.inFlight == nil
	u.mu.Unlock()
	if !fresh {
		if err := u.fetch(ctx); err != nil {
			return nil, err
		}
	}
	return u.snapshot()
}
