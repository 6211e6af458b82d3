package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/fundledger/fundledger/ledger"
	"github.com/fundledger/fundledger/service"
)

// demoReconciliations prints each fund's latest bank reconciliation
// (CONTRACT.md section 10): the bank's and the books' balances, what is
// unmatched on each side, and the adjusted balances side by side.
func demoReconciliations(ctx context.Context, svc *service.Service, out io.Writer) error {
	rows, err := svc.Store.Pool.Query(ctx, `SELECT DISTINCT ON (fund_id) published FROM reconciliations ORDER BY fund_id, recon_seq DESC`)
	if err != nil {
		return err
	}
	defer rows.Close()
	var reports []ledger.Reconciliation
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return err
		}
		var r ledger.Reconciliation
		if err := json.Unmarshal(b, &r); err != nil {
			return err
		}
		reports = append(reports, r)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	fmt.Fprintln(out, "\nLATEST BANK RECONCILIATION OF EACH FUND (CNY)")
	if len(reports) == 0 {
		fmt.Fprintln(out, "  no bank statement received")
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "fund\treport\tstatement\tbank\tbooks\tmatched\tunmatched bank\tunmatched books\tadjusted bank\tadjusted books\tdifference\t")
	for _, r := range reports {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\t\n", r.FundID, r.ReconciliationSeq, r.StatementID,
			demoThousands(r.BankBalance), demoThousands(r.BookBalance), r.Matched.Count, len(r.UnmatchedBank), len(r.UnmatchedBook),
			demoThousands(r.AdjustedBankBalance), demoThousands(r.AdjustedBookBalance), r.Difference)
	}
	return tw.Flush()
}
