package postgres_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"testing"

	"github.com/fundledger/fundledger/internal/testenv"
	"github.com/fundledger/fundledger/ledger"
	"github.com/fundledger/fundledger/ledger/postgres"
	"github.com/jackc/pgx/v5"
)

// eventBooks is buildBooks plus a cap change: the district fund's event
// chain is fund.opened, snapshot.requested, fund.program.set.
func eventBooks(t *testing.T) *testenv.Ledger {
	l := buildBooks(t)
	l.Event(districtFund, "fund.program.set", map[string]any{"program": "care_fund", "annual_cap_per_beneficiary": "6000.00"})
	l.WaitIdle()
	return l
}

// tamperEvents runs statements as a superuser with the event chain's
// append-only triggers off.
func tamperEvents(t *testing.T, l *testenv.Ledger, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, l.DB, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "ALTER TABLE fund_events DISABLE TRIGGER USER"); err != nil {
			return err
		}
		for _, sql := range stmts {
			if _, err := tx.Exec(ctx, sql); err != nil {
				return errors.New(sql + ": " + err.Error())
			}
		}
		_, err := tx.Exec(ctx, "ALTER TABLE fund_events ENABLE TRIGGER USER")
		return err
	})
	if err != nil {
		t.Fatalf("tamper: %v", err)
	}
}

// TestEventChain: every event applied without posting is chained per
// fund, served by the read API's store call, verified; the hashes are
// those of the documented bytes.
func TestEventChain(t *testing.T) {
	l := eventBooks(t)
	ctx := context.Background()
	page, err := l.Service.Store.Events(ctx, districtFund, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range page.Events {
		types = append(types, e.Type)
	}
	want := []string{"fund.opened", "snapshot.requested", "fund.program.set"}
	if len(types) != len(want) || types[0] != want[0] || types[1] != want[1] || types[2] != want[2] || page.NextAfterSeq != 3 {
		t.Fatalf("district event chain %v (next %d), want %v", types, page.NextAfterSeq, want)
	}
	prev := hex.EncodeToString(ledger.GenesisHash)
	for i, e := range page.Events {
		sum := sha256.Sum256([]byte(e.Data))
		in := "fundledger-event-v1\n" + e.FundID + "\n" + strconv.FormatInt(e.Seq, 10) + "\n" + e.PrevHash + "\n" + e.EventID + "\n" + e.Type + "\n" +
			e.Source + "\n" + e.Time + "\n" + hex.EncodeToString(sum[:]) + "\n"
		h := sha256.Sum256([]byte(in))
		if e.Seq != int64(i+1) || e.PrevHash != prev || e.DataSHA256 != hex.EncodeToString(sum[:]) || e.Hash != hex.EncodeToString(h[:]) {
			t.Fatalf("event %d does not hash as documented: %+v", i+1, e)
		}
		prev = e.Hash
	}
	if page.Events[2].Data != `{"annual_cap_per_beneficiary":"6000.00","program":"care_fund"}` {
		t.Errorf("event data not kept as received: %s", page.Events[2].Data)
	}
	if p, err := l.Service.Store.Events(ctx, districtFund, 2, 100); err != nil || len(p.Events) != 1 || p.Events[0].Seq != 3 {
		t.Fatalf("page after 2: %+v %v", p, err)
	}
	if _, err := l.Service.Store.Events(ctx, "no-such-fund", 0, 10); ledger.KindOf(err) != ledger.KindNotFound {
		t.Fatalf("unknown fund: %v", err)
	}
	rep, err := l.Service.Store.VerifyAll(ctx, nil)
	if err != nil || !rep.OK || rep.CheckedEvents != 4 { // the city's fund.opened, the district's three
		t.Fatalf("clean: ok %v, events %d, err %v, problems %+v", rep.OK, rep.CheckedEvents, err, rep.Problems)
	}
	// The event chain cannot be changed through SQL by the service's role.
	conn, err := pgx.Connect(ctx, l.DBURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SET ROLE "+postgres.AppRole); err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{`UPDATE fund_events SET type = 'x'`, `DELETE FROM fund_events`, `TRUNCATE fund_events`,
		`UPDATE key_history SET valid_from = now()`, `DELETE FROM key_history`} {
		if _, err := conn.Exec(ctx, sql); err == nil {
			t.Errorf("%s: allowed", sql)
		}
	}
}

func TestEventChainTamperDetected(t *testing.T) {
	cases := []struct {
		name  string
		stmts []string
		seq   int64
	}{
		{"a cap changed", []string{`UPDATE fund_events SET data = convert_to(replace(convert_from(data, 'UTF8'), '6000.00', '60000.00'), 'UTF8')
			WHERE fund_id = 'jiangjin-care' AND seq = 3`}, 3},
		{"the opening's time changed", []string{`UPDATE fund_events SET recorded_at = recorded_at - interval '1 day' WHERE fund_id = 'jiangjin-care' AND seq = 1`}, 1},
		{"an event removed", []string{`DELETE FROM fund_events WHERE fund_id = 'jiangjin-care' AND seq = 2`}, 2},
		{"the last event removed", []string{`DELETE FROM fund_events WHERE fund_id = 'jiangjin-care' AND seq = 3`}, 3},
		{"two events swapped", []string{
			`UPDATE fund_events SET seq = 100 WHERE fund_id = 'jiangjin-care' AND seq = 2`,
			`UPDATE fund_events SET seq = 2 WHERE fund_id = 'jiangjin-care' AND seq = 3`,
			`UPDATE fund_events SET seq = 3 WHERE fund_id = 'jiangjin-care' AND seq = 100`}, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			l := eventBooks(t)
			tamperEvents(t, l, c.stmts...)
			rep, err := l.Service.Store.VerifyWith(context.Background(), postgres.VerifyOptions{Funds: []string{districtFund}})
			if err != nil {
				t.Fatal(err)
			}
			wantFirst(t, rep, c.seq, ledger.ProblemEvent)
		})
	}
}
