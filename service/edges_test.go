package service_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fundledger/fundledger/events"
	"github.com/fundledger/fundledger/internal/testenv"
	"github.com/fundledger/fundledger/ledger/postgres"
)

// TestOversizedMessage: over 8 MiB is too_large, and the stream goes on.
// The server here accepts 16 MiB, as an operator's external server might.
func TestOversizedMessage(t *testing.T) {
	l := testenv.Start(t, testenv.Options{MaxPayload: 16 << 20})
	openFund(l, "f")
	pad := strings.Repeat("x", events.MaxMessageBytes)
	big := testenv.Envelope("snapshot.requested", map[string]any{"requested_by": "auditor", "label": pad})
	bigID := l.Publish("f", big)
	// Well over 8 MiB but within what the stream and server take: it still
	// reaches the ledger and is refused, rather than failing at publish.
	huge := testenv.Envelope("snapshot.requested", map[string]any{"requested_by": "auditor", "label": strings.Repeat("y", 12<<20)})
	hugeID := l.Publish("f", huge)
	after := contribute(l, "f", "c-1", "1.00")
	// The same envelope id again, small this time (and under another
	// Nats-Msg-Id): one outcome per envelope id, ever, so a silent no-op.
	again := testenv.Envelope("contribution.received", map[string]any{"contribution_id": "c-2", "source_kind": "fiscal",
		"payer": "bureau", "amount": "2.00", "bank_ref": "B2", "received_on": "2026-01-05"})
	again["id"] = bigID
	b, err := json.Marshal(again)
	if err != nil {
		t.Fatal(err)
	}
	l.PublishRaw(events.InboundSubject("f", "contribution.received"), b, "resend-"+bigID)
	l.WaitIdle()
	rs := l.Rejections()
	if len(rs) != 2 {
		t.Fatalf("%d rejections, want two too_large", len(rs))
	}
	for i, id := range []string{bigID, hugeID} {
		if rs[i].Code != "too_large" || rs[i].FundID != "f" || rs[i].EventID != id {
			t.Errorf("rejection %+v, want too_large in fund f for event %s", rs[i].Code, id)
		}
	}
	if o := outcome(l, after); o != "posted" {
		t.Fatalf("event after the oversized one: %s", o)
	}
	wantBalances(t, l, "f", map[string]string{"cash": "1.00"})
}

// TestTransientErrorIsRetried: a commit that fails for a passing reason is
// retried with backoff, in place, and then posted once.
func TestTransientErrorIsRetried(t *testing.T) {
	var failures atomic.Int64
	l := testenv.Start(t, testenv.Options{Failpoint: func(p string) error {
		if p == "before-commit" && failures.Load() < 3 {
			failures.Add(1)
			return errors.New("connection reset by peer (injected)")
		}
		return nil
	}})
	openFund(l, "f")
	contribute(l, "f", "c-1", "100.00")
	l.WaitIdle()
	wantBalances(t, l, "f", map[string]string{"cash": "100.00"})
	if failures.Load() != 3 {
		t.Fatalf("injected %d failures, want 3", failures.Load())
	}
	if r := l.Service.Metrics.Retries.Load(); r < 3 {
		t.Fatalf("retries counted %d, want ≥ 3", r)
	}
	if n := l.Count(`SELECT count(*) FROM journal`); n != 1 {
		t.Fatalf("%d transactions, want 1", n)
	}
}

// TestUnapplicableMessageIsRefused: a message the database will not store
// is refused with a code and the position moves past it.
func TestUnapplicableMessageIsRefused(t *testing.T) {
	l := testenv.Start(t, testenv.Options{})
	l.Stop() // drive the store directly
	ctx := context.Background()
	st, err := postgres.Open(ctx, l.DBURL, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	lease, err := postgres.AcquireLease(ctx, l.DBURL, "fundledger", "test", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release()
	env := testenv.Envelope("contribution.received", map[string]any{"contribution_id": "c"})
	m := events.Message{StreamSeq: 7, Subject: "fund.f.contribution.received", Data: mustJSON(t, env)}
	if err := st.RejectUnapplicable(ctx, "fundledger", lease.Epoch, m, time.Now(), errors.New("numeric field overflow")); err != nil {
		t.Fatal(err)
	}
	r := l.RejectionOf(env["id"].(string))
	if r == nil || r.Code != "invalid_field" || !strings.Contains(r.Message, "numeric field overflow") {
		t.Fatalf("rejection %+v", r)
	}
	if o := outcome(l, env["id"].(string)); o != "rejected" {
		t.Fatalf("inbox outcome %s", o)
	}
	if pos := l.Count(`SELECT stream_seq FROM consumer_state WHERE name = 'fundledger'`); pos != 7 {
		t.Fatalf("position %d, want 7", pos)
	}
	if n := l.Count(`SELECT count(*) FROM outbox WHERE subject = 'ledger.f.rejected'`); n != 1 {
		t.Fatalf("%d rejected messages queued, want 1", n)
	}
}
