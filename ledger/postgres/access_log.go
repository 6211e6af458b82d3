package postgres

// The access log (migrations/011_access_log.sql): who presented a token
// to the read API, for what, and what they were answered.

import (
	"context"
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

	// At is Time as a time, for AppendAccessLog.
	At time.Time `json:"-"`
}

// AccessLogPage is a page of the access log, oldest first; NextAfter is
// the after of the next page.
type AccessLogPage struct {
	Entries   []AccessEntry `json:"entries"`
	NextAfter int64         `json:"next_after"`
}

// AppendAccessLog writes entries in their order, in one COPY.
func (s *Store) AppendAccessLog(ctx context.Context, entries []AccessEntry) error {
	if len(entries) == 0 {
		return nil
	}
	_, err := s.Pool.CopyFrom(ctx, pgx.Identifier{"access_log"}, []string{"time", "sub", "roles", "method", "path", "status"},
		pgx.CopyFromSlice(len(entries), func(i int) ([]any, error) {
			e := entries[i]
			roles := e.Roles
			if roles == nil {
				roles = []string{}
			}
			return []any{e.At, e.Sub, roles, e.Method, e.Path, int16(e.Status)}, nil
		}))
	if err != nil {
		return fmt.Errorf("write access log: %w", err)
	}
	return nil
}

// AccessLog pages the access log after seq after, oldest first; limit is
// clamped to 1..MaxLimit (0 means DefaultLimit).
func (s *Store) AccessLog(ctx context.Context, after int64, limit int) (*AccessLogPage, error) {
	rows, err := s.Pool.Query(ctx, `SELECT seq, time, sub, roles, method, path, status FROM access_log
		WHERE seq > $1 ORDER BY seq LIMIT $2`, after, clampLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("read access log: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (AccessEntry, error) {
		var e AccessEntry
		var status int16
		err := r.Scan(&e.Seq, &e.At, &e.Sub, &e.Roles, &e.Method, &e.Path, &status)
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
