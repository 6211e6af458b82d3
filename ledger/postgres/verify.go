package postgres

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"time"
	"unicode/utf8"

	"github.com/fundledger/fundledger/ledger"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// verifyProgressEvery is how many transactions pass between progress
// reports.
const verifyProgressEvery = 10000

// VerifyOptions choose what Verify checks and against what.
type VerifyOptions struct {
	// Funds to verify; empty verifies every fund.
	Funds []string
	// Keys are the public keys snapshots may be signed with, by key id.
	// Nil trusts the signing_keys table; an auditor who pinned the
	// ledger's key out of band passes it here, so a key added to the
	// table by someone with database rights is not trusted.
	Keys map[string]ed25519.PublicKey
	// Snapshots are published snapshots kept outside the database (the
	// JSON of ledger.<fund>.snapshot messages): each is checked against
	// the journal like the stored ones, so a journal cut together with
	// its snapshot rows is still found out.
	Snapshots [][]byte
	// Progress, when set, is called now and then with the transactions
	// checked so far and the total expected.
	Progress func(done, total int64)
	// Zone is FUNDLEDGER_TZ, the zone of business dates taken from the
	// clock, for recomputing period reports; nil reads FUNDLEDGER_TZ from
	// the environment (ledger.DefaultZone when unset).
	Zone *time.Location
}

// Verify recomputes one fund's hash chain and balances from its journal
// and checks them against the fund's kept head and balances and against
// every stored snapshot (CONTRACT.md section 7). An unopened fund is
// ledger.ErrUnknownFund.
//
// The journal, its postings and the snapshots are streamed in order, each
// on its own connection, so memory stays flat however long the journal is
// and the database reads ahead while the checks run. The three read-only
// repeatable-read transactions share one exported snapshot: they see one
// state of the books, and the service may keep posting meanwhile.
func (s *Store) Verify(ctx context.Context, fundID string, progress func(done, total int64)) (ledger.VerifyReport, error) {
	return s.VerifyWith(ctx, VerifyOptions{Funds: []string{fundID}, Progress: progress})
}

// VerifyAll verifies every fund, in fund_id order, as of one moment.
func (s *Store) VerifyAll(ctx context.Context, progress func(done, total int64)) (ledger.VerifyReport, error) {
	return s.VerifyWith(ctx, VerifyOptions{Progress: progress})
}

// SigningKeys lists the public keys that signed snapshots, by full key id:
// the key history's and the older signing_keys table's.
func (s *Store) SigningKeys(ctx context.Context) (map[string]ed25519.PublicKey, error) {
	return verifyKeys(ctx, s.Pool)
}

type verifyQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func verifyKeys(ctx context.Context, q verifyQuerier) (map[string]ed25519.PublicKey, error) {
	hist, err := keyHistory(ctx, q)
	if err != nil {
		return nil, err
	}
	// By the full key id computed from the key itself, never by the id a
	// row states: a 16-digit id of an old signature finds its key by
	// prefix (ledger.LookupKey).
	keys := make(map[string]ed25519.PublicKey, len(hist))
	for _, e := range hist {
		keys[ledger.SigningKeyID(e.PublicKey)] = e.PublicKey
	}
	return keys, nil
}

// verifyFund is a fund's row: where its journal starts and what the store
// keeps about its end.
type verifyFund struct {
	id       string
	openedAt time.Time
	kept     ledger.KeptState
}

// verifyTxs are the three transactions a verification reads in, on one
// exported snapshot: the journal (and everything small), the postings,
// the snapshots.
type verifyTxs struct{ journal, postings, snapshots pgx.Tx }

// VerifyWith verifies the funds o names (every fund when none).
func (s *Store) VerifyWith(ctx context.Context, o VerifyOptions) (ledger.VerifyReport, error) {
	rep := ledger.NewVerifyReport()
	external, err := verifyExternal(o.Snapshots)
	if err != nil {
		return rep, err
	}
	// The journal is read on a pooled connection, postings and snapshots
	// on two of their own: verification must not wait for, nor starve,
	// a small pool.
	var txs [3]pgx.Tx
	var snapshotID string
	for i := range txs {
		var conn *pgx.Conn
		if i == 0 {
			c, err := s.Pool.Acquire(ctx)
			if err != nil {
				return rep, fmt.Errorf("verify: connect: %w", err)
			}
			defer c.Release()
			conn = c.Conn()
		} else if conn, err = verifyConnect(ctx, s); err != nil {
			return rep, err
		} else {
			defer conn.Close(context.WithoutCancel(ctx)) //nolint:errcheck
		}
		tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			return rep, fmt.Errorf("verify: begin: %w", err)
		}
		defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read-only: nothing to lose
		if i == 0 {
			err = tx.QueryRow(ctx, `SELECT pg_export_snapshot()`).Scan(&snapshotID)
		} else if !verifySnapshotID.MatchString(snapshotID) {
			err = fmt.Errorf("unexpected snapshot id %q", snapshotID)
		} else {
			_, err = tx.Exec(ctx, `SET TRANSACTION SNAPSHOT '`+snapshotID+`'`)
		}
		if err == nil {
			// The streams are read in index order from start to end: a
			// sort of the whole journal, parallel workers or JIT only add
			// to that.
			_, err = tx.Exec(ctx, `SET LOCAL enable_sort = off; SET LOCAL jit = off; SET LOCAL max_parallel_workers_per_gather = 0`)
		}
		if err != nil {
			return rep, fmt.Errorf("verify: share snapshot: %w", err)
		}
		txs[i] = tx
	}
	t := verifyTxs{journal: txs[0], postings: txs[1], snapshots: txs[2]}
	hist, err := keyHistory(ctx, t.journal)
	if err != nil {
		return rep, err
	}
	for _, msg := range ledger.CheckKeyHistory(hist, nil) {
		rep.AddProblem(ledger.Problem{Kind: ledger.ProblemKeyHistory, Message: msg})
	}
	keys := o.Keys
	if keys == nil {
		keys = make(map[string]ed25519.PublicKey, len(hist))
		for _, e := range hist {
			keys[ledger.SigningKeyID(e.PublicKey)] = e.PublicKey
		}
	} else {
		// A pinned key vouches for the keys the history hands on from it.
		keys = ledger.TrustedKeys(hist, keys)
	}
	funds, err := verifyFunds(ctx, t.journal, o.Funds)
	if err != nil {
		return rep, err
	}
	zone, err := verifyZone(o) // periods_verify.go
	if err != nil {
		return rep, err
	}
	var total, done int64
	var legs []ledger.AllocationLeg
	for _, f := range funds {
		total += f.kept.HeadSeq
	}
	for _, f := range funds {
		v := ledger.NewVerifier(f.id, f.openedAt, keys)
		if err := verifyPeriodReports(ctx, t.journal, v, f.id, zone); err != nil { // periods_verify.go
			return rep, fmt.Errorf("verify fund %s: %w", f.id, err)
		}
		if err := verifyOne(ctx, t, v, f, external[f.id], func(n int64) {
			if o.Progress != nil {
				o.Progress(done+n, max(total, done+n))
			}
		}); err != nil {
			return rep, fmt.Errorf("verify fund %s: %w", f.id, err)
		}
		if err := verifyEvents(ctx, t.journal, v, f.id); err != nil {
			return rep, fmt.Errorf("verify fund %s: %w", f.id, err)
		}
		if err := verifyTreeNodes(ctx, t.journal, v, f.id); err != nil { // merkle.go
			return rep, fmt.Errorf("verify fund %s: %w", f.id, err)
		}
		done += v.Checked()
		rep.Add(v)
		legs = append(legs, v.AllocationLegs()...)
	}
	if err := verifyAllocations(ctx, t.journal, &rep, funds, legs); err != nil {
		return rep, err
	}
	if len(o.Funds) == 0 { // the whole ledger: its access log too
		al, err := s.VerifyAccessLog(ctx)
		if err != nil {
			return rep, err
		}
		rep.CheckedAccessLog = al.Checked
		for _, p := range al.Problems {
			rep.AddProblem(p)
		}
		rep.ProblemsOmitted += al.Omitted
		if al.Omitted > 0 {
			rep.OK = false
		}
	}
	if o.Progress != nil {
		o.Progress(done, max(total, done))
	}
	return rep, nil
}

var verifySnapshotID = regexp.MustCompile(`^[0-9A-Fa-f-]+$`)

// verifyConnect opens a connection outside the pool, set up as the pool's
// are (role, decimal type).
func verifyConnect(ctx context.Context, s *Store) (*pgx.Conn, error) {
	cfg := s.Pool.Config()
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
	if err != nil {
		return nil, fmt.Errorf("verify: connect: %w", err)
	}
	if cfg.AfterConnect != nil {
		if err := cfg.AfterConnect(ctx, conn); err != nil {
			conn.Close(ctx)
			return nil, fmt.Errorf("verify: connect: %w", err)
		}
	}
	return conn, nil
}

// unknownFund is the error of verifying a fund that was never opened: it
// is ledger.ErrUnknownFund and, for the read API and the commands, of kind
// not found.
func unknownFund(id string) error {
	return &ledger.Error{Op: "verify", Kind: ledger.KindNotFound, Msg: fmt.Sprintf("fund %q does not exist", id), Err: ledger.ErrUnknownFund}
}

// verifyExternal groups outside snapshots by fund, in journal order.
func verifyExternal(raw [][]byte) (map[string][]ledger.StoredSnapshot, error) {
	out := map[string][]ledger.StoredSnapshot{}
	for i, b := range raw {
		var head struct {
			FundID         string `json:"fund_id"`
			SnapshotSeq    int64  `json:"snapshot_seq"`
			AsOfJournalSeq int64  `json:"as_of_journal_seq"`
		}
		if err := json.Unmarshal(b, &head); err != nil || head.FundID == "" {
			return nil, fmt.Errorf("snapshot %d given is not a snapshot (%v)", i+1, err)
		}
		out[head.FundID] = append(out[head.FundID], ledger.StoredSnapshot{SnapshotSeq: head.SnapshotSeq,
			AsOfJournalSeq: head.AsOfJournalSeq, Published: b, External: true})
	}
	for _, l := range out {
		sort.SliceStable(l, func(i, j int) bool { return l[i].AsOfJournalSeq < l[j].AsOfJournalSeq })
	}
	return out, nil
}

func verifyFunds(ctx context.Context, tx pgx.Tx, ids []string) ([]verifyFund, error) {
	var filter any
	if len(ids) > 0 {
		filter = ids
	}
	rows, err := tx.Query(ctx, `
		SELECT fund_id, opened_at, head_seq, head_hash, head_time, open_grants, snapshot_seq, merkle_frontier
		  FROM funds WHERE $1::text[] IS NULL OR fund_id = ANY($1) ORDER BY fund_id`, filter)
	if err != nil {
		return nil, fmt.Errorf("read funds: %w", err)
	}
	funds, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (verifyFund, error) {
		var f verifyFund
		var headTime *time.Time
		err := r.Scan(&f.id, &f.openedAt, &f.kept.HeadSeq, &f.kept.HeadHash, &headTime, &f.kept.OpenGrants, &f.kept.SnapshotSeq, &f.kept.Tree)
		f.openedAt = f.openedAt.UTC()
		if headTime != nil {
			f.kept.HeadTime = headTime.UTC()
		}
		return f, err
	})
	if err != nil {
		return nil, fmt.Errorf("read funds: %w", err)
	}
	if len(ids) > 0 && len(funds) < len(ids) {
		found := map[string]bool{}
		for _, f := range funds {
			found[f.id] = true
		}
		for _, id := range ids {
			if !found[id] {
				return nil, unknownFund(id)
			}
		}
	}
	return funds, nil
}

// verifyOne streams one fund's journal, postings and snapshots through v.
func verifyOne(ctx context.Context, t verifyTxs, v *ledger.Verifier, f verifyFund, external []ledger.StoredSnapshot, progress func(int64)) error {
	rows, err := t.journal.Query(ctx, `SELECT account, debits, credits FROM balances WHERE fund_id = $1`, f.id)
	if err != nil {
		return fmt.Errorf("read balances: %w", err)
	}
	f.kept.Balances = map[string]*ledger.Balance{}
	var account string
	var dr, cr decimal.Decimal
	if _, err := pgx.ForEachRow(rows, []any{&account, &dr, &cr}, func() error {
		f.kept.Balances[account] = ledger.NewBalance(dr, cr)
		return nil
	}); err != nil {
		return fmt.Errorf("read balances: %w", err)
	}

	jrows, err := t.journal.Query(ctx, `
		SELECT seq, fund_id, event_id, type, source, recorded_at, refs::text, prev_hash, hash
		  FROM journal WHERE fund_id = $1 ORDER BY seq`, f.id)
	if err != nil {
		return fmt.Errorf("read journal: %w", err)
	}
	defer jrows.Close()
	prows, err := t.postings.Query(ctx, `
		SELECT seq, line, account, side, amount::text FROM postings WHERE fund_id = $1 ORDER BY seq, line`, f.id)
	if err != nil {
		return fmt.Errorf("read postings: %w", err)
	}
	defer prows.Close()
	srows, err := t.snapshots.Query(ctx, `
		SELECT snapshot_seq, as_of_journal_seq, published, body::text FROM snapshots
		 WHERE fund_id = $1 ORDER BY as_of_journal_seq, snapshot_seq`, f.id)
	if err != nil {
		return fmt.Errorf("read snapshots: %w", err)
	}
	defer srows.Close()

	// One goroutine reads, parses and hashes the journal while this one
	// checks and sums: on a machine with few cores that is most of the
	// gain.
	j := &verifyJournal{journal: jrows, postings: prows}
	batches := make(chan []verifyItem, 8)
	readErr := make(chan error, 1)
	readCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	defer func() { stop(); <-done }() // before the rows close
	go func() {
		defer close(done)
		defer close(batches)
		batch := make([]verifyItem, 0, 256)
		for {
			it, err := j.next()
			if err != nil {
				readErr <- err
				return
			}
			batch = append(batch, it)
			if it.txn != nil && len(batch) < cap(batch) {
				continue
			}
			select {
			case batches <- batch:
			case <-readCtx.Done():
				return
			}
			if it.txn == nil {
				return
			}
			batch = make([]verifyItem, 0, 256)
		}
	}()
	var cur []verifyItem
	next := func() (*ledger.Prepared, error) {
		for len(cur) == 0 {
			b, ok := <-batches
			if !ok {
				select {
				case err := <-readErr:
					return nil, err
				default:
					return nil, nil
				}
			}
			cur = b
		}
		it := cur[0]
		cur = cur[1:]
		for _, p := range it.problems {
			v.Problemf(p.Seq, p.Kind, "%s", p.Message)
		}
		if it.txn != nil && v.Checked()%verifyProgressEvery == 0 {
			progress(v.Checked())
		}
		return it.txn, nil
	}
	sn := &verifySnapshots{rows: srows, external: external}
	return ledger.VerifyPrepared(v, next, sn.next, &f.kept)
}

// verifyItem is a transaction as read, with the problems found reading
// it (nil txn: the end of the journal).
type verifyItem struct {
	txn      *ledger.Prepared
	problems []ledger.Problem
}

// verifyPosting is one row of the postings stream.
type verifyPosting struct {
	seq                   int64
	line                  int32
	account, side, amount string
}

// verifyJournal merges the journal and postings streams into
// transactions.
type verifyJournal struct {
	problems []ledger.Problem // found since the last item
	journal  pgx.Rows
	postings pgx.Rows
	p        verifyPosting
	havePost bool // p holds a row not yet used
	postDone bool
	refs     []ledger.Ref
}

// peekPosting returns the next posting row, or nil at the end.
func (j *verifyJournal) peekPosting() (*verifyPosting, error) {
	if j.havePost {
		return &j.p, nil
	}
	if j.postDone {
		return nil, nil
	}
	if !j.postings.Next() {
		j.postDone = true
		if err := j.postings.Err(); err != nil {
			return nil, fmt.Errorf("read postings: %w", err)
		}
		return nil, nil
	}
	if err := j.postings.Scan(&j.p.seq, &j.p.line, &j.p.account, &j.p.side, &j.p.amount); err != nil {
		return nil, fmt.Errorf("read postings: %w", err)
	}
	j.havePost = true
	return &j.p, nil
}

func (j *verifyJournal) problemf(seq int64, kind, format string, args ...any) {
	j.problems = append(j.problems, ledger.Problem{Seq: seq, Kind: kind, Message: fmt.Sprintf(format, args...)})
}

// next reads the next transaction with its postings (nil at the end).
// Postings whose transaction is not in the journal are reported.
func (j *verifyJournal) next() (verifyItem, error) {
	t, err := j.read()
	it := verifyItem{problems: j.problems}
	if t != nil {
		p := ledger.Prepare(t) // hashed here, beside the reading
		it.txn = &p
	}
	j.problems = nil
	return it, err
}

func (j *verifyJournal) read() (*ledger.Txn, error) {
	if !j.journal.Next() {
		if err := j.journal.Err(); err != nil {
			return nil, fmt.Errorf("read journal: %w", err)
		}
		return nil, j.orphans(-1)
	}
	t := &ledger.Txn{}
	var refs string
	if err := j.journal.Scan(&t.Seq, &t.FundID, &t.EventID, &t.Type, &t.Source, &t.Time, &refs, &t.PrevHash, &t.Hash); err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	t.Time = t.Time.UTC()
	var err error
	if t.Refs, err = parseRefs(refs); err != nil {
		j.problemf(t.Seq, ledger.ProblemMalformed, "refs %s are not an object of strings: %v", refs, err)
	}
	if err := j.orphans(t.Seq); err != nil {
		return nil, err
	}
	for {
		p, err := j.peekPosting()
		if err != nil {
			return nil, err
		}
		if p == nil || p.seq != t.Seq {
			return t, nil
		}
		amt, err := decimal.NewFromString(p.amount)
		if err != nil {
			j.problemf(t.Seq, ledger.ProblemMalformed, "posting %d amount %q: %v", p.line, p.amount, err)
		}
		t.Postings = append(t.Postings, ledger.Posting{Account: p.account, Side: ledger.Side(p.side), Amount: amt})
		j.havePost = false
	}
}

// orphans reports the postings before seq (all that are left when seq is
// -1): their journal transaction is gone.
func (j *verifyJournal) orphans(seq int64) error {
	last := int64(-1)
	for {
		p, err := j.peekPosting()
		if err != nil {
			return err
		}
		if p == nil || (seq >= 0 && p.seq >= seq) {
			return nil
		}
		if p.seq != last {
			j.problemf(p.seq, ledger.ProblemMalformed, "postings of seq %d have no journal transaction: it was removed", p.seq)
			last = p.seq
		}
		j.havePost = false
	}
}

// verifySnapshots merges the stored snapshots with the outside ones, in
// journal order.
type verifySnapshots struct {
	rows     pgx.Rows
	next1    *ledger.StoredSnapshot
	done     bool
	external []ledger.StoredSnapshot
}

func (s *verifySnapshots) next() (*ledger.StoredSnapshot, error) {
	if s.next1 == nil && !s.done {
		if s.rows.Next() {
			var st ledger.StoredSnapshot
			var body string
			if err := s.rows.Scan(&st.SnapshotSeq, &st.AsOfJournalSeq, &st.Published, &body); err != nil {
				return nil, fmt.Errorf("read snapshots: %w", err)
			}
			st.Body = []byte(body)
			s.next1 = &st
		} else {
			s.done = true
			if err := s.rows.Err(); err != nil {
				return nil, fmt.Errorf("read snapshots: %w", err)
			}
		}
	}
	var st *ledger.StoredSnapshot
	switch {
	case s.next1 != nil && (len(s.external) == 0 || s.next1.AsOfJournalSeq <= s.external[0].AsOfJournalSeq):
		st, s.next1 = s.next1, nil
	case len(s.external) > 0:
		st, s.external = &s.external[0], s.external[1:]
	}
	return st, nil
}

// parseRefs reads a transaction's references from the text of its jsonb
// column, which PostgreSQL prints as {"key": "value", ...}. The common
// case (no escapes) is read directly: encoding/json's reflection costs
// more than the hash. Anything else goes through encoding/json, which
// also says what is wrong.
func parseRefs(s string) ([]ledger.Ref, error) {
	if refs, ok := parseRefsFast(s); ok {
		return refs, nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, err
	}
	refs := make([]ledger.Ref, 0, len(m))
	for k, v := range m {
		refs = append(refs, ledger.Ref{Key: k, Value: v})
	}
	return refs, nil
}

func parseRefsFast(s string) ([]ledger.Ref, bool) {
	i := 0
	ws := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r') {
			i++
		}
	}
	str := func() (string, bool) {
		if i >= len(s) || s[i] != '"' {
			return "", false
		}
		start := i + 1
		for k := start; k < len(s); k++ {
			switch c := s[k]; {
			case c == '"':
				i = k + 1
				return s[start:k], true
			case c == '\\' || c < 0x20:
				return "", false
			}
		}
		return "", false
	}
	ws()
	if i >= len(s) || s[i] != '{' {
		return nil, false
	}
	i++
	refs := make([]ledger.Ref, 0, 8)
	ws()
	if i < len(s) && s[i] == '}' {
		i++
		ws()
		return refs, i == len(s)
	}
	for {
		ws()
		k, ok := str()
		if !ok {
			return nil, false
		}
		ws()
		if i >= len(s) || s[i] != ':' {
			return nil, false
		}
		i++
		ws()
		v, ok := str()
		if !ok || !utf8.ValidString(v) || !utf8.ValidString(k) {
			return nil, false
		}
		refs = append(refs, ledger.Ref{Key: k, Value: v})
		ws()
		if i >= len(s) {
			return nil, false
		}
		switch s[i] {
		case ',':
			i++
		case '}':
			i++
			ws()
			return refs, i == len(s)
		default:
			return nil, false
		}
	}
}
