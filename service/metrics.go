package service

import (
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fundledger/fundledger/events"
	"github.com/fundledger/fundledger/ledger/postgres"
)

// Metrics are the service's counters, written in the Prometheus text
// format at /metrics.
type Metrics struct {
	Consumed, Applied, Posted, Duplicates, Seen, Held, Released, Expired atomic.Int64
	Txns, Snapshots, Published, Retries, Batches, Redeliveries           atomic.Int64

	mu          sync.Mutex
	rejected    map[events.Code]int64
	commitSum   time.Duration
	commitCount int64
	commitBkt   []int64 // cumulative buckets of commitBounds
	batchBkt    []int64 // cumulative buckets of batchBounds
	batchSum    int64
	lastBatchAt time.Time
	steps       map[string]time.Duration // where batches' time went
}

var (
	commitBounds = []time.Duration{time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond,
		25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
		time.Second, 2500 * time.Millisecond}
	batchBounds = []int64{1, 10, 50, 100, 250, 500, 1000, 2000, 5000}
)

// NewMetrics makes an empty set of counters.
func NewMetrics() *Metrics {
	return &Metrics{rejected: map[events.Code]int64{}, steps: map[string]time.Duration{}, commitBkt: make([]int64, len(commitBounds)), batchBkt: make([]int64, len(batchBounds))}
}

func (m *Metrics) observe(r postgres.BatchResult, took time.Duration) {
	m.Consumed.Add(int64(r.Messages))
	m.Applied.Add(int64(r.Applied))
	m.Duplicates.Add(int64(r.Duplicate))
	m.Seen.Add(int64(r.Seen))
	m.Held.Add(int64(r.Held))
	m.Released.Add(int64(r.Released))
	m.Expired.Add(int64(r.Expired))
	m.Txns.Add(int64(r.Txns))
	m.Snapshots.Add(int64(r.Snapshots))
	if r.Messages == 0 {
		return
	}
	m.Batches.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	for c, n := range r.Rejects {
		m.rejected[c] += int64(n)
	}
	m.commitSum += took
	m.commitCount++
	for i, b := range commitBounds {
		if took <= b {
			m.commitBkt[i]++
		}
	}
	for i, b := range batchBounds {
		if int64(r.Messages) <= b {
			m.batchBkt[i]++
		}
	}
	m.batchSum += int64(r.Messages)
	m.lastBatchAt = time.Now()
	for _, st := range r.Steps {
		m.steps[st.Name] += st.Took
	}
}

// Write writes the metrics in the Prometheus text exposition format.
// extra adds gauges read at scrape time (name → value).
func (m *Metrics) Write(w io.Writer, gauges map[string]float64) {
	counter := func(name, help string, v int64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", name, help, name, name, v)
	}
	counter("fundledger_events_consumed_total", "Inbound messages handed to the ledger.", m.Consumed.Load())
	counter("fundledger_events_applied_total", "Events that changed the books.", m.Applied.Load())
	counter("fundledger_events_duplicate_total", "Business-id duplicates with the same content (no effect).", m.Duplicates.Load())
	counter("fundledger_events_seen_total", "Messages whose envelope id was seen before (no effect).", m.Seen.Load())
	counter("fundledger_events_held_total", "Events held waiting for the grant or payment they name.", m.Held.Load())
	counter("fundledger_events_released_total", "Held events decided once what they named arrived.", m.Released.Load())
	counter("fundledger_events_hold_expired_total", "Held events refused after the hold window.", m.Expired.Load())
	counter("fundledger_transactions_posted_total", "Journal transactions posted.", m.Txns.Load())
	counter("fundledger_snapshots_total", "Snapshots taken.", m.Snapshots.Load())
	counter("fundledger_outbox_published_total", "Outbound messages acknowledged by JetStream.", m.Published.Load())
	counter("fundledger_batch_retries_total", "Batch commits retried after a transient failure.", m.Retries.Load())
	counter("fundledger_consumer_restarts_total", "Times the stream was read again from the stored position after a delivery was lost in transit.", m.Redeliveries.Load())

	m.mu.Lock()
	defer m.mu.Unlock()
	fmt.Fprintf(w, "# HELP fundledger_events_rejected_total Events refused, by code.\n# TYPE fundledger_events_rejected_total counter\n")
	codes := make([]string, 0, len(m.rejected))
	for c := range m.rejected {
		codes = append(codes, string(c))
	}
	sort.Strings(codes)
	for _, c := range codes {
		fmt.Fprintf(w, "fundledger_events_rejected_total{code=%q} %d\n", c, m.rejected[events.Code(c)])
	}
	fmt.Fprintf(w, "# HELP fundledger_batch_commit_seconds Time to apply and commit one batch.\n# TYPE fundledger_batch_commit_seconds histogram\n")
	for i, b := range commitBounds {
		fmt.Fprintf(w, "fundledger_batch_commit_seconds_bucket{le=\"%g\"} %d\n", b.Seconds(), m.commitBkt[i])
	}
	fmt.Fprintf(w, "fundledger_batch_commit_seconds_bucket{le=\"+Inf\"} %d\n", m.commitCount)
	fmt.Fprintf(w, "fundledger_batch_commit_seconds_sum %g\nfundledger_batch_commit_seconds_count %d\n", m.commitSum.Seconds(), m.commitCount)
	fmt.Fprintf(w, "# HELP fundledger_batch_messages Messages per batch.\n# TYPE fundledger_batch_messages histogram\n")
	for i, b := range batchBounds {
		fmt.Fprintf(w, "fundledger_batch_messages_bucket{le=\"%d\"} %d\n", b, m.batchBkt[i])
	}
	fmt.Fprintf(w, "fundledger_batch_messages_bucket{le=\"+Inf\"} %d\n", m.commitCount)
	fmt.Fprintf(w, "fundledger_batch_messages_sum %d\nfundledger_batch_messages_count %d\n", m.batchSum, m.commitCount)
	fmt.Fprintf(w, "# HELP fundledger_batch_step_seconds_total Time batches spent in each step of the store: begin, apply (the rules and what they load), each table written, position and commit.\n# TYPE fundledger_batch_step_seconds_total counter\n")
	steps := make([]string, 0, len(m.steps))
	for st := range m.steps {
		steps = append(steps, st)
	}
	sort.Strings(steps)
	for _, st := range steps {
		fmt.Fprintf(w, "fundledger_batch_step_seconds_total{step=%q} %g\n", st, m.steps[st].Seconds())
	}
	names := make([]string, 0, len(gauges))
	for n := range gauges {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "# TYPE %s gauge\n%s %g\n", n, n, gauges[n])
	}
}
