package httpapi

// The access log (CONTRACT.md section 9): every request that presents a
// token, valid or not, is recorded with who the token names (only when
// its signature verified), the method, the path with its query and the
// status answered. It is written off the request path: a request only
// reserves a place in a bounded queue before it is served and drops its
// entry there after; one writer copies the queue into the database in
// batches. When the database cannot take the log and the queue is full,
// requests with a token are refused (503) rather than served unrecorded.
// GET /v1/access-log first writes what is queued, so a page shows every
// request answered before it.

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/fundledger/fundledger/ledger/postgres"
)

// AccessLogStore is where the access log is written: the ledger's store.
type AccessLogStore interface {
	AppendAccessLog(ctx context.Context, entries []postgres.AccessEntry) error
}

// AccessLogOptions tune the writer; zero values take the defaults.
type AccessLogOptions struct {
	// Queue is how many entries may wait to be written (default 10,000).
	Queue int
	// Batch is how many entries make a write start at once (default 256).
	Batch int
	// Every is how long an entry waits at most before it is written
	// (default 200 ms).
	Every time.Duration
	// Wait is how long a request waits for a place in a full queue before
	// it is refused with 503 (default 2 s).
	Wait time.Duration
	Log  *slog.Logger
}

// AccessLog is the access log's writer.
type AccessLog struct {
	store AccessLogStore
	o     AccessLogOptions

	slots chan struct{} // one per entry reserved, queued or being written
	mu    sync.Mutex
	queue []postgres.AccessEntry
	kick  chan struct{}
	flush chan chan error
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

// NewAccessLog starts the writer; Close stops it.
func NewAccessLog(store AccessLogStore, o AccessLogOptions) *AccessLog {
	if o.Queue <= 0 {
		o.Queue = 10000
	}
	if o.Batch <= 0 {
		o.Batch = 256
	}
	if o.Every <= 0 {
		o.Every = 200 * time.Millisecond
	}
	if o.Wait <= 0 {
		o.Wait = 2 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	l := &AccessLog{store: store, o: o, slots: make(chan struct{}, o.Queue), kick: make(chan struct{}, 1),
		flush: make(chan chan error), stop: make(chan struct{}), done: make(chan struct{})}
	go l.run()
	return l
}

// reserve takes a place for one entry; false when none came free in time.
func (l *AccessLog) reserve(ctx context.Context) bool {
	select {
	case l.slots <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(l.o.Wait)
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
		return true
	case <-t.C:
	case <-ctx.Done():
	case <-l.stop:
	}
	return false
}

// add queues an entry in the place reserve took.
func (l *AccessLog) add(e postgres.AccessEntry) {
	l.mu.Lock()
	l.queue = append(l.queue, e)
	n := len(l.queue)
	l.mu.Unlock()
	if n >= l.o.Batch {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
}

// Flush returns once every entry queued before it is written.
func (l *AccessLog) Flush(ctx context.Context) error {
	ch := make(chan error, 1)
	select {
	case l.flush <- ch:
	case <-l.done:
		return errors.New("access log closed")
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close writes what is queued (for at most 5 s) and stops the writer.
func (l *AccessLog) Close() error {
	l.once.Do(func() { close(l.stop) })
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := len(l.queue); n > 0 {
		return errors.New("access log: entries not written at the stop")
	}
	return nil
}

func (l *AccessLog) run() {
	defer close(l.done)
	tick := time.NewTicker(l.o.Every)
	defer tick.Stop()
	backoff := 100 * time.Millisecond
	for {
		var waiting []chan error
		stopping := false
		select {
		case <-l.kick:
		case <-tick.C:
		case ch := <-l.flush:
			waiting = append(waiting, ch)
		case <-l.stop:
			stopping = true
		}
		err := l.writeQueued()
		for _, ch := range waiting {
			ch <- err
		}
		if stopping {
			l.drain()
			return
		}
		if err == nil {
			backoff = 100 * time.Millisecond
			continue
		}
		l.o.Log.Error("access log not written; keeping the entries and retrying (requests with a token are refused once the queue is full)",
			"err", err.Error(), "retry_in", backoff.String())
		select {
		case <-time.After(backoff):
		case <-l.stop:
			l.drain()
			return
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// writeQueued writes what is queued now, in one batch, and frees its
// places; on an error the entries stay queued.
func (l *AccessLog) writeQueued() error {
	l.mu.Lock()
	batch := l.queue
	l.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	err := l.store.AppendAccessLog(ctx, batch)
	cancel()
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.queue = l.queue[len(batch):]
	if len(l.queue) == 0 {
		l.queue = nil // let the old array go
	}
	l.mu.Unlock()
	for range batch {
		<-l.slots
	}
	return nil
}

// drain writes what is left at the stop, trying for at most 5 s.
func (l *AccessLog) drain() {
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := l.writeQueued()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			l.mu.Lock()
			n := len(l.queue)
			l.mu.Unlock()
			l.o.Log.Error("access log: entries lost at the stop", "entries", n, "err", err.Error())
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// record queues the entry of a request that presented a token, in the
// place guard reserved for it.
func (a *API) record(r *http.Request, start time.Time, p *Principal, status int) {
	path := r.URL.RequestURI()
	if len(path) > maxLoggedPath {
		path = path[:maxLoggedPath] + "...(cut)"
	}
	e := postgres.AccessEntry{At: start.UTC(), Method: r.Method, Path: path, Status: status, Roles: []string{}}
	if p != nil && !p.open {
		// Only a token whose signature verified names someone.
		e.Sub = p.Sub
		if p.Roles != nil {
			e.Roles = p.Roles
		}
	}
	a.AccessLog.add(e)
}

// maxLoggedPath bounds the path and query kept per request.
const maxLoggedPath = 8192

// accessLog serves GET /v1/access-log?after=&limit=.
func (a *API) accessLog(w http.ResponseWriter, r *http.Request) {
	after, limit, err := paging(r, "after")
	if err != nil {
		a.badParam(w, r, err)
		return
	}
	if a.AccessLog != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		err := a.AccessLog.Flush(ctx)
		cancel()
		if err != nil {
			a.logger().Warn("access log page served before the queue was written", "err", err.Error())
		}
	}
	page, err := a.Store.AccessLog(r.Context(), after, limit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}
