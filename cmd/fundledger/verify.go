package main

// The audit commands: `verify` recomputes the hash chains and balances
// from the journal and checks them against the kept balances and the
// signed snapshots; `keys` prints the public keys snapshots are signed
// with. docs/audit.md is the auditor's side of both.

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/fundledger/fundledger/ledger"
	"github.com/fundledger/fundledger/ledger/postgres"
)

func init() {
	register(command{"verify", "recompute the hash chains and balances from the journal and check the signed snapshots (exit 3 on a mismatch)", runVerify})
}

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func runVerify(ctx context.Context, args []string) error {
	return verifyCommand(ctx, args, os.Stdout, os.Stderr)
}

func verifyCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCLI("verify", "verify [--fund F] [--public-key BASE64]... [--snapshot FILE]... [--output json|text]",
		`Reads every journal transaction of the fund (of every fund without --fund) in order and checks that
each one hashes to its stored hash, links to the one before, numbers on without a gap and balances;
that the running balances equal the kept balances and the fund's chain head; and that every stored
snapshot equals the journal at its as_of_journal_seq and carries a valid Ed25519 signature. A snapshot
that covers transactions the journal no longer has shows a cut tail. docs/audit.md says what is hashed
and signed, so that an auditor can check the same without this program.

Signatures are checked with the keys in the signing_keys table, or only with the keys given by
--public-key (recommended: take the key from the ledger once, keep it, and pin it here). --snapshot
adds snapshots kept outside the database, such as the JSON of ledger.<fund>.snapshot messages.

The report goes to stdout; progress goes to stderr when stderr is a terminal. On any mismatch the
command names the first transaction that does not match on stderr and exits 3.`, 0, 0)
	fund := c.fs.String("fund", "", "verify only this fund")
	output := c.fs.String("output", "", "json or text (default text on a terminal, json otherwise)")
	c.fs.StringVar(output, "o", "", "shorthand for --output")
	var pins, snaps listFlag
	c.fs.Var(&pins, "public-key", "trust only this base64 Ed25519 public key for snapshot signatures (repeatable)")
	c.fs.Var(&snaps, "snapshot", "also check this published snapshot JSON file (repeatable)")
	db := c.databaseFlag()
	if _, err := c.parse(args); err != nil {
		return helpDone(err)
	}
	out := *output
	switch out {
	case "":
		out = "json"
		if f, ok := stdout.(*os.File); ok && onTerminal(f) {
			out = "text"
		}
	case "table":
		out = "text"
	case "json", "text":
	default:
		return usageError{fmt.Sprintf("--output %q: want json or text", out)}
	}
	o := postgres.VerifyOptions{}
	if *fund != "" {
		o.Funds = []string{*fund}
	}
	if len(pins) > 0 {
		o.Keys = map[string]ed25519.PublicKey{}
		for _, p := range pins {
			b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(p))
			if err != nil || len(b) != ed25519.PublicKeySize {
				return usageError{fmt.Sprintf("--public-key %q: want base64 of a %d-byte Ed25519 public key", p, ed25519.PublicKeySize)}
			}
			o.Keys[ledger.SigningKeyID(b)] = b
		}
	}
	for _, path := range snaps {
		b, err := os.ReadFile(path)
		if err != nil {
			return usageError{fmt.Sprintf("--snapshot: %v", err)}
		}
		o.Snapshots = append(o.Snapshots, b)
	}
	if f, ok := stderr.(*os.File); ok && onTerminal(f) {
		o.Progress = terminalProgress(stderr)
	}
	s, err := openStore(ctx, *db)
	if err != nil {
		return err
	}
	defer s.Close()
	rep, err := s.VerifyWith(ctx, o)
	if o.Progress != nil {
		fmt.Fprint(stderr, "\r\033[K")
	}
	if err != nil {
		if errors.Is(err, ledger.ErrUnknownFund) {
			return exitError{exitNotFound, err}
		}
		return err
	}
	if out == "json" {
		err = printJSON(stdout, rep)
	} else {
		err = writeVerifyText(stdout, rep)
	}
	if err != nil {
		return err
	}
	if p := rep.First(); p != nil {
		n := len(rep.Problems) + rep.ProblemsOmitted
		return exitError{exitMismatch, fmt.Errorf("%d problem(s); the first: %s", n, p)}
	}
	return nil
}

// terminalProgress rewrites one status line at most five times a second.
func terminalProgress(w io.Writer) func(done, total int64) {
	var last time.Time
	return func(done, total int64) {
		if now := time.Now(); now.Sub(last) >= 200*time.Millisecond || done == total {
			last = now
			pct := 100.0
			if total > 0 {
				pct = 100 * float64(done) / float64(total)
			}
			fmt.Fprintf(w, "\rverify: %d of %d transactions (%.0f%%)\033[K", done, total, pct)
		}
	}
}

func writeVerifyText(w io.Writer, rep ledger.VerifyReport) error {
	var b strings.Builder
	for _, f := range rep.Funds {
		status := "ok"
		if !f.OK {
			status = "MISMATCH"
		}
		fmt.Fprintf(&b, "fund %s: %d transactions, %d snapshots, head seq %d, chain head %s: %s\n",
			f.FundID, f.CheckedTransactions, f.CheckedSnapshots, f.HeadSeq, f.ChainHead, status)
	}
	if len(rep.Problems) > 0 {
		b.WriteString("\nproblems, in journal order:\n")
		for _, p := range rep.Problems {
			fmt.Fprintf(&b, "  %s\n", p)
		}
		if rep.ProblemsOmitted > 0 {
			fmt.Fprintf(&b, "  ... and %d more\n", rep.ProblemsOmitted)
		}
	}
	verdict := "OK: every transaction, balance and snapshot matches"
	if !rep.OK {
		verdict = "MISMATCH: the books do not match their journal"
	}
	fmt.Fprintf(&b, "\nverified %d funds, %d transactions, %d snapshots, %d events", len(rep.Funds), rep.CheckedTransactions, rep.CheckedSnapshots, rep.CheckedEvents)
	if rep.CheckedPeriodReports > 0 {
		fmt.Fprintf(&b, ", %d period reports", rep.CheckedPeriodReports)
	}
	if rep.CheckedAccessLog > 0 {
		fmt.Fprintf(&b, ", %d access log entries", rep.CheckedAccessLog)
	}
	fmt.Fprintf(&b, ". %s\n", verdict)
	_, err := io.WriteString(w, b.String())
	return err
}
