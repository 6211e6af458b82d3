package main

// `fundledger keys`: the signing keys' history (docs/audit.md section 11).
// `keys list` and `keys show` read it from the database for anyone;
// `keys rotate` is the operator's command on the ledger's host that
// replaces the signing key, recording the new key in the history signed
// by the old one.

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/fundledger/fundledger/ledger"
	"github.com/fundledger/fundledger/ledger/postgres"
	"github.com/fundledger/fundledger/service"
)

func init() {
	register(command{"keys", "the signing keys: list the key history, show the current key, rotate it (keys list|show|rotate)", runKeys})
}

// verifyKey is a key as `keys` and GET /v1/keys show it.
type verifyKey = ledger.KeyEntryView

func runKeys(ctx context.Context, args []string) error {
	sub := "list"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	switch sub {
	case "list":
		return keysList(ctx, args, false)
	case "show":
		return keysList(ctx, args, true)
	case "rotate":
		return keysRotate(ctx, args)
	}
	return usageError{fmt.Sprintf("keys %s: want keys list, keys show or keys rotate", sub)}
}

func keysOutput(o string) (string, error) {
	switch o {
	case "":
		if onTerminal(os.Stdout) {
			return "text", nil
		}
		return "json", nil
	case "table", "text":
		return "text", nil
	case "json":
		return "json", nil
	}
	return "", usageError{fmt.Sprintf("--output %q: want json or text", o)}
}

func keysList(ctx context.Context, args []string, current bool) error {
	name, synopsis, about := "keys list", "keys [list] [--output json|text]",
		`Lists every key that signs snapshots, from the ledger's key history, oldest first: the key id (SHA-256
of the public key, 64 hex digits), the 32-byte Ed25519 public key in base64, when it was valid, and the
previous key's signature over the entry (docs/audit.md section 11). Keys that signed before the history
existed come first, unsigned. The JSON is GET /v1/keys's.`
	if current {
		name, synopsis, about = "keys show", "keys show [--output json|text]",
			`Shows the ledger's current signing key: its key id and public key. Give it to the auditors by a
channel the ledger's administrators do not control (on paper, signed mail); they pin it
(verify --public-key) and follow later rotations through the key history.`
	}
	c := newCLI(name, synopsis, about, 0, 0)
	output := c.fs.String("output", "", "json or text (default text on a terminal, json otherwise)")
	c.fs.StringVar(output, "o", "", "shorthand for --output")
	db := c.databaseFlag()
	if _, err := c.parse(args); err != nil {
		return helpDone(err)
	}
	out, err := keysOutput(*output)
	if err != nil {
		return err
	}
	s, err := openStore(ctx, *db)
	if err != nil {
		return err
	}
	defer s.Close()
	hist, err := s.KeyHistory(ctx)
	if err != nil {
		return err
	}
	list := make([]verifyKey, 0, len(hist))
	for i := range hist {
		list = append(list, hist[i].View())
	}
	if current {
		if len(hist) == 0 || hist[len(hist)-1].ValidUntil != nil {
			return exitError{exitNotFound, errors.New("the ledger has no signing key yet: start fundledger serve once")}
		}
		k := list[len(list)-1]
		if out == "json" {
			return printJSON(os.Stdout, k)
		}
		fmt.Printf("key_id:     %s\npublic_key: %s\nalgorithm:  ed25519\nvalid_from: %s\nentry:      %d\n", k.KeyID, k.PublicKey, k.ValidFrom, k.Seq)
		return nil
	}
	if out == "json" {
		return printJSON(os.Stdout, struct {
			Keys []verifyKey `json:"keys"`
		}{list})
	}
	for _, k := range list {
		until := "current"
		if k.ValidUntil != nil {
			until = *k.ValidUntil
		}
		fmt.Printf("%s  %s  %s  %d  %s .. %s\n", k.KeyID, k.PublicKey, k.Algorithm, k.Seq, k.ValidFrom, until)
	}
	return nil
}

func keysRotate(ctx context.Context, args []string) error {
	c := newCLI("keys rotate", "keys rotate [--signing-key-file FILE] [--new-key-file FILE]",
		`Replaces the ledger's signing key, on the ledger's host: reads the current key as serve does
(FUNDLEDGER_SIGNING_KEY_FILE, FUNDLEDGER_SIGNING_KEY, or the defaults), makes a new one, records it in
the key history signed by the current key, and publishes the entry on ledger._keys.rotated. The new key
replaces the old one in the key file (written first to FILE.new, renamed once the history has it); a
running serve that reads that file signs with the new key within 5 seconds. With the key in the
environment or still in the data directory, --new-key-file names where the new key goes (outside the
data directory); point FUNDLEDGER_SIGNING_KEY_FILE at it and restart serve.`, 0, 0)
	keyFile := c.fs.String("signing-key-file", os.Getenv("FUNDLEDGER_SIGNING_KEY_FILE"), "the current key's file (FUNDLEDGER_SIGNING_KEY_FILE)")
	newFile := c.fs.String("new-key-file", "", "where the new key goes (default: the current key's file)")
	dataDir := c.fs.String("data-dir", env("FUNDLEDGER_DATA_DIR", "./data"), "serve's data directory (FUNDLEDGER_DATA_DIR), for its old signing.key")
	db := c.databaseFlag()
	if _, err := c.parse(args); err != nil {
		return helpDone(err)
	}
	src := service.KeySource{Seed: os.Getenv("FUNDLEDGER_SIGNING_KEY"), File: *keyFile, DataDir: *dataDir}
	lk, err := service.LoadKey(src, false)
	if err != nil {
		return err
	}
	target := *newFile
	switch {
	case target == "" && (lk.File == "" || lk.Legacy):
		return usageError{"the current key is not in a key file of its own (FUNDLEDGER_SIGNING_KEY, or the data directory's signing.key): give --new-key-file, outside the data directory"}
	case target != "" && lk.File != "" && target == lk.File:
		target = ""
	}
	if target != "" {
		if _, err := os.Stat(target); err == nil {
			return usageError{fmt.Sprintf("--new-key-file %s exists: a key file is never overwritten", target)}
		}
		if _, _, err := (service.KeySource{File: target, DataDir: *dataDir}).ResolveFile(); err != nil {
			return usageError{err.Error()}
		}
	}
	s, err := openStore(ctx, *db)
	if err != nil {
		return err
	}
	defer s.Close()
	cur, err := s.CurrentKey(ctx)
	if err != nil {
		return err
	}
	if cur == nil {
		return errors.New("the key history is empty: start fundledger serve once, it records its key as the first entry")
	}
	if cur.KeyID != lk.Signer.KeyID() {
		return fmt.Errorf("the key from %s (key id %s) is not the ledger's current key %s: only the current key can sign the next one",
			lk.From, lk.Signer.KeyID(), cur.KeyID)
	}
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return err
	}
	// The new key is on disk before the history names it: a crash in
	// between leaves an unused file, never a key recorded and lost.
	written := target
	if written == "" {
		written = lk.File + service.RotationSuffix
		if err := service.WriteKeyFile(written, seed, true); err != nil {
			return err
		}
	} else if err := service.WriteKeyFile(written, seed, false); err != nil {
		return err
	}
	next := service.NewSigner(ed25519.NewKeyFromSeed(seed))
	from := time.Now().UTC().Truncate(time.Microsecond)
	if !from.After(cur.ValidFrom) {
		from = cur.ValidFrom.Add(time.Microsecond)
	}
	e := &ledger.KeyEntry{Seq: cur.Seq + 1, KeyID: next.KeyID(), PublicKey: next.PublicKey(), ValidFrom: from, PrevKeyID: cur.KeyID}
	ledger.SignKeyEntry(e, lk.Signer.PrivateKey())
	if err := s.AppendKey(ctx, e); err != nil {
		_ = os.Remove(written)
		if errors.Is(err, postgres.ErrKeyHistoryMoved) {
			return fmt.Errorf("%w; nothing changed", err)
		}
		return err
	}
	where := written
	if target == "" {
		if err := os.Rename(written, lk.File); err != nil {
			return fmt.Errorf("the new key is recorded (key history entry %d) and kept in %s, but could not replace %s: %w; move it there by hand",
				e.Seq, written, lk.File, err)
		}
		where = lk.File
	}
	fmt.Printf("rotated: key history entry %d, key id %s, public key %s, valid from %s\nthe new key is in %s; the previous key %s signed the entry and signs nothing more\n",
		e.Seq, e.KeyID, e.View().PublicKey, ledger.TimeText(e.ValidFrom), where, cur.KeyID)
	if target != "" {
		fmt.Printf("set FUNDLEDGER_SIGNING_KEY_FILE=%s for serve and restart it\n", target)
	}
	return nil
}
