package main

// Helpers shared by the operator commands (read.go, publish.go,
// export.go): flags that may follow the positional arguments, --help on
// stdout, --output json|table|csv, the database connection and the
// mapping of read errors to exit codes.

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/text/width"

	"github.com/fundledger/fundledger/ledger"
	"github.com/fundledger/fundledger/ledger/postgres"
)

// exitNotFound: the fund, grant or snapshot named does not exist.
const exitNotFound = 4

// errHelp ends a command that printed its --help; it exits 0.
var errHelp = errors.New("help shown")

// cmdFlags is one command's flags and help.
type cmdFlags struct {
	fs       *flag.FlagSet
	name     string
	synopsis string // after "fundledger "
	about    string
	minPos   int
	maxPos   int // -1: any number
}

func newCLI(name, synopsis, about string, minPos, maxPos int) *cmdFlags {
	c := &cmdFlags{fs: flag.NewFlagSet(name, flag.ContinueOnError), name: name, synopsis: synopsis, about: about, minPos: minPos, maxPos: maxPos}
	c.fs.SetOutput(io.Discard) // parse errors are reported once, by run
	return c
}

func (c *cmdFlags) usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: fundledger %s\n\n%s\n", c.synopsis, strings.TrimSpace(c.about))
	n := 0
	c.fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintln(w, "\nFlags:")
		c.fs.SetOutput(w)
		c.fs.PrintDefaults()
		c.fs.SetOutput(io.Discard)
	}
	if !strings.Contains(c.about, "Exit status") {
		fmt.Fprintf(w, "\nExit status: 0 ok, 1 failure, 2 usage error, %d not found.\n", exitNotFound)
	}
}

// parse reads flags wherever they stand among the positional arguments
// (`balances FUND --as-of-seq 3` and `balances --as-of-seq 3 FUND` alike);
// after "--" everything is positional. --help prints the usage to stdout
// and returns errHelp.
func (c *cmdFlags) parse(args []string) ([]string, error) {
	var pos []string
	for {
		if err := c.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				c.usage(os.Stdout)
				return nil, errHelp
			}
			return nil, usageError{fmt.Sprintf("%v (see fundledger %s --help)", err, c.name)}
		}
		rest := c.fs.Args()
		if len(rest) == 0 {
			break
		}
		if consumedDashDash(args, rest) {
			pos = append(pos, rest...)
			break
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
	if len(pos) < c.minPos || (c.maxPos >= 0 && len(pos) > c.maxPos) {
		return nil, usageError{fmt.Sprintf("usage: fundledger %s (see --help)", c.synopsis)}
	}
	return pos, nil
}

// consumedDashDash reports whether flag parsing stopped at a "--".
func consumedDashDash(args, rest []string) bool {
	i := len(args) - len(rest) - 1
	return i >= 0 && args[i] == "--"
}

// done turns errHelp into success.
func helpDone(err error) error {
	if errors.Is(err, errHelp) {
		return nil
	}
	return err
}

// outputFlag adds --output (and -o).
func (c *cmdFlags) outputFlag() *string {
	s := new(string)
	help := "output format: json, table or csv (default table on a terminal, json otherwise)"
	c.fs.StringVar(s, "output", "", help)
	c.fs.StringVar(s, "o", "", "shorthand for --output")
	return s
}

// format resolves --output.
func outputFormat(s string) (string, error) {
	switch s {
	case "":
		if onTerminal(os.Stdout) {
			return "table", nil
		}
		return "json", nil
	case "json", "table", "csv":
		return s, nil
	}
	return "", usageError{fmt.Sprintf("--output %q: want json, table or csv", s)}
}

func onTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// databaseFlag adds --database-url; DATABASE_URL when it is not given. The
// environment is read after parsing, so --help never prints a password.
func (c *cmdFlags) databaseFlag() *string {
	return c.fs.String("database-url", "", "PostgreSQL URL (default $DATABASE_URL)")
}

// openStore connects to the ledger's database for reading. It does not
// migrate: reading a database that `serve` or `migrate` never set up is an
// error, not a reason to change it.
func openStore(ctx context.Context, url string) (*postgres.Store, error) {
	if url == "" {
		url = os.Getenv("DATABASE_URL")
	}
	if url == "" {
		return nil, usageError{"DATABASE_URL is required (or --database-url)"}
	}
	s, err := postgres.Open(ctx, url, postgres.Options{MaxConns: 2})
	if err != nil {
		return nil, err
	}
	if err := s.Pool.Ping(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("database: %w", err)
	}
	return s, nil
}

// readFailed maps a store error to the command's exit status.
func readFailed(err error) error {
	switch ledger.KindOf(err) {
	case ledger.KindNotFound:
		return exitError{exitNotFound, err}
	case ledger.KindInvalid:
		return usageError{err.Error()}
	}
	return err
}

// writeJSON prints v indented, one document.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// textTable is rows of text printed as aligned columns or as CSV.
type textTable struct {
	header []string
	right  []bool // right-aligned columns (money, numbers)
	rows   [][]string
}

func newTable(cols ...string) *textTable {
	t := &textTable{}
	for _, c := range cols {
		name, right := strings.CutSuffix(c, ">")
		t.header, t.right = append(t.header, name), append(t.right, right)
	}
	return t
}

func (t *textTable) add(cells ...string) { t.rows = append(t.rows, cells) }

// write prints the table aligned, with two spaces between columns.
func (t *textTable) write(w io.Writer) error {
	cols := make([]int, len(t.header))
	for _, r := range append([][]string{t.header}, t.rows...) {
		for i, c := range r {
			cols[i] = max(cols[i], displayWidth(c))
		}
	}
	var b strings.Builder
	line := func(r []string) {
		var l strings.Builder
		for i, c := range r {
			pad := strings.Repeat(" ", cols[i]-displayWidth(c))
			if i > 0 {
				l.WriteString("  ")
			}
			if t.right[i] {
				l.WriteString(pad + c)
			} else {
				l.WriteString(c + pad)
			}
		}
		b.WriteString(strings.TrimRight(l.String(), " "))
		b.WriteString("\n")
	}
	line(t.header)
	for _, r := range t.rows {
		line(r)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// displayWidth is the columns a terminal gives s: two for East Asian
// wide and full-width characters (fund names are often Chinese).
func displayWidth(s string) int {
	n := 0
	for _, r := range s {
		switch width.LookupRune(r).Kind() {
		case width.EastAsianWide, width.EastAsianFullwidth:
			n += 2
		default:
			n++
		}
	}
	return n
}

// writeCSV prints the header in lower case and the rows.
func (t *textTable) writeCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	h := make([]string, len(t.header))
	for i, c := range t.header {
		h[i] = strings.ToLower(c)
	}
	_ = cw.Write(h)
	_ = cw.WriteAll(t.rows)
	return cw.Error()
}

// emit prints v as JSON, or t as a table or CSV.
func emit(out string, v any, t func() *textTable) error {
	switch out {
	case "json":
		return printJSON(os.Stdout, v)
	case "csv":
		return t().writeCSV(os.Stdout)
	}
	return t().write(os.Stdout)
}
