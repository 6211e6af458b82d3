// Command fundledger is the ledger service and its operator tools.
//
//	fundledger serve      run the ledger (CONTRACT.md section 8)
//	fundledger migrate    apply the database migrations and exit
//
// Run `fundledger help` for every command.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// command is one subcommand.
type command struct {
	name, summary string
	run           func(ctx context.Context, args []string) error
}

var commands []command

func register(c command) { commands = append(commands, c) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:]))
}

// Exit codes.
const (
	exitOK       = 0
	exitFailure  = 1
	exitUsage    = 2
	exitMismatch = 3 // verify found a problem
)

// usageError marks a command-line mistake (exit 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// loggedError was already reported as a log line; run prints it no more.
type loggedError struct{ err error }

func (e loggedError) Error() string { return e.err.Error() }
func (e loggedError) Unwrap() error { return e.err }

// exitError carries a specific exit code.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }

func run(ctx context.Context, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage()
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands {
		if c.name == args[0] {
			err := c.run(ctx, args[1:])
			if err == nil {
				return exitOK
			}
			var logged loggedError
			if !errors.As(err, &logged) {
				fmt.Fprintf(os.Stderr, "fundledger %s: %v\n", c.name, err)
			}
			var ue usageError
			var ee exitError
			switch {
			case errors.As(err, &ue):
				return exitUsage
			case errors.As(err, &ee):
				return ee.code
			}
			return exitFailure
		}
	}
	fmt.Fprintf(os.Stderr, "fundledger: unknown command %q\n\n", args[0])
	usage()
	return exitUsage
}

func usage() {
	fmt.Fprintln(os.Stderr, "Usage: fundledger <command> [flags]\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(os.Stderr, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(os.Stderr, "\nRun `fundledger <command> --help` for a command's flags. Settings come from the environment (see README).")
}
