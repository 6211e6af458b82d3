package service_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/fundledger/fundledger/events"
	"github.com/fundledger/fundledger/internal/testenv"
	"github.com/nats-io/nats.go/jetstream"
)

// TestLostDeliveryIsNotSkipped is the regression test for what the fault
// suite's nats-restart scenario found (docs/faults.md): JetStream can count
// a message as delivered that never reached serve (the server died with it
// in flight, or the client dropped it as a slow consumer). The server hands
// it out again only after AckWait, behind later messages; by then the
// ledger has stored a position past it, takes it for applied and
// acknowledges it: an acknowledged event is lost.
//
// The test loses one delivery on purpose: a second pull request on the
// durable consumer, queued behind serve's, takes one message and never
// acknowledges it. Every event must still be posted, well before AckWait.
func TestLostDeliveryIsNotSkipped(t *testing.T) {
	l := testenv.Start(t, testenv.Options{BatchSize: 1})
	const fund = "gap-fund"
	openFund(l, fund)
	l.WaitIdle()

	ctx := context.Background()
	cons, err := l.JS.Consumer(ctx, events.InboundStream, "fundledger")
	if err != nil {
		t.Fatal(err)
	}
	stolen := make(chan uint64, 1)
	go func() {
		defer close(stolen)
		b, err := cons.Fetch(1, jetstream.FetchMaxWait(10*time.Second))
		if err != nil {
			return
		}
		for m := range b.Messages() {
			if md, err := m.Metadata(); err == nil {
				stolen <- md.Sequence.Stream // never acknowledged: lost on its way
			}
		}
	}()
	time.Sleep(300 * time.Millisecond) // the thief's pull request waits behind serve's

	var ids []string
	for i := 0; i < 6; i++ {
		ids = append(ids, contribute(l, fund, fmt.Sprintf("c-%d", i), "100.00"))
	}
	seq, ok := <-stolen
	if !ok {
		t.Fatal("no delivery was taken away from serve; the test did not set up its fault")
	}
	l.WaitIdle()

	deadline := time.Now().Add(15 * time.Second) // AckWait is 60 s: a fix must not wait for it
	for {
		missing := 0
		for _, id := range ids {
			if l.Count(`SELECT count(*) FROM inbox WHERE event_id = $1 AND outcome = 'posted'`, id) != 1 {
				missing++
			}
		}
		if missing == 0 {
			t.Logf("the delivery of stream seq %d was lost in transit; every event posted", seq)
			break
		}
		if time.Now().After(deadline) {
			pos := l.Count(`SELECT stream_seq FROM consumer_state WHERE name = 'fundledger'`)
			t.Fatalf("%d of %d contributions never posted; the delivery of stream seq %d was lost in transit "+
				"and the stored position is %d, past it: the ledger will skip it as applied when it is redelivered",
				missing, len(ids), seq, pos)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestLostLastDeliveryIsNotLeftForAckWait is the regression test for the
// stall the fault suite's nats-restart and net-cut scenarios show
// (docs/faults.md, "stall after a NATS reconnect"). After serve reconnects
// to NATS its pull iterator asks for messages again while its buffer is
// still full, and the client drops the excess as a slow consumer. The gap
// check recovers a dropped message when a later one arrives; when the
// dropped messages were the last in the stream nothing arrives after them,
// and the consumer hands them out again only after AckWait (60 s): the
// ledger sits idle with acknowledged events unapplied for a minute.
//
// The test loses the last delivery on purpose, as
// TestLostDeliveryIsNotSkipped loses one in the middle; the event must be
// posted well before AckWait.
func TestLostLastDeliveryIsNotLeftForAckWait(t *testing.T) {
	l := testenv.Start(t, testenv.Options{BatchSize: 1})
	const fund = "tail-fund"
	openFund(l, fund)
	l.WaitIdle()

	ctx := context.Background()
	cons, err := l.JS.Consumer(ctx, events.InboundStream, "fundledger")
	if err != nil {
		t.Fatal(err)
	}
	stolen := make(chan uint64, 1)
	go func() {
		defer close(stolen)
		b, err := cons.Fetch(1, jetstream.FetchMaxWait(10*time.Second))
		if err != nil {
			return
		}
		for m := range b.Messages() {
			if md, err := m.Metadata(); err == nil {
				stolen <- md.Sequence.Stream // never acknowledged: lost on its way
			}
		}
	}()
	time.Sleep(300 * time.Millisecond) // the thief's pull request waits behind serve's

	ids := []string{contribute(l, fund, "c-0", "100.00"), contribute(l, fund, "c-1", "100.00")}
	seq, ok := <-stolen
	if !ok {
		t.Fatal("no delivery was taken away from serve; the test did not set up its fault")
	}
	deadline := time.Now().Add(15 * time.Second) // AckWait is 60 s
	for {
		missing := 0
		for _, id := range ids {
			if l.Count(`SELECT count(*) FROM inbox WHERE event_id = $1 AND outcome = 'posted'`, id) != 1 {
				missing++
			}
		}
		if missing == 0 {
			t.Logf("the delivery of stream seq %d, the last, was lost in transit; every event posted", seq)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the delivery of stream seq %d, the last in the stream, was lost in transit and is still not applied "+
				"after 15s (position %d): the ledger waits for the consumer's AckWait", seq,
				l.Count(`SELECT stream_seq FROM consumer_state WHERE name = 'fundledger'`))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
