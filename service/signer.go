package service

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Signer signs snapshots with an Ed25519 key. Its key id is the first 16
// hex digits of SHA-256 of the public key.
type Signer struct {
	priv ed25519.PrivateKey
	id   string
}

// KeyID names the public key.
func (s *Signer) KeyID() string { return s.id }

// Sign signs msg.
func (s *Signer) Sign(msg []byte) []byte { return ed25519.Sign(s.priv, msg) }

// PublicKey is the key auditors verify snapshots with.
func (s *Signer) PublicKey() ed25519.PublicKey { return s.priv.Public().(ed25519.PublicKey) }

// KeyIDOf derives the key id of a public key.
func KeyIDOf(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// LoadSigner takes the key from seedB64 (base64 of a 32-byte Ed25519 seed,
// FUNDLEDGER_SIGNING_KEY) or else from dataDir/signing.key, generating and
// keeping one there on first start.
func LoadSigner(seedB64, dataDir string) (*Signer, error) {
	var seed []byte
	if seedB64 != "" {
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(seedB64))
		if err != nil || len(b) != ed25519.SeedSize {
			return nil, fmt.Errorf("signing key: want base64 of a %d-byte Ed25519 seed", ed25519.SeedSize)
		}
		seed = b
	} else {
		path := filepath.Join(dataDir, "signing.key")
		b, err := os.ReadFile(path)
		switch {
		case err == nil:
			seed, err = base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
			if err != nil || len(seed) != ed25519.SeedSize {
				return nil, fmt.Errorf("signing key %s is not base64 of a %d-byte seed", path, ed25519.SeedSize)
			}
		case os.IsNotExist(err):
			seed = make([]byte, ed25519.SeedSize)
			if _, err := rand.Read(seed); err != nil {
				return nil, err
			}
			if err := os.MkdirAll(dataDir, 0o755); err != nil {
				return nil, err
			}
			if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(seed)+"\n"), 0o600); err != nil {
				return nil, fmt.Errorf("signing key: keep %s: %w", path, err)
			}
		default:
			return nil, fmt.Errorf("signing key: %w", err)
		}
	}
	priv := ed25519.NewKeyFromSeed(seed)
	return &Signer{priv: priv, id: KeyIDOf(priv.Public().(ed25519.PublicKey))}, nil
}
