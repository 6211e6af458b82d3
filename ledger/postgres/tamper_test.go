package postgres_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/fundledger/fundledger/events"
	"github.com/fundledger/fundledger/internal/testenv"
	"github.com/fundledger/fundledger/ledger"
	"github.com/fundledger/fundledger/ledger/postgres"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestJournalRefusesChange: the journal and its postings cannot be
// changed through SQL, neither by the service's role (no grant) nor by a
// superuser who leaves the triggers on.
func TestJournalRefusesChange(t *testing.T) {
	l := buildBooks(t)
	ctx := context.Background()
	stmts := []string{
		`UPDATE journal SET type = 'grant.approved' WHERE fund_id = 'jiangjin-care' AND seq = 2`,
		`UPDATE journal SET seq = 100 WHERE fund_id = 'jiangjin-care' AND seq = 17`,
		`DELETE FROM journal WHERE fund_id = 'jiangjin-care' AND seq = 17`,
		`TRUNCATE journal, postings`,
		`UPDATE postings SET amount = amount + 1 WHERE fund_id = 'jiangjin-care' AND seq = 2`,
		`DELETE FROM postings WHERE fund_id = 'jiangjin-care'`,
		`TRUNCATE postings`,
		`UPDATE snapshots SET label = 'x'`,
		`DELETE FROM snapshots`,
		`TRUNCATE snapshots`,
	}
	for _, who := range []struct{ name, setup, wantMsg string }{
		{"app role", "SET ROLE " + postgres.AppRole, "permission denied"},
		{"superuser", "", "append-only"},
	} {
		conn, err := pgx.Connect(ctx, l.DBURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if who.setup != "" {
			if _, err := conn.Exec(ctx, who.setup); err != nil {
				t.Fatal(err)
			}
		}
		for _, sql := range stmts {
			_, err := conn.Exec(ctx, sql)
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "42501" || !strings.Contains(pe.Message, who.wantMsg) {
				t.Errorf("%s: %s: err = %v, want insufficient_privilege (42501) %q", who.name, sql, err, who.wantMsg)
			}
		}
	}
	rep, err := l.Service.Store.Verify(ctx, districtFund, nil)
	if err != nil || !rep.OK || rep.CheckedTransactions != journalLen {
		t.Fatalf("after the refused changes: ok %v, checked %d, err %v, problems %+v", rep.OK, rep.CheckedTransactions, err, rep.Problems)
	}
}

// tamper runs statements as a superuser with the append-only triggers of
// the journal, its postings and the snapshots switched off, as an
// administrator bent on changing the books could.
func tamper(t *testing.T, l *testenv.Ledger, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, l.DB, func(tx pgx.Tx) error {
		for _, tbl := range []string{"journal", "postings", "snapshots"} {
			if _, err := tx.Exec(ctx, "ALTER TABLE "+tbl+" DISABLE TRIGGER USER"); err != nil {
				return err
			}
		}
		for _, sql := range stmts {
			if _, err := tx.Exec(ctx, sql); err != nil {
				return errors.New(sql + ": " + err.Error())
			}
		}
		// The postings' foreign key is deferred: check it now, or the
		// triggers cannot be switched back on.
		if _, err := tx.Exec(ctx, "SET CONSTRAINTS ALL IMMEDIATE"); err != nil {
			return err
		}
		for _, tbl := range []string{"journal", "postings", "snapshots"} {
			if _, err := tx.Exec(ctx, "ALTER TABLE "+tbl+" ENABLE TRIGGER USER"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("tamper: %v", err)
	}
}

// wantFirst checks that verification failed and that its first problem
// names seq and kind.
func wantFirst(t *testing.T, rep ledger.VerifyReport, seq int64, kind string) {
	t.Helper()
	p := rep.First()
	if rep.OK || p == nil {
		t.Fatalf("tampered books verify OK")
	}
	if p.FundID != districtFund || p.Seq != seq || p.Kind != kind {
		t.Fatalf("first problem %s; want fund %s seq %d kind %s (all: %+v)", p, districtFund, seq, kind, rep.Problems)
	}
	t.Logf("found: %s (%d problems)", p, len(rep.Problems))
}

// hasProblem reports whether the report lists a problem of kind at seq.
func hasProblem(rep ledger.VerifyReport, seq int64, kind string) bool {
	for _, p := range rep.Problems {
		if p.Seq == seq && p.Kind == kind {
			return true
		}
	}
	return false
}

// rehash is rehashFund for the district fund: it recomputes prev_hash and
// hash of its transactions from seq from on, and the fund's head, as
// someone who knows the hashing (it is published) would after changing a
// transaction.
func rehash(t *testing.T, l *testenv.Ledger, from int64) []string {
	return rehashFund(t, l, districtFund, from)
}

func byteaLit(b []byte) string { return `'\x` + strings.ToLower(hexString(b)) + `'::bytea` }

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

// fixKept makes the kept balances and the fund's head agree with what is
// left of the journal, as a careful forger would.
const fixKept = `
	UPDATE balances b
	   SET debits = coalesce((SELECT sum(amount) FROM postings p WHERE p.fund_id = b.fund_id AND p.account = b.account AND side = 'debit'), 0),
	       credits = coalesce((SELECT sum(amount) FROM postings p WHERE p.fund_id = b.fund_id AND p.account = b.account AND side = 'credit'), 0)
	 WHERE b.fund_id = 'jiangjin-care'`

func TestTamperDetected(t *testing.T) {
	cases := []struct {
		name string
		// stmts change the books; rehashFrom > 0 then recomputes the chain
		// from there on, so only the snapshots can tell.
		stmts      []string
		rehashFrom int64
		seq        int64
		kind       string
		also       [][2]any // more problems that must be listed: {seq, kind}
		pinKey     bool     // verify with the service's key only, not the table's
		external   bool     // also check the last published snapshot
	}{
		{name: "amount changed on both sides",
			stmts: []string{`UPDATE postings SET amount = amount + 100 WHERE fund_id = 'jiangjin-care' AND seq = 5`},
			seq:   5, kind: ledger.ProblemHash,
			also: [][2]any{{int64(8), ledger.ProblemSnapshot}, {int64(0), ledger.ProblemBalance}}},
		{name: "amount changed on one side",
			stmts: []string{`UPDATE postings SET amount = amount + 0.01 WHERE fund_id = 'jiangjin-care' AND seq = 5 AND line = 1`},
			seq:   5, kind: ledger.ProblemHash, also: [][2]any{{int64(5), ledger.ProblemUnbalanced}}},
		{name: "transaction deleted",
			stmts: []string{`DELETE FROM postings WHERE fund_id = 'jiangjin-care' AND seq = 6`,
				`DELETE FROM journal WHERE fund_id = 'jiangjin-care' AND seq = 6`},
			seq: 6, kind: ledger.ProblemSeq},
		{name: "event ids and refs of two transactions swapped",
			stmts: []string{`UPDATE journal j SET event_id = o.event_id, refs = o.refs FROM journal o
				WHERE j.fund_id = 'jiangjin-care' AND o.fund_id = j.fund_id AND j.seq IN (2, 3) AND o.seq = 5 - j.seq`},
			seq: 2, kind: ledger.ProblemHash, also: [][2]any{{int64(3), ledger.ProblemHash}}},
		{name: "amounts of two transactions swapped",
			stmts: []string{`UPDATE postings p SET amount = o.amount FROM postings o
				WHERE p.fund_id = 'jiangjin-care' AND o.fund_id = p.fund_id AND p.seq IN (7, 8) AND o.seq = 15 - p.seq AND o.line = p.line`},
			seq: 7, kind: ledger.ProblemHash, also: [][2]any{{int64(8), ledger.ProblemHash}}},
		{name: "two transactions reordered",
			stmts: []string{
				`UPDATE postings SET seq = 1000 WHERE fund_id = 'jiangjin-care' AND seq = 9`,
				`UPDATE journal SET seq = 1000 WHERE fund_id = 'jiangjin-care' AND seq = 9`,
				`UPDATE postings SET seq = 9 WHERE fund_id = 'jiangjin-care' AND seq = 10`,
				`UPDATE journal SET seq = 9 WHERE fund_id = 'jiangjin-care' AND seq = 10`,
				`UPDATE postings SET seq = 10 WHERE fund_id = 'jiangjin-care' AND seq = 1000`,
				`UPDATE journal SET seq = 10 WHERE fund_id = 'jiangjin-care' AND seq = 1000`},
			seq: 9, kind: ledger.ProblemPrevHash},
		{name: "tail cut",
			stmts: []string{`DELETE FROM postings WHERE fund_id = 'jiangjin-care' AND seq >= 16`,
				`DELETE FROM journal WHERE fund_id = 'jiangjin-care' AND seq >= 16`},
			seq: 16, kind: ledger.ProblemTruncated},
		{name: "tail cut, head and balances made to agree",
			stmts: []string{`DELETE FROM postings WHERE fund_id = 'jiangjin-care' AND seq >= 16`,
				`DELETE FROM journal WHERE fund_id = 'jiangjin-care' AND seq >= 16`,
				`UPDATE funds SET head_seq = 15, head_hash = (SELECT hash FROM journal WHERE fund_id = 'jiangjin-care' AND seq = 15),
				        head_time = (SELECT recorded_at FROM journal WHERE fund_id = 'jiangjin-care' AND seq = 15)
				  WHERE fund_id = 'jiangjin-care'`,
				fixKept},
			seq: 16, kind: ledger.ProblemTruncated},
		{name: "tail cut with its snapshots, only the published copy tells",
			stmts: []string{`DELETE FROM postings WHERE fund_id = 'jiangjin-care' AND seq >= 16`,
				`DELETE FROM journal WHERE fund_id = 'jiangjin-care' AND seq >= 16`,
				`DELETE FROM snapshots WHERE fund_id = 'jiangjin-care' AND as_of_journal_seq >= 16`,
				`UPDATE funds SET head_seq = 15, head_hash = (SELECT hash FROM journal WHERE fund_id = 'jiangjin-care' AND seq = 15),
				        head_time = (SELECT recorded_at FROM journal WHERE fund_id = 'jiangjin-care' AND seq = 15),
				        snapshot_seq = (SELECT max(snapshot_seq) FROM snapshots WHERE fund_id = 'jiangjin-care')
				  WHERE fund_id = 'jiangjin-care'`,
				fixKept},
			external: true,
			seq:      16, kind: ledger.ProblemTruncated},
		{name: "amount changed and the chain rehashed",
			stmts:      []string{`UPDATE postings SET amount = amount + 100 WHERE fund_id = 'jiangjin-care' AND seq = 5`, fixKept},
			rehashFrom: 5,
			seq:        8, kind: ledger.ProblemSnapshot},
		{name: "snapshot label changed",
			stmts: []string{`UPDATE snapshots SET published = convert_to(replace(convert_from(published, 'UTF8'), '"2026-03"', '"2026-02"'), 'UTF8')
				WHERE fund_id = 'jiangjin-care' AND label = '2026-03'`},
			seq: 17, kind: ledger.ProblemSignature},
		{name: "only a stored snapshot's JSON changed, not its published bytes",
			stmts: []string{`UPDATE snapshots SET body = jsonb_set(body, '{accounts,0,balance}', '"999999.00"')
				WHERE fund_id = 'jiangjin-care' AND label = '2026-03'`},
			seq: 17, kind: ledger.ProblemSnapshot},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			l := buildBooks(t)
			ctx := context.Background()
			stmts := c.stmts
			if c.rehashFrom > 0 {
				tamper(t, l, stmts...) // change first, then hash what was changed
				stmts = rehash(t, l, c.rehashFrom)
			}
			tamper(t, l, stmts...)
			o := postgres.VerifyOptions{Funds: []string{districtFund}}
			if c.external {
				rep, err := l.Service.Store.VerifyWith(ctx, o)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("with the database alone: ok %v, problems %+v", rep.OK, rep.Problems)
				o.Snapshots = [][]byte{lastPublishedSnapshot(t, l, districtFund)}
			}
			rep, err := l.Service.Store.VerifyWith(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			wantFirst(t, rep, c.seq, c.kind)
			for _, a := range c.also {
				if !hasProblem(rep, a[0].(int64), a[1].(string)) {
					t.Errorf("no %s problem at seq %d in %+v", a[1], a[0], rep.Problems)
				}
			}
		})
	}
}

// TestForgedKeyNeedsPinning: someone with database rights who adds their
// own key and re-signs a changed snapshot passes a verification that
// trusts the signing_keys table, and fails one that pins the ledger's key.
func TestForgedKeyNeedsPinning(t *testing.T) {
	l := buildBooks(t)
	ctx := context.Background()
	var seq int64
	var body []byte
	if err := l.DB.QueryRow(ctx, `SELECT snapshot_seq, published FROM snapshots WHERE fund_id = $1 AND label = '2026-03'`, districtFund).Scan(&seq, &body); err != nil {
		t.Fatal(err)
	}
	var s ledger.Snapshot
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatal(err)
	}
	s.Label = "2026-02"
	forger := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	s.KeyID = ledger.SigningKeyID(forger.Public().(ed25519.PublicKey))
	s.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(forger, ledger.SnapshotSigningInput(&s)))
	forged, _ := json.Marshal(s)
	if _, err := l.DB.Exec(ctx, `INSERT INTO signing_keys VALUES ($1, $2, now())`, s.KeyID, []byte(forger.Public().(ed25519.PublicKey))); err != nil {
		t.Fatal(err)
	}
	tamper(t, l, `UPDATE snapshots SET published = '\x`+hexString(forged)+`'::bytea, body = '`+string(forged)+`'::jsonb, label = '2026-02'
		WHERE fund_id = 'jiangjin-care' AND label = '2026-03'`)

	rep, err := l.Service.Store.Verify(ctx, districtFund, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Fatalf("the forged snapshot is consistent with the table's keys; problems %+v", rep.Problems)
	}
	pinned := map[string]ed25519.PublicKey{l.Service.Signer.KeyID(): l.Service.Signer.PublicKey()}
	rep, err = l.Service.Store.VerifyWith(ctx, postgres.VerifyOptions{Funds: []string{districtFund}, Keys: pinned})
	if err != nil {
		t.Fatal(err)
	}
	wantFirst(t, rep, 17, ledger.ProblemSignature)
}

// lastPublishedSnapshot is the fund's last snapshot as published on
// JetStream: a copy outside the database.
func lastPublishedSnapshot(t *testing.T, l *testenv.Ledger, fund string) []byte {
	t.Helper()
	ctx := context.Background()
	st, err := l.JS.Stream(ctx, events.OutboundStream)
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.GetLastMsgForSubject(ctx, "ledger."+fund+".snapshot")
	if err != nil {
		t.Fatal(err)
	}
	return m.Data
}
