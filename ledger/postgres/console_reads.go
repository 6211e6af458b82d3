package postgres

// Reads for the web console (package console) that the read API has no
// endpoint for: a fund's money in and out per month.

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// MonthFlow is what moved through a fund's cash and grants_payable
// accounts in one calendar month, by the business date of its
// transactions (CONTRACT.md section 11, ledger.BusinessDate): the date
// the event names (received_on, approved_on,
// paid_on, returned_on, cancelled_on, recovered_on, charged_on, as kept
// in the transaction's refs), else the recorded time's date in the zone
// asked for.
type MonthFlow struct {
	// Month is YYYY-MM.
	Month string
	// CashIn and CashOut are the debits and credits of cash: money that
	// came in and money that went out.
	CashIn, CashOut decimal.Decimal
	// PayableUp and PayableDown are the credits and debits of
	// grants_payable: grants approved (or owed again) and grants paid or
	// cancelled.
	PayableUp, PayableDown decimal.Decimal
	// LastSeq is the month's last journal sequence.
	LastSeq int64
}

// MonthlyFlows sums the fund's cash and grants_payable postings by
// business month (see MonthFlow), for the transactions with afterSeq <
// seq <= upToSeq, oldest month first. The journal is append-only, so a
// caller may keep what it read and later ask only for the sequences after
// it (and add them to the months it has: a late event can fall in an
// earlier month).
func (s *Store) MonthlyFlows(ctx context.Context, fundID string, afterSeq, upToSeq int64, loc *time.Location) ([]MonthFlow, error) {
	rows, err := s.Pool.Query(ctx, `
		SELECT coalesce(substr(coalesce(j.refs->>'received_on', j.refs->>'approved_on', j.refs->>'paid_on',
		         j.refs->>'returned_on', j.refs->>'cancelled_on', j.refs->>'recovered_on', j.refs->>'charged_on'), 1, 7),
		         to_char(j.recorded_at AT TIME ZONE $4, 'YYYY-MM')) AS month,
		       coalesce(sum(p.amount) FILTER (WHERE p.account = 'cash' AND p.side = 'debit'), 0),
		       coalesce(sum(p.amount) FILTER (WHERE p.account = 'cash' AND p.side = 'credit'), 0),
		       coalesce(sum(p.amount) FILTER (WHERE p.account = 'grants_payable' AND p.side = 'credit'), 0),
		       coalesce(sum(p.amount) FILTER (WHERE p.account = 'grants_payable' AND p.side = 'debit'), 0),
		       max(j.seq)
		  FROM journal j JOIN postings p ON p.fund_id = j.fund_id AND p.seq = j.seq
		 WHERE j.fund_id = $1 AND j.seq > $2 AND j.seq <= $3
		   AND p.account IN ('cash', 'grants_payable')
		 GROUP BY 1 ORDER BY 1`, fundID, afterSeq, upToSeq, loc.String())
	if err != nil {
		return nil, fmt.Errorf("read monthly flows: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (MonthFlow, error) {
		var m MonthFlow
		err := r.Scan(&m.Month, &m.CashIn, &m.CashOut, &m.PayableUp, &m.PayableDown, &m.LastSeq)
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("read monthly flows: %w", err)
	}
	return out, nil
}
