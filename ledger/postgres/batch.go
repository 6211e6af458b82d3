package postgres

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/fundledger/fundledger/events"
	"github.com/fundledger/fundledger/ledger"
	"github.com/jackc/pgx/v5"
)

// This file is the store stage of the intake: one database transaction per
// batch that fences the writer, lets the apply stage (ledger.ApplyBatch)
// read what it needs through a unit of work over the transaction, writes
// what it produced (write.go) and the consumer's position, and commits.

// ErrFenced means another instance took over the consumer: this one must
// stop writing. The batch was not applied. Its kind is ledger.KindFenced.
var ErrFenced error = &ledger.Error{Op: "postgres: batch", Kind: ledger.KindFenced, Msg: "another instance holds the consumer"}

// BatchSettings are the rules a batch is applied with.
type BatchSettings struct {
	ledger.IntakeSettings
	// Failpoint, when set, is called at named points; an error it returns
	// aborts the batch there, as a crash would. Tests only.
	Failpoint func(point string) error
}

// BatchResult counts what a batch did.
type BatchResult = ledger.BatchResult

// ApplyBatch applies a decoded batch, in order, in one database
// transaction: the books, the inbox, the held events, the rejections, the
// outbox and the consumer's stream position commit together or not at all
// (see ledger.ApplyBatch for the rules).
//
// epoch fences the writer: if another instance has taken the consumer
// since, nothing is written and ErrFenced is returned.
func (s *Store) ApplyBatch(ctx context.Context, consumer string, epoch int64, batch []ledger.Inbound, now time.Time, set BatchSettings, snapshotAll bool) (BatchResult, error) {
	now = now.UTC().Truncate(time.Microsecond)
	var res BatchResult
	start := time.Now()
	err := s.fenced(ctx, consumer, epoch, func(tx pgx.Tx, position uint64) (uint64, error) {
		began := time.Now()
		reads := &stepTimer{}
		out, err := ledger.ApplyBatch(ctx, uow{loader{tx, reads}}, position, batch, now, set.IntakeSettings, snapshotAll)
		if err != nil {
			return 0, err
		}
		loads, loading := reads.steps()
		out.Result.Steps = append(out.Result.Steps, ledger.Step{Name: "begin", Took: began.Sub(start)},
			ledger.Step{Name: "apply rules", Took: time.Since(began) - loading})
		out.Result.Steps = append(out.Result.Steps, loads...)
		res = out.Result
		if err := write(ctx, tx, out, now); err != nil {
			return 0, err
		}
		res.Steps = out.Result.Steps
		if set.Failpoint != nil {
			if err := set.Failpoint("before-commit"); err != nil {
				return 0, err
			}
		}
		start = time.Now()
		return out.Result.Position, nil
	})
	if err != nil {
		return BatchResult{}, classify("postgres: apply batch", err)
	}
	res.Steps = append(res.Steps, ledger.Step{Name: "position and commit", Took: time.Since(start)})
	return res, nil
}

// RejectUnapplicable refuses one message that PostgreSQL will not store
// however often it is tried (a poison message), so the stream moves on: it
// records the rejection, the inbox row and the position in one transaction.
func (s *Store) RejectUnapplicable(ctx context.Context, consumer string, epoch int64, m events.Message, now time.Time, cause error) error {
	now = now.UTC().Truncate(time.Microsecond)
	err := s.fenced(ctx, consumer, epoch, func(tx pgx.Tx, position uint64) (uint64, error) {
		if m.StreamSeq <= position {
			return position, nil
		}
		// Keep only what the database surely accepts of the raw bytes.
		raw := []byte(base64.StdEncoding.EncodeToString(m.Data))
		out, err := ledger.RefuseUnstorable(ctx, uow{loader{tx: tx}}, m, now, raw, cause)
		if err != nil {
			return 0, err
		}
		if err := write(ctx, tx, out, now); err != nil {
			return 0, err
		}
		return m.StreamSeq, nil
	})
	return classify("postgres: refuse a message", err)
}

// classify gives a batch's error its kind, here at the store's edge: the
// database refusing the data itself (SQLSTATE classes 22 and 23) cannot
// be helped by trying again; anything else without a kind may be.
func classify(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case ledger.KindOf(err) != ledger.KindOther:
		return err
	case IsDataError(err):
		return ledger.E(op, ledger.KindRefused, err)
	}
	return ledger.E(op, ledger.KindTransient, err)
}

// fenced runs f in a transaction that holds the consumer's row: it aborts
// with ErrFenced when the epoch moved, and stores the position f returns.
func (s *Store) fenced(ctx context.Context, consumer string, epoch int64, f func(tx pgx.Tx, position uint64) (uint64, error)) error {
	return pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		var dbEpoch, pos int64
		err := tx.QueryRow(ctx, `SELECT epoch, stream_seq FROM consumer_state WHERE name = $1 FOR UPDATE`, consumer).Scan(&dbEpoch, &pos)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && dbEpoch != epoch) {
			return ErrFenced
		}
		if err != nil {
			return fmt.Errorf("read consumer position: %w", err)
		}
		// Every statement of a batch finds rows by key; the planner, which
		// cannot size unnest() inputs or young tables, would otherwise pick
		// hash or merge joins that scan whole tables.
		if _, err := tx.Exec(ctx, `SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off`); err != nil {
			return fmt.Errorf("batch settings: %w", err)
		}
		next, err := f(tx, uint64(pos))
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE consumer_state SET stream_seq = $2, updated_at = now() WHERE name = $1`,
			consumer, int64(max(next, uint64(pos)))); err != nil {
			return fmt.Errorf("store consumer position: %w", err)
		}
		return nil
	})
}

// uow is the apply stage's unit of work over a batch's transaction.
type uow struct{ loader }

func (u uow) Seen(ctx context.Context, ids []string) (map[string]bool, error) {
	defer u.t.since("load inbox", time.Now())
	rows, err := u.tx.Query(ctx, `SELECT event_id FROM inbox WHERE event_id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("read inbox: %w", err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read inbox: %w", err)
	}
	seen := make(map[string]bool, len(got))
	for _, id := range got {
		seen[id] = true
	}
	return seen, nil
}

func (u uow) HeldKeys(ctx context.Context, funds []string) ([]string, error) {
	defer u.t.since("load held", time.Now())
	rows, err := u.tx.Query(ctx, `SELECT DISTINCT fund_id, waiting_on FROM held WHERE fund_id = ANY($1)`, funds)
	if err != nil {
		return nil, fmt.Errorf("read held keys: %w", err)
	}
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var f, w string
		err := r.Scan(&f, &w)
		return ledger.HeldKey(f, w), err
	})
	if err != nil {
		return nil, fmt.Errorf("read held keys: %w", err)
	}
	return keys, nil
}

const heldColumns = `event_id, fund_id, stream_seq, subject, header, raw, waiting_on, code, received_at, deadline`

func scanHeld(r pgx.CollectableRow) (*ledger.HeldEvent, error) {
	h := &ledger.HeldEvent{}
	var seq int64
	var code string
	var header []byte
	err := r.Scan(&h.EventID, &h.FundID, &seq, &h.Subject, &header, &h.Raw, &h.WaitingOn, &code, &h.ReceivedAt, &h.Deadline)
	if err != nil {
		return nil, err
	}
	h.StreamSeq, h.Code = uint64(seq), events.Code(code)
	if len(header) > 0 {
		if err := json.Unmarshal(header, &h.Header); err != nil {
			return nil, fmt.Errorf("held event %s headers: %w", h.EventID, err)
		}
	}
	return h, nil
}

func (u uow) HeldOn(ctx context.Context, fundID, key string) ([]*ledger.HeldEvent, error) {
	defer u.t.since("load held", time.Now())
	rows, err := u.tx.Query(ctx, `SELECT `+heldColumns+` FROM held WHERE fund_id = $1 AND waiting_on = $2`, fundID, key)
	if err != nil {
		return nil, fmt.Errorf("read held events: %w", err)
	}
	items, err := pgx.CollectRows(rows, scanHeld)
	if err != nil {
		return nil, fmt.Errorf("read held events: %w", err)
	}
	return items, nil
}

func (u uow) Expired(ctx context.Context, now time.Time, limit int) ([]*ledger.HeldEvent, error) {
	defer u.t.since("load expired", time.Now())
	rows, err := u.tx.Query(ctx, `SELECT `+heldColumns+` FROM held WHERE deadline <= $1 ORDER BY stream_seq LIMIT $2`, now, limit)
	if err != nil {
		return nil, fmt.Errorf("read expired held events: %w", err)
	}
	items, err := pgx.CollectRows(rows, scanHeld)
	if err != nil {
		return nil, fmt.Errorf("read expired held events: %w", err)
	}
	return items, nil
}

func (u uow) Unsnapshotted(ctx context.Context) ([]string, error) {
	defer u.t.since("load unsnapshotted", time.Now())
	rows, err := u.tx.Query(ctx, `SELECT fund_id FROM funds WHERE head_seq > snapshot_journal_seq`)
	if err != nil {
		return nil, fmt.Errorf("find changed funds: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("find changed funds: %w", err)
	}
	return ids, nil
}

// RejectionView is a stored or published rejection (CONTRACT.md section 4).
type RejectionView = events.RejectionView
