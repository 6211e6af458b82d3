package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// result is one line of the tables: one quantity of a measure, with its
// runs per binary ("new" is --serve, "old" is --compare).
type result struct {
	name string
	unit string
	runs map[string][]float64 // by binary label, in the order they ran
	// fixed, when set for a label, is the value instead of the runs'
	// median: a line derived from other lines, such as (f)'s ratio.
	fixed map[string]float64
	// peak: the value is the highest run, not the median (e).
	peak bool
	// perFloor: a throughput, also printed as a ratio to the commit floor.
	perFloor bool
	target   target
	note     string
}

func newResult(name, unit string) *result {
	return &result{name: name, unit: unit, runs: map[string][]float64{}}
}

func (r *result) add(label string, x float64) { r.runs[label] = append(r.runs[label], x) }

// value is what the tables report for label: the median of its runs (the
// highest for a peak), or the fixed value. ok is false when there is none.
func (r *result) value(label string) (float64, bool) {
	if v, ok := r.fixed[label]; ok {
		return v, true
	}
	xs := r.runs[label]
	if len(xs) == 0 {
		return 0, false
	}
	if r.peak {
		return maxOf(xs), true
	}
	return median(xs), true
}

// targetKind says how a target is met.
type targetKind int

const (
	noTarget     targetKind = iota
	atLeastFloor            // value >= v times the commit floor
	atLeast                 // value >= v
	atMost                  // value <= v
)

// target is one of issue 10's targets.
type target struct {
	kind targetKind
	v    float64
	text string // as printed in the target column
}

// met is "yes", "no", or "-" when it cannot be told (no target, no value,
// or a floor target without a floor).
func (t target) met(v float64, ok bool, floor float64) string {
	if !ok {
		return "-"
	}
	yes := false
	switch t.kind {
	case atLeastFloor:
		if floor <= 0 {
			return "-"
		}
		yes = v >= t.v*floor
	case atLeast:
		yes = v >= t.v
	case atMost:
		yes = v <= t.v
	default:
		return "-"
	}
	if yes {
		return "yes"
	}
	return "no"
}

// The targets of issue 10. RSS is measured in MiB; the target is 300 MB.
var (
	targetA    = target{atLeastFloor, 1.7, "1.7x floor"}
	targetB    = target{atLeastFloor, 1.2, "1.2x floor"}
	targetC    = target{atLeast, 100000, ">= 100,000/s"}
	targetD    = target{atMost, 25, "p99 <= 25 ms"}
	targetE    = target{atMost, 300e6 / (1 << 20), "<= 300 MB (286 MiB)"}
	targetF    = target{atLeast, 0.8, ">= 0.8x of empty"}
	labelsOne  = []string{"new"}
	labelsBoth = []string{"old", "new"}
)

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func maxOf(xs []float64) float64 {
	m := math.Inf(-1)
	for _, x := range xs {
		m = math.Max(m, x)
	}
	return m
}

// num prints a measurement: thousands grouped, fewer decimals as it grows.
func num(x float64) string {
	switch {
	case math.IsNaN(x) || math.IsInf(x, 0):
		return "-"
	case math.Abs(x) >= 1000 || (x == math.Trunc(x) && math.Abs(x) < 1e15):
		return group(strconv.FormatFloat(x, 'f', 0, 64))
	case math.Abs(x) >= 100:
		return strconv.FormatFloat(x, 'f', 0, 64)
	case math.Abs(x) >= 10:
		return strconv.FormatFloat(x, 'f', 1, 64)
	default:
		return strconv.FormatFloat(x, 'f', 2, 64)
	}
}

// group puts a comma between every three digits of an integer.
func group(s string) string {
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return sign + b.String()
}

// ratio prints a/b as "0.40x", or "-" when it has no meaning.
func ratio(a, b float64) string {
	if b <= 0 || a < 0 {
		return "-"
	}
	return strconv.FormatFloat(a/b, 'f', 2, 64) + "x"
}

// floorInfo is the commit floor the ratios are taken against.
type floorInfo struct {
	commits []float64 // commits/s, each measurement in order (start, end)
}

// value is the mean of the measurements, 0 when there are none.
func (f floorInfo) value() float64 {
	if len(f.commits) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range f.commits {
		s += x
	}
	return s / float64(len(f.commits))
}

func (f floorInfo) describe() string {
	switch len(f.commits) {
	case 0:
		return "no commit floor measured, so no ratios"
	case 1:
		return fmt.Sprintf("commit floor %s commits/s, measured at the start", num(f.commits[0]))
	}
	parts := make([]string, len(f.commits))
	for i, x := range f.commits {
		parts[i] = num(x)
	}
	s := fmt.Sprintf("commit floor %s commits/s, the mean of %s (start, end)", num(f.value()), strings.Join(parts, " and "))
	if lo, hi := minOf(f.commits), maxOf(f.commits); lo > 0 && hi/lo > floorDrift {
		s += fmt.Sprintf("; WARNING: they differ by %.1fx, the machine's load changed during the bench", hi/lo)
	}
	return s
}

// floorDrift is how far apart the start and end floors may be before the
// table warns that the machine changed under the bench.
const floorDrift = 1.25

func minOf(xs []float64) float64 {
	m := math.Inf(1)
	for _, x := range xs {
		m = math.Min(m, x)
	}
	return m
}

// table prints the results. With one binary: every run, the median, the
// ratio to the floor, the target and whether it is met. With two: first
// every run of each binary, then old and new medians side by side with
// new/old.
func table(w io.Writer, title string, rows []*result, labels []string, runs int, fl floorInfo) {
	floor := fl.value()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	defer tw.Flush()
	if len(labels) == 1 {
		l := labels[0]
		fmt.Fprintf(tw, "%s (median of the runs; %s)\n", title, fl.describe())
		hdr := "measure\tunit"
		for i := 1; i <= runs; i++ {
			hdr += fmt.Sprintf("\trun %d", i)
		}
		fmt.Fprintln(tw, hdr+"\tmedian\tx floor\ttarget\tmet\tnote")
		for _, r := range rows {
			line := r.name + "\t" + r.unit + runCells(r.runs[l], runs)
			v, ok := r.value(l)
			line += "\t" + cell(v, ok) + "\t" + floorCell(r, v, ok, floor) + "\t" + r.target.text + "\t" + metCell(r, v, ok, floor) + "\t" + r.note
			fmt.Fprintln(tw, line)
		}
		return
	}
	fmt.Fprintf(tw, "%s, EVERY RUN (old and new alternated: old run 1, new run 1, old run 2, ...)\n", title)
	hdr := "measure\tunit\tbinary"
	for i := 1; i <= runs; i++ {
		hdr += fmt.Sprintf("\trun %d", i)
	}
	fmt.Fprintln(tw, hdr+"\tmedian\tnote")
	for _, r := range rows {
		if r.fixed != nil {
			continue // derived: no runs of its own
		}
		for i, l := range labels {
			name, unit, note := r.name, r.unit, r.note
			if i > 0 {
				name, unit, note = "", "", ""
			}
			v, ok := r.value(l)
			fmt.Fprintln(tw, name+"\t"+unit+"\t"+l+runCells(r.runs[l], runs)+"\t"+cell(v, ok)+"\t"+note)
		}
	}
	tw.Flush()
	fmt.Fprintf(tw, "\n%s, SIDE BY SIDE (medians; %s)\n", title, fl.describe())
	fmt.Fprintln(tw, "measure\tunit\told\tnew\tnew/old\told x floor\tnew x floor\ttarget\tmet old\tmet new")
	for _, r := range rows {
		o, ook := r.value("old")
		n, nok := r.value("new")
		nr := "-"
		if ook && nok {
			nr = ratio(n, o)
		}
		fmt.Fprintln(tw, r.name+"\t"+r.unit+"\t"+cell(o, ook)+"\t"+cell(n, nok)+"\t"+nr+"\t"+
			floorCell(r, o, ook, floor)+"\t"+floorCell(r, n, nok, floor)+"\t"+r.target.text+"\t"+
			metCell(r, o, ook, floor)+"\t"+metCell(r, n, nok, floor))
	}
}

func runCells(xs []float64, runs int) string {
	s := ""
	for i := 0; i < runs; i++ {
		if i < len(xs) {
			s += "\t" + num(xs[i])
		} else {
			s += "\t-"
		}
	}
	return s
}

func cell(v float64, ok bool) string {
	if !ok {
		return "-"
	}
	return num(v)
}

func floorCell(r *result, v float64, ok bool, floor float64) string {
	if !r.perFloor || !ok {
		return ""
	}
	return ratio(v, floor)
}

func metCell(r *result, v float64, ok bool, floor float64) string {
	if r.target.kind == noTarget {
		return ""
	}
	return r.target.met(v, ok, floor)
}
