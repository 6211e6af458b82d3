package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fundledger/fundledger/events"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
)

// invResult is one invariant's verdict.
type invResult struct {
	name     string
	ok       bool
	summary  string
	problems []string
}

func (r *invResult) fail(format string, args ...any) {
	r.ok = false
	if len(r.problems) < 8 {
		r.problems = append(r.problems, fmt.Sprintf(format, args...))
	} else if len(r.problems) == 8 {
		r.problems = append(r.problems, "... (more)")
	}
}

// inboundEvent is one FUND_EVENTS message as the ledger reads it.
type inboundEvent struct {
	seq    uint64
	id     string
	typ    string
	fund   string
	lines  int    // grant.batch.approved: its lines
	toFund string // allocation.approved: the receiving fund
}

type inboxRow struct {
	fund, outcome string
	seq           int64
}

type rejectionRow struct {
	eventID, fund, code string
	streamSeq           int64
}

type journalRow struct {
	fund           string
	seq            int64
	eventID        string
	hash, prevHash []byte
	grantRef       string
}

type outMessage struct {
	subject string
	payload []byte
	count   int
}

// state is everything the invariants look at, read once the system is
// quiet.
type state struct {
	inbound       []*inboundEvent
	byID          map[string]*inboundEvent // first message of each readable envelope id
	noID          map[uint64]bool          // stream sequences of messages without a readable id
	inboundLast   uint64
	inbox         map[string]inboxRow
	rejections    []rejectionRow
	journal       []journalRow
	funds         map[string]fundHead
	snapshots     []string // "fund:snapshot_seq"
	recons        []string // "fund:reconciliation_seq"
	periods       []string // "fund:YYYY-MM", the period reports
	out           map[string]*outMessage
	outNoHeader   int
	outTotal      int
	outbox, held  int64
	unpublished   int64 // journal transactions past their fund's relay cursor
	position      int64
	consumerInfo  *jetstream.ConsumerInfo
	consumerError error
}

type fundHead struct {
	seq  int64
	hash []byte
}

// readStream reads every message of a stream in order.
func readStream(ctx context.Context, js jetstream.JetStream, name string, fn func(jetstream.Msg)) (last uint64, n int, err error) {
	s, err := js.Stream(ctx, name)
	if err != nil {
		return 0, 0, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, 0, err
	}
	last = info.State.LastSeq
	if info.State.Msgs == 0 {
		return last, 0, nil
	}
	c, err := js.OrderedConsumer(ctx, name, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return last, 0, err
	}
	it, err := c.Messages(jetstream.PullMaxMessages(1000))
	if err != nil {
		return last, 0, err
	}
	defer it.Stop()
	for {
		m, err := it.Next(jetstream.NextMaxWait(15 * time.Second))
		if err != nil {
			return last, n, fmt.Errorf("read %s after %d messages: %w", name, n, err)
		}
		md, err := m.Metadata()
		if err != nil {
			return last, n, err
		}
		n++
		fn(m)
		if md.Sequence.Stream >= last || md.NumPending == 0 {
			return last, n, nil
		}
	}
}

func (r *run) loadState(ctx context.Context) (*state, error) {
	st := &state{byID: map[string]*inboundEvent{}, noID: map[uint64]bool{}, inbox: map[string]inboxRow{},
		funds: map[string]fundHead{}, out: map[string]*outMessage{}}
	last, _, err := readStream(ctx, r.js, events.InboundStream, func(m jetstream.Msg) {
		md, _ := m.Metadata()
		d := events.DecodeMessage(events.Message{Subject: m.Subject(), Header: m.Headers(), Data: m.Data()})
		ev := &inboundEvent{seq: md.Sequence.Stream, id: d.ID, typ: d.Type, fund: d.FundID}
		switch e := d.Event.(type) {
		case events.GrantBatchApproved:
			ev.lines = len(e.Lines)
		case events.AllocationApproved:
			ev.toFund = e.ToFundID
		}
		st.inbound = append(st.inbound, ev)
		if d.ID == "" {
			st.noID[ev.seq] = true
		} else if st.byID[d.ID] == nil {
			st.byID[d.ID] = ev
		}
	})
	if err != nil {
		return nil, fmt.Errorf("read FUND_EVENTS: %w", err)
	}
	st.inboundLast = last

	_, _, err = readStream(ctx, r.js, events.OutboundStream, func(m jetstream.Msg) {
		st.outTotal++
		id := m.Headers().Get("Nats-Msg-Id")
		if id == "" {
			st.outNoHeader++
			return
		}
		o := st.out[id]
		if o == nil {
			o = &outMessage{subject: m.Subject(), payload: append([]byte(nil), m.Data()...)}
			st.out[id] = o
		}
		o.count++
	})
	if err != nil {
		return nil, fmt.Errorf("read LEDGER_OUT: %w", err)
	}

	rows, err := r.db.Query(ctx, `SELECT event_id, fund_id, outcome, stream_seq FROM inbox`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id string
		var row inboxRow
		if err := rows.Scan(&id, &row.fund, &row.outcome, &row.seq); err != nil {
			return nil, err
		}
		st.inbox[id] = row
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = r.db.Query(ctx, `SELECT event_id, fund_id, code, stream_seq FROM rejections ORDER BY seq`)
	if err != nil {
		return nil, err
	}
	st.rejections, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (rejectionRow, error) {
		var x rejectionRow
		err := row.Scan(&x.eventID, &x.fund, &x.code, &x.streamSeq)
		return x, err
	})
	if err != nil {
		return nil, err
	}
	rows, err = r.db.Query(ctx, `SELECT fund_id, seq, event_id, hash, prev_hash, coalesce(refs->>'grant_id', '') FROM journal ORDER BY fund_id, seq`)
	if err != nil {
		return nil, err
	}
	st.journal, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (journalRow, error) {
		var x journalRow
		err := row.Scan(&x.fund, &x.seq, &x.eventID, &x.hash, &x.prevHash, &x.grantRef)
		return x, err
	})
	if err != nil {
		return nil, err
	}
	rows, err = r.db.Query(ctx, `SELECT fund_id, head_seq, head_hash FROM funds`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var f string
		var h fundHead
		if err := rows.Scan(&f, &h.seq, &h.hash); err != nil {
			return nil, err
		}
		st.funds[f] = h
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = r.db.Query(ctx, `SELECT fund_id || ':' || snapshot_seq FROM snapshots`)
	if err != nil {
		return nil, err
	}
	if st.snapshots, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return nil, err
	}
	rows, err = r.db.Query(ctx, `SELECT fund_id || ':' || recon_seq FROM reconciliations`)
	if err != nil {
		return nil, err
	}
	if st.recons, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return nil, err
	}
	rows, err = r.db.Query(ctx, `SELECT fund_id || ':' || period FROM period_reports`)
	if err != nil {
		return nil, err
	}
	if st.periods, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return nil, err
	}
	if err := r.db.QueryRow(ctx, `SELECT (SELECT count(*) FROM outbox), (SELECT count(*) FROM held),
		coalesce((SELECT stream_seq FROM consumer_state WHERE name = 'fundledger'), 0), `+unpublishedSQL).
		Scan(&st.outbox, &st.held, &st.position, &st.unpublished); err != nil {
		return nil, err
	}
	st.consumerInfo, st.consumerError = r.consumerInfo(ctx)
	return st, nil
}

func (r *run) consumerInfo(ctx context.Context) (*jetstream.ConsumerInfo, error) {
	c, err := r.js.Consumer(ctx, events.InboundStream, "fundledger")
	if err != nil {
		return nil, err
	}
	return c.Info(ctx)
}

var finalOutcomes = map[string]bool{"posted": true, "applied": true, "duplicate": true, "rejected": true}

// checkNothingLost: every event whose publish JetStream acknowledged is
// posted, applied, a duplicate, or rejected with a code; none is missing
// or still held once the hold window has passed. A message without a
// readable envelope id is rejected exactly once, under its stream
// sequence.
func checkNothingLost(st *state, pub *publisher) invResult {
	res := invResult{name: "1 nothing lost", ok: true}
	rejByID := map[string]rejectionRow{}
	rejNoID := map[int64]int{}
	for _, x := range st.rejections {
		if x.eventID == "" {
			rejNoID[x.streamSeq]++
		} else {
			rejByID[x.eventID] = x
		}
	}
	outcomes := map[string]int{}
	check := func(id string, seq uint64, how string) {
		row, ok := st.inbox[id]
		switch {
		case !ok:
			res.fail("%s event %s (stream seq %d) has no inbox row: lost", how, id, seq)
		case !finalOutcomes[row.outcome]:
			res.fail("%s event %s (stream seq %d) is still %q after the hold window", how, id, seq, row.outcome)
		case row.outcome == "rejected":
			if rj, ok := rejByID[id]; !ok || !validCode(rj.code) {
				res.fail("%s event %s is 'rejected' in the inbox but has no rejection row with a code", how, id)
			}
		}
		outcomes[row.outcome]++
	}
	pub.mu.Lock()
	acked := make(map[string]uint64, len(pub.acked))
	for id, seq := range pub.acked {
		acked[id] = seq
	}
	ackedNoID := make([]uint64, 0, len(pub.noID))
	for seq := range pub.noID {
		ackedNoID = append(ackedNoID, seq)
	}
	pub.mu.Unlock()
	for id, seq := range acked {
		check(id, seq, "acknowledged")
	}
	unacked := 0
	for id, ev := range st.byID {
		if _, ok := acked[id]; !ok {
			unacked++
			check(id, ev.seq, "stored (publish not acknowledged)")
		}
	}
	for _, seq := range ackedNoID {
		if !st.noID[seq] {
			res.fail("acknowledged message at stream seq %d has no readable id to the suite but is not in the stream as such", seq)
		}
	}
	for seq := range st.noID {
		if n := rejNoID[int64(seq)]; n != 1 {
			res.fail("message without a readable id at stream seq %d has %d rejections (want 1)", seq, n)
		}
	}
	for seq := range rejNoID {
		if !st.noID[uint64(seq)] {
			res.fail("a rejection without event id names stream seq %d, which holds no such message", seq)
		}
	}
	if st.held > 0 {
		res.fail("%d events still held after the hold window (%s)", st.held, holdWindow)
	}
	res.summary = fmt.Sprintf("%d acknowledged ids: %d posted, %d applied, %d duplicate, %d rejected; "+
		"%d without a readable id: %d rejections under their stream seq; %d stored but unacknowledged",
		len(acked), outcomes["posted"], outcomes["applied"], outcomes["duplicate"], outcomes["rejected"],
		len(ackedNoID), len(rejNoID), unacked)
	return res
}

func validCode(c string) bool {
	switch events.Code(c) {
	case events.Malformed, events.UnsupportedType, events.MissingField, events.InvalidField, events.InvalidAmount,
		events.UnknownFund, events.FundExists, events.UnknownProgram, events.InsufficientFunds, events.SameMakerChecker,
		events.BeneficiaryCapExceeded, events.DuplicateID, events.UnknownGrant, events.ExceedsOutstanding,
		events.GrantClosed, events.UnknownPayment, events.TooLarge:
		return true
	}
	return false
}

// checkNothingTwice: every event is in the journal as often as it should
// be in each fund, never more (an allocation once in each of its two
// funds, a batch once per line), a rejection is stored once, and every
// kept balance equals a fresh sum of the fund's postings.
func (r *run) checkNothingTwice(ctx context.Context, st *state) invResult {
	res := invResult{name: "2 nothing twice", ok: true}
	type key struct{ fund, id string }
	got := map[key]int{}
	grants := map[key]map[string]bool{}
	for _, j := range st.journal {
		k := key{j.fund, j.eventID}
		got[k]++
		if grants[k] == nil {
			grants[k] = map[string]bool{}
		}
		grants[k][j.grantRef] = true
	}
	want := map[key]int{}
	for id, row := range st.inbox {
		if row.outcome != "posted" {
			continue
		}
		ev := st.byID[id]
		if ev == nil {
			res.fail("posted event %s is not in FUND_EVENTS", id)
			continue
		}
		switch ev.typ {
		case events.TypeGrantBatchApproved:
			want[key{ev.fund, id}] = ev.lines
		case events.TypeAllocationApproved:
			want[key{ev.fund, id}] = 1
			want[key{ev.toFund, id}] = 1
		default:
			want[key{ev.fund, id}] = 1
		}
	}
	twice := 0
	for k, n := range got {
		w := want[k]
		switch {
		case w == 0:
			res.fail("event %s has %d journal transactions in fund %s but its outcome is %q", k.id, n, k.fund, st.inbox[k.id].outcome)
		case n > w:
			twice++
			res.fail("event %s is in fund %s's journal %d times (want %d): applied twice", k.id, k.fund, n, w)
		case n < w:
			res.fail("event %s is in fund %s's journal %d times, want %d", k.id, k.fund, n, w)
		}
		if n > 1 && len(grants[k]) != n {
			res.fail("event %s posts %d transactions in fund %s for only %d distinct grants", k.id, n, k.fund, len(grants[k]))
		}
	}
	for k, w := range want {
		if got[k] == 0 {
			res.fail("event %s is 'posted' but fund %s's journal lacks its %d transaction(s)", k.id, k.fund, w)
		}
	}
	perID := map[string]int{}
	for _, x := range st.rejections {
		if x.eventID != "" {
			perID[x.eventID]++
		}
	}
	for id, n := range perID {
		if n > 1 {
			res.fail("event %s has %d rejection rows", id, n)
		}
		if row, ok := st.inbox[id]; !ok || row.outcome != "rejected" {
			res.fail("event %s has a rejection row but inbox outcome %q", id, row.outcome)
		}
	}
	rows, err := r.db.Query(ctx, `
		WITH fresh AS (
		  SELECT fund_id, account,
		         coalesce(sum(amount) FILTER (WHERE side = 'debit'), 0) AS dr,
		         coalesce(sum(amount) FILTER (WHERE side = 'credit'), 0) AS cr
		    FROM postings GROUP BY fund_id, account)
		SELECT coalesce(b.fund_id, f.fund_id), coalesce(b.account, f.account),
		       coalesce(b.debits, 0)::text, coalesce(b.credits, 0)::text, coalesce(f.dr, 0)::text, coalesce(f.cr, 0)::text
		  FROM balances b FULL JOIN fresh f ON f.fund_id = b.fund_id AND f.account = b.account
		 WHERE coalesce(b.debits, 0) <> coalesce(f.dr, 0) OR coalesce(b.credits, 0) <> coalesce(f.cr, 0)`)
	if err != nil {
		res.fail("balance query: %v", err)
	} else {
		for rows.Next() {
			var f, a, bd, bc, fd, fc string
			if err := rows.Scan(&f, &a, &bd, &bc, &fd, &fc); err != nil {
				res.fail("balance query: %v", err)
				break
			}
			res.fail("fund %s account %s: kept debits %s credits %s, postings sum to %s / %s", f, a, bd, bc, fd, fc)
		}
		rows.Close()
	}
	var accounts int
	_ = r.db.QueryRow(ctx, `SELECT count(*) FROM balances`).Scan(&accounts)
	res.summary = fmt.Sprintf("%d journal transactions for %d (fund, event) pairs as expected, %d applied twice; "+
		"%d rejections, none twice; %d kept balances equal the sum of their postings",
		len(st.journal), len(want), twice, len(st.rejections), accounts)
	return res
}

// checkBooksBalance: every transaction's debits equal its credits, cash
// and available never go below zero after any transaction, each fund's
// hash chain links up (also checked by `fundledger verify`).
func (r *run) checkBooksBalance(ctx context.Context, st *state) invResult {
	res := invResult{name: "3 books balance", ok: true}
	var unbalanced int
	rows, err := r.db.Query(ctx, `
		SELECT j.fund_id, j.seq,
		       coalesce(sum(p.amount) FILTER (WHERE p.side = 'debit'), 0)::text,
		       coalesce(sum(p.amount) FILTER (WHERE p.side = 'credit'), 0)::text, count(p.line)
		  FROM journal j LEFT JOIN postings p ON p.fund_id = j.fund_id AND p.seq = j.seq
		 GROUP BY j.fund_id, j.seq
		HAVING coalesce(sum(p.amount) FILTER (WHERE p.side = 'debit'), 0)
		    <> coalesce(sum(p.amount) FILTER (WHERE p.side = 'credit'), 0) OR count(p.line) < 2`)
	if err != nil {
		res.fail("balance query: %v", err)
	} else {
		for rows.Next() {
			var f, dr, cr string
			var seq, n int64
			_ = rows.Scan(&f, &seq, &dr, &cr, &n)
			unbalanced++
			res.fail("transaction %s/%d: debits %s, credits %s, %d postings", f, seq, dr, cr, n)
		}
		rows.Close()
	}
	var negatives int
	rows, err = r.db.Query(ctx, `
		WITH d AS (
		  SELECT fund_id, seq,
		         sum(CASE WHEN account = 'cash' THEN CASE side WHEN 'debit' THEN amount ELSE -amount END ELSE 0 END) AS dcash,
		         sum(CASE WHEN account = 'grants_payable' THEN CASE side WHEN 'credit' THEN amount ELSE -amount END ELSE 0 END) AS dgp
		    FROM postings GROUP BY fund_id, seq),
		run AS (
		  SELECT fund_id, seq, sum(dcash) OVER w AS cash, sum(dgp) OVER w AS gp
		    FROM d WINDOW w AS (PARTITION BY fund_id ORDER BY seq))
		SELECT fund_id, seq, cash::text, (cash - gp)::text FROM run WHERE cash < 0 OR cash - gp < 0 ORDER BY fund_id, seq`)
	if err != nil {
		res.fail("negative query: %v", err)
	} else {
		for rows.Next() {
			var f, cash, avail string
			var seq int64
			_ = rows.Scan(&f, &seq, &cash, &avail)
			negatives++
			res.fail("fund %s after transaction %d: cash %s, available %s", f, seq, cash, avail)
		}
		rows.Close()
	}
	// The chain, in SQL terms: seq 1..n, each prev_hash the hash before it.
	zero := make([]byte, 32)
	var prev *journalRow
	broken := 0
	for i := range st.journal {
		j := &st.journal[i]
		if prev == nil || prev.fund != j.fund {
			if prev != nil {
				r.checkHead(&res, prev, st)
			}
			if j.seq != 1 || !bytes.Equal(j.prevHash, zero) {
				broken++
				res.fail("fund %s: first transaction is seq %d with prev_hash %x", j.fund, j.seq, j.prevHash)
			}
		} else if j.seq != prev.seq+1 || !bytes.Equal(j.prevHash, prev.hash) {
			broken++
			res.fail("fund %s: seq %d follows %d, prev_hash %x vs hash %x", j.fund, j.seq, prev.seq, j.prevHash[:4], prev.hash[:4])
		}
		prev = j
	}
	if prev != nil {
		r.checkHead(&res, prev, st)
	}
	verify := r.runVerify(ctx)
	if !verify.ok {
		res.ok = false
		res.problems = append(res.problems, verify.problems...)
	}
	res.summary = fmt.Sprintf("%d transactions: %d unbalanced, %d points where cash or available < 0, %d chain links broken; %s",
		len(st.journal), unbalanced, negatives, broken, verify.summary)
	return res
}

func (r *run) checkHead(res *invResult, last *journalRow, st *state) {
	h, ok := st.funds[last.fund]
	if !ok {
		res.fail("fund %s has journal rows but no funds row", last.fund)
		return
	}
	if h.seq != last.seq || !bytes.Equal(h.hash, last.hash) {
		res.fail("fund %s: head seq %d hash %x, journal ends at %d hash %x", last.fund, h.seq, h.hash[:4], last.seq, last.hash[:4])
	}
}

// runVerify runs `fundledger verify` with the run's public key pinned.
func (r *run) runVerify(ctx context.Context) invResult {
	res := invResult{ok: true}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.h.cfg.Fundledger, "verify", "--output", "json", "--public-key", r.signingPub)
	cmd.Env = append(os.Environ(), "DATABASE_URL="+r.dbURL)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var rep struct {
		OK                  bool              `json:"ok"`
		CheckedTransactions int64             `json:"checked_transactions"`
		CheckedSnapshots    int64             `json:"checked_snapshots"`
		Problems            []json.RawMessage `json:"problems"`
	}
	_ = json.Unmarshal(stdout.Bytes(), &rep)
	if err != nil || !rep.OK {
		code := -1
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		res.fail("fundledger verify: exit %d, ok=%v: %s", code, rep.OK, strings.TrimSpace(stderr.String()))
		for i, p := range rep.Problems {
			if i == 3 {
				break
			}
			res.fail("verify problem: %s", p)
		}
		res.summary = fmt.Sprintf("fundledger verify FAILED (exit %d)", code)
		return res
	}
	res.summary = fmt.Sprintf("fundledger verify exit 0 (%d transactions, %d signed snapshots)", rep.CheckedTransactions, rep.CheckedSnapshots)
	return res
}

// checkEverythingPublished: LEDGER_OUT holds exactly one message per
// journal transaction (posted:<fund>:<seq>, whose body is that
// transaction), per rejection (rejected:<id> or rejected:stream:<seq>) and
// per snapshot, none twice, and nothing that the database does not hold.
func checkEverythingPublished(st *state) invResult {
	res := invResult{name: "4 everything published", ok: true}
	expected := map[string]string{} // msg id → subject
	for _, j := range st.journal {
		expected[fmt.Sprintf("posted:%s:%d", j.fund, j.seq)] = events.PostedSubject(j.fund)
	}
	for _, x := range st.rejections {
		id := "rejected:" + x.eventID
		if x.eventID == "" {
			id = "rejected:stream:" + strconv.FormatInt(x.streamSeq, 10)
		}
		expected[id] = events.RejectedSubject(x.fund)
	}
	for _, s := range st.snapshots {
		fund, _, _ := strings.Cut(s, ":")
		expected["snapshot:"+s] = events.SnapshotSubject(fund)
	}
	for _, s := range st.recons { // bank reconciliation reports
		fund, _, _ := strings.Cut(s, ":")
		expected["reconciliation:"+s] = events.ReconciliationSubject(fund)
	}
	for _, s := range st.periods { // period reports
		fund, _, _ := strings.Cut(s, ":")
		expected["period:"+s] = events.PeriodSubject(fund)
	}
	missing, twice, extra, wrong := 0, 0, 0, 0
	for id, subj := range expected {
		o := st.out[id]
		switch {
		case o == nil:
			missing++
			res.fail("no message %s on LEDGER_OUT", id)
		case o.count > 1:
			twice++
			res.fail("message %s published %d times", id, o.count)
		}
		if o != nil && o.subject != subj {
			wrong++
			res.fail("message %s on %s, want %s", id, o.subject, subj)
		}
	}
	for id := range st.out {
		if _, ok := expected[id]; !ok {
			extra++
			res.fail("message %s on LEDGER_OUT matches nothing in the database", id)
		}
	}
	// The body of each posted message is the committed transaction.
	for _, j := range st.journal {
		o := st.out[fmt.Sprintf("posted:%s:%d", j.fund, j.seq)]
		if o == nil {
			continue
		}
		var body struct {
			Seq     int64  `json:"seq"`
			FundID  string `json:"fund_id"`
			EventID string `json:"event_id"`
			Hash    string `json:"hash"`
		}
		if err := json.Unmarshal(o.payload, &body); err != nil || body.Seq != j.seq || body.FundID != j.fund ||
			body.EventID != j.eventID || body.Hash != hex.EncodeToString(j.hash) {
			wrong++
			res.fail("posted:%s:%d carries seq %d event %s hash %.8s…, the journal has event %s hash %x…",
				j.fund, j.seq, body.Seq, body.EventID, body.Hash, j.eventID, j.hash[:4])
		}
	}
	if st.outNoHeader > 0 {
		res.fail("%d LEDGER_OUT messages have no Nats-Msg-Id", st.outNoHeader)
	}
	res.summary = fmt.Sprintf("%d messages on LEDGER_OUT for %d transactions, %d rejections, %d snapshots: "+
		"%d missing, %d twice, %d unexpected, %d not matching", st.outTotal, len(st.journal), len(st.rejections),
		len(st.snapshots), missing, twice, extra, wrong)
	return res
}

// unpublishedSQL counts the journal transactions the relay has not
// published yet: posted messages are relayed from the journal itself, each
// fund's up to its relay_cursor (migrations/006_relay_cursor.sql), so
// "everything published" is every cursor at its fund's head and the outbox
// (rejections, snapshots) empty.
const unpublishedSQL = `(SELECT coalesce(sum(f.head_seq - coalesce(c.published_seq, 0)), 0)::bigint
	FROM funds f LEFT JOIN relay_cursor c ON c.fund_id = f.fund_id WHERE f.head_seq > coalesce(c.published_seq, 0))`

// checkNothingStuck: the durable consumer has nothing pending or awaiting
// an ack, everything committed was published (the outbox is empty and
// every relay cursor at its fund's head) and the stored position is the
// stream's end.
func checkNothingStuck(st *state) invResult {
	res := invResult{name: "5 nothing stuck", ok: true}
	if st.consumerError != nil {
		res.fail("consumer fundledger: %v", st.consumerError)
	} else {
		ci := st.consumerInfo
		if ci.NumPending != 0 || ci.NumAckPending != 0 {
			res.fail("consumer fundledger: %d pending, %d awaiting ack", ci.NumPending, ci.NumAckPending)
		}
	}
	if st.outbox != 0 {
		res.fail("%d outbox rows not published", st.outbox)
	}
	if st.unpublished != 0 {
		res.fail("%d journal transactions past their fund's relay cursor (not published)", st.unpublished)
	}
	if uint64(st.position) != st.inboundLast {
		res.fail("stored position %d, stream ends at %d", st.position, st.inboundLast)
	}
	if st.held != 0 {
		res.fail("%d events held", st.held)
	}
	pending, ackPending := -1, -1
	if st.consumerInfo != nil {
		pending, ackPending = int(st.consumerInfo.NumPending), st.consumerInfo.NumAckPending
	}
	res.summary = fmt.Sprintf("consumer: %d pending, %d ack pending; outbox %d; unpublished transactions %d; position %d of %d; held %d",
		pending, ackPending, st.outbox, st.unpublished, st.position, st.inboundLast, st.held)
	return res
}

// waitQuiet waits until the ledger has caught up with the stream: the
// stored position is the stream's last sequence, nothing is held (the
// hold window has passed), everything committed was published (outbox
// empty, relay cursors at the heads) and the consumer has nothing pending,
// twice in a row.
func (r *run) waitQuiet(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	deadline := start.Add(timeout)
	good := 0
	var last string
	r.ledgerDone = -1
	for time.Now().Before(deadline) && ctx.Err() == nil {
		q, done, why := r.quietNow(ctx)
		last = why
		if done && r.ledgerDone < 0 {
			r.ledgerDone = time.Since(start)
		}
		if q {
			good++
			if good >= 2 {
				return time.Since(start), nil
			}
		} else {
			good = 0
		}
		time.Sleep(500 * time.Millisecond)
	}
	return time.Since(start), fmt.Errorf("not quiet after %s: %s", timeout, last)
}

// quietNow says whether the system is quiet, and whether the ledger is
// done (everything applied, published and snapshotted) even if the
// consumer still counts messages awaiting an ack.
func (r *run) quietNow(ctx context.Context) (quiet, ledgerDone bool, why string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := r.js.Stream(ctx, events.InboundStream)
	if err != nil {
		return false, false, err.Error()
	}
	info, err := s.Info(ctx)
	if err != nil {
		return false, false, err.Error()
	}
	// A fund changed since its last snapshot gets one from serve's timer
	// (SNAPSHOT_INTERVAL) soon: wait for it, or the books would change
	// under the checks.
	var pos, held, outbox, unpublished, unsnapped int64
	if err := r.db.QueryRow(ctx, `SELECT coalesce((SELECT stream_seq FROM consumer_state WHERE name = 'fundledger'), 0),
		(SELECT count(*) FROM held), (SELECT count(*) FROM outbox), `+unpublishedSQL+`,
		(SELECT count(*) FROM funds WHERE head_seq > snapshot_journal_seq)`).Scan(&pos, &held, &outbox, &unpublished, &unsnapped); err != nil {
		return false, false, err.Error()
	}
	ledgerDone = uint64(pos) == info.State.LastSeq && held == 0 && outbox == 0 && unpublished == 0 && unsnapped == 0
	ci, err := r.consumerInfo(ctx)
	if err != nil {
		return false, ledgerDone, "consumer: " + err.Error()
	}
	why = fmt.Sprintf("position %d of %d, held %d, outbox %d, unpublished transactions %d, consumer pending %d, ack pending %d, funds awaiting their timed snapshot %d",
		pos, info.State.LastSeq, held, outbox, unpublished, ci.NumPending, ci.NumAckPending, unsnapped)
	return ledgerDone && ci.NumPending == 0 && ci.NumAckPending == 0, ledgerDone, why
}

// sortedKeys is for stable output.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
