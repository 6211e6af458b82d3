package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestServeConfig: settings come from the environment as Go durations;
// HOLD_WINDOW=0 means no hold (refused at once), not the 5m default.
func TestServeConfig(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://example/db")
	for _, c := range []struct {
		env  string
		want time.Duration
	}{{"", 5 * time.Minute}, {"90s", 90 * time.Second}, {"0", -1}, {"0s", -1}} {
		t.Setenv("HOLD_WINDOW", c.env)
		cfg, _, err := serveConfig(nil)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.HoldWindow != c.want {
			t.Errorf("HOLD_WINDOW=%q: %v, want %v", c.env, cfg.HoldWindow, c.want)
		}
	}
	t.Setenv("FUNDLEDGER_TZ", "Mars/Olympus_Mons")
	if _, _, err := serveConfig(nil); err == nil || !strings.Contains(err.Error(), "FUNDLEDGER_TZ") {
		t.Errorf("an unknown FUNDLEDGER_TZ: %v, want serve refused naming it", err)
	}
}

// TestServeLogsJSON: serve and migrate without DATABASE_URL fail with a usage error,
// said as a JSON log line on stderr like everything they log.
func TestServeLogsJSON(t *testing.T) {
	bin := buildCLI(t)
	for _, sub := range []string{"serve", "migrate"} {
		cmd := exec.Command(bin, sub)
		cmd.Env = envWithout("DATABASE_URL", "NATS_URL", "FUNDLEDGER_DATA_DIR")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitUsage {
			t.Fatalf("%s: exit %v, want %d", sub, err, exitUsage)
		}
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		for _, l := range lines {
			var rec struct{ Level, Msg string }
			if err := json.Unmarshal([]byte(l), &rec); err != nil {
				t.Fatalf("%s: stderr line is not JSON: %q", sub, l)
			}
			if rec.Level != "ERROR" || !strings.Contains(rec.Msg, "DATABASE_URL") {
				t.Errorf("%s: line %q, want an ERROR naming DATABASE_URL", sub, l)
			}
		}
	}
}
