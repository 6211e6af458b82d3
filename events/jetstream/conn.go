package jetstream

// How the ledger's commands prove who they are to NATS, and reach it over
// TLS (CONTRACT.md section 9): a credentials file (NATS_CREDS), an nkey
// seed file (NATS_NKEY), a user and password in NATS_URL, and TLS
// (NATS_TLS_CA, NATS_TLS_CERT, NATS_TLS_KEY). docs/security.md lists the
// NATS permissions each user needs and a tested server configuration.

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/nats-io/nats.go"
)

// ConnAuth is how to authenticate to NATS and whether to use TLS. The
// fields hold file paths, never the secrets themselves.
type ConnAuth struct {
	Creds   string // a credentials file: user JWT and nkey seed (NATS_CREDS)
	NKey    string // a file holding an nkey seed (NATS_NKEY)
	TLSCA   string // CA certificates to trust for the server (NATS_TLS_CA)
	TLSCert string // client certificate (NATS_TLS_CERT), with TLSKey
	TLSKey  string // its private key (NATS_TLS_KEY)
}

// AuthFromEnv reads NATS_CREDS, NATS_NKEY, NATS_TLS_CA, NATS_TLS_CERT and
// NATS_TLS_KEY.
func AuthFromEnv() ConnAuth {
	return ConnAuth{Creds: os.Getenv("NATS_CREDS"), NKey: os.Getenv("NATS_NKEY"),
		TLSCA: os.Getenv("NATS_TLS_CA"), TLSCert: os.Getenv("NATS_TLS_CERT"), TLSKey: os.Getenv("NATS_TLS_KEY")}
}

// Empty says whether nothing is set.
func (a ConnAuth) Empty() bool { return a == ConnAuth{} }

// Options are the nats.go options for a, after checking the files can be
// read (so a wrong path is said at the start, not as a connection that
// never succeeds). A user and password travel in the URL itself, which
// nats.go reads.
func (a ConnAuth) Options() ([]nats.Option, error) {
	if a.Creds != "" && a.NKey != "" {
		return nil, errors.New("NATS_CREDS and NATS_NKEY are both set: give one way to log in")
	}
	if (a.TLSCert == "") != (a.TLSKey == "") {
		return nil, errors.New("NATS_TLS_CERT and NATS_TLS_KEY go together: the client certificate and its key")
	}
	for _, f := range []struct{ env, path string }{
		{"NATS_CREDS", a.Creds}, {"NATS_NKEY", a.NKey}, {"NATS_TLS_CA", a.TLSCA}, {"NATS_TLS_CERT", a.TLSCert}, {"NATS_TLS_KEY", a.TLSKey},
	} {
		if f.path == "" {
			continue
		}
		fh, err := os.Open(f.path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.env, err)
		}
		fh.Close()
	}
	var opts []nats.Option
	switch {
	case a.Creds != "":
		opts = append(opts, nats.UserCredentials(a.Creds))
	case a.NKey != "":
		o, err := nats.NkeyOptionFromSeed(a.NKey)
		if err != nil {
			return nil, fmt.Errorf("NATS_NKEY: %w", err)
		}
		opts = append(opts, o)
	}
	if a.TLSCA != "" {
		opts = append(opts, nats.RootCAs(a.TLSCA))
	}
	if a.TLSCert != "" {
		opts = append(opts, nats.ClientCert(a.TLSCert, a.TLSKey))
	}
	return opts, nil
}

// Redact writes NATS server URLs (a comma-separated list) without their
// user information: a password, or a token in the user's place.
func Redact(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil || u.User == nil {
			if err != nil && strings.Contains(p, "@") {
				parts[i] = "(a NATS URL that does not parse)"
			}
			continue
		}
		u.User = url.User("redacted")
		parts[i] = strings.Replace(u.String(), "redacted@", "***@", 1)
	}
	return strings.Join(parts, ",")
}
