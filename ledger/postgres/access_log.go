package postgres

// The access log (migrations/011_access_log.sql): who presented a token
// to the read API, for what, and what they were answered.

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/fundledger/fundledger/ledger"
	"github.com/jackc/pgx/v5"
)

// AccessEntry is one request recorded in the access log.
type AccessEntry struct {
	Seq    int64    `json:"seq"`
	Time   string   `json:"time"`
	Sub    string   `json:"sub"`
	Roles  []string `json:"roles"`
	Method string   `json:"method"`
	Path   string   `json:"path"`
	Status int      `json:"status"`
	// Hash and PrevHash chain the entries (hex; docs/audit.md section
	// 13); empty for entries written before the chain began.
	Hash     string `json:"hash,omitempty"`
	PrevHash string `json:"prev_hash,omitempty"`

	// At is Time as a time, for AppendAccessLog.
	At time.Time `json:"-"`
}

// AccessLogPage is a page of the access log, oldest first; NextAfter is
// the after of the next page.
type AccessLogPage struct {
	Entries   []AccessEntry `json:"entries"`
	NextAfter int64         `json:"next_after"`
}

// accessLogLock is the advisory lock key that orders the writers of the
// access log's chain (every serve instance writes the log).
const accessLogLock = 7_146_223_001

// AppendAccessLog appends entries in their order to the access log's
// chain, in one transaction: under an advisory lock it reads the chain's
// head, numbers and hashes the entries after it and copies them in. Only
// the log's writer calls it, once per batch: no request waits for it.
func (s *Store) AppendAccessLog(ctx context.Context, entries []AccessEntry) error {
	if len(entries) == 0 {
		return nil
	}
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(accessLogLock)); err != nil {
			return err
		}
		var seq int64
		var head []byte
		err := tx.QueryRow(ctx, `SELECT seq, hash FROM access_log ORDER BY seq DESC LIMIT 1`).Scan(&seq, &head)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if len(head) != sha256.Size { // empty, or entries from before the chain
			head = ledger.GenesisHash
		}
		rows := make([][]any, len(entries))
		for i := range entries {
			e := ledger.AccessLogEntry{Seq: seq + int64(i) + 1, PrevHash: head, Time: e0(entries[i].At),
				Sub: ledger.AccessLogText(entries[i].Sub), Roles: make([]string, len(entries[i].Roles)),
				Method: ledger.AccessLogText(entries[i].Method), Path: ledger.AccessLogText(entries[i].Path), Status: entries[i].Status}
			for k, r := range entries[i].Roles {
				e.Roles[k] = ledger.AccessLogText(r)
			}
			e.Hash = ledger.HashAccessLogEntry(&e)
			rows[i] = []any{e.Seq, e.Time, e.Sub, e.Roles, e.Method, e.Path, int16(e.Status), e.PrevHash, e.Hash}
			head = e.Hash
		}
		// COPY writes the seq given, as INSERT ... OVERRIDING SYSTEM VALUE.
		_, err = tx.CopyFrom(ctx, pgx.Identifier{"access_log"}, []string{"seq", "time", "sub", "roles", "method", "path", "status", "prev_hash", "hash"},
			pgx.CopyFromRows(rows))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence('access_log', 'seq'), $1)`, seq+int64(len(entries)))
		return err
	})
	if err != nil {
		return fmt.Errorf("write access log: %w", err)
	}
	return nil
}

// e0 is an entry's time as the chain keeps it: UTC, microseconds.
func e0(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// VerifyAccessLog checks the access log's chain from its first hashed
// entry to its end (ledger.AccessLogVerifier), streamed in seq order.
func (s *Store) VerifyAccessLog(ctx context.Context) (*ledger.AccessLogVerifier, error) {
	v := ledger.NewAccessLogVerifier()
	err := pgx.BeginTxFunc(ctx, s.Pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT seq, time, sub, roles, method, path, status, prev_hash, hash FROM access_log ORDER BY seq`)
		if err != nil {
			return err
		}
		var e ledger.AccessLogEntry
		var status int16
		_, err = pgx.ForEachRow(rows, []any{&e.Seq, &e.Time, &e.Sub, &e.Roles, &e.Method, &e.Path, &status, &e.PrevHash, &e.Hash}, func() error {
			c := e
			c.Status, c.Time = int(status), e.Time.UTC()
			v.Entry(&c)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("verify access log: %w", err)
	}
	return v, nil
}

// AccessLog pages the access log after seq after, oldest first; limit is
// clamped to 1..MaxLimit (0 means DefaultLimit).
func (s *Store) AccessLog(ctx context.Context, after int64, limit int) (*AccessLogPage, error) {
	rows, err := s.Pool.Query(ctx, `SELECT seq, time, sub, roles, method, path, status,
		coalesce(encode(hash, 'hex'), ''), coalesce(encode(prev_hash, 'hex'), '') FROM access_log
		WHERE seq > $1 ORDER BY seq LIMIT $2`, after, clampLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("read access log: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (AccessEntry, error) {
		var e AccessEntry
		var status int16
		err := r.Scan(&e.Seq, &e.At, &e.Sub, &e.Roles, &e.Method, &e.Path, &status, &e.Hash, &e.PrevHash)
		e.Status, e.Time = int(status), ledger.TimeText(e.At)
		if e.Roles == nil {
			e.Roles = []string{}
		}
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("read access log: %w", err)
	}
	page := &AccessLogPage{Entries: list, NextAfter: after}
	if page.Entries == nil {
		page.Entries = []AccessEntry{}
	}
	if n := len(list); n > 0 {
		page.NextAfter = list[n-1].Seq
	}
	return page, nil
}
