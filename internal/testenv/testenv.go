// Package testenv starts the real things tests need: a fresh PostgreSQL
// database in the cluster FUNDLEDGER_TEST_DATABASE_URL points at (make test
// sets it; see scripts/test.sh), an in-process NATS JetStream server, and
// the fundledger service itself.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fundledger/fundledger/events"
	"github.com/fundledger/fundledger/ledger/postgres"
	"github.com/fundledger/fundledger/service"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// AdminURL is the superuser URL of the test cluster. A test that needs the
// database fails (never skips) when it is not set: a suite that silently
// skips its database tests proves nothing.
func AdminURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("FUNDLEDGER_TEST_DATABASE_URL")
	if u == "" {
		t.Fatal("FUNDLEDGER_TEST_DATABASE_URL is not set: run the tests with `make test` (scripts/test.sh starts PostgreSQL)")
	}
	return u
}

// NewDatabase creates an empty database, dropped when the test ends, and
// returns its URL (superuser login).
func NewDatabase(t testing.TB) string {
	t.Helper()
	admin := AdminURL(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect to test cluster: %v", err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "fl_test_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), admin)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("parse FUNDLEDGER_TEST_DATABASE_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// NATS starts an in-process JetStream server with file storage under a
// temporary directory, accepting messages up to maxPayload bytes (8 MiB
// when 0, as the embedded default).
func NATS(t testing.TB, maxPayload int32) *server.Server {
	t.Helper()
	if maxPayload == 0 {
		maxPayload = events.MaxMessageBytes
	}
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: t.TempDir(), MaxPayload: maxPayload, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

// Ledger is a running service with its database and JetStream.
type Ledger struct {
	T       testing.TB
	DBURL   string
	NATS    *server.Server
	Config  service.Config
	Service *service.Service
	NC      *nats.Conn
	JS      jetstream.JetStream
	DB      *pgx.Conn // superuser connection to the ledger's database

	cancel context.CancelFunc
	done   chan error
	mu     sync.Mutex
}

// Options adjust a test ledger.
type Options struct {
	HoldWindow       time.Duration
	SnapshotEvery    int64
	SnapshotInterval time.Duration
	BatchSize        int
	Failpoint        func(string) error
	API              func(*postgres.Store) http.Handler
	// MaxPayload is the NATS server's max_payload (8 MiB when 0).
	MaxPayload int32
	// SigningKeyFile, when set, is the ledger's key file (made on first
	// start) instead of a key in the configuration.
	SigningKeyFile string
}

// Start runs a ledger on a fresh database and a fresh JetStream.
func Start(t testing.TB, o Options) *Ledger {
	t.Helper()
	l := &Ledger{T: t, DBURL: NewDatabase(t), NATS: NATS(t, o.MaxPayload)}
	l.Config = service.Config{
		DatabaseURL: l.DBURL, NATSURL: l.NATS.ClientURL(), DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0",
		HoldWindow: o.HoldWindow, SnapshotEvery: o.SnapshotEvery, SnapshotInterval: o.SnapshotInterval,
		BatchSize: o.BatchSize, Failpoint: o.Failpoint, API: o.API,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		// One key for the ledger's life, also across restarts and for a
		// second instance (a copy of Config): never a file in the home
		// directory.
		SigningKey: TestSigningSeed(),
	}
	if o.SigningKeyFile != "" {
		l.Config.SigningKey, l.Config.SigningKeyFile = "", o.SigningKeyFile
	}
	if os.Getenv("FUNDLEDGER_TEST_LOG") != "" {
		l.Config.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if l.Config.HoldWindow == 0 {
		l.Config.HoldWindow = 2 * time.Second
	}
	nc, err := nats.Connect(l.NATS.ClientURL())
	if err != nil {
		t.Fatalf("nats connect: %v", err)
	}
	t.Cleanup(nc.Close)
	l.NC = nc
	l.JS, _ = jetstream.New(nc)
	l.Restart()
	t.Cleanup(l.Stop)
	db, err := pgx.Connect(context.Background(), l.DBURL)
	if err != nil {
		t.Fatalf("connect ledger db: %v", err)
	}
	t.Cleanup(func() { db.Close(context.Background()) })
	l.DB = db
	return l
}

// Restart starts the service (again), as a process restart would.
func (l *Ledger) Restart() {
	l.mu.Lock()
	defer l.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.done = make(chan error, 1)
	l.Service = service.New(l.Config)
	go func() { l.done <- l.Service.Run(ctx) }()
	select {
	case <-l.Service.Ready():
	case err := <-l.done:
		l.T.Fatalf("service stopped at start: %v", err)
	case <-time.After(30 * time.Second):
		l.T.Fatal("service not ready in 30s")
	}
}

// Stop stops the service and waits for it.
func (l *Ledger) Stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cancel == nil {
		return
	}
	l.cancel()
	select {
	case <-l.done:
	case <-time.After(30 * time.Second):
		l.T.Error("service did not stop in 30s")
	}
	l.cancel = nil
}

// Envelope builds an event envelope with a fresh id.
func Envelope(typ string, data any) map[string]any {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return map[string]any{"specversion": "1.0", "id": "evt-" + hex.EncodeToString(b), "source": "approvals/test",
		"type": typ, "time": "2026-03-02T09:15:00+08:00", "datacontenttype": "application/json", "data": data}
}

// Publish sends an envelope on fund.<fund>.<type> with Nats-Msg-Id and
// returns its id.
func (l *Ledger) Publish(fund string, env map[string]any) string {
	l.T.Helper()
	b, err := json.Marshal(env)
	if err != nil {
		l.T.Fatal(err)
	}
	id, _ := env["id"].(string)
	l.PublishRaw(events.InboundSubject(fund, fmt.Sprint(env["type"])), b, id)
	return id
}

// PublishRaw sends bytes as they are.
func (l *Ledger) PublishRaw(subject string, data []byte, msgID string) {
	l.T.Helper()
	var opts []jetstream.PublishOpt
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	if _, err := l.JS.Publish(context.Background(), subject, data, opts...); err != nil {
		l.T.Fatalf("publish %s: %v", subject, err)
	}
}

// Event publishes a new event and returns its envelope id.
func (l *Ledger) Event(fund, typ string, data any) string {
	return l.Publish(fund, Envelope(typ, data))
}

// WaitIdle waits until the consumer position reached the stream's last
// sequence and everything committed was published: no outbox message is
// left and every fund's relay cursor is at its head.
func (l *Ledger) WaitIdle() {
	l.T.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		st, err := l.JS.Stream(ctx, events.InboundStream)
		if err == nil {
			info, err := st.Info(ctx)
			if err == nil {
				var pos, outbox int64
				qerr := l.DB.QueryRow(ctx, `SELECT coalesce((SELECT stream_seq FROM consumer_state WHERE name='fundledger'),0),
					(SELECT count(*) FROM outbox) + (SELECT count(*) FROM funds f LEFT JOIN relay_cursor c ON c.fund_id = f.fund_id
					  WHERE f.head_seq > coalesce(c.published_seq, 0))`).Scan(&pos, &outbox)
				if qerr == nil && uint64(pos) >= info.State.LastSeq && outbox == 0 {
					return
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	l.T.Fatal("ledger not idle after 60s")
}

// Balance is an account's balance on its normal side, as text.
func (l *Ledger) Balance(fund, account string) string {
	l.T.Helper()
	var s string
	err := l.DB.QueryRow(context.Background(), `
		SELECT coalesce((SELECT CASE WHEN $2 = 'cash' OR $2 = 'allocations:out' OR $2 LIKE 'grant\_expense:%' OR $2 = 'expenses:bank_charges'
		  THEN debits - credits ELSE credits - debits END FROM balances WHERE fund_id = $1 AND account = $2), 0)::numeric(20,2)::text`,
		fund, account).Scan(&s)
	if err != nil {
		l.T.Fatalf("balance %s %s: %v", fund, account, err)
	}
	return s
}

// Rejection is one stored rejection.
type Rejection struct {
	EventID, Type, FundID, Code, Message string
	Lines                                []events.LineError
}

// Rejections lists the stored rejections in order.
func (l *Ledger) Rejections() []Rejection {
	l.T.Helper()
	rows, err := l.DB.Query(context.Background(), `SELECT event_id, type, fund_id, code, message, coalesce(lines, '[]') FROM rejections ORDER BY seq`)
	if err != nil {
		l.T.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Rejection, error) {
		var x Rejection
		var lines []byte
		err := r.Scan(&x.EventID, &x.Type, &x.FundID, &x.Code, &x.Message, &lines)
		if err == nil {
			err = json.Unmarshal(lines, &x.Lines)
		}
		return x, err
	})
	if err != nil {
		l.T.Fatal(err)
	}
	return out
}

// RejectionOf returns the rejection of an envelope id, or nil.
func (l *Ledger) RejectionOf(eventID string) *Rejection {
	for _, r := range l.Rejections() {
		if r.EventID == eventID {
			r := r
			return &r
		}
	}
	return nil
}

// Count runs a count query.
func (l *Ledger) Count(sql string, args ...any) int64 {
	l.T.Helper()
	var n int64
	if err := l.DB.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		l.T.Fatalf("%s: %v", strings.TrimSpace(sql), err)
	}
	return n
}

// TestSigningSeed is a fresh signing key seed, base64, for a test ledger.
func TestSigningSeed() string {
	seed := make([]byte, 32)
	_, _ = rand.Read(seed)
	return base64.StdEncoding.EncodeToString(seed)
}
