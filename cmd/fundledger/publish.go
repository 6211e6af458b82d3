package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fundledger/fundledger/events"
	"github.com/fundledger/fundledger/events/jetstream"
	"github.com/fundledger/fundledger/events/natsembed"
	"github.com/fundledger/fundledger/internal/eventfile"
	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"
)

func init() {
	register(command{"publish", "send events from a JSON-lines file to JetStream", runPublish})
}

const publishAbout = `Publishes the events of FILE (or standard input for "-") to the FUND_EVENTS stream, one message
per line, with the Nats-Msg-Id header set to the envelope id, so publishing a file twice within the
stream's dedup window (2 minutes) is reported as duplicates and changes nothing.

Each line is one of (see docs/cli.md):
  {envelope}                           on fund.<fund>.<type>: <fund> is --fund, else data.fund_id
  {"fund": F, "event": {envelope}}     on fund.F.<type>
  {"subject": S, "event": {envelope}}  on S as given
  {"subject": S, "raw": "text"}        the text as it is (for messages that are not JSON)
A wrapper may add "msg_id" to set Nats-Msg-Id. Events are sent byte for byte as in the file. Empty
lines and lines starting with # are skipped.

The whole file is checked first: if any line is unusable nothing is sent. Messages are published
asynchronously and every acknowledgement is awaited. The summary counts what was published, what
JetStream acknowledged, how many of those it reported as duplicates, and the errors. The NATS
server is NATS_URL, else the one ` + "`fundledger serve`" + ` embedded, from <FUNDLEDGER_DATA_DIR>/nats.url.
The streams are created as serve creates them when they are missing.

Exit status: 0 when every message was acknowledged, 1 otherwise, 2 for a usage error.`

// publishSummary is what publish reports.
type publishSummary struct {
	Lines        int      `json:"lines"`
	Published    int64    `json:"published"`
	Acknowledged int64    `json:"acknowledged"`
	Duplicates   int64    `json:"duplicates"`
	Errors       int64    `json:"errors"`
	ErrorSamples []string `json:"error_samples,omitempty"`
}

func runPublish(ctx context.Context, args []string) error {
	c := newCLI("publish", "publish FILE [--fund F] [--nats-url URL] [--output json|table]", publishAbout, 1, 1)
	natsURL := c.fs.String("nats-url", "", "NATS server URL(s) (default $NATS_URL, else the embedded server's from the data dir)")
	dataDir := c.fs.String("data-dir", env("FUNDLEDGER_DATA_DIR", "./data"), "where serve's embedded server wrote nats.url (FUNDLEDGER_DATA_DIR)")
	fund := c.fs.String("fund", "", "fund of every bare envelope (default: its data.fund_id)")
	maxPending := c.fs.Int("max-pending", 512, "most messages awaiting their acknowledgement at once")
	timeout := c.fs.Duration("ack-timeout", 30*time.Second, "how long to wait for one acknowledgement")
	out := c.outputFlag()
	pos, err := c.parse(args)
	if err != nil {
		return helpDone(err)
	}
	format, err := outputFormat(*out)
	if err != nil {
		return err
	}
	if format == "csv" {
		return usageError{"publish prints its summary as json or table"}
	}
	if *maxPending < 1 || *timeout <= 0 {
		return usageError{"--max-pending and --ack-timeout must be positive"}
	}
	if *fund != "" && !events.ValidFundID(*fund) {
		return usageError{fmt.Sprintf("--fund %q is not a valid fund id", *fund)}
	}

	// Read the whole input once to check it; a file is read again to send,
	// standard input is kept.
	src, reopen, err := openInput(pos[0])
	if err != nil {
		return err
	}
	lines, err := checkEvents(src, *fund)
	if err != nil {
		return err
	}

	url := *natsURL
	if url == "" {
		url = os.Getenv("NATS_URL")
	}
	if url == "" {
		if url, err = natsembed.URLFromDataDir(*dataDir); err != nil {
			return usageError{err.Error() + " (set NATS_URL or --nats-url)"}
		}
	}
	auth, err := jetstream.AuthFromEnv().Options()
	if err != nil {
		return usageError{err.Error()}
	}
	// A publisher's NATS user may publish only its own fund's subjects
	// (docs/security.md): what the server refuses is said once, at once,
	// and the look at the streams, which such a user may not make, is
	// skipped rather than waited out.
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var refusedOnce sync.Once
	refused := nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		switch {
		case !errors.Is(err, nats.ErrPermissionViolation):
		case strings.Contains(err.Error(), "$JS.API."):
			cancel() // the look at the streams: not this user's to make
		default:
			refusedOnce.Do(func() { fmt.Fprintln(os.Stderr, "fundledger publish: the NATS server refused:", err) })
		}
	})
	nc, err := nats.Connect(url, append([]nats.Option{nats.Name("fundledger publish"), nats.Timeout(5 * time.Second), refused}, auth...)...)
	if err != nil {
		return fmt.Errorf("nats %s: %w", jetstream.Redact(url), err)
	}
	defer nc.Close()
	js, err := njs.New(nc, njs.WithPublishAsyncMaxPending(*maxPending), njs.WithPublishAsyncTimeout(*timeout))
	if err != nil {
		return err
	}
	err = jetstream.EnsureStreams(sctx, js)
	cancel()
	if err != nil && !errors.Is(nc.LastError(), nats.ErrPermissionViolation) {
		return err
	}

	r, err := reopen()
	if err != nil {
		return err
	}
	sum := publishAll(ctx, js, eventfile.NewReader(r, *fund), lines, *timeout)
	if format == "json" {
		if err := printJSON(os.Stdout, sum); err != nil {
			return err
		}
	} else {
		fmt.Printf("published %d, acknowledged %d, duplicates %d, errors %d (%d lines)\n",
			sum.Published, sum.Acknowledged, sum.Duplicates, sum.Errors, sum.Lines)
	}
	for _, e := range sum.ErrorSamples {
		fmt.Fprintln(os.Stderr, "fundledger publish:", e)
	}
	if sum.Errors > 0 || sum.Acknowledged != int64(sum.Lines) {
		return exitError{exitFailure, fmt.Errorf("%d of %d messages were not acknowledged", int64(sum.Lines)-sum.Acknowledged, sum.Lines)}
	}
	return nil
}

// openInput opens path ("-": standard input, read into memory) and a way
// to read it again from the start.
func openInput(path string) (io.Reader, func() (io.Reader, error), error) {
	if path == "-" {
		b, err := io.ReadAll(os.Stdin)
		if err != nil {
			return nil, nil, err
		}
		return bytes.NewReader(b), func() (io.Reader, error) { return bytes.NewReader(b), nil }, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	return f, func() (io.Reader, error) {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		return f, nil
	}, nil
}

// checkEvents reads every line and counts the messages; any unusable line
// fails the whole file, naming the first few.
func checkEvents(r io.Reader, fund string) (int, error) {
	er := eventfile.NewReader(r, fund)
	n := 0
	var bad []error
	for {
		_, err := er.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var le *eventfile.LineError
		if errors.As(err, &le) {
			bad = append(bad, le)
			continue
		}
		if err != nil {
			return 0, err
		}
		n++
	}
	if len(bad) > 0 {
		for i, e := range bad {
			if i == 10 {
				fmt.Fprintf(os.Stderr, "fundledger publish: ... and %d more\n", len(bad)-10)
				break
			}
			fmt.Fprintln(os.Stderr, "fundledger publish:", e)
		}
		return 0, fmt.Errorf("%d unusable lines; nothing was published", len(bad))
	}
	return n, nil
}

// publishAll sends every message asynchronously and waits for every
// acknowledgement; on a terminal it shows progress on stderr.
func publishAll(ctx context.Context, js njs.JetStream, r *eventfile.Reader, total int, timeout time.Duration) publishSummary {
	sum := publishSummary{Lines: total}
	var published, acked, dups, errs atomic.Int64
	var mu sync.Mutex
	sample := func(format string, args ...any) {
		errs.Add(1)
		mu.Lock()
		if len(sum.ErrorSamples) < 10 {
			sum.ErrorSamples = append(sum.ErrorSamples, fmt.Sprintf(format, args...))
		}
		mu.Unlock()
	}
	type pending struct {
		line int
		f    njs.PubAckFuture
	}
	futures := make(chan pending, 4096)
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for p := range futures {
			select {
			case ack := <-p.f.Ok():
				acked.Add(1)
				if ack.Duplicate {
					dups.Add(1)
				}
			case err := <-p.f.Err():
				sample("line %d: %v", p.line, err)
			}
		}
	}()
	stop := make(chan struct{})
	var progress sync.WaitGroup
	if onTerminal(os.Stderr) {
		progress.Add(1)
		go func() {
			defer progress.Done()
			tick := time.NewTicker(200 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					fmt.Fprintf(os.Stderr, "\rpublish: %d/%d sent, %d acknowledged\n", published.Load(), total, acked.Load())
					return
				case <-tick.C:
					fmt.Fprintf(os.Stderr, "\rpublish: %d/%d sent, %d acknowledged", published.Load(), total, acked.Load())
				}
			}
		}()
	}
	for ctx.Err() == nil {
		m, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil { // checked before; the file changed under us
			sample("%v", err)
			continue
		}
		msg := nats.NewMsg(m.Subject)
		msg.Data = m.Data
		var opts []njs.PublishOpt
		if m.MsgID != "" {
			opts = append(opts, njs.WithMsgID(m.MsgID))
		}
		opts = append(opts, njs.WithStallWait(timeout))
		f, err := js.PublishMsgAsync(msg, opts...)
		if err != nil {
			sample("line %d: %v", m.Line, err)
			continue
		}
		published.Add(1)
		futures <- pending{m.Line, f}
	}
	if ctx.Err() != nil {
		sample("interrupted: %v", ctx.Err())
	}
	// Every future ends in an ack or an error: the async publish timeout
	// bounds the wait.
	close(futures)
	<-collected
	close(stop)
	progress.Wait()
	sum.Published, sum.Acknowledged, sum.Duplicates, sum.Errors = published.Load(), acked.Load(), dups.Load(), errs.Load()
	return sum
}
