package service_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fundledger/fundledger/internal/testenv"
	"github.com/fundledger/fundledger/service"
)

// publishLoad opens a fund, funds it, and publishes n grant approvals, each
// followed by a disbursement of half of it, returning the envelope ids.
func publishLoad(l *testenv.Ledger, fund string, n int) []string {
	openFund(l, fund)
	ids := []string{contribute(l, fund, "c-seed", "1000000.00")}
	for i := 0; i < n; i++ {
		g := fmt.Sprintf("g-%04d", i)
		ids = append(ids, l.Event(fund, "grant.approved", map[string]any{"grant_id": g, "beneficiary_ref": fmt.Sprintf("b-%d", i),
			"program": "pension_subsidy", "category": "living", "amount": "10.00", "requested_by": "a", "approved_by": "b", "approved_on": "2026-04-01"}))
		ids = append(ids, disburse(l, fund, g, "p-"+g, "5.00"))
	}
	return ids
}

// checkExactlyOnce asserts the books hold each event once and LEDGER_OUT
// carries each posted transaction once.
func checkExactlyOnce(t *testing.T, l *testenv.Ledger, fund string, n int) {
	t.Helper()
	l.WaitIdle()
	wantTx := int64(1 + 2*n)
	if got := l.Count(`SELECT count(*) FROM journal WHERE fund_id = $1`, fund); got != wantTx {
		t.Errorf("journal: %d transactions, want %d", got, wantTx)
	}
	if got := l.Count(`SELECT count(DISTINCT event_id) FROM journal WHERE fund_id = $1`, fund); got != wantTx {
		t.Errorf("journal: %d distinct events, want %d", got, wantTx)
	}
	if got := l.Count(`SELECT count(*) FROM inbox WHERE fund_id = $1 AND outcome = 'posted'`, fund); got != wantTx {
		t.Errorf("inbox: %d posted, want %d", got, wantTx)
	}
	wantBalances(t, l, fund, map[string]string{
		"cash":           addCents("1000000.00", -int64(n)*500),
		"grants_payable": addCents("0.00", int64(n)*500),
	})
	if got := l.Count(`SELECT count(*) FROM rejections`); got != 0 {
		t.Errorf("%d rejections: %+v", got, l.Rejections())
	}
	if got := countSubject(t, l, "ledger."+fund+".posted"); got != int(wantTx) {
		t.Errorf("LEDGER_OUT: %d posted messages, want %d", got, wantTx)
	}
}

// failEvery returns a failpoint that fails at point on every k-th call
// while armed, counting the failures it injected.
func failEvery(point string, k int64, fired *atomic.Int64) func(string) error {
	var calls atomic.Int64
	return func(p string) error {
		if p != point {
			return nil
		}
		if calls.Add(1)%k == 0 {
			fired.Add(1)
			return &service.FailpointError{Point: p}
		}
		return nil
	}
}

func TestCrashAfterCommitBeforeAck(t *testing.T) {
	var fired atomic.Int64
	l := testenv.Start(t, testenv.Options{BatchSize: 7, Failpoint: failEvery("after-commit", 3, &fired)})
	publishLoad(l, "f", 60)
	checkExactlyOnce(t, l, "f", 60)
	if fired.Load() == 0 {
		t.Fatal("the failpoint never fired: the test proved nothing")
	}
	t.Logf("crashed %d times between commit and ack", fired.Load())
}

func TestCrashBeforeCommit(t *testing.T) {
	var fired atomic.Int64
	l := testenv.Start(t, testenv.Options{BatchSize: 5, Failpoint: failEvery("before-commit", 4, &fired)})
	publishLoad(l, "f", 60)
	checkExactlyOnce(t, l, "f", 60)
	if fired.Load() == 0 {
		t.Fatal("the failpoint never fired: the test proved nothing")
	}
	t.Logf("crashed %d times mid-batch, before commit", fired.Load())
}

// TestStopBetweenCommitAndPublish stops the whole service right after a
// commit, several times, while the outbox holds what the commit wrote; a
// restart publishes it, once.
func TestStopBetweenCommitAndPublish(t *testing.T) {
	var l *testenv.Ledger
	var stops atomic.Int64
	var wg sync.WaitGroup
	var calls atomic.Int64
	l = testenv.Start(t, testenv.Options{BatchSize: 9, Failpoint: func(p string) error {
		if p == "after-commit" && calls.Add(1)%5 == 0 && stops.Load() < 4 {
			stops.Add(1)
			wg.Add(1)
			go func() { defer wg.Done(); l.Stop() }()
			return &service.FailpointError{Point: p}
		}
		return nil
	}})
	publishLoad(l, "f", 40)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		wg.Wait()
		l.Restart()
		time.Sleep(300 * time.Millisecond)
		if l.Count(`SELECT count(*) FROM journal`) == 81 {
			break
		}
	}
	wg.Wait()
	checkExactlyOnce(t, l, "f", 40)
	if stops.Load() == 0 {
		t.Fatal("never stopped: the test proved nothing")
	}
}

// TestRepublishIsDeduplicated: an outbox row published again (the relay
// died after JetStream's ack and before deleting it) reaches LEDGER_OUT
// once, by its Nats-Msg-Id.
func TestRepublishIsDeduplicated(t *testing.T) {
	l := testenv.Start(t, testenv.Options{})
	openFund(l, "f")
	contribute(l, "f", "c-1", "10.00")
	l.WaitIdle()
	before := countSubject(t, l, "ledger.f.posted")
	_, err := l.DB.Exec(context.Background(), `INSERT INTO outbox (subject, msg_id, payload)
		SELECT 'ledger.f.posted', 'posted:f:1', convert_to('{"seq":1}', 'UTF8')`)
	if err != nil {
		t.Fatal(err)
	}
	l.WaitIdle()
	if after := countSubject(t, l, "ledger.f.posted"); after != before || before != 1 {
		t.Fatalf("posted messages: %d before, %d after a re-publish, want 1 and 1", before, after)
	}
}

// TestTwoInstances runs a second service on the same database and stream;
// the first is stopped mid-load and the second takes over: nothing is
// applied twice or lost.
func TestTwoInstances(t *testing.T) {
	l := testenv.Start(t, testenv.Options{BatchSize: 10})
	cfg := l.Config
	cfg.DataDir = t.TempDir()
	second := service.New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- second.Run(ctx) }()
	defer func() { cancel(); <-done }()
	<-second.Ready()
	if second.Leader() {
		t.Fatal("second instance leads while the first holds the lease")
	}
	ids := publishLoad(l, "f", 30)
	_ = ids
	time.Sleep(50 * time.Millisecond)
	l.Stop() // the first instance goes away mid-load
	for _, i := range []int{30, 31, 32, 33, 34} {
		g := fmt.Sprintf("g-%04d", i)
		l.Event("f", "grant.approved", map[string]any{"grant_id": g, "beneficiary_ref": fmt.Sprintf("b-%d", i),
			"program": "pension_subsidy", "category": "living", "amount": "10.00", "requested_by": "a", "approved_by": "b", "approved_on": "2026-04-01"})
		disburse(l, "f", g, "p-"+g, "5.00")
	}
	deadline := time.Now().Add(30 * time.Second)
	for !second.Leader() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !second.Leader() {
		t.Fatal("second instance never took over")
	}
	checkExactlyOnce(t, l, "f", 35)
}
