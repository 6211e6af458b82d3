package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestNum(t *testing.T) {
	for _, c := range []struct {
		in   float64
		want string
	}{
		{0, "0"}, {3, "3"}, {5.436, "5.44"}, {63.42, "63.4"}, {354.2, "354"},
		{7712.4, "7,712"}, {19039.2, "19,039"}, {1234567, "1,234,567"}, {-1500, "-1,500"},
	} {
		if got := num(c.in); got != c.want {
			t.Errorf("num(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestRatio(t *testing.T) {
	if got := ratio(7712, 19039); got != "0.41x" {
		t.Errorf("ratio = %q", got)
	}
	if got := ratio(1, 0); got != "-" {
		t.Errorf("ratio over no floor = %q, want -", got)
	}
}

func TestTargets(t *testing.T) {
	for _, c := range []struct {
		name  string
		t     target
		v     float64
		floor float64
		want  string
	}{
		{"a below", targetA, 7712, 19000, "no"},
		{"a at 1.7x", targetA, 32300, 19000, "yes"},
		{"a without a floor", targetA, 99999, 0, "-"},
		{"b", targetB, 22800, 19000, "yes"},
		{"c", targetC, 6474, 0, "no"},
		{"c met", targetC, 100000, 0, "yes"},
		{"d p99 over", targetD, 380, 0, "no"},
		{"d p99 under", targetD, 24.9, 0, "yes"},
		{"e in MiB, 300 MB is 286 MiB", targetE, 290, 0, "no"},
		{"e under", targetE, 280, 0, "yes"},
		{"f", targetF, 0.79, 0, "no"},
	} {
		if got := c.t.met(c.v, true, c.floor); got != c.want {
			t.Errorf("%s: met(%v, floor %v) = %q, want %q", c.name, c.v, c.floor, got, c.want)
		}
	}
	if got := targetC.met(0, false, 1); got != "-" {
		t.Errorf("no value: %q, want -", got)
	}
}

func TestResultValue(t *testing.T) {
	r := newResult("x", "events/s")
	for _, x := range []float64{3, 1, 2, 10} {
		r.add("new", x)
	}
	if v, _ := r.value("new"); v != 2.5 {
		t.Errorf("median of 3,1,2,10 = %v, want 2.5", v)
	}
	r.peak = true
	if v, _ := r.value("new"); v != 10 {
		t.Errorf("peak = %v, want 10", v)
	}
	if _, ok := r.value("old"); ok {
		t.Error("a binary without runs has a value")
	}
}

func TestParseOnly(t *testing.T) {
	got, err := parseOnly(" a, B ,f")
	if err != nil || len(got) != 3 || !got["a"] || !got["b"] || !got["f"] {
		t.Errorf("parseOnly = %v, %v", got, err)
	}
	for _, bad := range []string{"e", "a,x", ",", ""} {
		if _, err := parseOnly(bad); err == nil {
			t.Errorf("parseOnly(%q) accepted", bad)
		}
	}
}

func throughputSample() []*result {
	a := newResult("(a) single-grant events/s", "events/s")
	a.perFloor, a.target = true, targetA
	lag := newResult("    relay lag", "ms")
	for i, x := range []float64{7000, 7712, 8000} {
		a.add("new", x)
		a.add("old", x/2)
		lag.add("new", float64(10+i))
		lag.add("old", float64(20+i))
	}
	return []*result{a, lag}
}

func TestTableOneBinary(t *testing.T) {
	var buf bytes.Buffer
	table(&buf, "RESULTS", withPeak(throughputSample(), nil, labelsOne), labelsOne, 3, floorInfo{commits: []float64{19000, 19560}})
	out := buf.String()
	for _, want := range []string{
		"commit floor 19,280 commits/s, the mean of 19,000 and 19,560 (start, end)",
		"run 1", "run 3", "x floor", "target", "met",
		"7,000", "7,712", "8,000", "0.40x", "1.7x floor", "no",
		"(e) peak RSS", "<= 300 MB (286 MiB)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "new/old") {
		t.Errorf("one binary, yet a new/old column:\n%s", out)
	}
}

func TestTableCompare(t *testing.T) {
	var buf bytes.Buffer
	table(&buf, "RESULTS", throughputSample(), labelsBoth, 3, floorInfo{commits: []float64{19280}})
	out := buf.String()
	for _, want := range []string{
		"EVERY RUN", "SIDE BY SIDE", "new/old", "old x floor", "new x floor",
		"3,856", "7,712", "2.00x", // medians old and new, new/old
		"0.20x", "0.40x", // each against the floor
		"0.52x", // lag 11 ms against 21 ms
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	// Both binaries' runs are listed, in the order they ran.
	if !strings.Contains(out, "old     3,500  3,856  4,000") || !strings.Contains(out, "new     7,000  7,712  8,000") {
		t.Errorf("runs of each binary missing:\n%s", out)
	}
}

func TestFloorDrift(t *testing.T) {
	if d := (floorInfo{commits: []float64{19000, 17000}}).describe(); strings.Contains(d, "WARNING") {
		t.Errorf("floors 11%% apart warn: %s", d)
	}
	d := (floorInfo{commits: []float64{8721, 2671}}).describe()
	if !strings.Contains(d, "WARNING: they differ by 3.3x") {
		t.Errorf("floors 3.3x apart do not warn: %s", d)
	}
}

func TestFloorWithoutMeasurement(t *testing.T) {
	var buf bytes.Buffer
	table(&buf, "RESULTS", throughputSample(), labelsOne, 3, floorInfo{})
	if !strings.Contains(buf.String(), "no commit floor measured") {
		t.Errorf("table does not say the floor is missing:\n%s", buf.String())
	}
}
