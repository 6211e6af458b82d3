package postgres

import (
	"context"
	"fmt"

	"github.com/fundledger/fundledger/ledger"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// verifyAllocations matches the allocation legs read from the verified
// funds (ledger.CheckAllocations). The other leg of one whose
// counterparty fund was not verified in this run is read by its event id
// (both legs come from one event), on the verification's snapshot.
func verifyAllocations(ctx context.Context, tx pgx.Tx, rep *ledger.VerifyReport, funds []verifyFund, legs []ledger.AllocationLeg) error {
	verified := make(map[string]bool, len(funds))
	for _, f := range funds {
		verified[f.id] = true
	}
	var evIDs, others []string
	for _, l := range legs {
		if !verified[l.Counterparty] && l.Counterparty != "" {
			evIDs, others = append(evIDs, l.EventID), append(others, l.Counterparty)
		}
	}
	if len(evIDs) > 0 {
		rows, err := tx.Query(ctx, `
			SELECT j.fund_id, j.seq, j.event_id, j.type, j.refs,
			       (SELECT json_agg(json_build_object('account', p.account, 'side', p.side, 'amount', p.amount::text) ORDER BY p.line)
			          FROM postings p WHERE p.fund_id = j.fund_id AND p.seq = j.seq)
			  FROM unnest($1::text[], $2::text[]) AS w(event_id, fund_id)
			  JOIN journal j ON j.event_id = w.event_id AND j.fund_id = w.fund_id`, evIDs, others)
		if err != nil {
			return fmt.Errorf("verify allocations: %w", err)
		}
		var fund string
		var t ledger.Txn
		var refs map[string]string
		var posts []struct{ Account, Side, Amount string }
		_, err = pgx.ForEachRow(rows, []any{&fund, &t.Seq, &t.EventID, &t.Type, &refs, &posts}, func() error {
			c := t
			c.Postings = nil
			var rs []ledger.Ref
			for k, v := range refs {
				rs = append(rs, ledger.Ref{Key: k, Value: v})
			}
			for _, p := range posts {
				a, err := decimal.NewFromString(p.Amount)
				if err != nil {
					return err
				}
				c.Postings = append(c.Postings, ledger.Posting{Account: p.Account, Side: ledger.Side(p.Side), Amount: a})
			}
			if leg, ok := ledger.LegOf(fund, &c, rs); ok {
				legs = append(legs, leg)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("verify allocations: %w", err)
		}
	}
	for _, p := range ledger.CheckAllocations(legs) {
		if !verified[p.FundID] {
			continue // a looked-up leg's own fund was not asked about
		}
		rep.AddProblem(p)
		for i := range rep.Funds {
			if rep.Funds[i].FundID == p.FundID {
				rep.Funds[i].OK = false
			}
		}
	}
	return nil
}
