package jetstream

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestFit(t *testing.T) {
	lines := make([]map[string]string, 2000)
	for i := range lines {
		lines[i] = map[string]string{"index": fmt.Sprint(i), "code": "invalid_amount", "message": strings.Repeat("m", 40)}
	}
	cases := []struct {
		name      string
		raw       string
		lines     any
		max       int
		keepLines bool // all lines kept
	}{
		{name: "plain", raw: strings.Repeat("a", 50000), lines: []any{}, max: 10000, keepLines: true},
		{name: "quotes and html", raw: strings.Repeat(`{"a":"<&>"}\`, 5000), lines: []any{}, max: 10000, keepLines: true},
		{name: "multibyte", raw: strings.Repeat("江津区\u2028é", 5000), lines: []any{}, max: 10001, keepLines: true},
		{name: "control", raw: strings.Repeat("\x01\n", 5000), lines: []any{}, max: 9999, keepLines: true},
		{name: "lines too", raw: strings.Repeat("a", 50000), lines: lines, max: 20000},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in, _ := json.Marshal(map[string]any{"event_id": "e", "code": "malformed", "raw": c.raw, "lines": c.lines})
			out, err := Fit(in, c.max)
			if err != nil {
				t.Fatal(err)
			}
			if len(out) > c.max || len(out) < c.max-2000 {
				t.Fatalf("%d bytes, want at most %d and not far below", len(out), c.max)
			}
			var got struct {
				EventID      string            `json:"event_id"`
				Raw          string            `json:"raw"`
				RawTruncated bool              `json:"raw_truncated"`
				RawLength    int               `json:"raw_length"`
				Lines        []json.RawMessage `json:"lines"`
				LinesTotal   int               `json:"lines_total"`
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			if got.EventID != "e" || !got.RawTruncated || got.RawLength != len(c.raw) || !strings.HasPrefix(c.raw, got.Raw) || !utf8.ValidString(got.Raw) {
				t.Fatalf("raw %q... (%d of %d bytes, truncated %v)", got.Raw[:min(20, len(got.Raw))], len(got.Raw), got.RawLength, got.RawTruncated)
			}
			if c.keepLines && got.Raw == "" {
				t.Fatal("raw dropped whole though part of it fits")
			}
			if !c.keepLines && (got.Raw != "" || len(got.Lines) == 0 || len(got.Lines) >= got.LinesTotal || got.LinesTotal != len(lines)) {
				t.Fatalf("%d of %d lines kept, raw %d bytes", len(got.Lines), got.LinesTotal, len(got.Raw))
			}
		})
	}
	if _, err := Fit([]byte(`{"seq":1,"postings":[]}`), 5); err == nil {
		t.Error("a message without raw was reduced")
	}
	small := []byte(`{"raw":"x"}`)
	if out, err := Fit(small, 100); err != nil || string(out) != string(small) {
		t.Errorf("a message that fits was changed: %s %v", out, err)
	}
}
