package postgres

import (
	"context"
	"fmt"
	"sort"

	"github.com/fundledger/fundledger/events"
	"github.com/jackc/pgx/v5"
)

// The relay (events/jetstream) publishes two kinds of committed messages:
// those a batch queued in the outbox table (rejections, snapshots), and
// one ledger.<fund>.posted message per journal transaction, read from the
// journal itself after each fund's relay_cursor (migrations/006).

// OutboxNext returns up to limit queued messages in the order they were
// written; Key is the outbox row's id.
func (s *Store) OutboxNext(ctx context.Context, limit int) ([]events.Queued, error) {
	rows, err := s.Pool.Query(ctx, `SELECT id, subject, msg_id, payload FROM outbox ORDER BY id LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("outbox: read: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (events.Queued, error) {
		var m events.Queued
		err := r.Scan(&m.Key, &m.Subject, &m.MsgID, &m.Payload)
		return m, err
	})
}

// OutboxDone deletes queued messages JetStream has acknowledged.
func (s *Store) OutboxDone(ctx context.Context, keys []int64) error {
	if _, err := s.Pool.Exec(ctx, `DELETE FROM outbox WHERE id = ANY($1)`, keys); err != nil {
		return fmt.Errorf("outbox: delete: %w", err)
	}
	return nil
}

// Unpublished returns journal transactions past each fund's relay cursor,
// each fund's in seq order: about limit in all, shared among the funds
// that are behind so that a busy fund does not hold up a quiet one (every
// fund behind gets at least one). behind names the funds whose committed
// journal goes on past what was returned; every other fund's transactions
// committed before the call are all in txns.
func (s *Store) Unpublished(ctx context.Context, limit int) (txns []events.PostedTxn, behind []string, err error) {
	type lag struct {
		fundID       string
		cursor, head int64
	}
	rows, err := s.Pool.Query(ctx, `
		SELECT f.fund_id, coalesce(c.published_seq, 0), f.head_seq
		  FROM funds f LEFT JOIN relay_cursor c ON c.fund_id = f.fund_id
		 WHERE f.head_seq > coalesce(c.published_seq, 0)`)
	if err != nil {
		return nil, nil, fmt.Errorf("relay: read cursors: %w", err)
	}
	lags, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (lag, error) {
		var l lag
		err := r.Scan(&l.fundID, &l.cursor, &l.head)
		return l, err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("relay: read cursors: %w", err)
	}
	if len(lags) == 0 {
		return nil, nil, nil
	}
	// Share limit out, least behind first: a fund that needs less than an
	// even share leaves the rest to those after it.
	sort.Slice(lags, func(i, j int) bool {
		if a, b := lags[i].head-lags[i].cursor, lags[j].head-lags[j].cursor; a != b {
			return a < b
		}
		return lags[i].fundID < lags[j].fundID
	})
	left := limit
	ranges := make([]txnRange, 0, len(lags))
	for i, l := range lags {
		share := max(1, left/(len(lags)-i))
		take := min(l.head-l.cursor, int64(share))
		left -= int(take)
		ranges = append(ranges, txnRange{fundID: l.fundID, after: l.cursor, n: int(take)})
		if take < l.head-l.cursor {
			behind = append(behind, l.fundID)
		}
	}
	read, err := readTxns(ctx, s.Pool, ranges)
	if err != nil {
		return nil, nil, fmt.Errorf("relay: %w", err)
	}
	txns = make([]events.PostedTxn, len(read))
	for i, t := range read {
		txns[i] = t.Posted()
	}
	return txns, behind, nil
}

// MarkPublished records that JetStream acknowledged each fund's posted
// messages up to and including the seq given. A cursor only moves forward.
func (s *Store) MarkPublished(ctx context.Context, upTo map[string]int64) error {
	if len(upTo) == 0 {
		return nil
	}
	funds := make([]string, 0, len(upTo))
	seqs := make([]int64, 0, len(upTo))
	for f, seq := range upTo {
		funds, seqs = append(funds, f), append(seqs, seq)
	}
	if _, err := s.Pool.Exec(ctx, `
		INSERT INTO relay_cursor (fund_id, published_seq)
		SELECT * FROM unnest($1::text[], $2::bigint[])
		ON CONFLICT (fund_id) DO UPDATE SET published_seq = greatest(relay_cursor.published_seq, excluded.published_seq)`,
		funds, seqs); err != nil {
		return fmt.Errorf("relay: store cursors: %w", err)
	}
	return nil
}

// OutboxLen counts committed messages not yet published: those queued in
// the outbox and every fund's journal transactions past its relay cursor.
func (s *Store) OutboxLen(ctx context.Context) (int64, error) {
	var n int64
	err := s.Pool.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM outbox)
		     + (SELECT coalesce(sum(f.head_seq - coalesce(c.published_seq, 0)), 0)
		          FROM funds f LEFT JOIN relay_cursor c ON c.fund_id = f.fund_id
		         WHERE f.head_seq > coalesce(c.published_seq, 0))::bigint`).Scan(&n)
	return n, err
}

// RegisterKey records a snapshot-signing public key so that auditors can
// fetch it by key id.
func (s *Store) RegisterKey(ctx context.Context, keyID string, pub []byte) error {
	_, err := s.Pool.Exec(ctx, `INSERT INTO signing_keys (key_id, public_key, created_at) VALUES ($1, $2, now())
		ON CONFLICT (key_id) DO NOTHING`, keyID, pub)
	if err != nil {
		return fmt.Errorf("register signing key: %w", err)
	}
	return nil
}

// Lag returns the consumer's stored stream position and how many events are
// held.
func (s *Store) Lag(ctx context.Context, consumer string) (position int64, held int64, err error) {
	err = s.Pool.QueryRow(ctx, `SELECT coalesce((SELECT stream_seq FROM consumer_state WHERE name = $1), 0),
		(SELECT count(*) FROM held)`, consumer).Scan(&position, &held)
	return position, held, err
}
