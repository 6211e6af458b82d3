package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/fundledger/fundledger/workload"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"
)

// What the bench reads of serve's database (the rest it learns from NATS):
// the stored consumer position, the number of journal transactions, and
// the messages committed but not yet relayed, in whichever of the two
// places the schema keeps them: rows of an outbox table, and journal
// transactions past a fund's relay cursor (migrations/006: the journal is
// the outbox of ledger.<fund>.posted).
const (
	sqlPosition = `SELECT stream_seq FROM consumer_state WHERE name = 'fundledger'`
	sqlJournal  = `SELECT count(*) FROM journal`
	sqlTables   = `SELECT to_regclass('outbox') IS NOT NULL, to_regclass('relay_cursor') IS NOT NULL`
	sqlOutbox   = `SELECT count(*) FROM outbox`
	sqlCursor   = `SELECT coalesce(sum(f.head_seq - coalesce(c.published_seq, 0)), 0)
	                 FROM funds f LEFT JOIN relay_cursor c ON c.fund_id = f.fund_id
	                WHERE f.head_seq > coalesce(c.published_seq, 0)`
)

// catchUp is how one serve run went through a preloaded stream.
type catchUp struct {
	start   time.Duration // from starting serve to its taking the consumer lease
	applied time.Duration // from the lease to the commit of the stream's last event
	lag     time.Duration // from that commit to LEDGER_OUT holding every posted message
	pending int64         // messages not yet relayed at that commit; -1: no place the bench knows
	txns    int64         // journal transactions after the run
}

// watch polls the run's database every 20 ms until the stored consumer
// position reaches last: that commit ends the throughput clock, which
// starts when serve takes the consumer lease (its migrations and
// connections are not counted). Then it polls LEDGER_OUT every 10 ms until
// it holds wantPosted messages on ledger.*.posted: the relay's lag behind
// the commit as the bench saw it.
func (b *bench) watch(ctx context.Context, dbURL, natsURL string, s *serveProc, last uint64, wantPosted int64, profilePath string) (catchUp, error) {
	c := catchUp{pending: -1}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return c, err
	}
	defer conn.Close(context.Background())
	began := time.Now()
	var leased time.Time
	deadline := began.Add(2 * time.Hour)
	lastPrint := began
	profiled := profilePath == ""
	for {
		if time.Now().After(deadline) {
			return c, errors.New("the run did not finish in 2 hours")
		}
		if err := ctx.Err(); err != nil {
			return c, err
		}
		select {
		case <-s.done:
			return c, errors.New("serve exited during the run (see its log in the work directory)")
		default:
		}
		var pos int64
		err := conn.QueryRow(ctx, sqlPosition).Scan(&pos)
		now := time.Now()
		if err == nil {
			if leased.IsZero() {
				leased = now
				c.start = now.Sub(began)
			}
			if !profiled && now.Sub(leased) > 2*time.Second {
				profiled = true
				go profile(profilePath)
			}
			if uint64(pos) >= last {
				c.applied = now.Sub(leased)
				break
			}
			if now.Sub(lastPrint) > 10*time.Second {
				lastPrint = now
				fmt.Fprintf(b.log, "bench:   %d/%d after %.0fs (%.0f/s so far), RSS %.0f MiB\n", pos, last,
					now.Sub(leased).Seconds(), float64(pos)/now.Sub(leased).Seconds(), s.peakRSS())
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	committed := time.Now()
	if c.pending, err = unrelayed(ctx, conn); err != nil {
		return c, err
	}
	if err := conn.QueryRow(ctx, sqlJournal).Scan(&c.txns); err != nil {
		return c, err
	}
	lag, err := relayLag(ctx, natsURL, committed, wantPosted, s)
	c.lag = lag
	return c, err
}

// unrelayed counts the messages committed but not yet relayed: outbox
// rows and journal transactions past the relay cursors, each when its table
// exists; -1 when neither does.
func unrelayed(ctx context.Context, conn *pgx.Conn) (int64, error) {
	var hasOutbox, hasCursor bool
	if err := conn.QueryRow(ctx, sqlTables).Scan(&hasOutbox, &hasCursor); err != nil {
		return 0, err
	}
	total := int64(-1)
	for _, q := range []struct {
		has bool
		sql string
	}{{hasOutbox, sqlOutbox}, {hasCursor, sqlCursor}} {
		if !q.has {
			continue
		}
		var n int64
		if err := conn.QueryRow(ctx, q.sql).Scan(&n); err != nil {
			return 0, fmt.Errorf("messages not yet relayed: %w", err)
		}
		total = max(total, 0) + n
	}
	return total, nil
}

// relayLag waits until LEDGER_OUT holds want messages on ledger.*.posted
// and returns how long after since that was.
func relayLag(ctx context.Context, natsURL string, since time.Time, want int64, s *serveProc) (time.Duration, error) {
	nc, err := nats.Connect(natsURL)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	js, err := njs.New(nc)
	if err != nil {
		return 0, err
	}
	deadline := since.Add(10 * time.Minute)
	var got int64
	for {
		got, err = postedCount(ctx, js)
		if err != nil {
			return 0, err
		}
		if got >= want {
			return time.Since(since), nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("LEDGER_OUT held %d of %d posted messages 10 minutes after the commit", got, want)
		}
		select {
		case <-s.done:
			return 0, fmt.Errorf("serve exited with %d of %d posted messages relayed", got, want)
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// postedCount is the number of messages on ledger.*.posted in LEDGER_OUT
// (0 before serve has made the stream).
func postedCount(ctx context.Context, js njs.JetStream) (int64, error) {
	st, err := js.Stream(ctx, outboundStream)
	if errors.Is(err, njs.ErrStreamNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	info, err := st.Info(ctx, njs.WithSubjectFilter(postedSubjects))
	if err != nil {
		return 0, err
	}
	var n int64
	for _, c := range info.State.Subjects {
		n += int64(c)
	}
	return n, nil
}

// throughputRows are the lines of one throughput measure.
type throughputRows struct {
	rate, txns, lag, pending, rss *result
}

// throughput preloads a stream once, then runs serve over it from a fresh
// database b.runs times per binary, alternating the binaries.
// templates, when not nil, holds per binary label the database each run
// starts from.
func (b *bench) throughput(ctx context.Context, key, title string, cfg workload.Config, unit string, templates map[string]*benchTemplate) (throughputRows, error) {
	fmt.Fprintf(b.log, "\nbench: %s\n", title)
	rows := throughputRows{
		rate:    newResult(title, unit+"/s"),
		txns:    newResult("    journal transactions/s in the same runs", "txns/s"),
		lag:     newResult("    relay lag: commit to the last posted message in LEDGER_OUT", "ms"),
		pending: newResult("    messages not yet relayed at that commit", "msgs"),
		rss:     newResult("    serve peak RSS (VmHWM)", "MiB"),
	}
	rows.rate.perFloor, rows.txns.perFloor = true, true
	p, err := b.startNATS(key)
	if err != nil {
		return rows, err
	}
	defer p.stop()
	var drop func(workload.Msg) bool
	if templates != nil {
		drop = func(m workload.Msg) bool { return m.Kind == typeFundOpened } // the template opened the funds
	}
	exp, last, err := b.preload(ctx, p, cfg, drop)
	if err != nil {
		return rows, err
	}
	rows.rate.note = fmt.Sprintf("stream of %d messages", last)
	for run := 1; run <= b.runs; run++ {
		for _, bin := range b.bins {
			var tmpl *benchTemplate
			if templates != nil {
				tmpl = templates[bin.label]
			}
			if err := b.throughputRun(ctx, key, run, bin, p, exp, last, unit, tmpl, rows); err != nil {
				return rows, err
			}
		}
	}
	return rows, nil
}

func (b *bench) throughputRun(ctx context.Context, key string, run int, bin binary, p *natsProc, exp workload.Expected, last uint64, unit string, tmpl *benchTemplate, rows throughputRows) error {
	from, base := "", int64(0)
	if tmpl != nil {
		from, base = tmpl.name, tmpl.txns
	}
	name, dbURL, err := b.createDB(ctx, from)
	if err != nil {
		return err
	}
	defer b.dropDB(name)
	if err := b.resetStreams(ctx, p.url); err != nil {
		return err
	}
	tag := b.tag(bin)
	s, err := b.startServe(bin, dbURL, p.url, fmt.Sprintf("serve-%s-%d%s.log", key, run, filepathTag(tag)))
	if err != nil {
		return err
	}
	prof := ""
	if b.pprof && run == 1 {
		prof = filepath.Join(b.work, "cpu-"+key+filepathTag(tag)+".pprof")
	}
	c, err := b.watch(ctx, dbURL, p.url, s, last, exp.Txns, prof)
	peak := s.peakRSS()
	serr := s.stop()
	if err != nil {
		return fmt.Errorf("%s run %d%s: %w", key, run, tag, err)
	}
	if serr != nil {
		return serr
	}
	work := float64(last)
	if unit == "lines" {
		work = float64(exp.BatchLines)
	}
	secs := c.applied.Seconds()
	rows.rate.add(bin.label, work/secs)
	rows.txns.add(bin.label, float64(c.txns-base)/secs)
	rows.lag.add(bin.label, float64(c.lag.Microseconds())/1000)
	pending := "no outbox table or relay cursor"
	if c.pending >= 0 {
		rows.pending.add(bin.label, float64(c.pending))
		pending = fmt.Sprintf("%d messages not yet relayed", c.pending)
	}
	rows.rss.add(bin.label, peak)
	fmt.Fprintf(b.log, "bench: %s run %d%s: %.0f %s in %.2fs = %.0f/s to the commit (%.0f txns/s); relay lag %.0f ms (%s at the commit); serve peak RSS %.0f MiB\n",
		key, run, tag, work, unit, secs, work/secs, float64(c.txns-base)/secs, float64(c.lag.Microseconds())/1000, pending, peak)
	if c.txns-base != exp.Txns {
		return fmt.Errorf("%s run %d%s: %d journal transactions, the workload expected %d", key, run, tag, c.txns-base, exp.Txns)
	}
	return nil
}

func filepathTag(tag string) string {
	if tag == "" {
		return ""
	}
	return "-" + tag[1:]
}

// resetStreams deletes LEDGER_OUT, so each run relays into an empty stream,
// and serve's consumer on FUND_EVENTS, so each run starts from nothing (serve
// creates both again).
func (b *bench) resetStreams(ctx context.Context, natsURL string) error {
	nc, err := nats.Connect(natsURL)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := njs.New(nc)
	if err != nil {
		return err
	}
	if err := js.DeleteStream(ctx, outboundStream); err != nil && !errors.Is(err, njs.ErrStreamNotFound) {
		return err
	}
	st, err := js.Stream(ctx, inboundStream)
	if err != nil {
		return err
	}
	names := st.ConsumerNames(ctx)
	var list []string
	for n := range names.Name() {
		list = append(list, n)
	}
	if err := names.Err(); err != nil {
		return err
	}
	for _, n := range list {
		if err := st.DeleteConsumer(ctx, n); err != nil && !errors.Is(err, njs.ErrConsumerNotFound) {
			return err
		}
	}
	return nil
}

// latencyRows are the lines of the latency measure.
type latencyRows struct {
	p50, p99, max, rss *result
}

// latency offers single-grant events at rate per second for d, with serve
// already running, and measures from each publish to the first
// ledger.<fund>.posted message that names the event.
func (b *bench) latency(ctx context.Context, rate int, d time.Duration) (latencyRows, error) {
	title := fmt.Sprintf("(d) publish-to-posted latency at %d events/s offered, %s: p50", rate, d)
	fmt.Fprintf(b.log, "\nbench: %s\n", title)
	rows := latencyRows{
		p50: newResult(title, "ms"),
		p99: newResult("    p99", "ms"),
		max: newResult("    max", "ms"),
		rss: newResult("    serve peak RSS (VmHWM)", "MiB"),
	}
	rows.p99.target = targetD
	total := int(float64(rate) * d.Seconds())
	var msgs []workload.Msg
	_, err := workload.Generate(singles(38, total), func(m workload.Msg) error {
		msgs = append(msgs, m)
		return nil
	})
	if err != nil {
		return rows, err
	}
	msgs = msgs[:min(len(msgs), total)]
	rows.p50.note = fmt.Sprintf("%d events a run", len(msgs))
	for run := 1; run <= b.runs; run++ {
		for _, bin := range b.bins {
			tag := b.tag(bin)
			p, err := b.startNATS(fmt.Sprintf("d%d%s", run, filepathTag(tag)))
			if err != nil {
				return rows, err
			}
			name, dbURL, err := b.createDB(ctx, "")
			if err != nil {
				p.stop()
				return rows, err
			}
			lat, matched, peak, err := b.latencyRun(ctx, bin, p, dbURL, msgs, rate, run)
			b.dropDB(name)
			p.stop()
			if err != nil {
				return rows, fmt.Errorf("d run %d%s: %w", run, tag, err)
			}
			sort.Float64s(lat)
			q := func(f float64) float64 { return lat[min(len(lat)-1, int(f*float64(len(lat))))] }
			rows.p50.add(bin.label, q(0.50))
			rows.p99.add(bin.label, q(0.99))
			rows.max.add(bin.label, lat[len(lat)-1])
			rows.rss.add(bin.label, peak)
			fmt.Fprintf(b.log, "bench: d run %d%s: %d events matched; p50 %.1f ms, p99 %.1f ms, max %.1f ms; serve peak RSS %.0f MiB\n",
				run, tag, matched, q(0.5), q(0.99), lat[len(lat)-1], peak)
		}
	}
	return rows, nil
}

func (b *bench) latencyRun(ctx context.Context, bin binary, p *natsProc, dbURL string, msgs []workload.Msg, rate, run int) ([]float64, int, float64, error) {
	tag := b.tag(bin)
	s, err := b.startServe(bin, dbURL, p.url, fmt.Sprintf("serve-d-%d%s.log", run, filepathTag(tag)))
	if err != nil {
		return nil, 0, 0, err
	}
	defer s.stop()
	// Ready when /healthz says this instance leads the consumer.
	for i := 0; ; i++ {
		resp, err := http.Get("http://" + s.http + "/healthz")
		if err == nil {
			var h struct{ Consumer string }
			_ = json.NewDecoder(resp.Body).Decode(&h)
			resp.Body.Close()
			if h.Consumer == "leader" {
				break
			}
		}
		if i > 600 {
			return nil, 0, 0, errors.New("serve not ready in 60s")
		}
		select {
		case <-s.done:
			return nil, 0, 0, errors.New("serve exited before it was ready (see its log in the work directory)")
		case <-time.After(100 * time.Millisecond):
		}
	}
	nc, err := nats.Connect(p.url)
	if err != nil {
		return nil, 0, 0, err
	}
	defer nc.Close()
	js, err := njs.New(nc)
	if err != nil {
		return nil, 0, 0, err
	}
	var mu sync.Mutex
	sent := make(map[string]time.Time, len(msgs))
	var lat []float64
	got := map[string]bool{}
	sub, err := nc.Subscribe(postedSubjects, func(m *nats.Msg) {
		now := time.Now()
		var t struct {
			EventID string `json:"event_id"`
		}
		if json.Unmarshal(m.Data, &t) != nil {
			return
		}
		mu.Lock()
		if at, ok := sent[t.EventID]; ok && !got[t.EventID] {
			got[t.EventID] = true
			lat = append(lat, float64(now.Sub(at).Microseconds())/1000)
		}
		mu.Unlock()
	})
	if err != nil {
		return nil, 0, 0, err
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		return nil, 0, 0, err
	}
	// Events that post a transaction; fund.opened posts none.
	want := 0
	for _, m := range msgs {
		if m.Kind != typeFundOpened {
			want++
		}
	}
	start := time.Now()
	interval := time.Second / time.Duration(rate)
	var futures []njs.PubAckFuture
	for i, m := range msgs {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > time.Millisecond {
			time.Sleep(d)
		}
		mu.Lock()
		sent[m.ID] = time.Now()
		mu.Unlock()
		f, err := js.PublishAsync(m.Subject, m.Data, njs.WithMsgID(m.ID))
		if err != nil {
			return nil, 0, 0, err
		}
		futures = append(futures, f)
	}
	offered := float64(len(msgs)) / time.Since(start).Seconds()
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return nil, 0, 0, err
		case <-time.After(60 * time.Second):
			return nil, 0, 0, errors.New("no publish acknowledgement in 60s")
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		mu.Lock()
		n := len(lat)
		mu.Unlock()
		if n >= want {
			break
		}
		if time.Now().After(deadline) {
			return nil, 0, 0, fmt.Errorf("only %d of %d events posted within 2 minutes of the last publish", n, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Fprintf(b.log, "bench: d run %d%s: offered %.0f events/s\n", run, tag, offered)
	mu.Lock()
	defer mu.Unlock()
	return append([]float64(nil), lat...), len(lat), s.peakRSS(), nil
}

// growth measures (a)'s kind of stream on a journal that already holds
// prefill transactions, against the same funds with an empty journal, and
// the ratio of the two.
func (b *bench) growth(ctx context.Context, prefill, events int) ([]*result, error) {
	fmt.Fprintf(b.log, "\nbench: (f) cost growth: %d events on an empty journal, then on one with %d transactions\n", events, prefill)
	var rows []*result
	var rates []*result
	for _, k := range []int{0, prefill} {
		templates := map[string]*benchTemplate{}
		var took []string
		for _, bin := range b.bins {
			t, err := b.buildTemplate(ctx, k, bin)
			if err != nil {
				for _, t := range templates {
					b.dropDB(t.name)
				}
				return rows, err
			}
			templates[bin.label] = t
			took = append(took, t.took.Round(time.Second).String()+b.tag(bin))
		}
		title := "(f) events/s, empty journal (39 funds open)"
		if k > 0 {
			title = fmt.Sprintf("(f) events/s, %d transactions already in the journal", k)
		}
		tr, err := b.throughput(ctx, fmt.Sprintf("f%d", k), title, singles(38, events), "events", templates)
		for _, t := range templates {
			b.dropDB(t.name)
		}
		if err != nil {
			return rows, err
		}
		tr.rate.note += "; template built in " + joinSlash(took)
		rows = append(rows, tr.rate, tr.txns, tr.lag, tr.pending, tr.rss)
		rates = append(rates, tr.rate)
	}
	r := newResult("(f) events/s with history / with an empty journal", "ratio")
	r.target = targetF
	r.fixed = map[string]float64{}
	for _, l := range b.labels() {
		e, eok := rates[0].value(l)
		h, hok := rates[1].value(l)
		if eok && hok && e > 0 {
			r.fixed[l] = h / e
		}
	}
	rows = append(rows, r)
	return rows, nil
}

func joinSlash(xs []string) string {
	s := ""
	for i, x := range xs {
		if i > 0 {
			s += " / "
		}
		s += x
	}
	return s
}
