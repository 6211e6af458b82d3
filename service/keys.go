package service

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/fundledger/fundledger/ledger"
)

// keyError is a signing key that cannot be used: serve stops and says why
// (retrying cannot help).
type keyError struct{ error }

// keySource is where the service's signing key comes from.
func (s *Service) keySource() KeySource {
	return KeySource{Seed: s.cfg.SigningKey, File: s.cfg.SigningKeyFile, DataDir: s.cfg.DataDir}
}

// startKey loads the signing key and checks it against the key history:
// with an empty history (a new ledger, or one from before the history)
// the key becomes its first entry; otherwise it must be the current key.
func (s *Service) startKey(ctx context.Context) (*Signer, error) {
	cur, err := s.Store.CurrentKey(ctx)
	if err != nil {
		return nil, err
	}
	lk, err := LoadKey(s.keySource(), cur == nil)
	if errors.Is(err, os.ErrNotExist) && cur != nil {
		err = fmt.Errorf("%w: the ledger already signs with key %s (key history entry %d), so no new key is made; "+
			"give its key file with FUNDLEDGER_SIGNING_KEY_FILE (docs/security.md)", err, cur.KeyID, cur.Seq)
	}
	if err != nil {
		return nil, keyError{err}
	}
	switch {
	case lk.Legacy:
		s.log.Warn("THE SIGNING KEY IS IN THE DATA DIRECTORY: whoever can read or back up the data directory can sign snapshots as the ledger. "+
			"Move it out and name it with FUNDLEDGER_SIGNING_KEY_FILE (docs/security.md, \"Moving an existing key\")",
			"file", lk.File)
	case lk.Created:
		s.log.Warn("no signing key existed: a new one was generated; pin its public key (fundledger keys show) and keep the file safe",
			"file", lk.File)
	}
	signer := lk.Signer
	if cur == nil {
		e, err := s.Store.StartKeyHistory(ctx, signer.PublicKey(), signer.Sign)
		if err != nil {
			return nil, err
		}
		cur = e
	}
	if cur.KeyID != signer.KeyID() {
		next, nerr := s.pendingRotation(lk, cur)
		if nerr != nil {
			return nil, keyError{nerr}
		}
		signer = next
	}
	s.log.Info("signing key", "key_id", signer.KeyID(), "key_history_entry", cur.Seq, "from", lk.From)
	return signer, nil
}

// pendingRotation is the key of a rotation whose last step, moving
// <key file>.new into place, did not happen (or not yet): the history's
// current key cur is in that file. Any other key is an error.
func (s *Service) pendingRotation(lk *LoadedKey, cur *ledger.KeyEntry) (*Signer, error) {
	wrong := fmt.Errorf("the signing key from %s (key id %s) is not the ledger's current key %s (key history entry %d, valid from %s): "+
		"give the current key (FUNDLEDGER_SIGNING_KEY_FILE), or change keys only with `fundledger keys rotate`",
		lk.From, lk.Signer.KeyID(), cur.KeyID, cur.Seq, ledger.TimeText(cur.ValidFrom))
	if lk.File == "" {
		return nil, wrong
	}
	priv, err := ReadKeyFile(lk.File + RotationSuffix)
	if err != nil {
		return nil, wrong
	}
	next := NewSigner(priv)
	if next.KeyID() != cur.KeyID {
		return nil, wrong
	}
	if err := os.Rename(lk.File+RotationSuffix, lk.File); err != nil {
		s.log.Warn("signing with the rotated key from its .new file; it could not be moved into place", "file", lk.File, "err", err)
	}
	return next, nil
}

// RotationSuffix names the file `keys rotate` writes the new key to before
// the history records it; it is then renamed over the key file.
const RotationSuffix = ".new"

// followRotation switches set's signer to the history's current key when
// an operator rotated it (`fundledger keys rotate`) while the service
// runs. Between batches only, so a snapshot is signed by one key.
func (s *Service) followRotation(ctx context.Context, set *ledger.IntakeSettings) error {
	cur, err := s.Store.CurrentKey(ctx)
	if err != nil || cur == nil || set.Signer == nil || cur.KeyID == set.Signer.KeyID() {
		return err
	}
	lk, err := LoadKey(s.keySource(), false)
	if err == nil && lk.Signer.KeyID() != cur.KeyID {
		var next *Signer
		if next, err = s.pendingRotation(lk, cur); err == nil {
			lk.Signer = next
		}
	}
	if err != nil {
		// Signing on with a retired key would make snapshots an auditor
		// must refuse: stop consuming until the key is right.
		s.log.Error("the signing key was rotated but the new key cannot be read; not consuming until it can", "err", err)
		return errors.Join(errors.New("signing key rotated"), err)
	}
	s.log.Info("signing key rotated", "key_id", lk.Signer.KeyID(), "key_history_entry", cur.Seq, "previous_key_id", set.Signer.KeyID())
	// Service.Signer stays the key the service started with (tests read
	// it unsynchronised); the batches sign with set's.
	set.Signer = lk.Signer
	return nil
}
