package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/fundledger/fundledger/ledger"
	"github.com/fundledger/fundledger/ledger/merkle"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// loader reads the books inside a batch's transaction (ledger.Loader).
type loader struct {
	tx pgx.Tx
	t  *stepTimer // where the reads' time went; nil: not measured
}

// stepTimer adds up the time of named steps.
type stepTimer struct {
	names []string
	took  map[string]time.Duration
}

// since adds the time since start to step name.
func (t *stepTimer) since(name string, start time.Time) {
	if t == nil {
		return
	}
	if t.took == nil {
		t.took = map[string]time.Duration{}
	}
	if _, ok := t.took[name]; !ok {
		t.names = append(t.names, name)
	}
	t.took[name] += time.Since(start)
}

// steps lists the steps in the order first seen, and their total.
func (t *stepTimer) steps() ([]ledger.Step, time.Duration) {
	var out []ledger.Step
	var total time.Duration
	for _, n := range t.names {
		out = append(out, ledger.Step{Name: n, Took: t.took[n]})
		total += t.took[n]
	}
	return out, total
}

func (l loader) Funds(ctx context.Context, ids []string) ([]*ledger.Fund, error) {
	defer l.t.since("load funds", time.Now())
	rows, err := l.tx.Query(ctx, `
		SELECT fund_id, name, currency, opened_event_id, opened_at, head_seq, head_hash,
		       coalesce(head_time, opened_at), open_grants, snapshot_seq, snapshot_journal_seq,
		       merkle_frontier, last_snapshot_hash
		  FROM funds WHERE fund_id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("load funds: %w", err)
	}
	byID := map[string]*ledger.Fund{}
	var out []*ledger.Fund
	for rows.Next() {
		f := &ledger.Fund{Programs: map[string]*ledger.Program{}, Balances: map[string]*ledger.Balance{}}
		var frontier []byte
		if err := rows.Scan(&f.ID, &f.Name, &f.Currency, &f.OpenedEventID, &f.OpenedAt, &f.HeadSeq, &f.HeadHash,
			&f.HeadTime, &f.OpenGrants, &f.SnapshotSeq, &f.SnapshotJournalSeq, &frontier, &f.LastSnapshotHash); err != nil {
			return nil, fmt.Errorf("load funds: %w", err)
		}
		if f.Tree, err = merkle.FrontierFromBytes(uint64(f.HeadSeq), frontier); err != nil {
			return nil, fmt.Errorf("load fund %s: %w", f.ID, err)
		}
		f.OpenedAt, f.HeadTime = f.OpenedAt.UTC(), f.HeadTime.UTC()
		byID[f.ID] = f
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load funds: %w", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	if err := l.lastSnapshotHashes(ctx, out); err != nil {
		return nil, err
	}
	rows, err = l.tx.Query(ctx, `SELECT fund_id, code, cap FROM programs WHERE fund_id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("load programs: %w", err)
	}
	for rows.Next() {
		var fid string
		var p ledger.Program
		var capv decimal.NullDecimal
		if err := rows.Scan(&fid, &p.Code, &capv); err != nil {
			return nil, fmt.Errorf("load programs: %w", err)
		}
		if capv.Valid {
			p.Cap = &capv.Decimal
		}
		byID[fid].Programs[p.Code] = &p
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load programs: %w", err)
	}
	rows, err = l.tx.Query(ctx, `SELECT fund_id, account, debits, credits FROM balances WHERE fund_id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("load balances: %w", err)
	}
	for rows.Next() {
		var fid, account string
		var dr, cr decimal.Decimal
		if err := rows.Scan(&fid, &account, &dr, &cr); err != nil {
			return nil, fmt.Errorf("load balances: %w", err)
		}
		byID[fid].Balances[account] = ledger.NewBalance(dr, cr)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load balances: %w", err)
	}
	return out, l.periodStates(ctx, ids, byID)
}

func (l loader) Grants(ctx context.Context, keys []ledger.GrantKey) ([]*ledger.Grant, error) {
	defer l.t.since("load grants", time.Now())
	funds, ids := make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		funds[i], ids[i] = k.FundID, k.GrantID
	}
	rows, err := l.tx.Query(ctx, `
		SELECT g.fund_id, g.grant_id, beneficiary_ref, program, category, approved_on, event_id,
		       approved, paid, returned, cancelled, recovered, closed, activity_n
		  FROM grants g JOIN unnest($1::text[], $2::text[]) AS k(fund_id, grant_id)
		    ON g.fund_id = k.fund_id AND g.grant_id = k.grant_id`, funds, ids)
	if err != nil {
		return nil, fmt.Errorf("load grants: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*ledger.Grant, error) {
		g := &ledger.Grant{}
		err := r.Scan(&g.FundID, &g.GrantID, &g.BeneficiaryRef, &g.Program, &g.Category, &g.ApprovedOn, &g.EventID,
			&g.Approved, &g.Paid, &g.Returned, &g.Cancelled, &g.Recovered, &g.Closed, &g.ActivityN)
		g.ApprovedOn = dateUTC(g.ApprovedOn)
		return g, err
	})
}

func (l loader) Payments(ctx context.Context, keys []ledger.PaymentKey) ([]*ledger.Payment, error) {
	defer l.t.since("load payments", time.Now())
	funds, ids := make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		funds[i], ids[i] = k.FundID, k.PaymentID
	}
	rows, err := l.tx.Query(ctx, `
		SELECT p.fund_id, p.payment_id, grant_id, amount, returned, paid_on, bank_ref, event_id
		  FROM payments p JOIN unnest($1::text[], $2::text[]) AS k(fund_id, payment_id)
		    ON p.fund_id = k.fund_id AND p.payment_id = k.payment_id`, funds, ids)
	if err != nil {
		return nil, fmt.Errorf("load payments: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*ledger.Payment, error) {
		p := &ledger.Payment{}
		err := r.Scan(&p.FundID, &p.PaymentID, &p.GrantID, &p.Amount, &p.Returned, &p.PaidOn, &p.BankRef, &p.EventID)
		p.PaidOn = dateUTC(p.PaidOn)
		return p, err
	})
}

func (l loader) BizIDs(ctx context.Context, keys []ledger.BizKey) ([]*ledger.BizID, error) {
	defer l.t.since("load business ids", time.Now())
	funds, kinds, ids := make([]string, len(keys)), make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		funds[i], kinds[i], ids[i] = k.FundID, k.Kind, k.ID
	}
	rows, err := l.tx.Query(ctx, `
		SELECT b.fund_id, b.kind, b.id, event_id, content_hash
		  FROM business_ids b JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(fund_id, kind, id)
		    ON b.fund_id = k.fund_id AND b.kind = k.kind AND b.id = k.id`, funds, kinds, ids)
	if err != nil {
		return nil, fmt.Errorf("load business ids: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*ledger.BizID, error) {
		x := &ledger.BizID{}
		var h []byte
		err := r.Scan(&x.FundID, &x.Kind, &x.ID, &x.EventID, &h)
		copy(x.Hash[:], h)
		return x, err
	})
}

func (l loader) CapUsage(ctx context.Context, keys []ledger.CapKey) ([]*ledger.CapUsage, error) {
	defer l.t.since("load cap usage", time.Now())
	n := len(keys)
	funds, progs, bens, years := make([]string, n), make([]string, n), make([]string, n), make([]int32, n)
	for i, k := range keys {
		funds[i], progs[i], bens[i], years[i] = k.FundID, k.Program, k.Beneficiary, int32(k.Year)
	}
	rows, err := l.tx.Query(ctx, `
		SELECT c.fund_id, c.program, c.beneficiary_ref, c.year, used
		  FROM cap_usage c JOIN unnest($1::text[], $2::text[], $3::text[], $4::int[]) AS k(fund_id, program, beneficiary_ref, year)
		    ON c.fund_id = k.fund_id AND c.program = k.program AND c.beneficiary_ref = k.beneficiary_ref AND c.year = k.year`,
		funds, progs, bens, years)
	if err != nil {
		return nil, fmt.Errorf("load cap usage: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*ledger.CapUsage, error) {
		var k ledger.CapKey
		var used decimal.Decimal
		var year int32
		err := r.Scan(&k.FundID, &k.Program, &k.Beneficiary, &year, &used)
		k.Year = int(year)
		c := ledger.NewCapUsage(k, used)
		c.Stored = true
		return c, err
	})
}

func dateUTC(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}
