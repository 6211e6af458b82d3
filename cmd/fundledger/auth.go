package main

// serve's access settings (CONTRACT.md section 9): AUTH_JWKS turns on
// bearer tokens; without it the read API is open, so serve insists on a
// loopback address.

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"

	"github.com/fundledger/fundledger/console"
	"github.com/fundledger/fundledger/events/jetstream"
	"github.com/fundledger/fundledger/httpapi"
	"github.com/fundledger/fundledger/ledger/postgres"
)

// authSettings are serve's AUTH_* settings.
type authSettings struct {
	JWKS, Issuer, Audience string
}

// authFlags adds --auth-jwks, --auth-issuer and --auth-audience, their
// defaults from the environment (AUTH_JWKS read after parsing, as a URL
// may hold a password that --help must not print).
func authFlags(fs *flag.FlagSet) *authSettings {
	a := &authSettings{}
	fs.StringVar(&a.JWKS, "auth-jwks", "", "URL or file of the JWKS that signs bearer tokens; unset leaves the read API open, on loopback only (default $AUTH_JWKS)")
	fs.StringVar(&a.Issuer, "auth-issuer", os.Getenv("AUTH_ISSUER"), "the iss every token must carry; required with AUTH_JWKS (AUTH_ISSUER)")
	fs.StringVar(&a.Audience, "auth-audience", env("AUTH_AUDIENCE", httpapi.DefaultAudience), "the aud every token must carry (AUTH_AUDIENCE)")
	return a
}

// check refuses settings serve must not start with: an issuer missing
// beside a JWKS, or an open API on an address others can reach.
func (a *authSettings) check(httpAddr string) error {
	if a.JWKS == "" {
		if !loopbackAddr(httpAddr) {
			return usageError{fmt.Sprintf("HTTP_ADDR %q is not a loopback address, and AUTH_JWKS is not set: "+
				"the read API would be open to anyone who can reach it. Set AUTH_JWKS and AUTH_ISSUER to require tokens, "+
				"or listen on loopback (127.0.0.1:8080, [::1]:8080, localhost:8080)", httpAddr)}
		}
		return nil
	}
	if a.Issuer == "" {
		return usageError{"AUTH_ISSUER is required when AUTH_JWKS is set: it is the iss every token must carry"}
	}
	return nil
}

// loopbackAddr says whether a listen address is loopback only:
// 127.0.0.0/8, ::1 or localhost. ":8080" (every interface) is not.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// apiFor builds the read API serve runs: behind tokens when AUTH_JWKS is
// set (the keys are loaded now, so a JWKS file that cannot be read stops
// serve here), open otherwise, said in the log as a warning.
func (a *authSettings) apiFor(ctx context.Context, log *slog.Logger) (func(*postgres.Store) http.Handler, error) {
	if a.JWKS == "" {
		log.Warn("the read API is open: AUTH_JWKS is not set, so anyone who reaches HTTP_ADDR reads every fund's books; it listens on loopback only")
		return func(store *postgres.Store) http.Handler {
			return (&httpapi.API{Store: store, Log: log, Pages: console.New(store, log)}).Handler()
		}, nil
	}
	auth, err := httpapi.NewAuthenticator(ctx, httpapi.AuthConfig{JWKS: a.JWKS, Issuer: a.Issuer, Audience: a.Audience, Log: log})
	if err != nil {
		return nil, err
	}
	log.Info("read API requires bearer tokens", "jwks", jetstream.Redact(a.JWKS), "issuer", a.Issuer, "audience", a.Audience)
	return func(store *postgres.Store) http.Handler {
		// The access log is written by its own writer; the handler's
		// Close (at the stop) writes what it still holds.
		al := httpapi.NewAccessLog(store, httpapi.AccessLogOptions{Log: log})
		return (&httpapi.API{Store: store, Log: log, Auth: auth, AccessLog: al, Pages: console.New(store, log)}).Handler()
	}, nil
}
