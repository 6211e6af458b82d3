package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/fundledger/fundledger/events"
	"github.com/fundledger/fundledger/service"
	"github.com/fundledger/fundledger/workload"
	wljs "github.com/fundledger/fundledger/workload/jetstream"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"
)

func init() {
	register(command{"demo", "run a year of one district and the city fund through an in-process ledger and print the books", runDemo})
}

func runDemo(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	dbURL := fs.String("database-url", os.Getenv("DATABASE_URL"), "PostgreSQL URL of an empty database (DATABASE_URL; scripts/demo.sh makes fundledger_demo)")
	natsURL := fs.String("nats-url", os.Getenv("NATS_URL"), "NATS server; empty runs the embedded JetStream server (NATS_URL)")
	dataDir := fs.String("data-dir", "./data/demo", "data directory of the embedded server; must not exist yet (the signing key is FUNDLEDGER_SIGNING_KEY_FILE's, by default ~/.config/fundledger/signing.key)")
	httpAddr := fs.String("http-addr", env("HTTP_ADDR", "127.0.0.1:8080"), "read API address; a free port when taken (HTTP_ADDR)")
	hold := fs.Duration("hold-window", 3*time.Second, "HOLD_WINDOW of the ledger: events naming a grant that never comes are refused after it")
	seed := fs.Int64("seed", 2026, "workload seed: the same seed gives the same events")
	funds := fs.Int("funds", 1, "district funds besides the city fund (1 = Jiangjin; up to 38)")
	months := fs.Int("months", 12, "months of activity")
	lines := fs.Int("batch-lines", 3000, "lines of each monthly pension batch")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if *dbURL == "" {
		return usageError{"DATABASE_URL is required (scripts/demo.sh sets it to a fresh fundledger_demo database)"}
	}
	if *funds < 1 || *funds > len(workload.Districts) || *lines < 1 || *lines > events.MaxBatchLines || *months < 1 {
		return usageError{"--funds is 1 to 38, --batch-lines 1 to 10000, --months at least 1"}
	}
	if err := demoFresh(ctx, *dbURL, *dataDir); err != nil {
		return err
	}
	wcfg := workload.Demo(*seed)
	wcfg.Funds, wcfg.Months, wcfg.BatchLines = *funds, *months, *lines
	wcfg.Year = demoYear(*months) // every month can be closed (periods_demo.go)

	out := os.Stdout
	tty := demoIsTerminal(os.Stderr)
	if err := os.MkdirAll(*dataDir, 0o755); err != nil {
		return err
	}
	logPath := filepath.Join(*dataDir, "fundledger.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()

	cfg := service.Config{DatabaseURL: *dbURL, NATSURL: *natsURL, DataDir: *dataDir, HTTPAddr: demoFreeAddr(*httpAddr),
		HoldWindow: *hold, SnapshotEvery: 10000, SnapshotInterval: time.Hour, API: apiHandler,
		Log:        slog.New(slog.NewJSONHandler(logFile, nil)),
		SigningKey: os.Getenv("FUNDLEDGER_SIGNING_KEY"), SigningKeyFile: os.Getenv("FUNDLEDGER_SIGNING_KEY_FILE")}
	svc := service.New(cfg)
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	done := make(chan error, 1)
	go func() { done <- svc.Run(runCtx) }()
	select {
	case <-svc.Ready():
	case err := <-done:
		return fmt.Errorf("ledger did not start (log: %s): %w", logPath, err)
	case <-ctx.Done():
		stop()
		<-done
		return ctx.Err()
	}
	stopLedger := func() error {
		stop()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			return errors.New("ledger did not stop in 30s")
		}
	}
	fmt.Fprintf(os.Stderr, "demo: ledger running in-process: NATS %s, read API http://%s, log %s\n", svc.NATSURL, svc.HTTPAddr, logPath)

	err = demoRun(ctx, svc, wcfg, *hold, out, tty)
	if err == nil {
		demoServeConsole(ctx, svc.HTTPAddr, out)
	}
	if serr := stopLedger(); err == nil && serr != nil {
		err = serr
	}
	if err == nil {
		fmt.Fprintln(os.Stderr, "demo: ledger stopped cleanly")
	}
	return err
}

// demoServeConsole prints the web console's address and, when standard
// output is a terminal (a person ran `make demo`), keeps the ledger
// serving until Ctrl-C; otherwise (a script, CI) the demo ends as before.
func demoServeConsole(ctx context.Context, addr string, out io.Writer) {
	fmt.Fprintf(out, "\nWEB CONSOLE\n  http://%s/  (open: the demo listens on loopback only; ?lang=en for English)\n", addr)
	if !demoIsTerminal(os.Stdout) {
		return
	}
	fmt.Fprintln(out, "  The ledger keeps serving the console and the read API; press Ctrl-C to stop.")
	<-ctx.Done()
	fmt.Fprintln(os.Stderr, "\ndemo: Ctrl-C: stopping")
}

// demoFresh refuses to run over an earlier demo: the report compares the
// books with what this run published.
func demoFresh(ctx context.Context, dbURL, dataDir string) error {
	if _, err := os.Stat(dataDir); err == nil {
		return fmt.Errorf("%s exists: the demo starts from a fresh data directory and database; run `make demo` (scripts/demo.sh resets both) or remove it", dataDir)
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("connect to DATABASE_URL: %w", err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return errors.New("the database is not empty: the demo needs a fresh one; run `make demo` (scripts/demo.sh recreates fundledger_demo)")
	}
	return nil
}

// demoFreeAddr is addr when it can be listened on, else a free port of the
// same host.
func demoFreeAddr(addr string) string {
	l, err := net.Listen("tcp", addr)
	if err == nil {
		l.Close()
		return addr
	}
	host, _, _ := net.SplitHostPort(addr)
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, "0")
}

func demoIsTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func demoRun(ctx context.Context, svc *service.Service, wcfg workload.Config, hold time.Duration, out io.Writer, tty bool) error {
	nc, err := nats.Connect(svc.NATSURL, nats.Name("fundledger-demo"))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := njs.New(nc)
	if err != nil {
		return err
	}

	var published atomic.Int64
	progressDone := make(chan struct{})
	stopProgress := func() {}
	if tty {
		pctx, cancel := context.WithCancel(ctx)
		go func() {
			defer close(progressDone)
			demoProgress(pctx, svc, &published)
		}()
		stopProgress = func() { cancel(); <-progressDone; fmt.Fprint(os.Stderr, "\r\033[K") }
	}
	start := time.Now()
	exp, pub, err := wljs.Run(ctx, js, wcfg, func(n int) { published.Store(int64(n)) })
	if err != nil {
		stopProgress()
		return err
	}
	pubTime := time.Since(start)
	if err := demoWaitIdle(ctx, svc, js, hold); err != nil {
		stopProgress()
		return err
	}
	applyTime := time.Since(start)

	if err := demoCloseLast(ctx, js, wcfg, exp.FundIDs); err != nil { // periods_demo.go
		stopProgress()
		return err
	}
	// The officer asks for a closing snapshot of every fund.
	end := time.Now().In(time.FixedZone("CST", 8*3600))
	for _, id := range exp.FundIDs {
		body, _ := json.Marshal(map[string]any{"specversion": "1.0", "id": fmt.Sprintf("demo-close-%s-%d", id, end.UnixNano()),
			"source": "finance/demo", "type": events.TypeSnapshotRequested, "time": end.Format(time.RFC3339),
			"datacontenttype": "application/json", "data": map[string]any{"requested_by": "finance-office", "label": "demo-close"}})
		if _, err := js.Publish(ctx, events.InboundSubject(id, events.TypeSnapshotRequested), body); err != nil {
			stopProgress()
			return err
		}
	}
	if err := demoWaitIdle(ctx, svc, js, 0); err != nil {
		stopProgress()
		return err
	}
	stopProgress()

	st, err := js.Stream(ctx, events.InboundStream)
	if err != nil {
		return err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "fundledger demo: %d district fund(s) and the city fund, %d months from %d-01, seed %d\n\n",
		wcfg.Funds, wcfg.Months, wcfg.Year, wcfg.Seed)
	fmt.Fprintf(out, "Published %d messages in %.1fs (%d stored; %d exact re-sends dropped by the stream's duplicate window).\n",
		exp.Messages, pubTime.Seconds(), info.State.Msgs, pub.Duplicates)
	fmt.Fprintf(out, "The ledger applied them all in %.1fs including the %s hold window: %.0f messages/s.\n",
		applyTime.Seconds(), hold, float64(info.State.Msgs)/applyTime.Seconds())
	fmt.Fprintf(out, "Intended: %d good, %d bad, %d business-id duplicates, %d payments published before their approval.\n\n",
		exp.Good, exp.Bad, exp.Duplicates, exp.Early)
	if err := demoReport(ctx, svc, exp, out); err != nil {
		return err
	}
	return demoPeriods(ctx, svc, wcfg, exp, out) // periods_demo.go
}

// demoProgress shows, on a terminal, how far publishing and applying are.
func demoProgress(ctx context.Context, svc *service.Service, published *atomic.Int64) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pos, held, err := svc.Store.Lag(ctx, "fundledger")
		if err != nil {
			continue
		}
		fmt.Fprintf(os.Stderr, "\r\033[Kdemo: published %d, applied up to stream seq %d, held %d", published.Load(), pos, held)
	}
}

// demoWaitIdle waits until the ledger applied the whole stream, relayed its
// outbox, and resolved every held event (which can take the hold window).
func demoWaitIdle(ctx context.Context, svc *service.Service, js njs.JetStream, hold time.Duration) error {
	deadline := time.Now().Add(10*time.Minute + hold)
	for time.Now().Before(deadline) {
		st, err := js.Stream(ctx, events.InboundStream)
		if err != nil {
			return err
		}
		info, err := st.Info(ctx)
		if err != nil {
			return err
		}
		pos, held, err := svc.Store.Lag(ctx, "fundledger")
		if err != nil {
			return err
		}
		// count(*) of the outbox is not free while the relay churns it:
		// ask only once the position caught up.
		if uint64(pos) >= info.State.LastSeq && held == 0 {
			outbox, err := svc.Store.OutboxLen(ctx)
			if err != nil {
				return err
			}
			if outbox == 0 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New("the ledger did not catch up in 10 minutes")
}

func demoReport(ctx context.Context, svc *service.Service, exp workload.Expected, out io.Writer) error {
	db := svc.Store.Pool
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	problems := 0

	fmt.Fprintln(out, "FUNDS (CNY)")
	rows, err := db.Query(ctx, `
		SELECT f.fund_id,
		       coalesce(sum(b.debits - b.credits) FILTER (WHERE b.account = 'cash'), 0)::numeric(20,2)::text,
		       coalesce(sum(b.credits - b.debits) FILTER (WHERE b.account = 'grants_payable'), 0)::numeric(20,2)::text,
		       (coalesce(sum(b.debits - b.credits) FILTER (WHERE b.account = 'cash'), 0)
		        - coalesce(sum(b.credits - b.debits) FILTER (WHERE b.account = 'grants_payable'), 0))::numeric(20,2)::text
		  FROM funds f LEFT JOIN balances b USING (fund_id)
		 GROUP BY f.fund_id ORDER BY f.fund_id <> $1, f.fund_id`, workload.CityFundID)
	if err != nil {
		return err
	}
	fmt.Fprintln(tw, "fund\tcash\tgrants payable\tavailable\tas generated\t")
	var fundIDs []string
	for rows.Next() {
		var id, cash, payable, avail string
		if err := rows.Scan(&id, &cash, &payable, &avail); err != nil {
			return err
		}
		fundIDs = append(fundIDs, id)
		check := "ok"
		if w := exp.Funds[id]; w.Cash != cash || w.GrantsPayable != payable {
			check = fmt.Sprintf("MISMATCH: want cash %s, payable %s", w.Cash, w.GrantsPayable)
			problems++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", id, demoThousands(cash), demoThousands(payable), demoThousands(avail), check)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	tw.Flush()

	fmt.Fprintln(out, "\nGRANTS BY PROGRAM (CNY; paid is net of returned payments)")
	rows, err = db.Query(ctx, `
		SELECT fund_id, program, count(*), sum(approved)::text, sum(cancelled)::text, sum(paid - returned)::text,
		       sum(recovered)::text, sum(approved - cancelled - paid + returned)::text,
		       count(*) FILTER (WHERE approved - cancelled - paid + returned > 0)
		  FROM grants GROUP BY fund_id, program ORDER BY fund_id <> $1, fund_id, sum(approved) DESC`, workload.CityFundID)
	if err != nil {
		return err
	}
	fmt.Fprintln(tw, "fund\tprogram\tgrants\tapproved\tcancelled\tpaid\trecovered\toutstanding\topen\t")
	for rows.Next() {
		var fund, program, approved, cancelled, paid, recovered, outstanding string
		var n, open int64
		if err := rows.Scan(&fund, &program, &n, &approved, &cancelled, &paid, &recovered, &outstanding, &open); err != nil {
			return err
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%d\t\n", fund, program, n, demoThousands(approved), demoThousands(cancelled),
			demoThousands(paid), demoThousands(recovered), demoThousands(outstanding), open)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	tw.Flush()

	fmt.Fprintln(out, "\nREJECTIONS BY CODE (one example each)")
	rows, err = db.Query(ctx, `
		SELECT r.code, c.n, r.fund_id, r.type, r.message
		  FROM (SELECT code, count(*) AS n, min(seq) AS first FROM rejections GROUP BY code) c
		  JOIN rejections r ON r.seq = c.first ORDER BY c.n DESC, r.code`)
	if err != nil {
		return err
	}
	got := map[events.Code]int{}
	type example struct{ fund, typ, msg string }
	examples := map[events.Code]example{}
	for rows.Next() {
		var code string
		var n int
		var ex example
		if err := rows.Scan(&code, &n, &ex.fund, &ex.typ, &ex.msg); err != nil {
			return err
		}
		got[events.Code(code)] = n
		examples[events.Code(code)] = ex
	}
	if err := rows.Err(); err != nil {
		return err
	}
	codes := make([]events.Code, 0, len(got)+len(exp.Rejections))
	for c := range got {
		codes = append(codes, c)
	}
	for c := range exp.Rejections {
		if _, ok := got[c]; !ok {
			codes = append(codes, c)
		}
	}
	sort.Slice(codes, func(i, j int) bool {
		if got[codes[i]] != got[codes[j]] {
			return got[codes[i]] > got[codes[j]]
		}
		return codes[i] < codes[j]
	})
	total := 0
	for _, c := range codes {
		total += got[c]
		mark := ""
		if got[c] != exp.Rejections[c] {
			mark = fmt.Sprintf("  (MISMATCH: %d intended)", exp.Rejections[c])
			problems++
		}
		ex := examples[c]
		msg := ex.msg
		if r := []rune(msg); len(r) > 110 {
			msg = string(r[:110]) + "..."
		}
		fmt.Fprintf(out, "  %-25s %5d%s\n      e.g. %s %s: %s\n", c, got[c], mark, ex.fund, ex.typ, msg)
	}
	fmt.Fprintf(out, "  %-25s %5d\n", "total", total)

	if err := demoReconciliations(ctx, svc, out); err != nil { // demo_recon.go
		return err
	}

	fmt.Fprintln(out, "\nLATEST SNAPSHOT OF EACH FUND")
	rows, err = db.Query(ctx, `
		SELECT DISTINCT ON (fund_id) fund_id, snapshot_seq, label, as_of_journal_seq, body->>'as_of', body->>'chain_head',
		       body->>'balanced', body->>'available'
		  FROM snapshots ORDER BY fund_id, snapshot_seq DESC`)
	if err != nil {
		return err
	}
	fmt.Fprintln(tw, "fund\tsnapshot\tlabel\tas of txn\tas of\tbalanced\tavailable\tchain head\t")
	for rows.Next() {
		var fund, label, asOf, head, balanced, avail string
		var seq, jseq int64
		if err := rows.Scan(&fund, &seq, &label, &jseq, &asOf, &head, &balanced, &avail); err != nil {
			return err
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\t%s\t%s\t%s\t\n", fund, seq, label, jseq, asOf, balanced, demoThousands(avail), head)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	tw.Flush()

	fmt.Fprintln(out, "\nCHECKS")
	var txns, dups int64
	if err := db.QueryRow(ctx, `SELECT (SELECT count(*) FROM journal), (SELECT count(*) FROM inbox WHERE outcome = 'duplicate')`).Scan(&txns, &dups); err != nil {
		return err
	}
	check := func(ok bool, format string, args ...any) {
		s := "ok      "
		if !ok {
			s = "MISMATCH"
			problems++
		}
		fmt.Fprintf(out, "  %s %s\n", s, fmt.Sprintf(format, args...))
	}
	check(txns == exp.Txns, "journal transactions: %d posted, %d expected", txns, exp.Txns)
	check(dups == int64(exp.Duplicates), "business-id duplicates acknowledged without effect: %d, %d sent", dups, exp.Duplicates)
	for _, id := range fundIDs {
		ok, n, msg := demoVerify(ctx, svc.HTTPAddr, id)
		switch {
		case msg != "":
			fmt.Fprintf(out, "  skipped  verify %s: %s\n", id, msg)
		default:
			check(ok, "verify %s: chain and balances recomputed from %d journal transactions", id, n)
		}
	}
	if problems > 0 {
		return fmt.Errorf("%d check(s) did not match", problems)
	}
	return nil
}

// demoVerify asks the read API to verify a fund (CONTRACT.md section 7).
// msg is set when the API does not offer verify in this build.
func demoVerify(ctx context.Context, addr, fund string) (ok bool, checked int64, msg string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v1/funds/"+fund+"/verify", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, 0, err.Error()
	}
	defer resp.Body.Close()
	var v struct {
		OK       *bool             `json:"ok"`
		Checked  int64             `json:"checked_transactions"`
		Problems []json.RawMessage `json:"problems"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || v.OK == nil {
		return false, 0, fmt.Sprintf("GET /v1/funds/%s/verify answered %s; verify is not in this build", fund, resp.Status)
	}
	return *v.OK, v.Checked, ""
}

// demoThousands groups the integer digits of a decimal string: 1234567.50 ->
// 1,234,567.50. Text in, text out: money never becomes a float.
func demoThousands(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, hasDot := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if hasDot {
		b.WriteString("." + frac)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
