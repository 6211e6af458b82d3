package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// OutboxMessage is one message waiting to be published.
type OutboxMessage struct {
	ID      int64
	Subject string
	MsgID   string
	Payload []byte
}

// OutboxNext returns up to limit messages in the order they were written.
func (s *Store) OutboxNext(ctx context.Context, limit int) ([]OutboxMessage, error) {
	rows, err := s.Pool.Query(ctx, `SELECT id, subject, msg_id, payload FROM outbox ORDER BY id LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("outbox: read: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (OutboxMessage, error) {
		var m OutboxMessage
		err := r.Scan(&m.ID, &m.Subject, &m.MsgID, &m.Payload)
		return m, err
	})
}

// OutboxDone deletes messages JetStream has acknowledged.
func (s *Store) OutboxDone(ctx context.Context, ids []int64) error {
	if _, err := s.Pool.Exec(ctx, `DELETE FROM outbox WHERE id = ANY($1)`, ids); err != nil {
		return fmt.Errorf("outbox: delete: %w", err)
	}
	return nil
}

// OutboxLen counts messages not yet published.
func (s *Store) OutboxLen(ctx context.Context) (int64, error) {
	var n int64
	err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM outbox`).Scan(&n)
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
