package ledger_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/fundledger/fundledger/events"
	"github.com/fundledger/fundledger/ledger"
	"github.com/shopspring/decimal"
	"pgregory.net/rapid"
)

// emptyStore is a Loader over an empty database: every entry the books
// need was created by the events applied to the same Books.
type emptyStore struct{}

func (emptyStore) Funds(context.Context, []string) ([]*ledger.Fund, error) { return nil, nil }
func (emptyStore) Grants(context.Context, []ledger.GrantKey) ([]*ledger.Grant, error) {
	return nil, nil
}
func (emptyStore) Payments(context.Context, []ledger.PaymentKey) ([]*ledger.Payment, error) {
	return nil, nil
}
func (emptyStore) BizIDs(context.Context, []ledger.BizKey) ([]*ledger.BizID, error) { return nil, nil }
func (emptyStore) CapUsage(context.Context, []ledger.CapKey) ([]*ledger.CapUsage, error) {
	return nil, nil
}

var (
	fundIDs  = []string{"city", "north", "south"}
	programs = []string{"care_fund", "pension_subsidy", "ghost_program"}
	people   = []string{"alice", "bob", "carol"}
	bens     = []string{"b1", "b2", "b3", "b4"}
)

func money(t *rapid.T, label string) decimal.Decimal {
	cents := rapid.Int64Range(1, 2_000_000).Draw(t, label)
	return decimal.New(cents, -2)
}

func day(t *rapid.T) time.Time {
	return time.Date(rapid.IntRange(2025, 2026).Draw(t, "year"), time.Month(rapid.IntRange(1, 12).Draw(t, "month")), 1, 0, 0, 0, 0, time.UTC)
}

// genInput draws one field-valid event; the books' own checks decide
// whether it is applied, refused or held.
func genInput(t *rapid.T, n int) ledger.Input {
	fund := rapid.SampledFrom(fundIDs).Draw(t, "fund")
	id := func(kind string) string { return fmt.Sprintf("%s-%d", kind, rapid.IntRange(0, 12).Draw(t, kind)) }
	var ev events.Event
	switch rapid.IntRange(0, 10).Draw(t, "kind") {
	case 0:
		capv := decimal.New(rapid.Int64Range(100_00, 50_000_00).Draw(t, "cap"), -2)
		ev = events.FundOpened{FundID: fund, Name: fund, Currency: "CNY",
			Programs: []events.Program{{Code: "care_fund", Cap: &capv}, {Code: "pension_subsidy"}}}
	case 1:
		ev = events.ContributionReceived{ContributionID: id("c"), SourceKind: rapid.SampledFrom([]string{"fiscal", "donation", "other"}).Draw(t, "sk"),
			Payer: "p", Amount: money(t, "amount"), BankRef: "b", ReceivedOn: day(t)}
	case 2:
		ev = events.AllocationApproved{AllocationID: id("a"), ToFundID: rapid.SampledFrom(fundIDs).Draw(t, "to"), Amount: money(t, "amount"), ApprovedBy: "x"}
	case 3:
		ev = events.GrantApproved{GrantID: id("g"), BeneficiaryRef: rapid.SampledFrom(bens).Draw(t, "ben"), Program: rapid.SampledFrom(programs).Draw(t, "prog"),
			Category: "living", Amount: money(t, "amount"), RequestedBy: rapid.SampledFrom(people).Draw(t, "req"),
			ApprovedBy: rapid.SampledFrom(people).Draw(t, "appr"), ApprovedOn: day(t)}
	case 4:
		k := rapid.IntRange(1, 4).Draw(t, "lines")
		b := events.GrantBatchApproved{BatchID: id("batch"), Program: rapid.SampledFrom(programs).Draw(t, "prog"), RequestedBy: "alice", ApprovedBy: "bob", ApprovedOn: day(t)}
		for i := 0; i < k; i++ {
			g := id("g")
			b.Lines = append(b.Lines, events.BatchLine{GrantID: g, BeneficiaryRef: rapid.SampledFrom(bens).Draw(t, "ben"), Category: "living",
				Amount: money(t, "amount"), Raw: []byte(fmt.Sprintf(`{"grant_id":%q,"n":%d}`, g, i))})
		}
		ev = b
	case 5:
		ev = events.GrantDisbursed{GrantID: id("g"), PaymentID: id("p"), Amount: money(t, "amount"), BankRef: "b", PaidOn: day(t)}
	case 6:
		ev = events.PaymentReturned{GrantID: id("g"), PaymentID: id("p"), Amount: money(t, "amount"), Reason: "r"}
	case 7:
		ev = events.GrantCancelled{GrantID: id("g"), CancelledBy: "x", Reason: "r"}
	case 8:
		ev = events.GrantRecovered{GrantID: id("g"), RecoveryID: id("r"), Amount: money(t, "amount"), BankRef: "b", Reason: "r"}
	case 9:
		ev = events.ProgramSet{Program: rapid.SampledFrom(programs).Draw(t, "prog")}
	default:
		ev = events.SnapshotRequested{RequestedBy: "auditor", Label: "m"}
	}
	// Content hash: the same business id drawn again with the same fields
	// must hash the same, so hash the typed event's printed form.
	return ledger.Input{EventID: fmt.Sprintf("e%d", n), Type: ev.EventType(), Source: "prop", FundID: fund,
		DataHash: events.ContentHash([]byte(fmt.Sprintf("%q", fmt.Sprintf("%#v", ev)))), Event: ev,
		Time: time.Date(2026, 1, 1, 0, 0, n, 0, time.UTC)}
}

// fingerprint is every fund's balances, for "a refused event changes
// nothing".
func fingerprint(b *ledger.Books) string {
	var buf bytes.Buffer
	for _, id := range fundIDs {
		f, _ := b.Fund(id)
		if f == nil {
			continue
		}
		lines, _, _ := ledger.AccountLines(f.Balances)
		fmt.Fprintf(&buf, "%s %d %x %v|", id, f.HeadSeq, f.HeadHash, lines)
	}
	return buf.String()
}

func TestBooksInvariants(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		b := ledger.NewBooks(context.Background(), emptyStore{}, ledger.Settings{SnapshotEvery: 5})
		sums := map[string]map[string][2]decimal.Decimal{} // fund → account → debits, credits
		heads := map[string][]byte{}
		n := rapid.IntRange(1, 120).Draw(t, "events")
		for i := 0; i < n; i++ {
			in := genInput(t, i)
			before, txnsBefore := fingerprint(b), len(b.Txns)
			out, err := b.Apply(in)
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			switch out.Kind {
			case ledger.Rejected, ledger.Held, ledger.Duplicate:
				if fingerprint(b) != before || len(b.Txns) != txnsBefore {
					t.Fatalf("%v of %s changed the books", out.Kind, in.Type)
				}
				if out.Kind == ledger.Rejected && out.Rejection == nil {
					t.Fatal("rejected without a rejection")
				}
			}
			for _, tx := range out.Txns {
				var dr, cr decimal.Decimal
				for _, p := range tx.Postings {
					if !p.Amount.IsPositive() {
						t.Fatalf("posting of %s is not positive", p.Amount)
					}
					s := sums[tx.FundID]
					if s == nil {
						s = map[string][2]decimal.Decimal{}
						sums[tx.FundID] = s
					}
					v := s[p.Account]
					if p.Side == ledger.Debit {
						dr, v[0] = dr.Add(p.Amount), v[0].Add(p.Amount)
					} else {
						cr, v[1] = cr.Add(p.Amount), v[1].Add(p.Amount)
					}
					s[p.Account] = v
				}
				if !dr.Equal(cr) {
					t.Fatalf("transaction %s/%d does not balance: %s vs %s", tx.FundID, tx.Seq, dr, cr)
				}
				prev := heads[tx.FundID]
				if prev == nil {
					prev = ledger.GenesisHash
				}
				if !bytes.Equal(tx.PrevHash, prev) || !bytes.Equal(tx.Hash, ledger.HashTxn(tx)) {
					t.Fatalf("chain broken at %s/%d", tx.FundID, tx.Seq)
				}
				heads[tx.FundID] = tx.Hash
			}
			for _, id := range fundIDs {
				f, _ := b.Fund(id)
				if f == nil {
					continue
				}
				if f.Amount(ledger.AccountCash).IsNegative() || f.Available().IsNegative() {
					t.Fatalf("fund %s: cash %s available %s", id, f.Amount(ledger.AccountCash), f.Available())
				}
				for acct, bal := range f.Balances {
					want := sums[id][acct]
					if !bal.Debits.Equal(want[0]) || !bal.Credits.Equal(want[1]) {
						t.Fatalf("fund %s %s: kept %s/%s, journal %s/%s", id, acct, bal.Debits, bal.Credits, want[0], want[1])
					}
				}
			}
		}
		for _, s := range b.Snapshots {
			if !s.Balanced || s.TotalDebits != s.TotalCredits {
				t.Fatalf("snapshot %s/%d not balanced", s.FundID, s.SnapshotSeq)
			}
		}
		for _, c := range b.Changes().Caps {
			if c.Used.IsNegative() {
				t.Fatalf("cap usage %+v went negative: %s", c.CapKey, c.Used)
			}
		}
		for _, g := range b.Changes().Grants {
			if g.Outstanding().IsNegative() || g.Paid.LessThan(g.Returned) || g.Recovered.IsNegative() {
				t.Fatalf("grant %s: outstanding %s, paid %s, returned %s, recovered %s", g.GrantID, g.Outstanding(), g.Paid, g.Returned, g.Recovered)
			}
		}
	})
}
