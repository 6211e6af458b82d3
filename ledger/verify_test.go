package ledger_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/fundledger/fundledger/events"
	"github.com/fundledger/fundledger/ledger"
	"github.com/shopspring/decimal"
	"pgregory.net/rapid"
)

// vtLoader is a Loader over an empty store: the books under test hold
// everything the events create.
type vtLoader struct{}

func (vtLoader) Funds(context.Context, []string) ([]*ledger.Fund, error)            { return nil, nil }
func (vtLoader) Grants(context.Context, []ledger.GrantKey) ([]*ledger.Grant, error) { return nil, nil }
func (vtLoader) Payments(context.Context, []ledger.PaymentKey) ([]*ledger.Payment, error) {
	return nil, nil
}
func (vtLoader) BizIDs(context.Context, []ledger.BizKey) ([]*ledger.BizID, error) { return nil, nil }
func (vtLoader) CapUsage(context.Context, []ledger.CapKey) ([]*ledger.CapUsage, error) {
	return nil, nil
}

// vtTB is what the helpers need of *testing.T and *rapid.T.
type vtTB interface {
	Helper()
	Fatal(args ...any)
}

// vtSigner signs with a fixed Ed25519 key.
type vtSigner struct{ priv ed25519.PrivateKey }

func newVTSigner(seedByte byte) vtSigner {
	return vtSigner{ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seedByte}, ed25519.SeedSize))}
}
func (s vtSigner) pub() ed25519.PublicKey { return s.priv.Public().(ed25519.PublicKey) }
func (s vtSigner) KeyID() string          { return ledger.SigningKeyID(s.pub()) }
func (s vtSigner) Sign(msg []byte) []byte { return ed25519.Sign(s.priv, msg) }
func (s vtSigner) keys() map[string]ed25519.PublicKey {
	return map[string]ed25519.PublicKey{s.KeyID(): s.pub()}
}

const vtFund = "jiangjin-care"

// vtBooks is one fund's journal and snapshots as the real posting rules
// make them.
type vtBooks struct {
	txns   []*ledger.Txn
	snaps  []ledger.StoredSnapshot
	kept   ledger.KeptState
	opened time.Time
	signer vtSigner
}

var vtT0 = time.Date(2026, 3, 2, 1, 15, 0, 123456000, time.UTC)

func amt(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// vtApply runs events through ledger.Books, one a second, and collects
// what they posted and snapshotted.
func vtApply(t testing.TB, every int64, evs ...events.Event) *vtBooks {
	t.Helper()
	signer := newVTSigner(7)
	b := ledger.NewBooks(context.Background(), vtLoader{}, ledger.Settings{SnapshotEvery: every, Signer: signer})
	for i, ev := range evs {
		in := ledger.Input{EventID: fmt.Sprintf("evt-%d", i), Type: ev.EventType(), Source: "approvals/test", FundID: vtFund,
			DataHash: [32]byte{byte(i), byte(i >> 8)}, Event: ev, Time: vtT0.Add(time.Duration(i) * time.Second)}
		out, err := b.Apply(in)
		if err != nil {
			t.Fatal(err)
		}
		if out.Kind != ledger.Applied {
			t.Fatalf("event %d (%s) not applied: %+v", i, ev.EventType(), out.Rejection)
		}
	}
	f, _ := b.Fund(vtFund)
	vb := &vtBooks{txns: b.Txns, opened: vtT0, signer: signer, kept: ledger.KeptState{HeadSeq: f.HeadSeq, HeadHash: f.HeadHash,
		HeadTime: f.HeadTime, OpenGrants: f.OpenGrants, SnapshotSeq: f.SnapshotSeq, Balances: f.Balances}}
	if f.HeadSeq == 0 {
		vb.kept.HeadTime = time.Time{}
	}
	for _, s := range b.Snapshots {
		body, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		vb.snaps = append(vb.snaps, ledger.StoredSnapshot{SnapshotSeq: s.SnapshotSeq, AsOfJournalSeq: s.AsOfJournalSeq, Published: body})
	}
	return vb
}

// standardEvents is a fund's life: contributions, grants single and
// batched, payments, a return, a cancellation, a recovery, snapshots.
func standardEvents() []events.Event {
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	capv := amt("5000.00")
	line := func(id, ben, amount string) events.BatchLine {
		return events.BatchLine{GrantID: id, BeneficiaryRef: ben, Category: "living", Amount: amt(amount), Raw: json.RawMessage(`{"grant_id":"` + id + `"}`)}
	}
	return []events.Event{
		events.FundOpened{FundID: vtFund, Name: "Jiangjin care fund", Currency: "CNY",
			Programs: []events.Program{{Code: "care_fund", Cap: &capv}, {Code: "pension_subsidy"}}},
		events.SnapshotRequested{RequestedBy: "auditor", Label: "opening"},
		events.ContributionReceived{ContributionID: "c-1", SourceKind: "fiscal", Payer: "District finance bureau", Amount: amt("20000.00"), BankRef: "BR-1", ReceivedOn: day},
		events.ContributionReceived{ContributionID: "c-2", SourceKind: "donation", Payer: "Veterans care association", Amount: amt("8000.50"), BankRef: "BR-2", ReceivedOn: day},
		events.GrantApproved{GrantID: "g-1", BeneficiaryRef: "ben-1", Program: "care_fund", Category: "medical", Amount: amt("1250.00"), RequestedBy: "cw-1", ApprovedBy: "off-7", ApprovedOn: day},
		events.GrantApproved{GrantID: "g-2", BeneficiaryRef: "ben-2", Program: "care_fund", Category: "housing", Amount: amt("3000.00"), RequestedBy: "cw-1", ApprovedBy: "off-7", ApprovedOn: day},
		events.GrantApproved{GrantID: "g-3", BeneficiaryRef: "ben-3", Program: "care_fund", Category: "living", Amount: amt("700.00"), RequestedBy: "cw-1", ApprovedBy: "off-7", ApprovedOn: day},
		events.GrantDisbursed{GrantID: "g-1", PaymentID: "p-1", Amount: amt("1000.00"), BankRef: "BK-1", PaidOn: day},
		events.GrantDisbursed{GrantID: "g-2", PaymentID: "p-2", Amount: amt("3000.00"), BankRef: "BK-2", PaidOn: day},
		events.PaymentReturned{GrantID: "g-2", PaymentID: "p-2", Amount: amt("500.00"), Reason: "account closed"},
		events.GrantCancelled{GrantID: "g-3", CancelledBy: "off-7", Reason: "duplicate"},
		events.GrantRecovered{GrantID: "g-1", RecoveryID: "r-1", Amount: amt("200.00"), BankRef: "BR-r1", Reason: "paid twice"},
		events.GrantBatchApproved{BatchID: "b-1", Program: "pension_subsidy", RequestedBy: "cw-2", ApprovedBy: "off-7", ApprovedOn: day,
			Lines: []events.BatchLine{line("pg-1", "ben-10", "600.00"), line("pg-2", "ben-11", "600.00"), line("pg-3", "ben-12", "450.25")}},
		events.GrantDisbursed{GrantID: "pg-1", PaymentID: "pp-1", Amount: amt("600.00"), BankRef: "BK-3", PaidOn: day},
		events.ContributionReceived{ContributionID: "c-3", SourceKind: "other", Payer: "Bank interest", Amount: amt("12.34"), BankRef: "BR-3", ReceivedOn: day},
		events.GrantDisbursed{GrantID: "pg-2", PaymentID: "pp-2", Amount: amt("300.00"), BankRef: "BK-4", PaidOn: day},
		events.SnapshotRequested{RequestedBy: "auditor", Label: "2026-03"},
	}
}

// run verifies b, after mutate changed copies of its transactions and
// snapshots.
func (b *vtBooks) run(t vtTB, keys map[string]ed25519.PublicKey, mutate func(txns []*ledger.Txn, snaps []ledger.StoredSnapshot, kept *ledger.KeptState) ([]*ledger.Txn, []ledger.StoredSnapshot)) ledger.VerifyReport {
	t.Helper()
	txns := make([]*ledger.Txn, len(b.txns))
	for i, x := range b.txns {
		c := *x
		c.Refs = append([]ledger.Ref(nil), x.Refs...)
		c.Postings = append([]ledger.Posting(nil), x.Postings...)
		txns[i] = &c
	}
	snaps := append([]ledger.StoredSnapshot(nil), b.snaps...)
	kept := b.kept
	kept.Balances = map[string]*ledger.Balance{}
	for k, v := range b.kept.Balances {
		c := *v
		kept.Balances[k] = &c
	}
	if mutate != nil {
		txns, snaps = mutate(txns, snaps, &kept)
	}
	if keys == nil {
		keys = b.signer.keys()
	}
	v := ledger.NewVerifier(vtFund, b.opened, keys)
	ti, si := 0, 0
	err := ledger.VerifyFund(v,
		func() (*ledger.Txn, error) {
			if ti == len(txns) {
				return nil, nil
			}
			ti++
			return txns[ti-1], nil
		},
		func() (*ledger.StoredSnapshot, error) {
			if si == len(snaps) {
				return nil, nil
			}
			si++
			return &snaps[si-1], nil
		}, &kept)
	if err != nil {
		t.Fatal(err)
	}
	rep := ledger.NewVerifyReport()
	rep.Add(v)
	return rep
}

func TestVerifyClean(t *testing.T) {
	b := vtApply(t, 5, standardEvents()...)
	if len(b.txns) != 16 || len(b.snaps) < 4 {
		t.Fatalf("%d transactions, %d snapshots; want 16 and at least 4", len(b.txns), len(b.snaps))
	}
	if b.snaps[0].AsOfJournalSeq != 0 {
		t.Fatalf("first snapshot as of %d, want 0 (before any posting)", b.snaps[0].AsOfJournalSeq)
	}
	rep := b.run(t, nil, nil)
	if !rep.OK || len(rep.Problems) != 0 {
		t.Fatalf("clean books: %+v", rep.Problems)
	}
	if rep.CheckedTransactions != 16 || rep.CheckedSnapshots != int64(len(b.snaps)) {
		t.Fatalf("checked %d transactions, %d snapshots", rep.CheckedTransactions, rep.CheckedSnapshots)
	}
	if f := rep.Funds[0]; f.HeadSeq != 16 || f.ChainHead != fmt.Sprintf("%x", b.kept.HeadHash) || !f.OK {
		t.Fatalf("fund summary %+v", f)
	}
}

// resign re-signs a changed snapshot with the ledger's own key, as a
// buggy ledger would publish it.
func resign(t vtTB, signer vtSigner, st *ledger.StoredSnapshot, change func(*ledger.Snapshot)) {
	var s ledger.Snapshot
	if err := json.Unmarshal(st.Published, &s); err != nil {
		t.Fatal(err)
	}
	change(&s)
	s.Signature = ""
	s.KeyID = signer.KeyID()
	s.Signature = base64Std(signer.Sign(ledger.SnapshotSigningInput(&s)))
	body, _ := json.Marshal(&s)
	st.Published = body
}

func TestVerifyFindsTampering(t *testing.T) {
	b := vtApply(t, 5, standardEvents()...)
	last := len(b.snaps) - 1
	type mut = func(txns []*ledger.Txn, snaps []ledger.StoredSnapshot, kept *ledger.KeptState) ([]*ledger.Txn, []ledger.StoredSnapshot)
	cases := []struct {
		name string
		mut  mut
		seq  int64
		kind string
		keys map[string]ed25519.PublicKey
	}{
		{"amount", func(x []*ledger.Txn, s []ledger.StoredSnapshot, _ *ledger.KeptState) ([]*ledger.Txn, []ledger.StoredSnapshot) {
			x[3].Postings[0].Amount = x[3].Postings[0].Amount.Add(amt("0.01"))
			return x, s
		}, 4, ledger.ProblemHash, nil},
		{"account", func(x []*ledger.Txn, s []ledger.StoredSnapshot, _ *ledger.KeptState) ([]*ledger.Txn, []ledger.StoredSnapshot) {
			x[5].Postings[0].Account = "grant_expense:pension_subsidy"
			return x, s
		}, 6, ledger.ProblemHash, nil},
		{"side", func(x []*ledger.Txn, s []ledger.StoredSnapshot, _ *ledger.KeptState) ([]*ledger.Txn, []ledger.StoredSnapshot) {
			x[1].Postings[0].Side, x[1].Postings[1].Side = ledger.Credit, ledger.Debit
			return x, s
		}, 2, ledger.ProblemHash, nil},
		{"ref value", func(x []*ledger.Txn, s []ledger.StoredSnapshot, _ *ledger.KeptState) ([]*ledger.Txn, []ledger.StoredSnapshot) {
			x[2].Refs[0].Value += "x"
			return x, s
		}, 3, ledger.ProblemHash, nil},
		{"time", func(x []*ledger.Txn, s []ledger.StoredSnapshot, _ *ledger.KeptState) ([]*ledger.Txn, []ledger.StoredSnapshot) {
			x[6].Time = x[6].Time.Add(time.Microsecond)
			return x, s
		}, 7, ledger.ProblemHash, nil},
		{"prev_hash", func(x []*ledger.Txn, s []ledger.StoredSnapshot, _ *ledger.KeptState) ([]*ledger.Txn, []ledger.StoredSnapshot) {
			x[8].PrevHash = x[6].Hash
			return x, s
		}, 9, ledger.ProblemPrevHash, nil},
		{"deleted", func(x []*ledger.Txn, s []ledger.StoredSnapshot, _ *ledger.KeptState) ([]*ledger.Txn, []ledger.StoredSnapshot) {
			return append(x[:9:9], x[10:]...), s
		}, 10, ledger.ProblemSeq, nil},
		{"swapped", func(x []*ledger.Txn, s []ledger.StoredSnapshot, _ *ledger.KeptState) ([]*ledger.Txn, []ledger.StoredSnapshot) {
			x[4], x[5] = x[5], x[4]
			return x, s
		}, 5, ledger.ProblemSeq, nil},
		{"swapped with seqs renumbered", func(x []*ledger.Txn, s []ledger.StoredSnapshot, _ *ledger.KeptState) ([]*ledger.Txn, []ledger.StoredSnapshot) {
			x[4], x[5] = x[5], x[4]
			x[4].Seq, x[5].Seq = 5, 6
			return x, s
		}, 5, ledger.ProblemPrevHash, nil},
		{"inserted", func(x []*ledger.Txn, s []ledger.StoredSnapshot, _ *ledger.KeptState) ([]*ledger.Txn, []ledger.StoredSnapshot) {
			c := *x[2]
			return append(x[:3:3], append([]*ledger.Txn{&c}, x[3:]...)...), s
		}, 3, ledger.ProblemSeq, nil},
		{"tail cut", func(x []*ledger.Txn, s []ledger.StoredSnapshot, _ *ledger.KeptState) ([]*ledger.Txn, []ledger.StoredSnapshot) {
			return x[:14], s
		}, 15, ledger.ProblemTruncated, nil},
		{"tail cut, head kept in step", func(x []*ledger.Txn, s []ledger.StoredSnapshot, k *ledger.KeptState) ([]*ledger.Txn, []ledger.StoredSnapshot) {
			k.HeadSeq, k.HeadHash, k.HeadTime = 14, x[13].Hash, x[13].Time
			return x[:14], s
		}, 15, ledger.ProblemTruncated, nil},
		{"kept balance", func(x []*ledger.Txn, s []ledger.StoredSnapshot, k *ledger.KeptState) ([]*ledger.Txn, []ledger.StoredSnapshot) {
			k.Balances[ledger.AccountCash].Debits = k.Balances[ledger.AccountCash].Debits.Add(amt("1"))
			return x, s
		}, 0, ledger.ProblemBalance, nil},
		{"kept account the journal never posted", func(x []*ledger.Txn, s []ledger.StoredSnapshot, k *ledger.KeptState) ([]*ledger.Txn, []ledger.StoredSnapshot) {
			k.Balances["contributions:fiscal2"] = ledger.NewBalance(decimal.Zero, amt("5"))
			return x, s
		}, 0, ledger.ProblemBalance, nil},
		{"kept open grants", func(x []*ledger.Txn, s []ledger.StoredSnapshot, k *ledger.KeptState) ([]*ledger.Txn, []ledger.StoredSnapshot) {
			k.OpenGrants++
			return x, s
		}, 0, ledger.ProblemHead, nil},
		{"snapshot missing", func(x []*ledger.Txn, s []ledger.StoredSnapshot, _ *ledger.KeptState) ([]*ledger.Txn, []ledger.StoredSnapshot) {
			return x, append(s[:1:1], s[2:]...)
		}, b.snaps[2].AsOfJournalSeq, ledger.ProblemSnapshot, nil},
		{"last snapshot missing", func(x []*ledger.Txn, s []ledger.StoredSnapshot, _ *ledger.KeptState) ([]*ledger.Txn, []ledger.StoredSnapshot) {
			return x, s[:last]
		}, 0, ledger.ProblemSnapshot, nil},
		{"snapshot signed with another key", func(x []*ledger.Txn, s []ledger.StoredSnapshot, _ *ledger.KeptState) ([]*ledger.Txn, []ledger.StoredSnapshot) {
			resign(t, newVTSigner(9), &s[last], func(*ledger.Snapshot) {})
			return x, s
		}, b.snaps[last].AsOfJournalSeq, ledger.ProblemSignature, nil},
		{"snapshot changed after signing", func(x []*ledger.Txn, s []ledger.StoredSnapshot, _ *ledger.KeptState) ([]*ledger.Txn, []ledger.StoredSnapshot) {
			s[last].Published = bytes.Replace(s[last].Published, []byte(`"2026-03"`), []byte(`"2026-04"`), 1)
			return x, s
		}, b.snaps[last].AsOfJournalSeq, ledger.ProblemSignature, nil},
		{"snapshot balance wrong, validly signed", func(x []*ledger.Txn, s []ledger.StoredSnapshot, _ *ledger.KeptState) ([]*ledger.Txn, []ledger.StoredSnapshot) {
			resign(t, b.signer, &s[last], func(sn *ledger.Snapshot) { sn.Available = "1.00" })
			return x, s
		}, b.snaps[last].AsOfJournalSeq, ledger.ProblemSnapshot, nil},
		{"snapshot open grant count wrong, validly signed", func(x []*ledger.Txn, s []ledger.StoredSnapshot, _ *ledger.KeptState) ([]*ledger.Txn, []ledger.StoredSnapshot) {
			resign(t, b.signer, &s[last], func(sn *ledger.Snapshot) { sn.OutstandingGrants.Count++ })
			return x, s
		}, b.snaps[last].AsOfJournalSeq, ledger.ProblemSnapshot, nil},
		{"snapshot as of wrong, validly signed", func(x []*ledger.Txn, s []ledger.StoredSnapshot, _ *ledger.KeptState) ([]*ledger.Txn, []ledger.StoredSnapshot) {
			resign(t, b.signer, &s[0], func(sn *ledger.Snapshot) { sn.AsOf = "2026-03-02T01:15:00.000000Z" })
			return x, s
		}, 0, ledger.ProblemSnapshot, nil},
		{"unknown signing key", nil, b.snaps[0].AsOfJournalSeq, ledger.ProblemSignature, map[string]ed25519.PublicKey{}},
		{"signing key of the wrong size", nil, b.snaps[0].AsOfJournalSeq, ledger.ProblemSignature,
			map[string]ed25519.PublicKey{b.signer.KeyID(): b.signer.pub()[:31]}},
		{"signing key listed under another key's id", nil, b.snaps[0].AsOfJournalSeq, ledger.ProblemSignature,
			map[string]ed25519.PublicKey{b.signer.KeyID(): newVTSigner(9).pub()}},
		{"unbalanced", func(x []*ledger.Txn, s []ledger.StoredSnapshot, _ *ledger.KeptState) ([]*ledger.Txn, []ledger.StoredSnapshot) {
			// a ledger bug: posted unbalanced and hashed as posted
			x[0].Postings = x[0].Postings[:1]
			return vtRehash(x), s
		}, 1, ledger.ProblemUnbalanced, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep := b.run(t, c.keys, c.mut)
			p := rep.First()
			if rep.OK || p == nil {
				t.Fatal("not detected")
			}
			if p.Seq != c.seq || p.Kind != c.kind || p.FundID != vtFund {
				t.Fatalf("first problem %s; want seq %d kind %s\nall: %v", p, c.seq, c.kind, rep.Problems)
			}
		})
	}
}

// vtRehash rebuilds the chain over txns as they are.
func vtRehash(txns []*ledger.Txn) []*ledger.Txn {
	prev := ledger.GenesisHash
	for _, x := range txns {
		x.PrevHash = prev
		x.Hash = ledger.HashTxn(x)
		prev = x.Hash
	}
	return txns
}

func TestVerifyProblemCap(t *testing.T) {
	var evs []events.Event
	evs = append(evs, events.FundOpened{FundID: vtFund, Name: "n", Currency: "CNY"})
	for i := 0; i < 300; i++ {
		evs = append(evs, events.ContributionReceived{ContributionID: fmt.Sprint("c-", i), SourceKind: "fiscal", Payer: "p",
			Amount: amt("1.00"), BankRef: "b", ReceivedOn: vtT0})
	}
	b := vtApply(t, 0, evs...)
	rep := b.run(t, nil, func(x []*ledger.Txn, s []ledger.StoredSnapshot, _ *ledger.KeptState) ([]*ledger.Txn, []ledger.StoredSnapshot) {
		for _, t := range x {
			t.Hash[0] ^= 1
		}
		return x, s
	})
	if len(rep.Problems) != ledger.MaxProblems || rep.ProblemsOmitted == 0 || rep.OK {
		t.Fatalf("%d problems listed, %d omitted", len(rep.Problems), rep.ProblemsOmitted)
	}
	if p := rep.First(); p.Seq != 1 || p.Kind != ledger.ProblemHash {
		t.Fatalf("first %s", p)
	}
}

// TestDecodeTxnJSON: a transaction read back from its published JSON
// hashes to the same value.
func TestDecodeTxnJSON(t *testing.T) {
	b := vtApply(t, 0, standardEvents()...)
	for _, x := range b.txns {
		body, err := json.Marshal(x)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ledger.DecodeTxnJSON(body)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ledger.HashTxn(got), x.Hash) || !bytes.Equal(got.PrevHash, x.PrevHash) {
			t.Fatalf("seq %d does not hash the same after a JSON round trip: %s", x.Seq, body)
		}
	}
	if _, err := ledger.DecodeTxnJSON([]byte(`{"seq":1,"time":"yesterday"}`)); err == nil {
		t.Fatal("a bad time decoded")
	}
}

// TestVerifyRandomBooks: whatever stream of events the books accept, the
// journal and snapshots they produce verify, and changing any one
// posting's amount is found at that transaction.
func TestVerifyRandomBooks(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		signer := newVTSigner(3)
		every := rapid.Int64Range(0, 7).Draw(rt, "every")
		bk := ledger.NewBooks(context.Background(), vtLoader{}, ledger.Settings{SnapshotEvery: every, Signer: signer})
		n := rapid.IntRange(1, 60).Draw(rt, "events")
		evs := []events.Event{events.FundOpened{FundID: vtFund, Name: "n", Currency: "CNY", Programs: []events.Program{{Code: "care_fund"}}}}
		for i := 0; i < n; i++ {
			g := fmt.Sprint("g-", rapid.IntRange(0, 8).Draw(rt, "grant"))
			m := decimal.New(rapid.Int64Range(1, 100000).Draw(rt, "cents"), -2)
			switch rapid.IntRange(0, 6).Draw(rt, "kind") {
			case 0, 1:
				evs = append(evs, events.ContributionReceived{ContributionID: fmt.Sprint("c-", i), SourceKind: "donation", Payer: "p", Amount: m, BankRef: "b", ReceivedOn: day})
			case 2:
				evs = append(evs, events.GrantApproved{GrantID: g, BeneficiaryRef: "b", Program: "care_fund", Category: "living", Amount: m, RequestedBy: "a", ApprovedBy: "b", ApprovedOn: day})
			case 3:
				evs = append(evs, events.GrantDisbursed{GrantID: g, PaymentID: fmt.Sprint("p-", i), Amount: m, BankRef: "b", PaidOn: day})
			case 4:
				evs = append(evs, events.GrantCancelled{GrantID: g, CancelledBy: "x", Reason: "r"})
			case 5:
				evs = append(evs, events.GrantRecovered{GrantID: g, RecoveryID: fmt.Sprint("r-", i), Amount: m, BankRef: "b", Reason: "r"})
			case 6:
				evs = append(evs, events.SnapshotRequested{RequestedBy: "a"})
			}
		}
		for i, ev := range evs {
			in := ledger.Input{EventID: fmt.Sprint("e-", i), Type: ev.EventType(), Source: "s", FundID: vtFund,
				DataHash: [32]byte{byte(i)}, Event: ev, Time: vtT0.Add(time.Duration(i) * time.Millisecond)}
			if _, err := bk.Apply(in); err != nil {
				rt.Fatal(err)
			}
		}
		f, _ := bk.Fund(vtFund)
		vb := &vtBooks{txns: bk.Txns, opened: vtT0, signer: signer, kept: ledger.KeptState{HeadSeq: f.HeadSeq, HeadHash: f.HeadHash,
			HeadTime: f.HeadTime, OpenGrants: f.OpenGrants, SnapshotSeq: f.SnapshotSeq, Balances: f.Balances}}
		if f.HeadSeq == 0 {
			vb.kept.HeadTime = time.Time{}
		}
		for _, s := range bk.Snapshots {
			body, _ := json.Marshal(s)
			vb.snaps = append(vb.snaps, ledger.StoredSnapshot{SnapshotSeq: s.SnapshotSeq, AsOfJournalSeq: s.AsOfJournalSeq, Published: body})
		}
		if rep := vb.run(rt, nil, nil); !rep.OK {
			rt.Fatalf("accepted books do not verify: %v", rep.Problems)
		}
		if len(vb.txns) == 0 {
			return
		}
		k := rapid.IntRange(0, len(vb.txns)-1).Draw(rt, "tampered")
		rep := vb.run(rt, nil, func(x []*ledger.Txn, s []ledger.StoredSnapshot, _ *ledger.KeptState) ([]*ledger.Txn, []ledger.StoredSnapshot) {
			x[k].Postings[1].Amount = x[k].Postings[1].Amount.Add(amt("0.01"))
			return x, s
		})
		if p := rep.First(); p == nil || p.Seq != int64(k+1) || p.Kind != ledger.ProblemHash {
			rt.Fatalf("changed seq %d; first problem %v", k+1, p)
		}
	})
}

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
