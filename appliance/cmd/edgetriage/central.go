package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/central"
)

func centralCommand() command {
	c := command{name: "central", summary: "the central service: pull a fleet of stations into central storage", usage: `Usage: edgetriage central serve  --config central.yaml
       edgetriage central verify --config central.yaml --station ID DIGEST

serve runs one worker: it leases its share of the fleet from PostgreSQL,
follows each station's changes feed, streams wanted items into central S3
(Object Lock COMPLIANCE, keys <station>/<digest>) after checking manifest
and digest against the station's pinned key, acknowledges them and keeps
the signed receipts. Run several on several machines with one database:
they share the fleet and take over a dead worker's stations. The fleet
view (page, /api/v1/fleet, /metrics) is on http.addr.

verify re-checks one stored item from central storage alone: manifest
signature (pinned key), bytes against the digest, retention, receipt.
Exit status 0 when intact, 1 with the finding otherwise.

Examples:
  edgetriage central serve --config /etc/edgetriage/central.yaml
  edgetriage central verify --config central.yaml --station st-07 9f86d08...`}
	c.run = func(ctx context.Context, env *cliEnv, args []string) int {
		if len(args) == 0 || (args[0] != "serve" && args[0] != "verify") {
			fs := newFlags(env, c)
			if stop, code := parseFlags(fs, args); stop {
				return code
			}
			fmt.Fprintln(env.stderr, "edgetriage central: want 'serve' or 'verify'; see --help")
			return 2
		}
		fs := newFlags(env, c)
		config := fs.String("config", "central.yaml", "configuration `file`")
		stationID := fs.String("station", "", "station `id` (verify)")
		level := fs.String("log-level", "info", "debug, info, warn or error")
		if stop, code := parseFlags(fs, args[1:]); stop {
			return code
		}
		var lvl slog.Level
		if err := lvl.UnmarshalText([]byte(*level)); err != nil {
			fmt.Fprintf(env.stderr, "edgetriage central: --log-level: %v\n", err)
			return 2
		}
		cfg, err := central.LoadConfig(*config)
		if err != nil {
			fmt.Fprintf(env.stderr, "edgetriage central: %v\n", err)
			return 2
		}
		if args[0] == "verify" {
			return centralVerify(ctx, env, cfg, *stationID, fs.Args())
		}
		log := newLogger(env.stderr, lvl, false).With("worker", cfg.WorkerID)
		svc, err := central.New(ctx, cfg, log)
		if err != nil {
			fmt.Fprintf(env.stderr, "edgetriage central: %v\n", err)
			return 1
		}
		defer svc.Close()
		log.Info("central worker started", "stations", len(cfg.Stations), "fleet_view", "http://"+cfg.HTTP.Addr)
		if err := svc.Serve(ctx); err != nil {
			fmt.Fprintf(env.stderr, "edgetriage central: %v\n", err)
			return 1
		}
		return 0
	}
	return c
}

func centralVerify(ctx context.Context, env *cliEnv, cfg central.Config, stationID string, args []string) int {
	if stationID == "" || len(args) != 1 {
		fmt.Fprintln(env.stderr, "edgetriage central verify: want --station ID and one DIGEST")
		return 2
	}
	d, err := evidence.ParseDigest(args[0])
	if err != nil {
		fmt.Fprintf(env.stderr, "edgetriage central verify: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	rep, err := central.Verify(ctx, cfg, stationID, d)
	if err != nil {
		fmt.Fprintf(env.stderr, "edgetriage central verify: %s/%s: %v\n", stationID, d, err)
		return 1
	}
	fmt.Fprintf(env.stdout, "intact: %s/%s, %d bytes, %d custody events signed by the pinned key, %s until %s, receipt at custody event %d (%s)\n",
		stationID, d, rep.Item.Size, rep.Events, rep.Retention, rep.RetainUntil.UTC().Format(time.RFC3339), rep.ReceiptSeq, rep.ReceiptTime.UTC().Format(time.RFC3339))
	return 0
}
