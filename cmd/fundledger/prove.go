package main

// `fundledger prove`: an auditor's check, from their own machine, that one
// transaction is in a fund's books, or that two signed heads of a fund's
// books agree (CONTRACT.md section 12, docs/audit.md "Proofs"). It reads
// everything through the read API and trusts nothing the ledger says but
// what a signature by a key the auditor holds covers: the snapshot's
// signature is checked with the public key alone, the proof against the
// tree_root under it, and the transaction's hash is recomputed from its
// content.

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/fundledger/fundledger/ledger"
	"github.com/fundledger/fundledger/ledger/merkle"
	"github.com/fundledger/fundledger/ledger/postgres"
)

func init() {
	register(command{"prove", "prove through the read API that a transaction is in a fund's signed books, or that two signed snapshots agree (prove inclusion|consistency)", runProve})
}

func runProve(ctx context.Context, args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "inclusion":
			return helpDone(proveInclusion(ctx, args[1:]))
		case "consistency":
			return helpDone(proveConsistency(ctx, args[1:]))
		}
	}
	return usageError{"want fundledger prove inclusion ... or fundledger prove consistency ... (see --help of each)"}
}

// proveCommon are the flags both proofs take: where the read API is, the
// token, the fund and the keys to trust.
type proveCommon struct {
	c         *cmdFlags
	api       *string
	tokenFile *string
	fund      *string
	keyFiles  stringList
	pins      stringList
	output    *string
}

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

func newProveCommon(name, synopsis, about string) *proveCommon {
	p := &proveCommon{c: newCLI(name, synopsis, about, 0, 0)}
	p.api = p.c.fs.String("api", "", "the read API's base URL, http(s)://host:port (default $FUNDLEDGER_API)")
	p.tokenFile = p.c.fs.String("token-file", "", "file holding the bearer token (default: the token in $FUNDLEDGER_TOKEN); officer or auditor")
	p.fund = p.c.fs.String("fund", "", "the fund (required)")
	p.c.fs.Var(&p.keyFiles, "key", "trust the signing key in this file: base64 of the Ed25519 public key, or a saved GET /v1/keys document (repeatable)")
	p.c.fs.Var(&p.pins, "public-key", "trust this base64 Ed25519 public key (repeatable)")
	p.output = p.c.fs.String("output", "", "text or json (default text on a terminal, json otherwise)")
	return p
}

const proveKeysHelp = `
Keys: with --key or --public-key only those keys are trusted, and the keys the ledger's key
history (GET /v1/keys) hands on from them by signed rotations (recommended: get the key out of
band once, as docs/audit.md says, and pin it). Without them the keys
the ledger lists at GET /v1/keys are used, which proves the books agree with what the ledger
signed but not that the key is the ledger's: the command says so.

Exit status: 0 proved, 1 failure, 2 usage error, 3 the proof or a signature does not verify,
4 not found, 5 the token was refused.`

// client opens the read API and resolves the keys.
func (p *proveCommon) client(ctx context.Context) (*apiClient, map[string]ed25519.PublicKey, bool, error) {
	if *p.fund == "" {
		return nil, nil, false, usageError{"--fund is required"}
	}
	api := *p.api
	if api == "" {
		api = os.Getenv("FUNDLEDGER_API")
	}
	if api == "" {
		return nil, nil, false, usageError{"--api URL (or FUNDLEDGER_API) is required: proofs are read through the read API"}
	}
	cl, err := newAPIClient(api, *p.tokenFile)
	if err != nil {
		return nil, nil, false, err
	}
	keys := map[string]ed25519.PublicKey{}
	for _, s := range p.pins {
		if err := addKeyText(keys, s); err != nil {
			return nil, nil, false, usageError{"--public-key: " + err.Error()}
		}
	}
	for _, f := range p.keyFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, false, usageError{"--key: " + err.Error()}
		}
		if err := addKeyText(keys, string(b)); err != nil {
			return nil, nil, false, usageError{fmt.Sprintf("--key %s: %v", f, err)}
		}
	}
	if len(keys) > 0 {
		// A pinned key vouches for the keys the history hands on from it
		// (each rotation is signed by the key before it).
		if hist, err := keyHistoryFrom(ctx, cl); err == nil {
			keys = ledger.TrustedKeys(hist, keys)
		}
		return cl, keys, true, nil
	}
	b, err := cl.get(ctx, "/v1/keys", nil)
	if err != nil {
		return nil, nil, false, readFailed(err)
	}
	if err := addKeyText(keys, string(b)); err != nil {
		return nil, nil, false, fmt.Errorf("GET /v1/keys: %w", err)
	}
	return cl, keys, false, nil
}

// keyHistoryFrom reads the key history of GET /v1/keys.
func keyHistoryFrom(ctx context.Context, cl *apiClient) ([]ledger.KeyEntry, error) {
	var doc struct {
		Keys []ledger.KeyEntryView `json:"keys"`
	}
	if err := cl.getJSON(ctx, "/v1/keys", nil, &doc); err != nil {
		return nil, err
	}
	var out []ledger.KeyEntry
	for _, k := range doc.Keys {
		pub, err := base64.StdEncoding.DecodeString(k.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", k.KeyID, err)
		}
		from, err := time.Parse(time.RFC3339Nano, k.ValidFrom)
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", k.KeyID, err)
		}
		e := ledger.KeyEntry{Seq: k.Seq, KeyID: k.KeyID, PublicKey: pub, ValidFrom: from.UTC(), Legacy: k.Signature == nil}
		if k.PrevKeyID != nil {
			e.PrevKeyID = *k.PrevKeyID
		}
		if k.Signature != nil {
			if e.Signature, err = base64.StdEncoding.DecodeString(*k.Signature); err != nil {
				return nil, fmt.Errorf("key %s: %w", k.KeyID, err)
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// addKeyText reads base64 of one Ed25519 public key, or a /v1/keys
// document ({"keys": [{"public_key": "base64"}, ...]}).
func addKeyText(keys map[string]ed25519.PublicKey, s string) error {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "{") {
		var doc struct {
			Keys []struct {
				PublicKey string `json:"public_key"`
			} `json:"keys"`
		}
		if err := json.Unmarshal([]byte(s), &doc); err != nil || len(doc.Keys) == 0 {
			return fmt.Errorf("not a /v1/keys document with keys (%v)", err)
		}
		for _, k := range doc.Keys {
			if err := addKeyText(keys, k.PublicKey); err != nil {
				return err
			}
		}
		return nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return fmt.Errorf("want base64 of a %d-byte Ed25519 public key", ed25519.PublicKeySize)
	}
	keys[ledger.SigningKeyID(b)] = ed25519.PublicKey(b)
	return nil
}

// errUnproved is a proof or signature that does not verify (exit 3).
func errUnproved(format string, args ...any) error {
	return exitError{exitMismatch, fmt.Errorf(format, args...)}
}

// signedHead is a snapshot whose signature verified, with its tree head.
type signedHead struct {
	snap ledger.Snapshot
	root merkle.Hash
	size uint64
}

// head fetches a snapshot (seq 0: the latest) or reads one from a file,
// and checks that it is the fund's, signed by a trusted key, and carries
// a tree head.
func head(ctx context.Context, cl *apiClient, fund string, seq int64, file string, keys map[string]ed25519.PublicKey) (*signedHead, error) {
	var body []byte
	var err error
	what := "the latest snapshot"
	if file != "" {
		what = file
		body, err = os.ReadFile(file)
	} else {
		if seq > 0 {
			what = fmt.Sprintf("snapshot %d", seq)
		}
		body, err = cl.Snapshot(ctx, fund, seq)
		err = readFailed(err)
	}
	if err != nil {
		return nil, err
	}
	var h signedHead
	if err := json.Unmarshal(body, &h.snap); err != nil {
		return nil, fmt.Errorf("%s is not a snapshot: %w", what, err)
	}
	s := &h.snap
	if s.FundID != fund {
		return nil, errUnproved("%s is of fund %q, not %q", what, s.FundID, fund)
	}
	pub, ok := ledger.LookupKey(keys, s.KeyID)
	if !ok {
		return nil, errUnproved("%s (snapshot %d) is signed with key %s, which is not a trusted key", what, s.SnapshotSeq, s.KeyID)
	}
	sig, err := base64.StdEncoding.DecodeString(s.Signature)
	if err != nil || !ed25519.Verify(pub, ledger.SnapshotSigningInput(s), sig) {
		return nil, errUnproved("%s (snapshot %d): the signature does not verify with key %s: it was changed or not signed by the ledger", what, s.SnapshotSeq, s.KeyID)
	}
	if s.TreeSize == nil {
		return nil, usageError{fmt.Sprintf("%s (snapshot %d) is a version 1 snapshot, made before snapshots signed a Merkle tree head: name a later one", what, s.SnapshotSeq)}
	}
	if *s.TreeSize != s.AsOfJournalSeq || *s.TreeSize < 0 {
		return nil, errUnproved("snapshot %d: tree_size %d is not its as_of_journal_seq %d", s.SnapshotSeq, *s.TreeSize, s.AsOfJournalSeq)
	}
	if h.root, err = merkle.ParseHash(s.TreeRoot); err != nil {
		return nil, errUnproved("snapshot %d: tree_root: %v", s.SnapshotSeq, err)
	}
	h.size = uint64(*s.TreeSize)
	return &h, nil
}

func proveFormat(o string) (string, error) {
	switch o {
	case "":
		if onTerminal(os.Stdout) {
			return "text", nil
		}
		return "json", nil
	case "text", "json":
		return o, nil
	}
	return "", usageError{fmt.Sprintf("--output %q: want text or json", o)}
}

func parseHashes(what string, hs []string) ([]merkle.Hash, error) {
	out := make([]merkle.Hash, len(hs))
	for i, s := range hs {
		h, err := merkle.ParseHash(s)
		if err != nil {
			return nil, errUnproved("%s %d: %v", what, i, err)
		}
		out[i] = h
	}
	return out, nil
}

// InclusionResult is what `prove inclusion` found.
type InclusionResult struct {
	OK          bool     `json:"ok"`
	FundID      string   `json:"fund_id"`
	Seq         int64    `json:"seq"`
	Type        string   `json:"type"`
	EventID     string   `json:"event_id"`
	Time        string   `json:"time"`
	TxnHash     string   `json:"hash"`
	LeafHash    string   `json:"leaf_hash"`
	SnapshotSeq int64    `json:"snapshot_seq"`
	TreeSize    int64    `json:"tree_size"`
	TreeRoot    string   `json:"tree_root"`
	KeyID       string   `json:"key_id"`
	KeyPinned   bool     `json:"key_pinned"`
	AuditPath   []string `json:"audit_path"`
}

func proveInclusion(ctx context.Context, args []string) error {
	p := newProveCommon("prove inclusion", "prove inclusion --fund F --seq N [--snapshot S | --snapshot-file FILE] [--key FILE | --public-key B64] [--api URL] [--token-file FILE]",
		`Proves that journal transaction N of fund F is in the books a signed snapshot covers: it fetches
the snapshot (the latest, or snapshot S), checks its signature with the public key alone, fetches
transaction N and recomputes its hash from its content, fetches the RFC 9162 inclusion proof of N
in the snapshot's tree (GET /v1/funds/F/proofs/inclusion) and checks it leads to the snapshot's
tree_root. The transaction must be at or before the snapshot's as_of_journal_seq.`+proveKeysHelp)
	seq := p.c.fs.Int64("seq", 0, "the journal seq of the transaction (required)")
	snap := p.c.fs.Int64("snapshot", 0, "the snapshot_seq of the signed head to prove against (default the latest)")
	snapFile := p.c.fs.String("snapshot-file", "", "a snapshot kept in a file (as published) to prove against, instead of one from the API")
	if _, err := p.c.parse(args); err != nil {
		return err
	}
	format, err := proveFormat(*p.output)
	if err != nil {
		return err
	}
	if *seq < 1 {
		return usageError{"--seq N (at least 1) is required"}
	}
	cl, keys, pinned, err := p.client(ctx)
	if err != nil {
		return err
	}
	h, err := head(ctx, cl, *p.fund, *snap, *snapFile, keys)
	if err != nil {
		return err
	}
	if uint64(*seq) > h.size {
		return usageError{fmt.Sprintf("transaction %d is after snapshot %d, which covers transactions 1 to %d: name a later snapshot (--snapshot)", *seq, h.snap.SnapshotSeq, h.size)}
	}
	page, err := cl.Journal(ctx, *p.fund, *seq-1, 1)
	if err != nil {
		return readFailed(err)
	}
	if len(page.Transactions) == 0 || page.Transactions[0].Seq != *seq {
		return errUnproved("the journal has no transaction %d, which snapshot %d covers", *seq, h.snap.SnapshotSeq)
	}
	t := page.Transactions[0]
	if got := ledger.HashTxn(t); hex.EncodeToString(got) != hex.EncodeToString(t.Hash) {
		return errUnproved("transaction %d: its content hashes to %x, not its stated hash %x", *seq, got, t.Hash)
	}
	leaf := merkle.LeafHash(t.Hash)
	var proof postgres.InclusionProof
	q := url.Values{"seq": {strconv.FormatInt(*seq, 10)}, "tree_size": {strconv.FormatUint(h.size, 10)}}
	if err := cl.getJSON(ctx, fundPath(*p.fund, "proofs", "inclusion"), q, &proof); err != nil {
		return readFailed(err)
	}
	path, err := parseHashes("audit_path", proof.AuditPath)
	if err != nil {
		return err
	}
	if proof.LeafHash != leaf.Hex() {
		return errUnproved("the proof is for leaf %s; transaction %d's leaf is %s", proof.LeafHash, *seq, leaf.Hex())
	}
	if err := merkle.VerifyInclusion(uint64(*seq-1), h.size, leaf, path, h.root); err != nil {
		return errUnproved("transaction %d is NOT proved in snapshot %d's tree of %d: %v", *seq, h.snap.SnapshotSeq, h.size, err)
	}
	res := InclusionResult{OK: true, FundID: *p.fund, Seq: *seq, Type: t.Type, EventID: t.EventID, Time: ledger.TimeText(t.Time),
		TxnHash: hex.EncodeToString(t.Hash), LeafHash: leaf.Hex(), SnapshotSeq: h.snap.SnapshotSeq, TreeSize: int64(h.size),
		TreeRoot: h.snap.TreeRoot, KeyID: h.snap.KeyID, KeyPinned: pinned, AuditPath: proof.AuditPath}
	return printProof(format, res, func(w io.Writer) {
		fmt.Fprintf(w, "proved: transaction %d of fund %s (%s, event %s, recorded %s, hash %s)\n", res.Seq, res.FundID, res.Type, res.EventID, res.Time, res.TxnHash)
		fmt.Fprintf(w, "  is leaf %d of the fund's Merkle tree of %d transactions, root %s,\n", res.Seq-1, res.TreeSize, res.TreeRoot)
		fmt.Fprintf(w, "  signed in snapshot %d (as of %s) by key %s; audit path of %d hashes.\n", res.SnapshotSeq, h.snap.AsOf, res.KeyID, len(res.AuditPath))
		keyNote(w, pinned)
	})
}

func keyNote(w io.Writer, pinned bool) {
	if !pinned {
		fmt.Fprintln(w, "note: the key was taken from the ledger's own GET /v1/keys; pin it with --key to prove it is the ledger's.")
	}
}

func printProof(format string, v any, text func(io.Writer)) error {
	if format == "json" {
		return printJSON(os.Stdout, v)
	}
	text(os.Stdout)
	return nil
}

// ConsistencyResult is what `prove consistency` found.
type ConsistencyResult struct {
	OK        bool     `json:"ok"`
	FundID    string   `json:"fund_id"`
	From      int64    `json:"from_snapshot_seq"`
	To        int64    `json:"to_snapshot_seq"`
	FromSize  int64    `json:"from_tree_size"`
	ToSize    int64    `json:"to_tree_size"`
	FromRoot  string   `json:"from_tree_root"`
	ToRoot    string   `json:"to_tree_root"`
	KeyPinned bool     `json:"key_pinned"`
	Proof     []string `json:"proof"`
}

func proveConsistency(ctx context.Context, args []string) error {
	p := newProveCommon("prove consistency", "prove consistency --fund F (--from S1 | --from-file FILE) [--to S2 | --to-file FILE] [--key FILE | --public-key B64] [--api URL] [--token-file FILE]",
		`Proves that the books a later signed snapshot covers extend, unchanged, the books an earlier one
covered: nothing signed then was changed, removed or reordered since. Both snapshots' signatures
are checked with the public key alone, then the RFC 9162 consistency proof between their trees
(GET /v1/funds/F/proofs/consistency) against their tree_roots. The earlier snapshot is the one
you kept (--from-file, as published) or snapshot S1; the later one is snapshot S2 or the latest.`+proveKeysHelp)
	from := p.c.fs.Int64("from", 0, "the snapshot_seq of the earlier snapshot")
	fromFile := p.c.fs.String("from-file", "", "the earlier snapshot, kept in a file as published")
	to := p.c.fs.Int64("to", 0, "the snapshot_seq of the later snapshot (default the latest)")
	toFile := p.c.fs.String("to-file", "", "the later snapshot, kept in a file as published")
	if _, err := p.c.parse(args); err != nil {
		return err
	}
	format, err := proveFormat(*p.output)
	if err != nil {
		return err
	}
	if (*from > 0) == (*fromFile != "") {
		return usageError{"give the earlier snapshot: --from S1 or --from-file FILE (one of them)"}
	}
	if *to > 0 && *toFile != "" {
		return usageError{"--to and --to-file exclude each other"}
	}
	cl, keys, pinned, err := p.client(ctx)
	if err != nil {
		return err
	}
	a, err := head(ctx, cl, *p.fund, *from, *fromFile, keys)
	if err != nil {
		return err
	}
	b, err := head(ctx, cl, *p.fund, *to, *toFile, keys)
	if err != nil {
		return err
	}
	if a.size > b.size {
		return usageError{fmt.Sprintf("snapshot %d (tree of %d) is later than snapshot %d (tree of %d): swap them", a.snap.SnapshotSeq, a.size, b.snap.SnapshotSeq, b.size)}
	}
	res := ConsistencyResult{OK: true, FundID: *p.fund, From: a.snap.SnapshotSeq, To: b.snap.SnapshotSeq, FromSize: int64(a.size), ToSize: int64(b.size),
		FromRoot: a.snap.TreeRoot, ToRoot: b.snap.TreeRoot, KeyPinned: pinned, Proof: []string{}}
	switch {
	case a.size == 0:
		// The empty tree is a prefix of every tree: nothing to prove.
		if a.root != merkle.EmptyRoot {
			return errUnproved("snapshot %d: an empty tree's root is %s, not %s", a.snap.SnapshotSeq, merkle.EmptyRoot.Hex(), a.snap.TreeRoot)
		}
	default:
		var proof postgres.ConsistencyProof
		q := url.Values{"from": {strconv.FormatUint(a.size, 10)}, "to": {strconv.FormatUint(b.size, 10)}}
		if err := cl.getJSON(ctx, fundPath(*p.fund, "proofs", "consistency"), q, &proof); err != nil {
			return readFailed(err)
		}
		hs, err := parseHashes("proof", proof.Proof)
		if err != nil {
			return err
		}
		if err := merkle.VerifyConsistency(a.size, b.size, hs, a.root, b.root); err != nil {
			if errors.Is(err, merkle.ErrProof) {
				return errUnproved("snapshot %d's books are NOT proved to extend snapshot %d's: %v", b.snap.SnapshotSeq, a.snap.SnapshotSeq, err)
			}
			return err
		}
		res.Proof = proof.Proof
	}
	return printProof(format, res, func(w io.Writer) {
		fmt.Fprintf(w, "proved: fund %s's tree of %d transactions (snapshot %d, root %s)\n", res.FundID, res.FromSize, res.From, res.FromRoot)
		fmt.Fprintf(w, "  is a prefix of its tree of %d (snapshot %d, root %s); proof of %d hashes.\n", res.ToSize, res.To, res.ToRoot, len(res.Proof))
		keyNote(w, pinned)
	})
}
