package service

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/fundledger/fundledger/ledger"
)

// Signer signs snapshots (and reports) with an Ed25519 key. Its key id is
// SHA-256 of the public key, 64 hex digits (ledger.SigningKeyID). A Signer
// never changes: a rotation gives the service a new one between batches.
type Signer struct {
	priv ed25519.PrivateKey
	id   string
}

// NewSigner makes a signer of an Ed25519 private key.
func NewSigner(priv ed25519.PrivateKey) *Signer {
	return &Signer{priv: priv, id: ledger.SigningKeyID(priv.Public().(ed25519.PublicKey))}
}

// KeyID names the public key.
func (s *Signer) KeyID() string { return s.id }

// Sign signs msg.
func (s *Signer) Sign(msg []byte) []byte { return ed25519.Sign(s.priv, msg) }

// PublicKey is the key auditors verify snapshots with.
func (s *Signer) PublicKey() ed25519.PublicKey { return s.priv.Public().(ed25519.PublicKey) }

// PrivateKey is the signing key itself, for a rotation to sign the next
// key's entry with.
func (s *Signer) PrivateKey() ed25519.PrivateKey { return s.priv }

// KeyIDOf derives the key id of a public key.
func KeyIDOf(pub ed25519.PublicKey) string { return ledger.SigningKeyID(pub) }

// LegacyKeyFile is where fundledger kept its signing key before the key
// left the data directory: <data dir>/signing.key.
const LegacyKeyFile = "signing.key"

// KeySource says where the signing key comes from (docs/security.md,
// "The snapshot signing key"). At most one of Seed and File is set; with
// neither, the key is the data directory's legacy signing.key if there is
// one, else DefaultKeyFile().
type KeySource struct {
	// Seed is base64 of a 32-byte Ed25519 seed (FUNDLEDGER_SIGNING_KEY).
	Seed string
	// File holds base64 of the seed (FUNDLEDGER_SIGNING_KEY_FILE).
	File string
	// DataDir is the data directory: a key file may not be in it, but a
	// legacy signing.key there is still read (with a warning).
	DataDir string
}

// DefaultKeyFile is the key file used when neither FUNDLEDGER_SIGNING_KEY
// nor FUNDLEDGER_SIGNING_KEY_FILE is set: fundledger/signing.key in the
// user's configuration directory ($XDG_CONFIG_HOME or ~/.config), outside
// any data directory.
func DefaultKeyFile() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no signing key given (FUNDLEDGER_SIGNING_KEY_FILE) and no configuration directory for the default key file: %w", err)
	}
	return filepath.Join(dir, "fundledger", "signing.key"), nil
}

// LoadedKey is a signing key with where it came from.
type LoadedKey struct {
	Signer *Signer
	// From says where the key was read, for the log ("FUNDLEDGER_SIGNING_KEY"
	// or a file path); never the key.
	From string
	// File is the key file ("" when the key came from the environment).
	File string
	// Created is set when the file did not exist and a new key was written.
	Created bool
	// Legacy is set when the key is the data directory's signing.key.
	Legacy bool
}

// ResolveFile is the key file src names, the legacy one or the default:
// "" when the key comes from the environment.
func (src KeySource) ResolveFile() (file string, legacy bool, err error) {
	switch {
	case src.Seed != "" && src.File != "":
		return "", false, errors.New("signing key: set FUNDLEDGER_SIGNING_KEY or FUNDLEDGER_SIGNING_KEY_FILE, not both")
	case src.Seed != "":
		return "", false, nil
	case src.File != "":
		if inside(src.DataDir, src.File) {
			return "", false, fmt.Errorf("signing key file %s is inside the data directory %s: keep it elsewhere (docs/security.md)", src.File, src.DataDir)
		}
		return src.File, false, nil
	}
	if src.DataDir != "" {
		legacyPath := filepath.Join(src.DataDir, LegacyKeyFile)
		if _, err := os.Stat(legacyPath); err == nil {
			return legacyPath, true, nil
		}
	}
	file, err = DefaultKeyFile()
	return file, false, err
}

// LoadKey reads the signing key src names. create allows making a new key
// when the file does not exist (a ledger whose key history is empty);
// otherwise a missing file is an error.
func LoadKey(src KeySource, create bool) (*LoadedKey, error) {
	file, legacy, err := src.ResolveFile()
	if err != nil {
		return nil, err
	}
	if file == "" {
		seed, err := decodeSeed(src.Seed)
		if err != nil {
			return nil, fmt.Errorf("FUNDLEDGER_SIGNING_KEY: %w", err)
		}
		return &LoadedKey{Signer: NewSigner(ed25519.NewKeyFromSeed(seed)), From: "FUNDLEDGER_SIGNING_KEY"}, nil
	}
	priv, err := ReadKeyFile(file)
	if errors.Is(err, os.ErrNotExist) && create {
		priv, err = NewKeyFile(file)
		if err == nil {
			return &LoadedKey{Signer: NewSigner(priv), From: file, File: file, Created: true}, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, err
		}
		priv, err = ReadKeyFile(file) // another instance made it first
	}
	if err != nil {
		return nil, err
	}
	return &LoadedKey{Signer: NewSigner(priv), From: file, File: file, Legacy: legacy}, nil
}

// ReadKeyFile reads a key file: base64 of a 32-byte Ed25519 seed.
func ReadKeyFile(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	seed, err := decodeSeed(string(b))
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// NewKeyFile makes a new key and writes it to path (mode 0600, its
// directory made 0700 if missing); an existing file is not overwritten.
func NewKeyFile(path string) (ed25519.PrivateKey, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, err
	}
	if err := WriteKeyFile(path, seed, false); err != nil {
		return nil, err
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// WriteKeyFile writes seed to path, durably, mode 0600. replace allows an
// existing file to be replaced (atomically, by a rename).
func WriteKeyFile(path string, seed []byte, replace bool) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("signing key: %w", err)
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("signing key: %w", err)
	}
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(seed) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && !replace {
		// Link fails when path exists: a key is never overwritten by
		// accident (two instances starting at once keep the first key).
		if err = os.Link(tmp, path); err == nil {
			err = os.Remove(tmp)
		}
	} else if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("signing key: keep %s: %w", path, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

func decodeSeed(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != ed25519.SeedSize {
		return nil, fmt.Errorf("want base64 of a %d-byte Ed25519 seed", ed25519.SeedSize)
	}
	return b, nil
}

// inside reports whether path is dir or under it.
func inside(dir, path string) bool {
	if dir == "" {
		return false
	}
	d, err1 := filepath.Abs(dir)
	p, err2 := filepath.Abs(path)
	if err1 != nil || err2 != nil {
		return false
	}
	rel, err := filepath.Rel(d, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
