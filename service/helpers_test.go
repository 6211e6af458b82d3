package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/fundledger/fundledger/events"
	"github.com/fundledger/fundledger/internal/testenv"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/shopspring/decimal"
)

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func manyLines(n int) []map[string]any {
	lines := make([]map[string]any, n)
	for i := range lines {
		lines[i] = map[string]any{"grant_id": fmt.Sprintf("line-%05d", i), "beneficiary_ref": fmt.Sprintf("hh-%05d", i),
			"category": "living", "amount": "1.00"}
	}
	return lines
}

func addCents(s string, cents int64) string {
	return decimal.RequireFromString(s).Add(decimal.New(cents, -2)).StringFixed(2)
}

// outMessages reads every message on LEDGER_OUT matching filter.
func outMessages(t testing.TB, l *testenv.Ledger, filter string) []jetstream.Msg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := l.JS.OrderedConsumer(ctx, events.OutboundStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
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

// countSubject counts the messages on LEDGER_OUT matching filter, each of
// which must carry a Nats-Msg-Id of its own.
func countSubject(t testing.TB, l *testenv.Ledger, filter string) int {
	t.Helper()
	msgs := outMessages(t, l, filter)
	seen := map[string]bool{}
	for _, m := range msgs {
		id := m.Headers().Get("Nats-Msg-Id")
		if id == "" {
			t.Errorf("message on %s without Nats-Msg-Id", m.Subject())
		}
		if seen[id] {
			t.Errorf("message %s published twice", id)
		}
		seen[id] = true
	}
	return len(msgs)
}
