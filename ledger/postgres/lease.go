package postgres

import (
	"context"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"
)

// Lease is this instance's right to consume: a session advisory lock held on
// a dedicated connection, and the epoch it bumped when it took the lock.
// Every batch checks the epoch under a row lock, so an instance that lost
// its lock without noticing (a frozen process, a cut connection) cannot
// write once another has taken over.
type Lease struct {
	Consumer string
	Epoch    int64
	// Position is the last stream sequence applied when the lease was taken.
	Position uint64
	conn     *pgx.Conn
}

func lockKey(consumer string) int64 {
	h := fnv.New64a()
	h.Write([]byte("fundledger-consumer:" + consumer))
	return int64(h.Sum64())
}

// AcquireLease waits until this instance holds the consumer, polling every
// interval while another instance holds it. url must connect with the
// service's login (the lock lives as long as that connection).
func AcquireLease(ctx context.Context, url, consumer, holder string, interval time.Duration) (*Lease, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("lease: parse DATABASE_URL: %w", err)
	}
	for k, v := range sessionLimits { // a vanished holder's lock is released within ~40 s
		if _, set := cfg.RuntimeParams[k]; !set {
			cfg.RuntimeParams[k] = v
		}
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("lease: connect: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			conn.Close(context.Background())
		}
	}()
	for {
		var got bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, lockKey(consumer)).Scan(&got); err != nil {
			return nil, fmt.Errorf("lease: lock: %w", err)
		}
		if got {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(interval):
		}
	}
	l := &Lease{Consumer: consumer, conn: conn}
	var pos int64
	err = conn.QueryRow(ctx, `
		INSERT INTO consumer_state (name, epoch, holder, updated_at) VALUES ($1, 1, $2, now())
		ON CONFLICT (name) DO UPDATE SET epoch = consumer_state.epoch + 1, holder = $2, updated_at = now()
		RETURNING epoch, stream_seq`, consumer, holder).Scan(&l.Epoch, &pos)
	if err != nil {
		return nil, fmt.Errorf("lease: take epoch: %w", err)
	}
	l.Position = uint64(pos)
	ok = true
	return l, nil
}

// Check pings the lock's connection; an error means the lock may be gone and
// the holder must stop and acquire again.
func (l *Lease) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return l.conn.Ping(ctx)
}

// Release gives the lock up.
func (l *Lease) Release() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	l.conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, lockKey(l.Consumer))
	l.conn.Close(ctx)
}
