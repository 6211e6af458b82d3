package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/fundledger/fundledger/ledger"
	"github.com/jackc/pgx/v5"
)

// The funds' event chains (ledger/eventchain.go, table fund_events): the
// events applied without a journal transaction, hashed and chained per
// fund. Written in the batch's transaction, read by the read API and by
// verify.

// EventHeads reads the kept heads of the funds' event chains (zero for a
// fund with none). Only batches that applied such an event ask.
func (u uow) EventHeads(ctx context.Context, funds []string) (map[string]ledger.EventHead, error) {
	defer u.t.since("load event heads", time.Now())
	rows, err := u.tx.Query(ctx, `SELECT fund_id, event_seq, coalesce(event_head, '\x'::bytea), coalesce(event_time, opened_at)
		FROM funds WHERE fund_id = ANY($1)`, funds)
	if err != nil {
		return nil, fmt.Errorf("load event heads: %w", err)
	}
	out := map[string]ledger.EventHead{}
	var id string
	var h ledger.EventHead
	_, err = pgx.ForEachRow(rows, []any{&id, &h.Seq, &h.Hash, &h.Time}, func() error {
		c := h
		c.Hash = append([]byte(nil), h.Hash...)
		c.Time = c.Time.UTC()
		out[id] = c
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load event heads: %w", err)
	}
	return out, nil
}

// writeEvents copies the batch's new event entries and moves their funds'
// heads. A batch that only posts writes nothing here.
func (u *writer) writeEvents(ledger.Changes) error {
	if len(u.out.Events) == 0 {
		return nil
	}
	rows := make([][]any, 0, len(u.out.Events))
	for _, e := range u.out.Events {
		rows = append(rows, []any{e.FundID, e.Seq, e.EventID, e.Type, e.Source, e.Time, e.Data, e.PrevHash, e.Hash})
	}
	if err := u.copy("fund_events", []string{"fund_id", "seq", "event_id", "type", "source", "recorded_at", "data", "prev_hash", "hash"}, rows); err != nil {
		return err
	}
	var ids []string
	var seqs []int64
	var hashes [][]byte
	var times []time.Time
	for id, h := range u.out.EventHeads {
		ids, seqs, hashes, times = append(ids, id), append(seqs, h.Seq), append(hashes, h.Hash), append(times, h.Time)
	}
	return u.exec("event heads", `
		UPDATE funds f SET event_seq = v.seq, event_head = v.head, event_time = v.time
		  FROM unnest($1::text[], $2::bigint[], $3::bytea[], $4::timestamptz[]) AS v(fund_id, seq, head, time)
		 WHERE f.fund_id = v.fund_id`, ids, seqs, hashes, times)
}

// EventsPage is a page of a fund's event chain
// (GET /v1/funds/{fund_id}/events).
type EventsPage struct {
	Events       []ledger.EventView `json:"events"`
	NextAfterSeq int64              `json:"next_after_seq"`
}

// Events pages a fund's event chain in seq order, after seq after, at most
// limit entries. An unknown fund is ledger.KindNotFound.
func (s *Store) Events(ctx context.Context, fundID string, after int64, limit int) (EventsPage, error) {
	page := EventsPage{Events: []ledger.EventView{}, NextAfterSeq: after}
	err := pgx.BeginTxFunc(ctx, s.Pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM funds WHERE fund_id = $1`, fundID).Scan(&one); err != nil {
			if err == pgx.ErrNoRows {
				return &ledger.Error{Op: "events", Kind: ledger.KindNotFound, Msg: fmt.Sprintf("fund %q does not exist", fundID)}
			}
			return err
		}
		rows, err := tx.Query(ctx, `SELECT fund_id, seq, event_id, type, source, recorded_at, data, prev_hash, hash
			FROM fund_events WHERE fund_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, fundID, after, limit)
		if err != nil {
			return err
		}
		return forEachEvent(rows, func(e *ledger.FundEvent) error {
			page.Events = append(page.Events, e.View())
			page.NextAfterSeq = e.Seq
			return nil
		})
	})
	if err != nil {
		if ledger.KindOf(err) == ledger.KindNotFound {
			return page, err
		}
		return page, fmt.Errorf("read events: %w", err)
	}
	return page, nil
}

func forEachEvent(rows pgx.Rows, f func(*ledger.FundEvent) error) error {
	var e ledger.FundEvent
	_, err := pgx.ForEachRow(rows, []any{&e.FundID, &e.Seq, &e.EventID, &e.Type, &e.Source, &e.Time, &e.Data, &e.PrevHash, &e.Hash}, func() error {
		c := e
		c.Time = c.Time.UTC()
		c.Data = append([]byte(nil), e.Data...)
		c.PrevHash = append([]byte(nil), e.PrevHash...)
		c.Hash = append([]byte(nil), e.Hash...)
		return f(&c)
	})
	return err
}

// verifyEvents checks a fund's event chain, read in seq order on tx,
// against its kept head.
func verifyEvents(ctx context.Context, tx pgx.Tx, v *ledger.Verifier, fundID string) error {
	var kept ledger.EventHead
	if err := tx.QueryRow(ctx, `SELECT event_seq, coalesce(event_head, '\x'::bytea) FROM funds WHERE fund_id = $1`, fundID).
		Scan(&kept.Seq, &kept.Hash); err != nil {
		return fmt.Errorf("read event head: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT fund_id, seq, event_id, type, source, recorded_at, data, prev_hash, hash
		FROM fund_events WHERE fund_id = $1 ORDER BY seq`, fundID)
	if err != nil {
		return fmt.Errorf("read events: %w", err)
	}
	ev := v.Events()
	if err := forEachEvent(rows, func(e *ledger.FundEvent) error { ev.Event(e); return nil }); err != nil {
		return fmt.Errorf("read events: %w", err)
	}
	ev.End(kept)
	return nil
}
