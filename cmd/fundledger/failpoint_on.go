//go:build failpoints

package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// failpointEnv names the failpoints of a test build and how often each
// fires: a comma-separated list of point:probability, for example
// "after-commit:0.02,before-commit:0.01". The points are the ones
// service.Config.Failpoint is called at: before-commit (inside the batch's
// database transaction), after-commit (committed, not yet acknowledged,
// outbox not yet relayed) and after-ack.
const failpointEnv = "FUNDLEDGER_FAILPOINT"

var failpointNames = map[string]bool{"before-commit": true, "after-commit": true, "after-ack": true}

// failpoint, in a build with -tags failpoints, kills the process with
// SIGKILL at a point of FUNDLEDGER_FAILPOINT with its probability: a crash
// exactly there, with no deferred function, flush or goodbye to the
// database or NATS. It prints one line to stderr first so that the fault
// suite (scripts/faults.sh) can count which point killed the process. An
// unreadable setting stops the process at start rather than testing
// nothing.
func failpoint() func(string) error {
	spec := os.Getenv(failpointEnv)
	if spec == "" {
		return nil
	}
	probs, err := parseFailpoints(spec)
	if err != nil {
		fmt.Fprintf(os.Stderr, "fundledger: %s: %v\n", failpointEnv, err)
		os.Exit(exitUsage)
	}
	return func(point string) error {
		p, ok := probs[point]
		if !ok || rand.Float64() >= p {
			return nil
		}
		fmt.Fprintf(os.Stderr, "{\"msg\":\"failpoint firing\",\"point\":%q,\"pid\":%d}\n", point, os.Getpid())
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // SIGKILL cannot be caught; never go on past the point
	}
}

func parseFailpoints(spec string) (map[string]float64, error) {
	probs := map[string]float64{}
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, prob, ok := strings.Cut(item, ":")
		if !ok {
			return nil, fmt.Errorf("%q: want point:probability", item)
		}
		if !failpointNames[name] {
			return nil, fmt.Errorf("%q: unknown point (before-commit, after-commit, after-ack)", name)
		}
		p, err := strconv.ParseFloat(prob, 64)
		if err != nil || p < 0 || p > 1 {
			return nil, fmt.Errorf("%q: the probability must be a number from 0 to 1", item)
		}
		probs[name] = p
	}
	return probs, nil
}
