package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/fundledger/fundledger/events"
	"github.com/fundledger/fundledger/internal/testenv"
)

// wantPublished checks that the event at the head of a stuck outbox and
// the one behind it both reached LEDGER_OUT: the rejection (its raw cut
// to fit and marked so) and the posting after it.
func wantPublished(t *testing.T, l *testenv.Ledger, rejectedFund, rejectedID, rawPrefix string, postedFund string) {
	t.Helper()
	rs := outMessages(t, l, events.RejectedSubject(rejectedFund))
	if len(rs) != 1 {
		t.Fatalf("%d messages on %s, want 1", len(rs), events.RejectedSubject(rejectedFund))
	}
	if id := rs[0].Headers().Get("Nats-Msg-Id"); id == "" {
		t.Error("rejection published without Nats-Msg-Id")
	}
	var rej struct {
		EventID      string `json:"event_id"`
		Code         string `json:"code"`
		Raw          string `json:"raw"`
		RawTruncated bool   `json:"raw_truncated"`
		RawLength    int    `json:"raw_length"`
	}
	if err := json.Unmarshal(rs[0].Data(), &rej); err != nil {
		t.Fatal(err)
	}
	if rej.EventID != rejectedID || !rej.RawTruncated || rej.RawLength <= len(rej.Raw) || !strings.HasPrefix(rej.Raw, rawPrefix) {
		t.Errorf("rejection %s code %s raw %d of %d bytes (truncated %v), want %s with its raw cut and marked",
			rej.EventID, rej.Code, len(rej.Raw), rej.RawLength, rej.RawTruncated, rejectedID)
	}
	if n := len(outMessages(t, l, events.PostedSubject(postedFund))); n != 1 {
		t.Errorf("%d messages on %s, want 1: the posting behind the large rejection", n, events.PostedSubject(postedFund))
	}
}

// TestLargeRejectionIsPublished: a refused event of nearly 8 MiB (accepted
// by a server with the contract's minimum max_payload) makes a rejection
// larger than the server accepts, as it carries the event escaped as a JSON
// string. It must still be published, and must not hold up the messages
// behind it (CONTRACT.md sections 1 and 4).
func TestLargeRejectionIsPublished(t *testing.T) {
	l := testenv.Start(t, testenv.Options{MaxPayload: events.MaxMessageBytes})
	lines := make([]map[string]any, 10000)
	for i := range lines {
		lines[i] = map[string]any{"grant_id": fmt.Sprintf("g-%05d", i), "beneficiary_ref": fmt.Sprintf("hh-%05d", i),
			"category": strings.Repeat("c", 750), "amount": "1.00"}
	}
	env := testenv.Envelope("grant.batch.approved", map[string]any{"batch_id": "b-1", "program": "care_fund",
		"requested_by": "caseworker-1", "approved_by": "officer-7", "approved_on": "2026-03-02", "lines": lines})
	raw := mustJSON(t, env)
	if len(raw) > events.MaxMessageBytes-1024 || len(raw) < events.MaxMessageBytes-200_000 {
		t.Fatalf("test event is %d bytes; want just under 8 MiB", len(raw))
	}
	big := l.Publish("nofund", env)
	openFund(l, "f")
	contribute(l, "f", "c-1", "10.00")
	l.WaitIdle() // fails when the outbox stays stuck
	if o := outcome(l, big); o != "rejected" {
		t.Fatalf("large event: %s", o)
	}
	wantPublished(t, l, "nofund", big, string(raw[:1000]), "f")
}

// TestLedgerOutWithSmallMaxMsgSize: LEDGER_OUT made (or changed) by an
// operator with a max_msg_size smaller than a rejection is used as it is,
// and the rejection is published cut to fit rather than blocking every
// message behind it.
func TestLedgerOutWithSmallMaxMsgSize(t *testing.T) {
	l := testenv.Start(t, testenv.Options{})
	ctx := context.Background()
	st, err := l.JS.Stream(ctx, events.OutboundStream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	cfg.MaxMsgSize = 4096
	if _, err := l.JS.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	raw := "not json " + strings.Repeat("x", 20000)
	l.PublishRaw(events.InboundSubject("f", "fund.opened"), []byte(raw), "bad-1")
	openFund(l, "f")
	contribute(l, "f", "c-1", "10.00")
	l.WaitIdle()
	rs := l.Rejections()
	if len(rs) != 1 || rs[0].Code != "malformed" {
		t.Fatalf("rejections %+v, want one malformed", rs)
	}
	wantPublished(t, l, "f", rs[0].EventID, "not json xxx", "f")
	if st, err := l.JS.Stream(ctx, events.OutboundStream); err != nil || st.CachedInfo().Config.MaxMsgSize != 4096 {
		t.Fatalf("LEDGER_OUT changed: %v", err)
	}
}
