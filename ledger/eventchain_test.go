package ledger_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/fundledger/fundledger/ledger"
)

// msEvents is the memStore's fund_events table and the funds' kept event
// heads.
type msEvents struct {
	heads map[string]ledger.EventHead
	list  []*ledger.FundEvent
}

// EventHeads is the store's read of the funds' event heads.
func (s *memStore) EventHeads(_ context.Context, funds []string) (map[string]ledger.EventHead, error) {
	out := map[string]ledger.EventHead{}
	for _, f := range funds {
		if h, ok := s.events.heads[f]; ok {
			out[f] = h
		}
	}
	return out, nil
}

// writeEvents stores a batch's entries as write.go does, refusing what the
// primary key (fund_id, seq) would.
func (s *memStore) writeEvents(out *ledger.BatchOutput) error {
	if s.events.heads == nil {
		s.events.heads = map[string]ledger.EventHead{}
	}
	for _, e := range out.Events {
		for _, o := range s.events.list {
			if o.FundID == e.FundID && o.Seq == e.Seq {
				return fmt.Errorf("fund_events: duplicate key (%s, %d)", e.FundID, e.Seq)
			}
		}
		s.events.list = append(s.events.list, e)
	}
	for f, h := range out.EventHeads {
		s.events.heads[f] = h
	}
	return nil
}

// TestEventChainApplied: every event applied without a journal
// transaction, and only those, is chained per fund across batches, in
// stream order, hashed as documented; the chain verifies, and a changed
// entry does not.
func TestEventChainApplied(t *testing.T) {
	l := newItLedger(t, time.Minute)
	l.batch(itOpen("f"), itOpen("g"), itContrib("f", "c1", "C1", "100.00"), itProgramSet("f", "p1", "care_fund", "6000.00"))
	l.now = l.now.Add(time.Second)
	l.batch(itSnapReq("f", "s1", "audit"), itProgramSet("f", "p1", "care_fund", "6000.00"), // a repeated envelope: nothing
		itProgramSet("nope", "p2", "care_fund", "1.00"), // refused: unknown fund
		itGrant("f", "g1", "G1", "b1", "10.00", "2026-01-02"), itCancel("f", "x1", "G1"))
	var f, g []*ledger.FundEvent
	for _, e := range l.st.events.list {
		switch e.FundID {
		case "f":
			f = append(f, e)
		case "g":
			g = append(g, e)
		default:
			t.Fatalf("an entry of fund %s", e.FundID)
		}
	}
	want := []string{"fund.opened", "fund.program.set", "snapshot.requested"}
	if len(f) != len(want) || len(g) != 1 || g[0].Seq != 1 {
		t.Fatalf("fund f's chain %v, g's %v; want %v and one opening", f, g, want)
	}
	prev := ledger.GenesisHash
	for i, e := range f {
		if e.Type != want[i] || e.Seq != int64(i+1) || !bytes.Equal(e.PrevHash, prev) || !bytes.Equal(e.Hash, ledger.HashEvent(e)) {
			t.Fatalf("entry %d: %+v", i+1, e)
		}
		prev = e.Hash
	}
	if !f[2].Time.After(f[1].Time) {
		t.Errorf("the second batch's entry is recorded at %s, not after %s", f[2].Time, f[1].Time)
	}
	if h := l.st.events.heads["f"]; h.Seq != 3 || !bytes.Equal(h.Hash, f[2].Hash) {
		t.Errorf("kept head %+v", h)
	}
	check := func(list []*ledger.FundEvent, kept ledger.EventHead) []ledger.Problem {
		v := ledger.NewVerifier("f", itT0, nil)
		ev := v.Events()
		for _, e := range list {
			ev.Event(e)
		}
		ev.End(kept)
		return v.Problems()
	}
	if p := check(f, l.st.events.heads["f"]); len(p) != 0 {
		t.Fatalf("the chain does not verify: %v", p)
	}
	changed := *f[1]
	changed.Data = bytes.Replace(changed.Data, []byte("6000.00"), []byte("9000.00"), 1)
	if p := check([]*ledger.FundEvent{f[0], &changed, f[2]}, l.st.events.heads["f"]); len(p) == 0 || p[0].Seq != 2 || p[0].Kind != ledger.ProblemEvent {
		t.Fatalf("a changed cap: %v", p)
	}
	if p := check(f[:2], l.st.events.heads["f"]); len(p) == 0 || p[0].Kind != ledger.ProblemEvent {
		t.Fatalf("the last entry cut: %v", p)
	}
}
