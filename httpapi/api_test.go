package httpapi_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fundledger/fundledger/events"
	"github.com/fundledger/fundledger/internal/testenv"
	"github.com/fundledger/fundledger/ledger"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/shopspring/decimal"
)

type posting struct {
	Account, Side, Amount string
}

type txn struct {
	Seq      int64             `json:"seq"`
	FundID   string            `json:"fund_id"`
	EventID  string            `json:"event_id"`
	Type     string            `json:"type"`
	Source   string            `json:"source"`
	Time     string            `json:"time"`
	Refs     map[string]string `json:"refs"`
	Hash     string            `json:"hash"`
	PrevHash string            `json:"prev_hash"`
	Postings []posting         `json:"postings"`
}

type journalPage struct {
	Transactions []txn `json:"transactions"`
	NextAfterSeq *int64
}

func (p *journalPage) UnmarshalJSON(b []byte) error {
	var raw struct {
		Transactions []txn  `json:"transactions"`
		NextAfterSeq *int64 `json:"next_after_seq"`
	}
	err := json.Unmarshal(b, &raw)
	p.Transactions, p.NextAfterSeq = raw.Transactions, raw.NextAfterSeq
	return err
}

type accountLine struct {
	Account, Debits, Credits, Balance string
}

type balances struct {
	FundID            string        `json:"fund_id"`
	AsOfJournalSeq    int64         `json:"as_of_journal_seq"`
	AsOf              string        `json:"as_of"`
	ChainHead         string        `json:"chain_head"`
	Accounts          []accountLine `json:"accounts"`
	TotalDebits       string        `json:"total_debits"`
	TotalCredits      string        `json:"total_credits"`
	Balanced          bool          `json:"balanced"`
	Available         string        `json:"available"`
	OutstandingGrants *struct {
		Count  int64  `json:"count"`
		Amount string `json:"amount"`
	} `json:"outstanding_grants"`
}

// journalAll walks the fund's journal page by page.
func journalAll(t *testing.T, l *testenv.Ledger, fund string, limit int) []txn {
	t.Helper()
	var all []txn
	after := int64(0)
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("journal paging does not end")
		}
		var p journalPage
		getJSON(t, l, fmt.Sprintf("/v1/funds/%s/journal?after_seq=%d&limit=%d", fund, after, limit), http.StatusOK, &p)
		if p.NextAfterSeq == nil {
			t.Fatal("journal page has no next_after_seq")
		}
		if len(p.Transactions) > limit {
			t.Fatalf("page of %d transactions, limit %d", len(p.Transactions), limit)
		}
		if len(p.Transactions) == 0 {
			if *p.NextAfterSeq != after {
				t.Fatalf("empty page: next_after_seq %d, want %d (the after_seq asked)", *p.NextAfterSeq, after)
			}
			return all
		}
		if last := p.Transactions[len(p.Transactions)-1].Seq; *p.NextAfterSeq != last {
			t.Fatalf("next_after_seq %d, want the page's last seq %d", *p.NextAfterSeq, last)
		}
		all = append(all, p.Transactions...)
		after = *p.NextAfterSeq
	}
}

// replay sums a journal's postings up to seq n, on each account's normal
// side, the way an auditor would from the journal alone.
func replay(txns []txn, n int64) (map[string][2]decimal.Decimal, decimal.Decimal, decimal.Decimal) {
	acc := map[string][2]decimal.Decimal{}
	var dr, cr decimal.Decimal
	for _, t := range txns {
		if t.Seq > n {
			break
		}
		for _, p := range t.Postings {
			a := acc[p.Account]
			amt := decimal.RequireFromString(p.Amount)
			if p.Side == "debit" {
				a[0], dr = a[0].Add(amt), dr.Add(amt)
			} else {
				a[1], cr = a[1].Add(amt), cr.Add(amt)
			}
			acc[p.Account] = a
		}
	}
	return acc, dr, cr
}

func TestReadAPI(t *testing.T) {
	l := startExample(t)
	txns := journalAll(t, l, fundJ, 3)

	t.Run("funds", func(t *testing.T) {
		var got struct {
			Funds []map[string]any `json:"funds"`
		}
		body := getJSON(t, l, "/v1/funds", http.StatusOK, &got)
		var raw any
		_ = json.Unmarshal(body, &raw)
		walkMoney(t, "funds", raw)
		if len(got.Funds) != 2 || got.Funds[0]["fund_id"] != fundJ || got.Funds[1]["fund_id"] != fundW {
			t.Fatalf("funds = %v, want %s and %s in id order", got.Funds, fundJ, fundW)
		}
		j := got.Funds[0]
		for k, want := range map[string]any{"name": "江津区退役军人关爱基金", "currency": "CNY", "cash": jCash,
			"grants_payable": jPayable, "available": jAvailable} {
			if j[k] != want {
				t.Errorf("%s %s = %v, want %v", fundJ, k, j[k], want)
			}
		}
		if w := got.Funds[1]; w["cash"] != "250000.00" || w["grants_payable"] != "0.00" || w["available"] != "250000.00" {
			t.Errorf("%s = %v, want cash 250000.00 (allocation + donation), nothing payable", fundW, w)
		}
		var one map[string]any
		getJSON(t, l, "/v1/funds/"+fundJ, http.StatusOK, &one)
		progs := one["programs"]
		delete(one, "programs")
		if !reflect.DeepEqual(one, j) {
			t.Errorf("GET /v1/funds/%s = %v, want the list's entry %v plus programs", fundJ, one, j)
		}
		wantProgs := []any{map[string]any{"code": "care_fund", "annual_cap_per_beneficiary": "5000.00"},
			map[string]any{"code": "pension_subsidy", "annual_cap_per_beneficiary": nil}}
		if !reflect.DeepEqual(progs, wantProgs) {
			t.Errorf("GET /v1/funds/%s programs = %v, want %v", fundJ, progs, wantProgs)
		}
	})

	t.Run("balances now", func(t *testing.T) {
		var b balances
		body := getJSON(t, l, "/v1/funds/"+fundJ+"/balances", http.StatusOK, &b)
		var raw any
		_ = json.Unmarshal(body, &raw)
		walkMoney(t, "balances", raw)
		if b.AsOfJournalSeq != jHead || !b.Balanced || b.Available != jAvailable {
			t.Fatalf("balances = %+v, want as of %d, balanced, available %s", b, jHead, jAvailable)
		}
		for _, a := range b.Accounts {
			if want := l.Balance(fundJ, a.Account); a.Balance != want {
				t.Errorf("%s balance %s, database says %s", a.Account, a.Balance, want)
			}
		}
		if b.OutstandingGrants == nil || b.OutstandingGrants.Count != 2 || b.OutstandingGrants.Amount != jPayable {
			t.Errorf("outstanding_grants = %+v, want 2 grants owing %s (g-3 and g-5)", b.OutstandingGrants, jPayable)
		}
		if b.ChainHead != txns[len(txns)-1].Hash || b.AsOf != txns[len(txns)-1].Time {
			t.Errorf("chain_head %s as_of %s, want the last transaction's hash and time", b.ChainHead, b.AsOf)
		}
	})

	t.Run("balances as of every seq equal the replayed journal", func(t *testing.T) {
		if len(txns) != jHead {
			t.Fatalf("journal has %d transactions, want %d", len(txns), jHead)
		}
		// Every N from 0 to the head: the small ones are summed from the
		// start, the large ones subtracted from the kept balances.
		for n := int64(0); n <= jHead; n++ {
			var b balances
			getJSON(t, l, fmt.Sprintf("/v1/funds/%s/balances?as_of_journal_seq=%d", fundJ, n), http.StatusOK, &b)
			acc, dr, cr := replay(txns, n)
			if b.AsOfJournalSeq != n || b.TotalDebits != ledger.Money(dr) || b.TotalCredits != ledger.Money(cr) || !b.Balanced {
				t.Errorf("as of %d: %+v, want totals %s/%s balanced", n, b, ledger.Money(dr), ledger.Money(cr))
			}
			names := make([]string, 0, len(acc))
			for a := range acc {
				names = append(names, a)
			}
			sort.Strings(names)
			var want []accountLine
			for _, a := range names {
				v := acc[a]
				bal := v[1].Sub(v[0])
				if ledger.DebitNormal(a) {
					bal = v[0].Sub(v[1])
				}
				want = append(want, accountLine{a, ledger.Money(v[0]), ledger.Money(v[1]), ledger.Money(bal)})
			}
			if !reflect.DeepEqual(b.Accounts, want) && !(len(b.Accounts) == 0 && len(want) == 0) {
				t.Errorf("as of %d: accounts\n got %v\nwant %v", n, b.Accounts, want)
			}
			cash, payable := acc["cash"], acc["grants_payable"]
			if avail := cash[0].Sub(cash[1]).Sub(payable[1].Sub(payable[0])); b.Available != ledger.Money(avail) {
				t.Errorf("as of %d: available %s, want %s", n, b.Available, ledger.Money(avail))
			}
			wantHead := hex.EncodeToString(ledger.GenesisHash)
			if n > 0 {
				wantHead = txns[n-1].Hash
				if b.AsOf != txns[n-1].Time {
					t.Errorf("as of %d: as_of %s, want transaction %d's time %s", n, b.AsOf, n, txns[n-1].Time)
				}
			}
			if b.ChainHead != wantHead {
				t.Errorf("as of %d: chain_head %s, want %s", n, b.ChainHead, wantHead)
			}
			if (b.OutstandingGrants != nil) != (n == jHead) {
				t.Errorf("as of %d: outstanding_grants %+v: given for the current books only", n, b.OutstandingGrants)
			}
		}
	})

	t.Run("journal is the hash chain, paged", func(t *testing.T) {
		prev := hex.EncodeToString(ledger.GenesisHash)
		for i, x := range txns {
			if x.Seq != int64(i+1) || x.FundID != fundJ || x.EventID == "" || x.Type == "" {
				t.Fatalf("transaction %d: %+v", i, x)
			}
			if x.PrevHash != prev {
				t.Errorf("seq %d prev_hash %s, want %s", x.Seq, x.PrevHash, prev)
			}
			prev = x.Hash
			if got := rehash(t, x); got != x.Hash {
				t.Errorf("seq %d: hash %s, recomputed from the page %s", x.Seq, x.Hash, got)
			}
			var dr, cr decimal.Decimal
			for _, p := range x.Postings {
				if !moneyRe.MatchString(p.Amount) || (p.Side != "debit" && p.Side != "credit") {
					t.Errorf("seq %d posting %+v", x.Seq, p)
				}
				if p.Side == "debit" {
					dr = dr.Add(decimal.RequireFromString(p.Amount))
				} else {
					cr = cr.Add(decimal.RequireFromString(p.Amount))
				}
			}
			if !dr.Equal(cr) || len(x.Postings) < 2 {
				t.Errorf("seq %d does not balance: %v", x.Seq, x.Postings)
			}
		}
		// The same journal in one page and in pages of one.
		if one := journalAll(t, l, fundJ, 1); !reflect.DeepEqual(one, txns) {
			t.Error("pages of 1 differ from pages of 3")
		}
		var p journalPage
		getJSON(t, l, "/v1/funds/"+fundJ+"/journal?after_seq=12", http.StatusOK, &p)
		if len(p.Transactions) != 2 || p.Transactions[0].Seq != 13 || *p.NextAfterSeq != 14 {
			t.Errorf("after_seq=12: %d transactions, next %d; want 13 and 14", len(p.Transactions), *p.NextAfterSeq)
		}
		getJSON(t, l, "/v1/funds/"+fundJ+"/journal?after_seq=99", http.StatusOK, &p)
		if len(p.Transactions) != 0 || *p.NextAfterSeq != 99 {
			t.Errorf("after_seq past the head: %d transactions, next %d; want none and 99", len(p.Transactions), *p.NextAfterSeq)
		}
		var raw any
		_ = json.Unmarshal(getJSON(t, l, "/v1/funds/"+fundJ+"/journal", http.StatusOK, nil), &raw)
		walkMoney(t, "journal", raw)
	})

	t.Run("journal default limit is 100", func(t *testing.T) {
		l.Event("busy", "fund.opened", map[string]any{"fund_id": "busy", "name": "Busy fund", "programs": []any{}})
		for i := range 105 {
			l.Event("busy", "contribution.received", map[string]any{"contribution_id": fmt.Sprint("c-", i), "source_kind": "other",
				"payer": "bank interest", "amount": "0.01", "bank_ref": "I", "received_on": "2026-01-05"})
		}
		l.WaitIdle()
		var p journalPage
		getJSON(t, l, "/v1/funds/busy/journal", http.StatusOK, &p)
		if len(p.Transactions) != 100 || *p.NextAfterSeq != 100 {
			t.Fatalf("default page: %d transactions, next %d; want 100 and 100", len(p.Transactions), *p.NextAfterSeq)
		}
		getJSON(t, l, "/v1/funds/busy/journal?after_seq=100&limit=1000", http.StatusOK, &p)
		if len(p.Transactions) != 5 {
			t.Fatalf("second page: %d transactions, want 5", len(p.Transactions))
		}
		var b balances
		getJSON(t, l, "/v1/funds/busy/balances", http.StatusOK, &b)
		if b.Available != "1.05" {
			t.Errorf("busy available %s, want 1.05", b.Available)
		}
	})

	t.Run("grants", func(t *testing.T) {
		type event struct { // filled through snakeToCamel
			N                           int
			Kind, PaymentID, RecoveryID string
			Amount                      string
			JournalSeq                  *int64
		}
		type grant struct {
			GrantID, BeneficiaryRef, Program, State                     string
			Approved, Paid, Returned, Cancelled, Recovered, Outstanding string
			Payments                                                    []struct {
				PaymentID, Amount, Returned, PaidOn string
				JournalSeq                          int64
			}
			Returns, Recoveries, History []event
			Cancellation                 *event
		}
		decode := func(id string) (grant, any) {
			body := getJSON(t, l, "/v1/funds/"+fundJ+"/grants/"+id, http.StatusOK, nil)
			var raw map[string]any
			_ = json.Unmarshal(body, &raw)
			for _, k := range []string{"grant_id", "beneficiary_ref", "program", "state", "approved", "paid", "returned",
				"cancelled", "recovered", "outstanding", "payments"} {
				if _, ok := raw[k]; !ok {
					t.Errorf("grant %s has no %q: %s", id, k, body)
				}
			}
			var g grant
			if err := json.Unmarshal(snakeToCamel(body), &g); err != nil {
				t.Fatal(err)
			}
			return g, any(raw)
		}
		g1, raw := decode("g-1")
		walkMoney(t, "grant", raw)
		if g1.State != "paid" || g1.Approved != "1250.00" || g1.Paid != "1450.00" || g1.Returned != "200.00" ||
			g1.Cancelled != "0.00" || g1.Recovered != "100.00" || g1.Outstanding != "0.00" || g1.BeneficiaryRef != "ben-001" {
			t.Errorf("g-1 = %+v", g1)
		}
		if len(g1.Payments) != 2 || g1.Payments[0].PaymentID != "p-1" || g1.Payments[0].Returned != "200.00" ||
			g1.Payments[1].PaymentID != "p-2" || g1.Payments[1].Amount != "450.00" || g1.Payments[0].PaidOn != "2026-03-03" {
			t.Errorf("g-1 payments = %+v", g1.Payments)
		}
		for _, p := range g1.Payments {
			x := txns[p.JournalSeq-1]
			if x.Type != "grant.disbursed" || x.Refs["payment_id"] != p.PaymentID {
				t.Errorf("payment %s journal_seq %d is %s %v", p.PaymentID, p.JournalSeq, x.Type, x.Refs)
			}
		}
		if len(g1.Returns) != 1 || g1.Returns[0].PaymentID != "p-1" || g1.Returns[0].Amount != "200.00" ||
			len(g1.Recoveries) != 1 || g1.Recoveries[0].RecoveryID != "r-1" || g1.Cancellation != nil {
			t.Errorf("g-1 returns %+v recoveries %+v cancellation %+v", g1.Returns, g1.Recoveries, g1.Cancellation)
		}
		var kinds []string
		for _, e := range g1.History {
			kinds = append(kinds, e.Kind)
		}
		if strings.Join(kinds, ",") != "approved,disbursed,returned,disbursed,recovered" {
			t.Errorf("g-1 history %v", kinds)
		}

		g2, _ := decode("g-2")
		if g2.State != "cancelled" || g2.Cancelled != "3000.00" || g2.Outstanding != "0.00" || g2.Cancellation == nil ||
			g2.Cancellation.Amount != "3000.00" || g2.Cancellation.JournalSeq == nil || len(g2.Payments) != 0 {
			t.Errorf("g-2 = %+v", g2)
		} else if x := txns[*g2.Cancellation.JournalSeq-1]; x.Type != "grant.cancelled" {
			t.Errorf("g-2 cancellation journal_seq points at %s", x.Type)
		}
		g3, _ := decode("g-3")
		if g3.State != "open" || g3.Outstanding != "500.00" || g3.Paid != "0.00" {
			t.Errorf("g-3 = %+v", g3)
		}
		g5, _ := decode("g-5")
		if g5.State != "open" || g5.Outstanding != "600.00" || g5.Program != "pension_subsidy" {
			t.Errorf("g-5 (a batch line) = %+v", g5)
		}
		if msg := wantError(t, l, "/v1/funds/"+fundJ+"/grants/g-404", http.StatusNotFound); !strings.Contains(msg, "g-404") {
			t.Errorf("missing grant: %q does not name it", msg)
		}
		// g-6 was refused: it must not exist.
		wantError(t, l, "/v1/funds/"+fundJ+"/grants/g-6", http.StatusNotFound)
		if msg := wantError(t, l, "/v1/funds/nope/grants/g-1", http.StatusNotFound); !strings.Contains(msg, "fund") {
			t.Errorf("missing fund: %q", msg)
		}
	})

	t.Run("snapshots are the published bytes", func(t *testing.T) {
		published := publishedSnapshots(t, l, fundJ)
		if len(published) != 2 {
			t.Fatalf("%d snapshots published for %s, want 2", len(published), fundJ)
		}
		latest := getJSON(t, l, "/v1/funds/"+fundJ+"/snapshots/latest", http.StatusOK, nil)
		if string(latest) != string(published[1]) {
			t.Errorf("latest snapshot differs from the published message:\n api %s\n pub %s", latest, published[1])
		}
		for i, pub := range published {
			got := getJSON(t, l, fmt.Sprintf("/v1/funds/%s/snapshots/%d", fundJ, i+1), http.StatusOK, nil)
			if string(got) != string(pub) {
				t.Errorf("snapshot %d differs from the published message", i+1)
			}
			// A snapshot equals the balances as of its journal seq.
			var s balances
			var lbl struct {
				Label string `json:"label"`
			}
			_ = json.Unmarshal(got, &s)
			_ = json.Unmarshal(got, &lbl)
			var b balances
			getJSON(t, l, fmt.Sprintf("/v1/funds/%s/balances?as_of_journal_seq=%d", fundJ, s.AsOfJournalSeq), http.StatusOK, &b)
			b.OutstandingGrants, s.OutstandingGrants = nil, nil
			if !reflect.DeepEqual(s, b) {
				t.Errorf("snapshot %d (%s):\n%+v\nbalances as of %d:\n%+v", i+1, lbl.Label, s, s.AsOfJournalSeq, b)
			}
		}
		var list struct {
			Snapshots []struct {
				SnapshotSeq    int64  `json:"snapshot_seq"`
				Label          string `json:"label"`
				AsOfJournalSeq int64  `json:"as_of_journal_seq"`
			} `json:"snapshots"`
			NextAfter int64 `json:"next_after"`
		}
		getJSON(t, l, "/v1/funds/"+fundJ+"/snapshots", http.StatusOK, &list)
		if len(list.Snapshots) != 2 || list.Snapshots[0].Label != "2026-03" || list.Snapshots[0].AsOfJournalSeq != 11 ||
			list.Snapshots[1].Label != "after-batch" || list.Snapshots[1].AsOfJournalSeq != jHead || list.NextAfter != 2 {
			t.Errorf("snapshot list = %+v", list)
		}
		getJSON(t, l, "/v1/funds/"+fundJ+"/snapshots?after=1&limit=1", http.StatusOK, &list)
		if len(list.Snapshots) != 1 || list.Snapshots[0].SnapshotSeq != 2 || list.NextAfter != 2 {
			t.Errorf("snapshot list after 1 = %+v", list)
		}
		wantError(t, l, "/v1/funds/"+fundJ+"/snapshots/3", http.StatusNotFound)
		wantError(t, l, "/v1/funds/nope/snapshots/latest", http.StatusNotFound)
		wantError(t, l, "/v1/funds/nope/snapshots/1", http.StatusNotFound)
		wantError(t, l, "/v1/funds/"+fundJ+"/snapshots/abc", http.StatusBadRequest)
		wantError(t, l, "/v1/funds/"+fundJ+"/snapshots/0", http.StatusBadRequest)
	})

	t.Run("rejections", func(t *testing.T) {
		type rej struct {
			Seq         int64              `json:"seq"`
			EventID     string             `json:"event_id"`
			Type        string             `json:"type"`
			FundID      string             `json:"fund_id"`
			Code        string             `json:"code"`
			Message     string             `json:"message"`
			Lines       []events.LineError `json:"lines"`
			ReceivedAt  string             `json:"received_at"`
			Raw         string             `json:"raw"`
			RawEncoding string             `json:"raw_encoding"`
		}
		type page struct {
			Rejections []rej `json:"rejections"`
			NextAfter  int64 `json:"next_after"`
		}
		var all []rej
		after := int64(0)
		for {
			var p page
			body := getJSON(t, l, fmt.Sprintf("/v1/rejections?after=%d&limit=1", after), http.StatusOK, &p)
			for _, k := range []string{`"seq"`, `"event_id"`, `"type"`, `"fund_id"`, `"code"`, `"message"`, `"lines"`, `"received_at"`, `"raw"`} {
				if len(p.Rejections) > 0 && !strings.Contains(string(body), k) {
					t.Errorf("rejection has no %s: %s", k, body)
				}
			}
			if len(p.Rejections) == 0 {
				if p.NextAfter != after {
					t.Errorf("empty page next_after %d, want %d", p.NextAfter, after)
				}
				break
			}
			if len(p.Rejections) != 1 || p.NextAfter != p.Rejections[0].Seq || p.NextAfter <= after {
				t.Fatalf("page after %d: %+v", after, p)
			}
			all = append(all, p.Rejections...)
			after = p.NextAfter
		}
		var codes []string
		for _, r := range all {
			codes = append(codes, r.FundID+":"+r.Code)
		}
		if got := strings.Join(codes, " "); got != "jiangjin-care:same_maker_checker nope:unknown_fund jiangjin-care:malformed" {
			t.Fatalf("rejections %s", got)
		}
		if all[0].EventID != "demo-0017" || all[0].Type != "grant.approved" || all[0].Lines == nil || !strings.Contains(all[0].Raw, `"g-6"`) {
			t.Errorf("first rejection %+v", all[0])
		}
		if all[2].Raw != "this is not JSON" || all[2].RawEncoding != "utf-8" {
			t.Errorf("malformed rejection raw %q (%s)", all[2].Raw, all[2].RawEncoding)
		}
		if _, err := time.Parse(time.RFC3339Nano, all[0].ReceivedAt); err != nil {
			t.Errorf("received_at %q: %v", all[0].ReceivedAt, err)
		}
		var p page
		getJSON(t, l, "/v1/rejections?fund_id="+fundJ, http.StatusOK, &p)
		if len(p.Rejections) != 2 || p.Rejections[0].Code != "same_maker_checker" || p.Rejections[1].Code != "malformed" || p.NextAfter != all[2].Seq {
			t.Errorf("rejections of %s: %+v", fundJ, p)
		}
		getJSON(t, l, "/v1/rejections?fund_id=nope", http.StatusOK, &p)
		if len(p.Rejections) != 1 || p.Rejections[0].Code != "unknown_fund" {
			t.Errorf("rejections of an unopened fund: %+v", p)
		}
		getJSON(t, l, "/v1/rejections?fund_id=nobody", http.StatusOK, &p)
		if len(p.Rejections) != 0 || p.NextAfter != 0 {
			t.Errorf("rejections of a fund never named: %+v", p)
		}
	})

	t.Run("the grafana dashboard uses metrics the service serves", func(t *testing.T) {
		dash, err := os.ReadFile("../docs/grafana-dashboard.json")
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(dash) {
			t.Fatal("docs/grafana-dashboard.json is not JSON")
		}
		_, _, metrics := l.Get("/metrics")
		served := map[string]bool{}
		for _, line := range strings.Split(string(metrics), "\n") {
			if name, _, ok := strings.Cut(strings.TrimSpace(line), " "); ok && !strings.HasPrefix(line, "#") {
				name, _, _ = strings.Cut(name, "{")
				served[name] = true
			}
		}
		used := regexp.MustCompile(`fundledger_[a-z_]+`).FindAllString(string(dash), -1)
		if len(used) < 10 {
			t.Fatalf("the dashboard uses %d metrics", len(used))
		}
		for _, m := range used {
			if !served[m] {
				t.Errorf("the dashboard queries %s, which /metrics does not serve", m)
			}
		}
	})

	t.Run("an empty fund", func(t *testing.T) {
		l.Event("empty", "fund.opened", map[string]any{"fund_id": "empty", "name": "Empty", "programs": []any{}})
		l.WaitIdle()
		var b balances
		getJSON(t, l, "/v1/funds/empty/balances", http.StatusOK, &b)
		if len(b.Accounts) != 0 || b.TotalDebits != "0.00" || !b.Balanced || b.Available != "0.00" || b.AsOfJournalSeq != 0 {
			t.Errorf("empty fund balances %+v", b)
		}
		body := getJSON(t, l, "/v1/funds/empty/balances", http.StatusOK, nil)
		if !strings.Contains(string(body), `"accounts":[]`) {
			t.Errorf("accounts must be an empty list, not null: %s", body)
		}
		var p journalPage
		body = getJSON(t, l, "/v1/funds/empty/journal", http.StatusOK, &p)
		if len(p.Transactions) != 0 || *p.NextAfterSeq != 0 || !strings.Contains(string(body), `"transactions":[]`) {
			t.Errorf("empty journal %s", body)
		}
		if msg := wantError(t, l, "/v1/funds/empty/snapshots/latest", http.StatusNotFound); !strings.Contains(msg, "no snapshot") {
			t.Errorf("no snapshot: %q", msg)
		}
	})

	t.Run("bad requests", func(t *testing.T) {
		for _, path := range []string{
			"/v1/funds/" + fundJ + "/balances?as_of_journal_seq=abc",
			"/v1/funds/" + fundJ + "/balances?as_of_journal_seq=-1",
			"/v1/funds/" + fundJ + "/balances?as_of_journal_seq=15",
			"/v1/funds/" + fundJ + "/journal?after_seq=-1",
			"/v1/funds/" + fundJ + "/journal?after_seq=x",
			"/v1/funds/" + fundJ + "/journal?limit=0",
			"/v1/funds/" + fundJ + "/journal?limit=1001",
			"/v1/funds/" + fundJ + "/journal?limit=1.5",
			"/v1/funds/" + fundJ + "/snapshots?after=-2",
			"/v1/rejections?after=x",
			"/v1/rejections?limit=100000",
		} {
			wantError(t, l, path, http.StatusBadRequest)
		}
		var p journalPage
		getJSON(t, l, "/v1/funds/"+fundJ+"/journal?limit=1000", http.StatusOK, &p)
	})

	t.Run("not found", func(t *testing.T) {
		for _, path := range []string{
			"/v1/funds/nope", "/v1/funds/nope/balances", "/v1/funds/nope/balances?as_of_journal_seq=0",
			"/v1/funds/nope/journal", "/v1/funds/nope/snapshots", "/v1/nothing", "/v2/funds",
		} {
			wantError(t, l, path, http.StatusNotFound)
		}
		code, _, body := l.Do(http.MethodPost, "/v1/funds")
		if code != http.StatusMethodNotAllowed || !json.Valid(body) {
			t.Errorf("POST /v1/funds: %d %s, want 405 with a JSON error", code, body)
		}
		// The service's own endpoints are still served beside the API.
		if code, _, _ := l.Get("/healthz"); code != http.StatusOK {
			t.Errorf("/healthz: %d", code)
		}
		if code, _, body := l.Get("/metrics"); code != http.StatusOK || !strings.Contains(string(body), "fundledger_events_consumed_total") {
			t.Errorf("/metrics: %d", code)
		}
	})
}

// rehash recomputes a transaction's hash from what the API returned.
func rehash(t *testing.T, x txn) string {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, x.Time)
	if err != nil {
		t.Fatalf("seq %d time %q: %v", x.Seq, x.Time, err)
	}
	prev, err := hex.DecodeString(x.PrevHash)
	if err != nil {
		t.Fatal(err)
	}
	lt := &ledger.Txn{FundID: x.FundID, Seq: x.Seq, EventID: x.EventID, Type: x.Type, Source: x.Source, Time: tm, PrevHash: prev}
	for k, v := range x.Refs {
		lt.Refs = append(lt.Refs, ledger.Ref{Key: k, Value: v})
	}
	ledger.SortRefs(lt.Refs)
	for _, p := range x.Postings {
		lt.Postings = append(lt.Postings, ledger.Posting{Account: p.Account, Side: ledger.Side(p.Side), Amount: decimal.RequireFromString(p.Amount)})
	}
	return hex.EncodeToString(ledger.HashTxn(lt))
}

// publishedSnapshots reads the fund's snapshot messages from LEDGER_OUT, in
// order.
func publishedSnapshots(t *testing.T, l *testenv.Ledger, fund string) [][]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := l.JS.OrderedConsumer(ctx, events.OutboundStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{events.SnapshotSubject(fund)}})
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for {
		m, err := c.Next(jetstream.FetchMaxWait(500 * time.Millisecond))
		if err != nil {
			return out
		}
		out = append(out, m.Data())
	}
}

// snakeToCamel lets encoding/json fill Go field names from snake_case keys
// (grant_id → GrantID matches case-insensitively once the underscores go).
func snakeToCamel(b []byte) []byte {
	var v any
	_ = json.Unmarshal(b, &v)
	var conv func(any) any
	conv = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			m := map[string]any{}
			for k, e := range x {
				m[strings.ReplaceAll(k, "_", "")] = conv(e)
			}
			return m
		case []any:
			for i := range x {
				x[i] = conv(x[i])
			}
		}
		return v
	}
	out, _ := json.Marshal(conv(v))
	return out
}
