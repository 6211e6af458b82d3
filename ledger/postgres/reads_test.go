package postgres_test

import (
	"context"
	"errors"
	"io"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/fundledger/fundledger/internal/eventfile"
	"github.com/fundledger/fundledger/internal/testenv"
	"github.com/fundledger/fundledger/ledger"
	"github.com/fundledger/fundledger/ledger/postgres"
	"github.com/shopspring/decimal"
)

const readsFund = "jiangjin-care"

// readsLedger runs a ledger over the example events of docs/cli.md, the
// first half, then (after a pause, so the recorded times differ) the
// rest. It returns the instant between the two halves.
func readsLedger(t *testing.T) (*testenv.Ledger, *postgres.Store, time.Time) {
	t.Helper()
	l := testenv.Start(t, testenv.Options{})
	f, err := os.Open("../../docs/examples/events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var msgs []eventfile.Message
	r := eventfile.NewReader(f, "")
	for {
		m, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	half := len(msgs) / 2
	for _, m := range msgs[:half] {
		l.PublishRaw(m.Subject, m.Data, m.MsgID)
	}
	l.WaitIdle()
	time.Sleep(20 * time.Millisecond)
	split := time.Now()
	time.Sleep(20 * time.Millisecond)
	for _, m := range msgs[half:] {
		l.PublishRaw(m.Subject, m.Data, m.MsgID)
	}
	l.WaitIdle()
	s, err := postgres.Open(context.Background(), l.DBURL, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return l, s, split
}

type stmtAccount struct {
	opening, closing, debits, credits decimal.Decimal
	lines                             int
	closed                            bool
}

func statement(t *testing.T, s *postgres.Store, from, to time.Time) (postgres.StatementInfo, []string, map[string]*stmtAccount) {
	t.Helper()
	var info postgres.StatementInfo
	var order []string
	acc := map[string]*stmtAccount{}
	var run decimal.Decimal
	err := s.Statement(context.Background(), readsFund, from, to, func(i postgres.StatementInfo) error { info = i; return nil },
		func(l postgres.StatementLine) error {
			a := acc[l.Account]
			switch l.Kind {
			case postgres.StatementOpening:
				if a != nil {
					t.Errorf("%s opened twice", l.Account)
				}
				a = &stmtAccount{opening: l.Balance.Dec()}
				acc[l.Account] = a
				order = append(order, l.Account)
				run = a.opening
			case postgres.StatementPosting:
				if a == nil || a.closed {
					t.Fatalf("posting of %s outside its opening and closing", l.Account)
				}
				if l.Seq <= info.OpeningSeq || l.Seq > info.ClosingSeq || l.Time.Before(from) || !l.Time.Before(to) {
					t.Errorf("posting seq %d at %s is outside the period", l.Seq, l.Time)
				}
				amt := l.Debit.Dec().Add(l.Credit.Dec())
				if (l.Side == ledger.Debit) == ledger.DebitNormal(l.Account) {
					run = run.Add(amt)
				} else {
					run = run.Sub(amt)
				}
				if !run.Equal(l.Balance.Dec()) {
					t.Errorf("%s seq %d running balance %s, want %s", l.Account, l.Seq, l.Balance, ledger.Money(run))
				}
				a.debits, a.credits, a.lines = a.debits.Add(l.Debit.Dec()), a.credits.Add(l.Credit.Dec()), a.lines+1
			case postgres.StatementClosing:
				if a == nil || a.closed {
					t.Fatalf("%s closed without opening", l.Account)
				}
				a.closing, a.closed = l.Balance.Dec(), true
				if !l.Debit.Dec().Equal(a.debits) || !l.Credit.Dec().Equal(a.credits) || !run.Equal(a.closing) {
					t.Errorf("%s closing %+v, want period totals %s/%s and balance %s", l.Account, l, a.debits, a.credits, run)
				}
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if !sort.StringsAreSorted(order) {
		t.Errorf("accounts not in name order: %v", order)
	}
	return info, order, acc
}

func balancesMap(t *testing.T, s *postgres.Store, seq int64) map[string]decimal.Decimal {
	t.Helper()
	b, err := s.FundBalances(context.Background(), readsFund, &seq)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]decimal.Decimal{}
	for _, a := range b.Accounts {
		m[a.Account] = decimal.RequireFromString(a.Balance)
	}
	return m
}

func TestStatement(t *testing.T) {
	_, s, split := readsLedger(t)
	ctx := context.Background()
	fund, err := s.Fund(ctx, readsFund)
	if err != nil {
		t.Fatal(err)
	}
	past, future := split.Add(-24*time.Hour), split.Add(24*time.Hour)

	// Periods: all of it; before the split; after it; before anything.
	for _, c := range []struct {
		name                 string
		from, to             time.Time
		wantClose            int64 // -1: the head
		wantEmptyOpening     bool
		wantNoPostingsInside bool
	}{
		{"whole", past, future, -1, true, false},
		{"first half", past, split, 0, true, false},
		{"second half", split, future, -1, false, false},
		{"before", past.Add(-time.Hour), past, 0, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			info, order, acc := statement(t, s, c.from, c.to)
			if c.wantClose == -1 && info.ClosingSeq != fund.HeadSeq {
				t.Errorf("closing seq %d, want the head %d", info.ClosingSeq, fund.HeadSeq)
			}
			if c.name == "first half" && (info.ClosingSeq == 0 || info.ClosingSeq >= fund.HeadSeq) {
				t.Fatalf("the split falls at seq %d of %d: the test needs both halves to post", info.ClosingSeq, fund.HeadSeq)
			}
			if c.name == "second half" && info.OpeningSeq == 0 {
				t.Error("second half opens at seq 0")
			}
			open, closing := balancesMap(t, s, info.OpeningSeq), balancesMap(t, s, info.ClosingSeq)
			for _, name := range order {
				a := acc[name]
				if !a.opening.Equal(open[name]) {
					t.Errorf("%s opening %s, balances as of %d say %s", name, a.opening, info.OpeningSeq, open[name])
				}
				if !a.closing.Equal(closing[name]) {
					t.Errorf("%s closing %s, balances as of %d say %s", name, a.closing, info.ClosingSeq, closing[name])
				}
				if !a.closed {
					t.Errorf("%s has no closing line", name)
				}
				if c.wantNoPostingsInside && a.lines > 0 {
					t.Errorf("%s has %d postings in an empty period", name, a.lines)
				}
			}
			if len(order) != len(closing) {
				t.Errorf("statement lists %v; the books as of %d have %d accounts", order, info.ClosingSeq, len(closing))
			}
			if c.wantEmptyOpening && len(open) != 0 {
				t.Errorf("opening balances %v, want none", open)
			}
		})
	}
	if err := s.Statement(ctx, readsFund, future, past, func(postgres.StatementInfo) error { return nil },
		func(postgres.StatementLine) error { return nil }); !errors.Is(err, postgres.ErrOutOfRange) {
		t.Errorf("reversed period: %v, want ErrOutOfRange", err)
	}
	if err := s.Statement(ctx, "nope", past, future, func(postgres.StatementInfo) error { return nil },
		func(postgres.StatementLine) error { return nil }); !errors.Is(err, postgres.ErrNotFound) {
		t.Errorf("unknown fund: %v, want ErrNotFound", err)
	}
}

func TestGrantRegisterTotalsMatchBalances(t *testing.T) {
	l, s, _ := readsLedger(t)
	var total struct{ approved, paid, returned, cancelled, recovered, outstanding decimal.Decimal }
	expense := map[string]decimal.Decimal{}
	states := map[string]string{}
	var head postgres.FundSummary
	err := s.GrantRegister(context.Background(), readsFund, func(f postgres.FundSummary) error { head = f; return nil },
		func(g postgres.GrantSummary) error {
			total.approved = total.approved.Add(g.Approved.Dec())
			total.paid = total.paid.Add(g.Paid.Dec())
			total.returned = total.returned.Add(g.Returned.Dec())
			total.cancelled = total.cancelled.Add(g.Cancelled.Dec())
			total.recovered = total.recovered.Add(g.Recovered.Dec())
			total.outstanding = total.outstanding.Add(g.Outstanding.Dec())
			net := g.Approved.Dec().Sub(g.Cancelled.Dec()).Sub(g.Recovered.Dec())
			expense[g.Program] = expense[g.Program].Add(net)
			states[g.GrantID] = g.State
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if head.FundID != readsFund || head.GrantsPayable.String() != l.Balance(readsFund, "grants_payable") {
		t.Errorf("register head %+v", head)
	}
	if got, want := ledger.Money(total.outstanding), l.Balance(readsFund, "grants_payable"); got != want {
		t.Errorf("register outstanding %s, grants_payable %s", got, want)
	}
	for prog, net := range expense {
		if got, want := ledger.Money(net), l.Balance(readsFund, ledger.GrantExpenseAccount(prog)); got != want {
			t.Errorf("register approved-cancelled-recovered for %s = %s, account says %s", prog, got, want)
		}
	}
	want := map[string]string{"g-1": "paid", "g-2": "cancelled", "g-3": "open", "g-4": "paid", "g-5": "open"}
	if len(states) != len(want) {
		t.Errorf("register grants %v, want %v", states, want)
	}
	for id, st := range want {
		if states[id] != st {
			t.Errorf("%s state %q, want %q", id, states[id], st)
		}
	}
	if err := s.GrantRegister(context.Background(), "nope", func(postgres.FundSummary) error { return nil },
		func(postgres.GrantSummary) error { return nil }); !errors.Is(err, postgres.ErrNotFound) {
		t.Errorf("unknown fund: %v", err)
	}
}

func TestReadErrors(t *testing.T) {
	_, s, _ := readsLedger(t)
	ctx := context.Background()
	past := int64(99)
	if _, err := s.FundBalances(ctx, readsFund, &past); !errors.Is(err, postgres.ErrOutOfRange) {
		t.Errorf("as of 99: %v", err)
	}
	neg := int64(-1)
	if _, err := s.FundBalances(ctx, readsFund, &neg); !errors.Is(err, postgres.ErrOutOfRange) {
		t.Errorf("as of -1: %v", err)
	}
	for name, f := range map[string]func() error{
		"fund":      func() error { _, err := s.Fund(ctx, "nope"); return err },
		"balances":  func() error { _, err := s.FundBalances(ctx, "nope", nil); return err },
		"journal":   func() error { _, err := s.Journal(ctx, "nope", 0, 10); return err },
		"grant":     func() error { _, err := s.Grant(ctx, readsFund, "nope"); return err },
		"snapshot":  func() error { _, err := s.Snapshot(ctx, readsFund, 42); return err },
		"snapshots": func() error { _, err := s.Snapshots(ctx, "nope", 0, 10); return err },
	} {
		var re *postgres.ReadError
		if err := f(); !errors.Is(err, postgres.ErrNotFound) || !errors.As(err, &re) || re.Msg == "" {
			t.Errorf("%s: %v, want a ReadError of kind ErrNotFound", name, err)
		}
	}
	// Limits are clamped in the store; the API refuses them before.
	p, err := s.Journal(ctx, readsFund, 0, 5000)
	if err != nil || len(p.Transactions) == 0 {
		t.Fatalf("journal limit 5000: %v", err)
	}
}
