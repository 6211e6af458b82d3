package ledger

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// This file is the signing keys' history (CONTRACT.md section 12,
// docs/audit.md section 11): every key that signs snapshots and reports is
// an entry, the first signed by itself, each later one (a rotation)
// signed by the key before it, so that an auditor who pinned one key can
// follow every rotation after it with nothing but the entries.

// KeyIDLegacyLen is the length of the key ids written before the full
// SHA-256 ids: 16 hex digits, a prefix of the full id.
const KeyIDLegacyLen = 16

// KeyEntryVersion is the first line of a key history entry's signing
// input.
const KeyEntryVersion = "fundledger-key-v1"

// KeyEntry is one entry of the key history.
type KeyEntry struct {
	// Seq numbers the entries 1, 2, 3, ...; 0 for a key that signed before
	// the history existed (Legacy).
	Seq       int64
	KeyID     string // SigningKeyID(PublicKey)
	PublicKey ed25519.PublicKey
	ValidFrom time.Time
	// ValidUntil is the next entry's ValidFrom; nil for the current key.
	ValidUntil *time.Time
	// PrevKeyID is the previous entry's key id ("" for entry 1): the key
	// whose signature Signature is (entry 1 is signed by its own key).
	PrevKeyID string
	Signature []byte
	// Legacy marks a key of the signing_keys table that signed before the
	// history began: it has no signature.
	Legacy bool
}

// KeyEntrySigningInput is the exact byte string signed for a key history
// entry: UTF-8 lines each ended by a line feed (docs/audit.md section 11).
func KeyEntrySigningInput(e *KeyEntry) []byte {
	var b strings.Builder
	line := func(v string) { b.WriteString(v); b.WriteByte('\n') }
	line(KeyEntryVersion)
	line(strconv.FormatInt(e.Seq, 10))
	line(e.KeyID)
	line(base64.StdEncoding.EncodeToString(e.PublicKey))
	line(TimeText(e.ValidFrom))
	line(e.PrevKeyID)
	return []byte(b.String())
}

// KeyEntryView is a key history entry as GET /v1/keys, `fundledger keys
// list` and ledger._keys.rotated show it.
type KeyEntryView struct {
	Seq        int64   `json:"seq"`
	KeyID      string  `json:"key_id"`
	PublicKey  string  `json:"public_key"` // base64 of the 32-byte Ed25519 key
	Algorithm  string  `json:"algorithm"`
	ValidFrom  string  `json:"valid_from"`
	ValidUntil *string `json:"valid_until"`
	PrevKeyID  *string `json:"prev_key_id"`
	Signature  *string `json:"signature"` // base64; null for a key from before the history
}

// View is the entry's wire shape.
func (e *KeyEntry) View() KeyEntryView {
	v := KeyEntryView{Seq: e.Seq, KeyID: e.KeyID, PublicKey: base64.StdEncoding.EncodeToString(e.PublicKey),
		Algorithm: "ed25519", ValidFrom: TimeText(e.ValidFrom)}
	if e.ValidUntil != nil {
		u := TimeText(*e.ValidUntil)
		v.ValidUntil = &u
	}
	if !e.Legacy {
		p := e.PrevKeyID
		s := base64.StdEncoding.EncodeToString(e.Signature)
		v.PrevKeyID, v.Signature = &p, &s
	}
	return v
}

// SignKeyEntry fills e's signature with priv, the previous entry's key
// (the entry's own for entry 1).
func SignKeyEntry(e *KeyEntry, priv ed25519.PrivateKey) {
	e.Signature = ed25519.Sign(priv, KeyEntrySigningInput(e))
}

// CheckKeyHistory checks the signed entries of a key history in seq
// order: numbering, key ids, the order of valid_from and every signature
// by the previous key. Legacy entries are skipped. pinned, when not nil,
// must be in the history (an auditor's key taken out of band): the
// entries before it are then checked but trusted only from it on. It
// returns the problems found, in entry order.
func CheckKeyHistory(entries []KeyEntry, pinned ed25519.PublicKey) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	var prev *KeyEntry
	seen := map[string]bool{}
	pinnedAt := int64(0)
	for i := range entries {
		e := &entries[i]
		if e.Legacy {
			continue
		}
		want := int64(1)
		if prev != nil {
			want = prev.Seq + 1
		}
		if e.Seq != want {
			bad("key entry %d follows entry %d: entries are missing or reordered", e.Seq, want-1)
		}
		if len(e.PublicKey) != ed25519.PublicKeySize {
			bad("key entry %d: the public key is %d bytes, not an Ed25519 key", e.Seq, len(e.PublicKey))
			prev = e
			continue
		}
		if id := SigningKeyID(e.PublicKey); id != e.KeyID {
			bad("key entry %d: key id %s, but the public key's id is %s", e.Seq, e.KeyID, id)
		}
		if seen[e.KeyID] {
			bad("key entry %d: key %s was used before", e.Seq, e.KeyID)
		}
		seen[e.KeyID] = true
		signer := e.PublicKey
		wantPrev := ""
		if prev != nil {
			signer, wantPrev = prev.PublicKey, prev.KeyID
			if !e.ValidFrom.After(prev.ValidFrom) {
				bad("key entry %d: valid from %s, not after entry %d's %s", e.Seq, TimeText(e.ValidFrom), prev.Seq, TimeText(prev.ValidFrom))
			}
		}
		if e.PrevKeyID != wantPrev {
			bad("key entry %d names key %q as the previous one, not %q", e.Seq, e.PrevKeyID, wantPrev)
		}
		if len(signer) != ed25519.PublicKeySize || len(e.Signature) != ed25519.SignatureSize ||
			!ed25519.Verify(signer, KeyEntrySigningInput(e), e.Signature) {
			bad("key entry %d: the signature does not verify with the previous key (%s)", e.Seq, wantPrev)
		}
		if pinned != nil && bytes.Equal(pinned, e.PublicKey) {
			pinnedAt = e.Seq
		}
		prev = e
	}
	if pinned != nil && pinnedAt == 0 {
		bad("the pinned key %s is not in the key history", SigningKeyID(pinned))
	}
	return problems
}

// LookupKey finds the key a signature names: by its full key id, or, for
// what was signed under a 16-hex-digit id before full ids, the key whose
// full id starts with it. keys is by full key id.
func LookupKey(keys map[string]ed25519.PublicKey, id string) (ed25519.PublicKey, bool) {
	if pub, ok := keys[id]; ok {
		return pub, true
	}
	if len(id) != KeyIDLegacyLen {
		return nil, false
	}
	for full, pub := range keys {
		if strings.HasPrefix(full, id) {
			return pub, true
		}
	}
	return nil, false
}

// KeyIDMatches reports whether id names pub: its full key id, or its
// 16-hex-digit prefix (what was signed before full ids).
func KeyIDMatches(pub ed25519.PublicKey, id string) bool {
	full := SigningKeyID(pub)
	return id == full || (len(id) == KeyIDLegacyLen && strings.HasPrefix(full, id))
}

// SigningKeyID is the key id of a signing public key: SHA-256 of its 32
// bytes, 64 lowercase hex digits.
func SigningKeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:])
}

// TrustedKeys extends pinned keys (by full key id) with every key the
// history hands on from them: an entry whose previous key is trusted and
// whose signature by it verifies makes its own key trusted, so an auditor
// who pinned one key follows the rotations after it. Keys before the
// pinned one, and legacy keys, are trusted only if pinned themselves.
func TrustedKeys(entries []KeyEntry, pinned map[string]ed25519.PublicKey) map[string]ed25519.PublicKey {
	trusted := make(map[string]ed25519.PublicKey, len(pinned))
	for _, pub := range pinned {
		trusted[SigningKeyID(pub)] = pub
	}
	var prev *KeyEntry
	for i := range entries {
		e := &entries[i]
		if e.Legacy {
			continue
		}
		if prev != nil && len(e.PublicKey) == ed25519.PublicKeySize && len(e.Signature) == ed25519.SignatureSize {
			if _, ok := trusted[SigningKeyID(prev.PublicKey)]; ok && e.PrevKeyID == SigningKeyID(prev.PublicKey) &&
				ed25519.Verify(prev.PublicKey, KeyEntrySigningInput(e), e.Signature) {
				trusted[SigningKeyID(e.PublicKey)] = e.PublicKey
			}
		}
		prev = e
	}
	return trusted
}
