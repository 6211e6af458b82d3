package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/fundledger/fundledger/events"
	"github.com/fundledger/fundledger/ledger"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// writer writes one batch's output inside its transaction.
type writer struct {
	ctx   context.Context
	tx    pgx.Tx
	out   *ledger.BatchOutput
	books *ledger.Books
	now   time.Time
}

// write stores everything the batch produced with one statement per table:
// COPY for new rows, unnest for updates, so a batch of thousands of events
// costs a handful of round trips and balance rows are written once each.
func write(ctx context.Context, tx pgx.Tx, out *ledger.BatchOutput, now time.Time) error {
	u := &writer{ctx: ctx, tx: tx, out: out, books: out.Books, now: now}
	ch := u.books.Changes()
	steps := []struct {
		name string
		f    func(ledger.Changes) error
	}{
		{"write funds", u.writeFunds}, {"write journal", u.writeJournal}, {"write Merkle nodes", u.writeTreeNodes}, {"write balances", u.writeBalances},
		{"write grants", u.writeGrants}, {"write payments", u.writePayments}, {"write activity", u.writeActivity},
		{"write business ids", u.writeBiz}, {"write cap usage", u.writeCaps}, {"write inbox", u.writeInbox},
		{"write held", u.writeHeld}, {"write rejections", u.writeRejections}, {"write snapshots", u.writeSnapshots},
		{"write events", u.writeEvents},
		{"write periods", u.writePeriods},
		{"write reconciliation", u.writeRecon},
		{"write outbox", u.writeOutbox},
	}
	for _, step := range steps {
		start := time.Now()
		if err := step.f(ch); err != nil {
			return err
		}
		out.Result.Steps = append(out.Result.Steps, ledger.Step{Name: step.name, Took: time.Since(start)})
	}
	return nil
}

func (u *writer) copy(table string, cols []string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	if _, err := u.tx.CopyFrom(u.ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("write %s: %w", table, err)
	}
	return nil
}

func (u *writer) exec(what, sql string, args ...any) error {
	if _, err := u.tx.Exec(u.ctx, sql, args...); err != nil {
		return fmt.Errorf("write %s: %w", what, err)
	}
	return nil
}

func (u *writer) writeFunds(ch ledger.Changes) error {
	var newRows [][]any
	var ids, names []string
	var seqs, open, snapSeqs, snapJ []int64
	var hashes, frontiers, lastSnaps [][]byte
	var times []any
	var progFund, progCode []string
	var progCap []*decimal.Decimal
	for _, f := range ch.Funds {
		var headTime any
		if f.HeadSeq > 0 {
			headTime = f.HeadTime
		}
		if f.New {
			newRows = append(newRows, []any{f.ID, f.Name, f.Currency, f.OpenedEventID, f.OpenedAt, f.HeadSeq, f.HeadHash,
				headTime, f.OpenGrants, f.SnapshotSeq, f.SnapshotJournalSeq, f.Tree.Bytes(), f.LastSnapshotHash})
		} else {
			ids = append(ids, f.ID)
			names = append(names, f.Name)
			seqs, hashes, times = append(seqs, f.HeadSeq), append(hashes, f.HeadHash), append(times, headTime)
			open, snapSeqs, snapJ = append(open, f.OpenGrants), append(snapSeqs, f.SnapshotSeq), append(snapJ, f.SnapshotJournalSeq)
			frontiers, lastSnaps = append(frontiers, f.Tree.Bytes()), append(lastSnaps, f.LastSnapshotHash)
		}
		for _, p := range f.Programs {
			if p.Dirty {
				progFund, progCode, progCap = append(progFund, f.ID), append(progCode, p.Code), append(progCap, p.Cap)
			}
		}
	}
	if err := u.copy("funds", []string{"fund_id", "name", "currency", "opened_event_id", "opened_at", "head_seq", "head_hash",
		"head_time", "open_grants", "snapshot_seq", "snapshot_journal_seq", "merkle_frontier", "last_snapshot_hash"}, newRows); err != nil {
		return err
	}
	if len(ids) > 0 {
		if err := u.exec("funds", `
			UPDATE funds f SET head_seq = v.head_seq, head_hash = v.head_hash, head_time = v.head_time,
			       open_grants = v.open_grants, snapshot_seq = v.snapshot_seq, snapshot_journal_seq = v.snapshot_journal_seq,
			       merkle_frontier = v.merkle_frontier, last_snapshot_hash = v.last_snapshot_hash
			  FROM unnest($1::text[], $2::bigint[], $3::bytea[], $4::timestamptz[], $5::bigint[], $6::bigint[], $7::bigint[],
			              $8::bytea[], $9::bytea[])
			       AS v(fund_id, head_seq, head_hash, head_time, open_grants, snapshot_seq, snapshot_journal_seq,
			            merkle_frontier, last_snapshot_hash)
			 WHERE f.fund_id = v.fund_id`, ids, seqs, hashes, times, open, snapSeqs, snapJ, frontiers, lastSnaps); err != nil {
			return err
		}
	}
	if len(progFund) > 0 {
		return u.exec("programs", `
			INSERT INTO programs (fund_id, code, cap) SELECT * FROM unnest($1::text[], $2::text[], $3::numeric[])
			ON CONFLICT (fund_id, code) DO UPDATE SET cap = excluded.cap`, progFund, progCode, progCap)
	}
	return nil
}

// writeJournal copies the journal rows, then their postings: the postings'
// statement trigger checks, once for the whole batch, that every new
// transaction is complete and balances (migrations/003_batch_checks.sql).
func (u *writer) writeJournal(ledger.Changes) error {
	var jrows, prows [][]any
	for _, t := range u.books.Txns {
		refs := make(map[string]string, len(t.Refs))
		for _, r := range t.Refs {
			refs[r.Key] = r.Value
		}
		rj, err := json.Marshal(refs)
		if err != nil {
			return err
		}
		jrows = append(jrows, []any{t.FundID, t.Seq, t.EventID, t.Type, t.Source, t.Time, json.RawMessage(rj), t.PrevHash, t.Hash})
		for i, p := range t.Postings {
			prows = append(prows, []any{t.FundID, t.Seq, int32(i), p.Account, string(p.Side), p.Amount})
		}
	}
	if err := u.copy("journal", []string{"fund_id", "seq", "event_id", "type", "source", "recorded_at", "refs", "prev_hash", "hash"}, jrows); err != nil {
		return err
	}
	return u.copy("postings", []string{"fund_id", "seq", "line", "account", "side", "amount"}, prows)
}

// writeBalances adds each touched account's net change once, however many
// events of the batch hit it.
func (u *writer) writeBalances(ch ledger.Changes) error {
	var funds, accounts []string
	var drs, crs []decimal.Decimal
	for _, f := range ch.Funds {
		for name, b := range f.Balances {
			dr, cr := b.Delta()
			if dr.IsZero() && cr.IsZero() {
				continue
			}
			funds, accounts, drs, crs = append(funds, f.ID), append(accounts, name), append(drs, dr), append(crs, cr)
		}
	}
	if len(funds) == 0 {
		return nil
	}
	return u.exec("balances", `
		INSERT INTO balances (fund_id, account, debits, credits)
		SELECT * FROM unnest($1::text[], $2::text[], $3::numeric[], $4::numeric[])
		ON CONFLICT (fund_id, account) DO UPDATE
		   SET debits = balances.debits + excluded.debits, credits = balances.credits + excluded.credits`,
		funds, accounts, drs, crs)
}

func (u *writer) writeGrants(ch ledger.Changes) error {
	var rows [][]any
	var funds, ids []string
	var paid, ret, canc, rec []decimal.Decimal
	var closed []bool
	var n []int32
	for _, g := range ch.Grants {
		if g.New {
			rows = append(rows, []any{g.FundID, g.GrantID, g.BeneficiaryRef, g.Program, g.Category, g.ApprovedOn, g.EventID,
				g.Approved, g.Paid, g.Returned, g.Cancelled, g.Recovered, g.Closed, int32(g.ActivityN)})
			continue
		}
		funds, ids = append(funds, g.FundID), append(ids, g.GrantID)
		paid, ret, canc, rec = append(paid, g.Paid), append(ret, g.Returned), append(canc, g.Cancelled), append(rec, g.Recovered)
		closed, n = append(closed, g.Closed), append(n, int32(g.ActivityN))
	}
	if err := u.copy("grants", []string{"fund_id", "grant_id", "beneficiary_ref", "program", "category", "approved_on", "event_id",
		"approved", "paid", "returned", "cancelled", "recovered", "closed", "activity_n"}, rows); err != nil {
		return err
	}
	if len(funds) == 0 {
		return nil
	}
	return u.exec("grants", `
		UPDATE grants g SET paid = v.paid, returned = v.returned, cancelled = v.cancelled, recovered = v.recovered,
		       closed = v.closed, activity_n = v.n
		  FROM unnest($1::text[], $2::text[], $3::numeric[], $4::numeric[], $5::numeric[], $6::numeric[], $7::bool[], $8::int[])
		       AS v(fund_id, grant_id, paid, returned, cancelled, recovered, closed, n)
		 WHERE g.fund_id = v.fund_id AND g.grant_id = v.grant_id`, funds, ids, paid, ret, canc, rec, closed, n)
}

func (u *writer) writePayments(ch ledger.Changes) error {
	var rows [][]any
	var funds, ids []string
	var ret []decimal.Decimal
	for _, p := range ch.Payments {
		if p.New {
			rows = append(rows, []any{p.FundID, p.PaymentID, p.GrantID, p.Amount, p.Returned, p.PaidOn, p.BankRef, p.EventID})
			continue
		}
		funds, ids, ret = append(funds, p.FundID), append(ids, p.PaymentID), append(ret, p.Returned)
	}
	if err := u.copy("payments", []string{"fund_id", "payment_id", "grant_id", "amount", "returned", "paid_on", "bank_ref", "event_id"}, rows); err != nil {
		return err
	}
	if len(funds) == 0 {
		return nil
	}
	return u.exec("payments", `
		UPDATE payments p SET returned = v.returned
		  FROM unnest($1::text[], $2::text[], $3::numeric[]) AS v(fund_id, payment_id, returned)
		 WHERE p.fund_id = v.fund_id AND p.payment_id = v.payment_id`, funds, ids, ret)
}

func (u *writer) writeActivity(ledger.Changes) error {
	rows := make([][]any, 0, len(u.books.Activity))
	for _, a := range u.books.Activity {
		var seq any
		if a.JournalSeq > 0 {
			seq = a.JournalSeq
		}
		rows = append(rows, []any{a.FundID, a.GrantID, int32(a.N), a.Kind, a.Ref, a.Amount, seq, a.EventID, a.Time})
	}
	return u.copy("grant_activity", []string{"fund_id", "grant_id", "n", "kind", "ref", "amount", "journal_seq", "event_id", "recorded_at"}, rows)
}

func (u *writer) writeBiz(ch ledger.Changes) error {
	rows := make([][]any, 0, len(ch.Biz))
	for _, x := range ch.Biz {
		rows = append(rows, []any{x.FundID, x.Kind, x.ID, x.EventID, x.Hash[:]})
	}
	return u.copy("business_ids", []string{"fund_id", "kind", "id", "event_id", "content_hash"}, rows)
}

func (u *writer) writeCaps(ch ledger.Changes) error {
	var funds, progs, bens []string
	var years []int32
	var deltas []decimal.Decimal
	var rows [][]any
	for _, c := range ch.Caps {
		d := c.Delta()
		switch {
		case d.IsZero():
		case c.Stored:
			funds, progs, bens = append(funds, c.FundID), append(progs, c.Program), append(bens, c.Beneficiary)
			years, deltas = append(years, int32(c.Year)), append(deltas, d)
		default: // no row yet: the usage is all this batch's
			rows = append(rows, []any{c.FundID, c.Program, c.Beneficiary, int32(c.Year), c.Used})
		}
	}
	if err := u.copy("cap_usage", []string{"fund_id", "program", "beneficiary_ref", "year", "used"}, rows); err != nil {
		return err
	}
	if len(funds) == 0 {
		return nil
	}
	// The rows were loaded in this transaction and only this writer changes
	// them, so an UPDATE finds every one; a negative delta (a cancellation)
	// never goes below zero because the books never do.
	return u.exec("cap usage", `
		UPDATE cap_usage c SET used = c.used + v.delta
		  FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::numeric[]) AS v(fund_id, program, beneficiary_ref, year, delta)
		 WHERE c.fund_id = v.fund_id AND c.program = v.program AND c.beneficiary_ref = v.beneficiary_ref AND c.year = v.year`,
		funds, progs, bens, years, deltas)
}

func (u *writer) writeInbox(ledger.Changes) error {
	var rows [][]any
	var ids, outcomes []string
	for _, r := range u.out.Inbox {
		if r.Stored {
			ids, outcomes = append(ids, r.EventID), append(outcomes, r.Outcome)
			continue
		}
		rows = append(rows, []any{r.EventID, r.FundID, r.Type, int64(r.StreamSeq), r.Outcome, u.now})
	}
	if err := u.copy("inbox", []string{"event_id", "fund_id", "type", "stream_seq", "outcome", "processed_at"}, rows); err != nil {
		return err
	}
	if len(ids) == 0 {
		return nil
	}
	return u.exec("inbox", `
		UPDATE inbox i SET outcome = v.outcome, processed_at = $3
		  FROM unnest($1::text[], $2::text[]) AS v(event_id, outcome) WHERE i.event_id = v.event_id`, ids, outcomes, u.now)
}

func (u *writer) writeHeld(ledger.Changes) error {
	rows := make([][]any, 0, len(u.out.HeldNew))
	for _, h := range u.out.HeldNew {
		var header any
		if h.Header != nil {
			b, err := json.Marshal(h.Header)
			if err != nil {
				return err
			}
			header = json.RawMessage(b)
		}
		rows = append(rows, []any{h.EventID, h.FundID, int64(h.StreamSeq), h.Subject, header, h.Raw, h.WaitingOn, string(h.Code), h.ReceivedAt, h.Deadline})
	}
	if err := u.copy("held", []string{"event_id", "fund_id", "stream_seq", "subject", "header", "raw", "waiting_on", "code", "received_at", "deadline"}, rows); err != nil {
		return err
	}
	if len(u.out.HeldGone) > 0 {
		if err := u.exec("held", `DELETE FROM held WHERE event_id = ANY($1)`, u.out.HeldGone); err != nil {
			return err
		}
	}
	if len(u.out.HeldMoved) == 0 {
		return nil
	}
	var moved, waits, codes []string
	for _, h := range u.out.HeldMoved {
		moved, waits, codes = append(moved, h.EventID), append(waits, h.WaitingOn), append(codes, string(h.Code))
	}
	return u.exec("held", `
		UPDATE held h SET waiting_on = v.waiting_on, code = v.code
		  FROM unnest($1::text[], $2::text[], $3::text[]) AS v(event_id, waiting_on, code) WHERE h.event_id = v.event_id`,
		moved, waits, codes)
}

func (u *writer) writeRejections(ledger.Changes) error {
	rows := make([][]any, 0, len(u.out.Rejections))
	for _, r := range u.out.Rejections {
		raw, enc := events.RawText(r.Raw)
		var lines, header any
		if len(r.Rejection.Lines) > 0 {
			b, err := json.Marshal(r.Rejection.Lines)
			if err != nil {
				return err
			}
			lines = json.RawMessage(b)
		}
		if r.Header != nil {
			b, err := json.Marshal(r.Header)
			if err != nil {
				return err
			}
			header = json.RawMessage(b)
		}
		rows = append(rows, []any{r.EventID, r.Type, r.FundID, string(r.Rejection.Code), r.Rejection.Message, lines, r.ReceivedAt,
			raw, enc == "base64", header, int64(r.StreamSeq)})
	}
	return u.copy("rejections", []string{"event_id", "type", "fund_id", "code", "message", "lines", "received_at", "raw", "raw_base64", "raw_headers", "stream_seq"}, rows)
}

func (u *writer) writeSnapshots(ledger.Changes) error {
	rows := make([][]any, 0, len(u.books.Snapshots))
	for i, s := range u.books.Snapshots {
		body := u.out.Snapshots[i]
		rows = append(rows, []any{s.FundID, s.SnapshotSeq, s.Label, s.AsOfJournalSeq, json.RawMessage(body), body, u.now})
	}
	return u.copy("snapshots", []string{"fund_id", "snapshot_seq", "label", "as_of_journal_seq", "body", "published", "created_at"}, rows)
}

func (u *writer) writeOutbox(ledger.Changes) error {
	rows := make([][]any, 0, len(u.out.Outbox))
	for _, o := range u.out.Outbox {
		rows = append(rows, []any{o.Subject, o.MsgID, o.Payload})
	}
	return u.copy("outbox", []string{"subject", "msg_id", "payload"}, rows)
}
