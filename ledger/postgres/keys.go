package postgres

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/fundledger/fundledger/ledger"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The signing keys' history (migrations/016_keys_and_event_chain.sql,
// ledger/keys.go). The table only grows; an entry's valid_until is read
// from the next entry.

// KeysRotatedSubject is where a rotation is published (CONTRACT.md
// section 12).
const KeysRotatedSubject = "ledger._keys.rotated"

// ErrKeyHistoryMoved is returned by AppendKey when another entry was
// added first: read the history again.
var ErrKeyHistoryMoved = errors.New("the key history has a newer entry: another rotation came first")

// KeyHistory lists every signing key: first the keys of signing_keys that
// signed before the history began (Legacy, by the time they were
// registered), then the history's entries in seq order.
func (s *Store) KeyHistory(ctx context.Context) ([]ledger.KeyEntry, error) {
	return keyHistory(ctx, s.Pool)
}

func keyHistory(ctx context.Context, q verifyQuerier) ([]ledger.KeyEntry, error) {
	rows, err := q.Query(ctx, `SELECT seq, key_id, public_key, valid_from, prev_key_id, signature FROM key_history ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("read key history: %w", err)
	}
	var hist []ledger.KeyEntry
	var e ledger.KeyEntry
	var pub, sig []byte
	_, err = pgx.ForEachRow(rows, []any{&e.Seq, &e.KeyID, &pub, &e.ValidFrom, &e.PrevKeyID, &sig}, func() error {
		c := e
		c.PublicKey = ed25519.PublicKey(append([]byte(nil), pub...))
		c.Signature = append([]byte(nil), sig...)
		c.ValidFrom = c.ValidFrom.UTC()
		hist = append(hist, c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read key history: %w", err)
	}
	inHist := map[string]bool{}
	for i := range hist {
		inHist[ledger.SigningKeyID(hist[i].PublicKey)] = true
		if i+1 < len(hist) {
			u := hist[i+1].ValidFrom
			hist[i].ValidUntil = &u
		}
	}
	rows, err = q.Query(ctx, `SELECT public_key, created_at FROM signing_keys ORDER BY created_at, key_id`)
	if err != nil {
		return nil, fmt.Errorf("read signing keys: %w", err)
	}
	var legacy []ledger.KeyEntry
	var at time.Time
	_, err = pgx.ForEachRow(rows, []any{&pub, &at}, func() error {
		p := ed25519.PublicKey(append([]byte(nil), pub...))
		id := ledger.SigningKeyID(p)
		if inHist[id] {
			return nil
		}
		inHist[id] = true
		l := ledger.KeyEntry{KeyID: id, PublicKey: p, ValidFrom: at.UTC(), Legacy: true}
		if len(hist) > 0 {
			u := hist[0].ValidFrom
			l.ValidUntil = &u
		}
		legacy = append(legacy, l)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read signing keys: %w", err)
	}
	return append(legacy, hist...), nil
}

// CurrentKey is the history's last entry, or nil when the history is
// empty.
func (s *Store) CurrentKey(ctx context.Context) (*ledger.KeyEntry, error) {
	var e ledger.KeyEntry
	var pub, sig []byte
	err := s.Pool.QueryRow(ctx, `SELECT seq, key_id, public_key, valid_from, prev_key_id, signature
		FROM key_history ORDER BY seq DESC LIMIT 1`).Scan(&e.Seq, &e.KeyID, &pub, &e.ValidFrom, &e.PrevKeyID, &sig)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read key history: %w", err)
	}
	e.PublicKey, e.Signature, e.ValidFrom = pub, sig, e.ValidFrom.UTC()
	return &e, nil
}

// StartKeyHistory makes pub the history's first entry when the history is
// empty, signed by sign (pub's private key). Its valid_from is when the
// key was registered in signing_keys, if it was (a ledger from before the
// history that keeps its key), else now. It returns the current entry.
func (s *Store) StartKeyHistory(ctx context.Context, pub ed25519.PublicKey, sign func([]byte) []byte) (*ledger.KeyEntry, error) {
	if cur, err := s.CurrentKey(ctx); err != nil || cur != nil {
		return cur, err
	}
	id := ledger.SigningKeyID(pub)
	from := time.Now().UTC().Truncate(time.Microsecond)
	var registered *time.Time
	legacy := id[:ledger.KeyIDLegacyLen]
	if err := s.Pool.QueryRow(ctx, `SELECT min(created_at) FROM signing_keys WHERE key_id IN ($1, $2)`, legacy, id).Scan(&registered); err != nil {
		return nil, fmt.Errorf("read signing keys: %w", err)
	}
	if registered != nil && registered.Before(from) {
		from = registered.UTC().Truncate(time.Microsecond)
	}
	e := &ledger.KeyEntry{Seq: 1, KeyID: id, PublicKey: pub, ValidFrom: from}
	e.Signature = sign(ledger.KeyEntrySigningInput(e))
	if err := s.AppendKey(ctx, e); err != nil {
		if errors.Is(err, ErrKeyHistoryMoved) { // another instance started it first
			return s.CurrentKey(ctx)
		}
		return nil, err
	}
	return e, nil
}

// AppendKey adds a signed entry to the history and, for a rotation (seq
// above 1), queues its message on ledger._keys.rotated, in one
// transaction. Another entry with that seq is ErrKeyHistoryMoved.
func (s *Store) AppendKey(ctx context.Context, e *ledger.KeyEntry) error {
	if problems := ledger.CheckKeyHistory([]ledger.KeyEntry{*e}, nil); e.Seq == 1 && len(problems) > 0 {
		return fmt.Errorf("key entry 1: %s", problems[0])
	}
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO key_history (seq, key_id, public_key, valid_from, prev_key_id, signature)
			VALUES ($1, $2, $3, $4, $5, $6)`, e.Seq, e.KeyID, []byte(e.PublicKey), e.ValidFrom, e.PrevKeyID, e.Signature); err != nil {
			return err
		}
		if e.Seq == 1 {
			return nil
		}
		body, err := json.Marshal(e.View())
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO outbox (subject, msg_id, payload) VALUES ($1, $2, $3)`,
			KeysRotatedSubject, "keys.rotated:"+strconv.FormatInt(e.Seq, 10), body)
		return err
	})
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return ErrKeyHistoryMoved
	}
	if err != nil {
		return fmt.Errorf("append to the key history: %w", err)
	}
	return nil
}
