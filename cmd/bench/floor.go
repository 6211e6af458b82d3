package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// floorClients is how many connections the commit floor uses (issue 10).
const floorClients = 32

// commitFloor measures this cluster's commit floor: floorClients
// connections, each committing one single-row INSERT at a time
// (autocommit) into a small table of a database of its own, for b.floorDur.
// It is what the cluster's durable commit costs on this machine now, so
// throughputs divided by it compare across runs on a noisy machine.
func (b *bench) commitFloor(ctx context.Context, when string) (float64, error) {
	name, dbURL, err := b.createDB(ctx, "")
	if err != nil {
		return 0, err
	}
	defer b.dropDB(name)
	setup, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return 0, err
	}
	defer setup.Close(context.Background())
	if _, err := setup.Exec(ctx, `CREATE TABLE floor_probe (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, client int NOT NULL, at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return 0, err
	}
	// The settings of the sessions that measure, not of the admin session:
	// a database or role could override them.
	settings := ""
	for _, s := range []string{"fsync", "synchronous_commit", "wal_sync_method"} {
		var v string
		if err := setup.QueryRow(ctx, "SHOW "+s).Scan(&v); err != nil {
			return 0, err
		}
		settings += fmt.Sprintf(", %s=%s", s, v)
	}
	conns := make([]*pgx.Conn, floorClients)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close(context.Background())
			}
		}
	}()
	const insert = `INSERT INTO floor_probe (client) VALUES ($1)`
	for i := range conns {
		if conns[i], err = pgx.Connect(ctx, dbURL); err != nil {
			return 0, err
		}
		// One commit first, so connecting and preparing are not timed.
		if _, err := conns[i].Exec(ctx, insert, i); err != nil {
			return 0, err
		}
	}
	var commits atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, floorClients)
	start := time.Now()
	stop := start.Add(b.floorDur)
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				if _, err := c.Exec(ctx, insert, i); err != nil {
					errs[i] = err
					return
				}
				commits.Add(1)
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	for _, err := range errs {
		if err != nil {
			return 0, fmt.Errorf("commit floor: %w", err)
		}
	}
	rate := float64(commits.Load()) / took.Seconds()
	fmt.Fprintf(b.out, "\nFLOOR (%s): %s commits/s: %d connections, one single-row INSERT per commit, %s, %s commits%s\n",
		when, num(rate), floorClients, took.Round(100*time.Millisecond), num(float64(commits.Load())), settings)
	return rate, nil
}
