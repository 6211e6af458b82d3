package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/fundledger/fundledger/httpapi"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/fundledger/fundledger/events/jetstream"
	"github.com/fundledger/fundledger/ledger/postgres"
	"github.com/fundledger/fundledger/service"
)

func init() {
	register(command{"serve", "run the ledger: migrate, consume, post, publish, serve the read API", runServe})
	register(command{"migrate", "apply the database migrations and exit", runMigrate})
}

// env reads a setting with a default.
func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func configFromEnv(fs *flag.FlagSet) (*service.Config, error) {
	cfg := &service.Config{}
	// URLs may hold passwords: they are read from the environment after the
	// flags, never shown as a flag's default in --help.
	fs.StringVar(&cfg.DatabaseURL, "database-url", "", "PostgreSQL URL (default $DATABASE_URL)")
	fs.StringVar(&cfg.NATSURL, "nats-url", "", "NATS server URL(s); empty runs an embedded server (default $NATS_URL)")
	fs.StringVar(&cfg.DataDir, "data-dir", env("FUNDLEDGER_DATA_DIR", "./data"), "data directory of the embedded server (FUNDLEDGER_DATA_DIR)")
	fs.StringVar(&cfg.HTTPAddr, "http-addr", env("HTTP_ADDR", "127.0.0.1:8080"), "read API address (HTTP_ADDR)")
	every, err := strconv.ParseInt(env("SNAPSHOT_EVERY", "10000"), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("SNAPSHOT_EVERY: %w", err)
	}
	fs.Int64Var(&cfg.SnapshotEvery, "snapshot-every", every, "journal transactions per fund between automatic snapshots; 0 never (SNAPSHOT_EVERY)")
	for _, d := range []struct {
		name, env, def, help string
		into                 *time.Duration
	}{
		{"snapshot-interval", "SNAPSHOT_INTERVAL", "1h", "snapshot every changed fund this often; 0 never (SNAPSHOT_INTERVAL)", &cfg.SnapshotInterval},
		{"hold-window", "HOLD_WINDOW", "5m", "how long an event naming an unseen grant or payment is held (HOLD_WINDOW)", &cfg.HoldWindow},
	} {
		v, err := time.ParseDuration(env(d.env, d.def))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d.env, err)
		}
		fs.DurationVar(d.into, d.name, v, d.help)
	}
	cfg.SigningKey = os.Getenv("FUNDLEDGER_SIGNING_KEY")
	fs.StringVar(&cfg.SigningKeyFile, "signing-key-file", os.Getenv("FUNDLEDGER_SIGNING_KEY_FILE"),
		"file holding the snapshot signing key, outside the data directory; made on a new ledger's first start (FUNDLEDGER_SIGNING_KEY_FILE; default: the data dir's old signing.key if any, else ~/.config/fundledger/signing.key)")
	window, err := strconv.Atoi(env("RECON_DATE_WINDOW", "3"))
	if err != nil || window < 0 {
		return nil, fmt.Errorf("RECON_DATE_WINDOW %q is not a number of days (0 or more)", env("RECON_DATE_WINDOW", "3"))
	}
	fs.IntVar(&cfg.ReconDateWindow, "recon-date-window", window, "days between a bank entry and a book item matched by amount and date (RECON_DATE_WINDOW)")
	batch, err := strconv.Atoi(env("FUNDLEDGER_BATCH", "2000"))
	if err != nil {
		return nil, fmt.Errorf("FUNDLEDGER_BATCH: %w", err)
	}
	fs.IntVar(&cfg.BatchSize, "batch", batch, "most events applied in one database transaction (FUNDLEDGER_BATCH)")
	return cfg, nil
}

func runServe(ctx context.Context, args []string) error {
	// Everything serve says, its fatal errors too, is a JSON line on
	// stderr (CONTRACT.md section 8), so a log collector parses it all.
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	cfg, auth, err := serveConfig(args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err == nil {
		cfg.Log = log
		cfg.API, err = auth.apiFor(ctx, log)
	}
	if err == nil {
		cfg.Failpoint = failpoint()
		err = service.New(*cfg).Run(ctx)
	}
	if err != nil {
		log.Error("fundledger serve: "+err.Error(), "err", err.Error())
		return loggedError{err}
	}
	return nil
}

// serveConfig reads serve's settings: flags, else the environment, else
// the defaults.
func serveConfig(args []string) (*service.Config, *authSettings, error) {
	cfg, auth, err := serveSettings(args)
	if err == nil {
		err = auth.check(cfg.HTTPAddr)
	}
	if err == nil { // a bad FUNDLEDGER_TZ stops serve now, not a request later
		var zerr error
		if cfg.Zone, zerr = httpapi.Zone(); zerr != nil {
			err = usageError{zerr.Error()}
		}
	}
	if err != nil {
		return nil, nil, err
	}
	return cfg, auth, nil
}

func serveSettings(args []string) (*service.Config, *authSettings, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfg, err := configFromEnv(fs)
	if err != nil {
		return nil, nil, usageError{err.Error()}
	}
	auth := authFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil, err
		}
		return nil, nil, usageError{err.Error()}
	}
	if cfg.DatabaseURL == "" {
		cfg.DatabaseURL = os.Getenv("DATABASE_URL")
	}
	if cfg.NATSURL == "" {
		cfg.NATSURL = os.Getenv("NATS_URL")
	}
	cfg.NATSAuth = jetstream.AuthFromEnv()
	if _, err := cfg.NATSAuth.Options(); err != nil {
		return nil, nil, usageError{err.Error()}
	}
	if auth.JWKS == "" {
		auth.JWKS = os.Getenv("AUTH_JWKS")
	}
	if cfg.DatabaseURL == "" {
		return nil, nil, usageError{"DATABASE_URL is required"}
	}
	if cfg.HoldWindow == 0 {
		// Said explicitly (the default is 5m): no hold, refuse at once.
		// service.Config reads 0 as "the default".
		cfg.HoldWindow = -1
	}
	if cfg.ReconDateWindow == 0 {
		cfg.ReconDateWindow = -1 // said explicitly: the same day only
	}
	return cfg, auth, nil
}

func runMigrate(ctx context.Context, args []string) error {
	// Like serve, migrate logs JSON lines to stderr (CONTRACT.md section 8).
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	fail := func(err error) error {
		log.Error("fundledger migrate: "+err.Error(), "err", err.Error())
		return loggedError{err}
	}
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	url := fs.String("database-url", "", "PostgreSQL URL (default $DATABASE_URL)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fail(usageError{err.Error()})
	}
	if *url == "" {
		*url = os.Getenv("DATABASE_URL")
	}
	if *url == "" {
		return fail(usageError{"DATABASE_URL is required"})
	}
	if err := postgres.Migrate(ctx, *url); err != nil {
		return fail(err)
	}
	log.Info("migrations applied")
	return nil
}
