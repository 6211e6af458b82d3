package main

import (
	"fmt"
	"strings"
	"time"
)

// fillTable gathers the numbers a scenario prints.
func (r *run) fillTable(st *state) {
	p := r.pub
	p.mu.Lock()
	published := fmt.Sprintf("%d workload + %d injected; %d acknowledged (%d as stream duplicates), %d re-published after an error, %d given up",
		p.generated, p.injected, p.ackedN, p.dupAcks, p.republish, p.gaveUp)
	rate := 0.0
	if d := p.ended.Sub(p.started).Seconds(); d > 0 {
		rate = float64(p.generated) / d
	}
	p.mu.Unlock()
	outcomes := map[string]int{}
	for _, row := range st.inbox {
		outcomes[row.outcome]++
	}
	noIDRej := 0
	for _, x := range st.rejections {
		if x.eventID == "" {
			noIDRej++
		}
	}
	var kills, fp, starts, crashes int
	for _, s := range r.slots {
		s.mu.Lock()
		kills += s.kills
		fp += s.fpDeaths
		starts += s.starts
		crashes += len(s.crashes)
		s.mu.Unlock()
	}
	consumed := int(r.metricTotal("fundledger_events_consumed_total"))
	reconsumed := consumed - len(st.inbound)
	if reconsumed < 0 {
		reconsumed = 0
	}
	numRedelivered := -1
	if st.consumerInfo != nil {
		numRedelivered = st.consumerInfo.NumRedelivered
	}
	t := [][2]string{
		{"published", published},
		{"publish rate", fmt.Sprintf("%.0f events/s", rate)},
		{"FUND_EVENTS", fmt.Sprintf("%d messages", len(st.inbound))},
		{"outcomes", fmt.Sprintf("%d posted, %d applied (no posting), %d duplicate, %d rejected with an id + %d without (malformed)",
			outcomes["posted"], outcomes["applied"], outcomes["duplicate"], outcomes["rejected"], noIDRej)},
		{"books", fmt.Sprintf("%d journal transactions in %d funds, %d snapshots; %d messages on LEDGER_OUT",
			len(st.journal), len(st.funds), len(st.snapshots), st.outTotal)},
		{"redelivered", fmt.Sprintf("%d in flight at a death (delivered, not committed: delivered again); "+
			"%d consumed again per /metrics (≥, skipped by position or inbox); %d seen-id no-ops; consumer num_redelivered %d",
			r.inFlight.Load(), reconsumed, int(r.metricTotal("fundledger_events_seen_total")), numRedelivered)},
		{"caught up", caughtUp(r.ledgerDone, r.quietAfter)},
		{"batches", fmt.Sprintf("%d committed (per /metrics, ≥)", int(r.metricTotal("fundledger_batch_messages_count")))},
		{"serve processes", fmt.Sprintf("%d started, %d killed by the suite (SIGKILL), %d killed by a failpoint, %d exited on their own",
			starts, kills, fp, crashes)},
	}
	if fp > 0 {
		t = append(t, [2]string{"failpoints fired", fmt.Sprintf("before-commit %d, after-commit %d, after-ack %d",
			r.logCount(`"point":"before-commit"`), r.logCount(`"point":"after-commit"`), r.logCount(`"point":"after-ack"`))})
	}
	t = append(t,
		[2]string{"retries", fmt.Sprintf("%d batch commits retried after a transient error, %d lease (re)takes, %d fenced batches, "+
			"%d stream re-reads after a lost delivery (from serve's logs)",
			r.logCount("batch not committed; retrying"), r.logCount("consumer lease taken"), r.logCount("another instance holds the consumer"),
			r.logCount("a delivery was lost in transit")+r.logCount("idle with undelivered messages"))},
	)
	faults := kills + fp
	for _, k := range sortedKeys(r.counters) {
		t = append(t, [2]string{k, fmt.Sprint(r.counters[k])})
		if strings.HasPrefix(k, "fault: ") {
			faults += r.counters[k]
		}
	}
	r.table = t
	p.mu.Lock()
	r.sum = summaryRow{acked: p.ackedN, posted: outcomes["posted"], rejected: outcomes["rejected"] + noIDRej,
		redelivered: int(r.inFlight.Load()) + reconsumed, faults: faults}
	p.mu.Unlock()
}

func caughtUp(ledger, quiet time.Duration) string {
	if ledger < 0 {
		return fmt.Sprintf("NOT within %s of the end of the faults and the publisher", quiet.Round(time.Second))
	}
	s := fmt.Sprintf("%s after the faults and the publisher ended (position = stream end, nothing held, everything published, timed snapshots taken)",
		ledger.Round(100*time.Millisecond))
	if quiet-ledger > 5*time.Second {
		s += fmt.Sprintf("; the consumer's ack state settled %s later (acks lost with the NATS outage: JetStream "+
			"redelivers after AckWait, serve skips by position)", (quiet - ledger).Round(100*time.Millisecond))
	}
	return s
}

// summaryRow is one line of the final table.
type summaryRow struct {
	acked, posted, rejected, redelivered, faults int
}

func mark(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

func printScenario(s *scenarioResult) {
	fmt.Printf("--- %s (%s)\n", s.name, s.took.Round(time.Second))
	if s.err != nil {
		fmt.Printf("  ERROR: %v\n", s.err)
	}
	for _, n := range s.notes {
		fmt.Printf("  exercised: %s\n", n)
	}
	for _, c := range s.counts {
		fmt.Printf("  %-17s %s\n", c[0]+":", c[1])
	}
	for _, c := range append(append([]invResult{}, s.invariants...), s.checks...) {
		fmt.Printf("  %s  %-40s %s\n", mark(c.ok), c.name, c.summary)
		for _, p := range c.problems {
			fmt.Printf("        - %s\n", p)
		}
	}
	fmt.Printf("  => %s\n", mark(s.ok()))
}

func printSummary(results []*scenarioResult, took time.Duration) {
	fmt.Printf("\n=== summary (%s)\n", took.Round(time.Second))
	fmt.Printf("%-14s %7s %7s %7s %8s %6s  %-4s %-4s %-4s %-4s %-4s %-5s  %s\n",
		"scenario", "acked", "posted", "reject", "redeliv", "faults", "inv1", "inv2", "inv3", "inv4", "inv5", "other", "result")
	all := true
	for _, s := range results {
		inv := make([]string, 5)
		for i := range inv {
			inv[i] = "-"
			if i < len(s.invariants) {
				inv[i] = mark(s.invariants[i].ok)
			}
		}
		other := "PASS"
		for _, c := range s.checks {
			if !c.ok {
				other = "FAIL"
			}
		}
		if s.err != nil {
			other = "ERROR"
		}
		all = all && s.ok()
		fmt.Printf("%-14s %7d %7d %7d %8d %6d  %-4s %-4s %-4s %-4s %-4s %-5s  %s\n", s.name,
			s.sum.acked, s.sum.posted, s.sum.rejected, s.sum.redelivered, s.sum.faults,
			inv[0], inv[1], inv[2], inv[3], inv[4], other, mark(s.ok()))
	}
	if all && len(results) > 0 {
		fmt.Println("ALL PASS: nothing lost, nothing applied twice, books balanced, everything published, nothing stuck")
	} else {
		fmt.Println("FAILED: see the scenarios above")
	}
}
