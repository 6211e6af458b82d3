// Package postgres is fundledger's store: the books in PostgreSQL. It loads
// what a batch of events needs into ledger.Books, applies the batch in one
// database transaction together with the inbox, the outbox and the
// consumer's position, and serves the reads of the API.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fundledger/fundledger/migrations"
	pgxdecimal "github.com/jackc/pgx-shopspring-decimal"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
)

// AppRole is the role the service works as: it may SELECT and INSERT on the
// journal, never UPDATE, DELETE or TRUNCATE.
const AppRole = "fundledger_app"

// Store is the PostgreSQL-backed book store.
type Store struct {
	Pool *pgxpool.Pool
}

// Options tune Open.
type Options struct {
	// Role, when not empty, is set on every connection (SET ROLE), so the
	// service holds only the rights of that role even when it logs in as
	// the database owner. Open uses AppRole when Role is empty and NoRole
	// is false.
	Role     string
	NoRole   bool
	MaxConns int32
}

// sessionLimits are set on every connection unless the URL sets them.
var sessionLimits = map[string]string{
	"idle_in_transaction_session_timeout": "60s",
	"tcp_keepalives_idle":                 "20",
	"tcp_keepalives_interval":             "5",
	"tcp_keepalives_count":                "4",
}

// Open connects a pool to url. Run Migrate first: the role it sets is made
// by the migrations.
func Open(ctx context.Context, url string, o Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse DATABASE_URL: %w", err)
	}
	if o.MaxConns > 0 {
		cfg.MaxConns = o.MaxConns
	} else if cfg.MaxConns < 8 {
		cfg.MaxConns = 8
	}
	// A leader cut off mid-batch must not hold the consumer row's lock
	// until TCP gives up (two hours by default): the server ends an idle
	// transaction after a minute and probes a silent peer within ~40 s.
	for k, v := range sessionLimits {
		if _, set := cfg.ConnConfig.RuntimeParams[k]; !set {
			cfg.ConnConfig.RuntimeParams[k] = v
		}
	}
	role := o.Role
	if role == "" && !o.NoRole {
		role = AppRole
	}
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		pgxdecimal.Register(c.TypeMap())
		if role != "" {
			if _, err := c.Exec(ctx, "SET ROLE "+pgx.Identifier{role}.Sanitize()); err != nil {
				return fmt.Errorf("postgres: set role %s: %w", role, err)
			}
		}
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	return &Store{Pool: pool}, nil
}

// Close closes the pool.
func (s *Store) Close() { s.Pool.Close() }

// Migrate applies the embedded migrations in order, under tern's advisory
// lock so concurrent starts are safe.
func Migrate(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("migrate: connect: %w", err)
	}
	defer conn.Close(context.Background())
	m, err := migrate.NewMigrator(ctx, conn, "fundledger_schema_version")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := m.LoadMigrations(migrations.FS); err != nil {
		return fmt.Errorf("migrate: load: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// WaitReady retries a trivial query until the database answers or ctx ends,
// so the service survives a database that starts after it.
func WaitReady(ctx context.Context, url string, log func(error)) error {
	delay := 200 * time.Millisecond
	for {
		c, err := pgx.Connect(ctx, url)
		if err == nil {
			c.Close(ctx)
			return nil
		}
		if log != nil {
			log(err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		if delay < 5*time.Second {
			delay *= 2
		}
	}
}

// IsDataError reports whether err is PostgreSQL refusing the data itself
// (classes 22 and 23, or a raised check), as opposed to a connection or
// server failure that is worth retrying.
func IsDataError(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && len(pe.Code) == 5 {
		switch pe.Code[:2] {
		case "22", "23":
			return true
		}
	}
	return false
}
