package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"strconv"
)

// With FUNDLEDGER_PPROF=1 every command (serve above all) serves the Go
// profiler on its own listener, FUNDLEDGER_PPROF_ADDR (default
// 127.0.0.1:6060), never on the read API's address: profiles show code and
// data, so they are off unless asked for, and only on loopback by default.
// FUNDLEDGER_PPROF_RATE, when set, also samples mutex and blocking events
// (runtime.SetMutexProfileFraction / SetBlockProfileRate).
//
//	FUNDLEDGER_PPROF=1 fundledger serve &
//	go tool pprof -top http://127.0.0.1:6060/debug/pprof/profile?seconds=30
func init() {
	if os.Getenv("FUNDLEDGER_PPROF") != "1" {
		return
	}
	addr := env("FUNDLEDGER_PPROF_ADDR", "127.0.0.1:6060")
	if r, err := strconv.Atoi(os.Getenv("FUNDLEDGER_PPROF_RATE")); err == nil && r > 0 {
		runtime.SetMutexProfileFraction(r)
		runtime.SetBlockProfileRate(r)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "fundledger: FUNDLEDGER_PPROF: cannot listen on %s: %v\n", addr, err)
		return
	}
	fmt.Fprintf(os.Stderr, "fundledger: pprof on http://%s/debug/pprof/\n", ln.Addr())
	go func() { _ = http.Serve(ln, mux) }()
}
