package jetstream_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"github.com/fundledger/fundledger/events"
	fljs "github.com/fundledger/fundledger/events/jetstream"
	"github.com/fundledger/fundledger/httpapi"
	"github.com/fundledger/fundledger/internal/eventfile"
	"github.com/fundledger/fundledger/internal/testenv"
	"github.com/fundledger/fundledger/ledger"
	"github.com/fundledger/fundledger/ledger/postgres"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// legacyPostedJSON is the posted payload as the ledger wrote it into the
// outbox before the relay read the journal (ledger.Txn.MarshalJSON of
// commit 4d26ce9), kept here as the reference the new encoder must match
// byte for byte: consumers deduplicate and auditors hash these bytes.
func legacyPostedJSON(t *ledger.Txn) []byte {
	type posting struct {
		Account string      `json:"account"`
		Side    ledger.Side `json:"side"`
		Amount  string      `json:"amount"`
	}
	refs := make(map[string]string, len(t.Refs))
	for _, r := range t.Refs {
		refs[r.Key] = r.Value
	}
	ps := make([]posting, 0, len(t.Postings))
	for _, p := range t.Postings {
		ps = append(ps, posting{p.Account, p.Side, p.Amount.StringFixed(2)})
	}
	b, err := json.Marshal(struct {
		Seq      int64             `json:"seq"`
		FundID   string            `json:"fund_id"`
		EventID  string            `json:"event_id"`
		Type     string            `json:"type"`
		Source   string            `json:"source"`
		Time     string            `json:"time"`
		Refs     map[string]string `json:"refs"`
		Hash     string            `json:"hash"`
		PrevHash string            `json:"prev_hash"`
		Postings []posting         `json:"postings"`
	}{t.Seq, t.FundID, t.EventID, t.Type, t.Source, t.Time.UTC().Format("2006-01-02T15:04:05.000000Z"), refs,
		hex.EncodeToString(t.Hash), hex.EncodeToString(t.PrevHash), ps})
	if err != nil {
		panic(err)
	}
	return b
}

// journalOf reads a fund's journal with plain SQL, independently of the
// store's reader that the relay and the read API share.
func journalOf(t *testing.T, l *testenv.Ledger, fund string) []*ledger.Txn {
	t.Helper()
	ctx := context.Background()
	rows, err := l.DB.Query(ctx, `SELECT seq, event_id, type, source, recorded_at, refs, prev_hash, hash
		FROM journal WHERE fund_id = $1 ORDER BY seq`, fund)
	if err != nil {
		t.Fatal(err)
	}
	var txns []*ledger.Txn
	for rows.Next() {
		x := &ledger.Txn{FundID: fund}
		var refs map[string]string
		if err := rows.Scan(&x.Seq, &x.EventID, &x.Type, &x.Source, &x.Time, &refs, &x.PrevHash, &x.Hash); err != nil {
			t.Fatal(err)
		}
		for k, v := range refs {
			x.Refs = append(x.Refs, ledger.Ref{Key: k, Value: v})
		}
		ledger.SortRefs(x.Refs)
		txns = append(txns, x)
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	for _, x := range txns {
		prow, err := l.DB.Query(ctx, `SELECT account, side, amount::text FROM postings WHERE fund_id = $1 AND seq = $2 ORDER BY line`, fund, x.Seq)
		if err != nil {
			t.Fatal(err)
		}
		for prow.Next() {
			var p ledger.Posting
			var side, amount string
			if err := prow.Scan(&p.Account, &side, &amount); err != nil {
				t.Fatal(err)
			}
			p.Side = ledger.Side(side)
			if p.Amount, err = events.ParseMoney(amount); err != nil {
				t.Fatal(err)
			}
			x.Postings = append(x.Postings, p)
		}
		if prow.Err() != nil {
			t.Fatal(prow.Err())
		}
	}
	return txns
}

// outbound reads every message on LEDGER_OUT whose subject matches filter,
// in stream order.
func outbound(t *testing.T, js jetstream.JetStream, filter string) []jetstream.Msg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := js.OrderedConsumer(ctx, events.OutboundStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []jetstream.Msg
	for i := 0; i < int(info.NumPending); i++ {
		m, err := c.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatalf("read %s: %v", filter, err)
		}
		out = append(out, m)
	}
	return out
}

// postedByID indexes posted messages by Nats-Msg-Id, failing on a message
// published twice, and checks each fund's come in seq order.
func postedByID(t *testing.T, msgs []jetstream.Msg) map[string][]byte {
	t.Helper()
	byID := map[string][]byte{}
	lastSeq := map[string]int64{}
	for _, m := range msgs {
		id := m.Headers().Get(jetstream.MsgIDHeader)
		if _, dup := byID[id]; dup {
			t.Errorf("%s is in LEDGER_OUT twice", id)
		}
		byID[id] = m.Data()
		var head struct {
			Seq    int64  `json:"seq"`
			FundID string `json:"fund_id"`
		}
		if err := json.Unmarshal(m.Data(), &head); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if want := events.PostedMsgID(head.FundID, head.Seq); id != want || m.Subject() != events.PostedSubject(head.FundID) {
			t.Errorf("message %s on %s carries transaction %s/%d", id, m.Subject(), head.FundID, head.Seq)
		}
		if head.Seq <= lastSeq[head.FundID] {
			t.Errorf("%s published after seq %d of its fund", id, lastSeq[head.FundID])
		}
		lastSeq[head.FundID] = head.Seq
	}
	return byID
}

var exampleFunds = []string{"jiangjin-care", "wanzhou-care"}

// startExample runs a ledger with the read API over the example events of
// docs/examples/events.jsonl (every type that posts: contributions, an
// allocation's two legs, grants, a batch, disbursements, a return, a
// cancellation, a recovery) and a contribution whose text JSON escapes.
func startExample(t *testing.T) *testenv.Ledger {
	t.Helper()
	l := testenv.Start(t, testenv.Options{API: httpapi.New})
	f, err := os.Open("../../docs/examples/events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := eventfile.NewReader(f, "")
	for {
		m, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		l.PublishRaw(m.Subject, m.Data, m.MsgID)
	}
	l.Event("jiangjin-care", "contribution.received", map[string]any{"contribution_id": "c-esc", "source_kind": "donation",
		"payer": `A&B <Co> "quoted" 社会捐赠 ü`, "amount": "12.30", "bank_ref": "ref<&>", "received_on": "2026-03-05"})
	l.WaitIdle()
	return l
}

// TestPostedIsTheJournal: every journal transaction is on
// ledger.<fund>.posted exactly once, in seq order, under posted:<fund>:<seq>,
// and its payload is byte for byte what the ledger published before the
// relay read the journal (the transaction's JSON) and what the read API's
// journal serves for it.
func TestPostedIsTheJournal(t *testing.T) {
	l := startExample(t)
	byID := postedByID(t, outbound(t, l.JS, "ledger.*.posted"))
	types := map[string]bool{}
	total := 0
	for _, fund := range exampleFunds {
		txns := journalOf(t, l, fund)
		total += len(txns)
		var page struct {
			Transactions []json.RawMessage `json:"transactions"`
		}
		code, _, body := l.Get(fmt.Sprintf("/v1/funds/%s/journal?limit=1000", fund))
		if code != 200 || json.Unmarshal(body, &page) != nil || len(page.Transactions) != len(txns) {
			t.Fatalf("GET journal of %s: status %d, %d transactions, want %d: %s", fund, code, len(page.Transactions), len(txns), body)
		}
		for i, x := range txns {
			types[x.Type] = true
			for _, r := range x.Refs {
				types[x.Type+" "+r.Key] = true
			}
			id := events.PostedMsgID(fund, x.Seq)
			got, ok := byID[id]
			if !ok {
				t.Errorf("%s (%s) never published", id, x.Type)
				continue
			}
			if want := legacyPostedJSON(x); string(got) != string(want) {
				t.Errorf("%s payload differs from the transaction's JSON before the change:\n got %s\nwant %s", id, got, want)
			}
			if string(got) != string(page.Transactions[i]) {
				t.Errorf("%s payload differs from the read API's journal:\n got %s\n api %s", id, got, page.Transactions[i])
			}
			if now, err := json.Marshal(x); err != nil || string(now) != string(got) {
				t.Errorf("%s: json.Marshal(txn) %s, published %s (%v)", id, now, got, err)
			}
		}
	}
	if len(byID) != total {
		t.Errorf("%d posted messages for %d journal transactions", len(byID), total)
	}
	for _, want := range []string{"contribution.received payer", "allocation.approved to_fund_id", "allocation.approved from_fund_id",
		"grant.approved", "grant.batch.approved batch_id", "grant.disbursed bank_ref", "payment.returned", "grant.cancelled",
		"grant.recovered recovery_id"} {
		if !types[want] {
			t.Errorf("no journal transaction of %q: the example no longer covers every type", want)
		}
	}
}

// crashBeforeCursor is the store with a relay that dies after JetStream
// acknowledged its publishes and before it moved the cursors.
type crashBeforeCursor struct {
	*postgres.Store
	crashes int
}

func (c *crashBeforeCursor) MarkPublished(context.Context, map[string]int64) error {
	c.crashes++
	return errors.New("killed between publish and cursor update")
}

// TestRelayCrashBetweenPublishAndCursor replays the example journal into a
// fresh LEDGER_OUT with a relay that dies after each publish and before its
// cursor update, then with one that lives: every transaction ends up in
// LEDGER_OUT exactly once, with the journal's bytes, and the cursors at the
// heads.
func TestRelayCrashBetweenPublishAndCursor(t *testing.T) {
	l := startExample(t)
	l.Stop() // its relay must not move the cursors behind the test's back
	ctx := context.Background()
	heads := map[string]int64{}
	for _, fund := range exampleFunds {
		heads[fund] = int64(len(journalOf(t, l, fund)))
	}
	// A LEDGER_OUT that has seen nothing, and cursors back at the start.
	ns := testenv.NATS(t, 0)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if err := fljs.EnsureStreams(ctx, js); err != nil {
		t.Fatal(err)
	}
	if _, err := l.DB.Exec(ctx, `UPDATE relay_cursor SET published_seq = 0`); err != nil {
		t.Fatal(err)
	}
	// The snapshots queued again, as the batches that took them did.
	snaps, err := l.DB.Exec(ctx, `INSERT INTO outbox (subject, msg_id, payload)
		SELECT 'ledger.' || fund_id || '.snapshot', 'snapshot:' || fund_id || ':' || snapshot_seq, published
		  FROM snapshots ORDER BY created_at, fund_id, snapshot_seq`)
	if err != nil || snaps.RowsAffected() == 0 {
		t.Fatalf("queue the snapshots again: %v, %d rows", err, snaps.RowsAffected())
	}
	st, err := postgres.Open(ctx, l.DBURL, postgres.Options{}) // as fundledger_app, like serve
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var want int64
	for _, h := range heads {
		want += h
	}
	if n, err := st.OutboxLen(ctx); err != nil || n != want+snaps.RowsAffected() {
		t.Fatalf("backlog %d (%v), want %d unpublished transactions and %d snapshots", n, err, want, snaps.RowsAffected())
	}

	dying := &crashBeforeCursor{Store: st}
	for round := 0; round < 3; round++ {
		r := fljs.NewRelay(js, dying)
		r.Batch = 7
		if err := r.Drain(ctx); err == nil {
			t.Fatal("the dying relay reported no error")
		}
	}
	first := outbound(t, js, "ledger.*.posted")
	if len(first) == 0 || len(first) > 7 {
		t.Fatalf("%d messages after relays that died before their cursor update, want the first round's (1 to 7)", len(first))
	}
	if n, _ := st.OutboxLen(ctx); n != want+snaps.RowsAffected() {
		t.Fatalf("backlog %d after the crashes, want %d: a cursor moved without its update", n, want)
	}

	r := fljs.NewRelay(js, st)
	r.Batch = 7
	published := 0
	r.Published = func(n int) { published += n }
	if err := r.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if published != int(want+snaps.RowsAffected()) {
		t.Errorf("relay counted %d published, want %d", published, want+snaps.RowsAffected())
	}
	// A snapshot comes after the posted messages of the transactions it
	// covers, in LEDGER_OUT's order.
	seen := map[string]bool{}
	nsnap := 0
	for _, m := range outbound(t, js, "ledger.>") {
		id := m.Headers().Get(jetstream.MsgIDHeader)
		if seen[id] {
			t.Errorf("%s is in LEDGER_OUT twice", id)
		}
		seen[id] = true
		if fund := events.OutboundFund(m.Subject()); m.Subject() == "ledger."+fund+".snapshot" {
			nsnap++
			var s struct {
				AsOf int64 `json:"as_of_journal_seq"`
			}
			if err := json.Unmarshal(m.Data(), &s); err != nil {
				t.Fatal(err)
			}
			if s.AsOf > 0 && !seen[events.PostedMsgID(fund, s.AsOf)] {
				t.Errorf("%s (as of seq %d) published before posted:%s:%d", id, s.AsOf, fund, s.AsOf)
			}
		}
	}
	if nsnap != int(snaps.RowsAffected()) {
		t.Errorf("%d snapshots in LEDGER_OUT, want %d", nsnap, snaps.RowsAffected())
	}
	byID := postedByID(t, outbound(t, js, "ledger.*.posted"))
	if len(byID) != int(want) {
		t.Fatalf("%d messages in LEDGER_OUT, want %d", len(byID), want)
	}
	for _, fund := range exampleFunds {
		for _, x := range journalOf(t, l, fund) {
			if got := byID[events.PostedMsgID(fund, x.Seq)]; string(got) != string(legacyPostedJSON(x)) {
				t.Errorf("%s/%d: published %s", fund, x.Seq, got)
			}
		}
		var cur int64
		if err := l.DB.QueryRow(ctx, `SELECT published_seq FROM relay_cursor WHERE fund_id = $1`, fund).Scan(&cur); err != nil || cur != heads[fund] {
			t.Errorf("cursor of %s at %d (%v), want its head %d", fund, cur, err, heads[fund])
		}
	}
	if n, err := st.OutboxLen(ctx); err != nil || n != 0 {
		t.Errorf("backlog %d (%v) after the drain, want 0", n, err)
	}
}
