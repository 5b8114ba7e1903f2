package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/central"
)

func centralCommand() command {
	c := command{name: "central", summary: "the central service: pull a fleet of stations into central storage", usage: `Usage: edgetriage central serve       --config central.yaml
       edgetriage central verify      --config central.yaml --station ID DIGEST
       edgetriage central witness-key --config central.yaml
       edgetriage central checkpoint  --config central.yaml --station ID [--size N]
       edgetriage central clear       --config central.yaml --station ID [--by NAME] KIND

serve runs one worker: it leases its share of the fleet from PostgreSQL,
witnesses each station's custody log (every checkpoint must extend the one
central co-signed before; it co-signs it and posts the cosignature back),
follows each station's changes feed, streams wanted items into central S3
(Object Lock COMPLIANCE, keys <station>/<digest>) after checking manifest,
inclusion proofs and digest against the station's pinned key and the log
central witnessed, acknowledges them with a proof of possession and keeps
the signed receipts. Run several on several machines with one database
(and one witness key file): they share the fleet and take over a dead
worker's stations. The fleet view (page, /api/v1/fleet, /metrics) is on
http.addr. A station whose log forks raises the 'fork' alarm with both
signed checkpoints as evidence, and nothing more is pulled from it.

verify re-checks one stored item from central storage alone: manifest
signature (pinned key) and inclusion proofs, the witness record against
central's witness key, bytes against the digest, retention, receipt.
Exit status 0 when intact, 1 with the finding otherwise.

witness-key prints central's witness verifier key, for the stations'
'witnesses' configuration; it makes the key file (0600) if it is absent.

checkpoint prints central's copy of a station's checkpoint it co-signed
(the newest, or the one of N events), cosignature included: give it to
'edgetriage verify --cosigned' on the station.

clear closes a station's open alarm (fork, signature, ...) on record under
NAME (default: $USER). Clearing a fork, once the station's history has been
looked into, re-bases the witness on the station's present history and
pulling resumes; the fork's evidence stays on record.

Examples:
  edgetriage central serve --config /etc/edgetriage/central.yaml
  edgetriage central verify --config central.yaml --station st-07 9f86d08...
  edgetriage central witness-key --config central.yaml
  edgetriage central checkpoint --config central.yaml --station st-07 > st-07.cosigned
  edgetriage central clear --config central.yaml --station st-07 --by "J. Okafor" fork`}
	c.run = func(ctx context.Context, env *cliEnv, args []string) int {
		sub := ""
		if len(args) > 0 {
			sub = args[0]
		}
		switch sub {
		case "serve", "verify", "witness-key", "checkpoint", "clear":
		default:
			fs := newFlags(env, c)
			if stop, code := parseFlags(fs, args); stop {
				return code
			}
			fmt.Fprintln(env.stderr, "edgetriage central: want serve, verify, witness-key, checkpoint or clear; see --help")
			return 2
		}
		fs := newFlags(env, c)
		config := fs.String("config", "central.yaml", "configuration `file`")
		stationID := fs.String("station", "", "station `id` (verify, checkpoint, clear)")
		size := fs.Int64("size", 0, "the co-signed checkpoint of `N` events (checkpoint; default the newest)")
		by := fs.String("by", os.Getenv("USER"), "who clears the alarm, for the record (clear)")
		level := fs.String("log-level", "info", "debug, info, warn or error")
		cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the worker to `file` when it stops (serve)")
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
		switch sub {
		case "verify":
			return centralVerify(ctx, env, cfg, *stationID, fs.Args())
		case "witness-key":
			return centralWitnessKey(env, cfg)
		case "checkpoint":
			return centralCheckpoint(ctx, env, cfg, *stationID, *size)
		case "clear":
			return centralClear(ctx, env, cfg, *stationID, *by, fs.Args())
		}
		return centralServe(ctx, env, cfg, lvl, *cpuProfile)
	}
	return c
}

func centralServe(ctx context.Context, env *cliEnv, cfg central.Config, lvl slog.Level, cpuProfile string) int {
	log := newLogger(env.stderr, lvl, false).With("worker", cfg.WorkerID)
	if cpuProfile != "" {
		stop, err := startCPUProfile(cpuProfile)
		if err != nil {
			fmt.Fprintf(env.stderr, "edgetriage central: %v\n", err)
			return 2
		}
		defer stop()
	}
	svc, err := central.New(ctx, cfg, log)
	if err != nil {
		fmt.Fprintf(env.stderr, "edgetriage central: %v\n", err)
		return 1
	}
	defer svc.Close()
	log.Info("central worker started", "stations", len(cfg.Stations), "fleet_view", "http://"+cfg.HTTP.Addr, "witness", svc.WitnessKey())
	if err := svc.Serve(ctx); err != nil {
		fmt.Fprintf(env.stderr, "edgetriage central: %v\n", err)
		return 1
	}
	return 0
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
	proven := "chained to a signed checkpoint (a v1 manifest, from before the log)"
	if rep.Witnessed != nil {
		proven = fmt.Sprintf("proven in the log's checkpoint of %d events, which is in the history %s co-signed at %d events (%s)",
			rep.Checkpoint, rep.Witnessed.Witness, rep.Witnessed.Size, rep.Witnessed.At)
	}
	fmt.Fprintf(env.stdout, "intact: %s/%s, %d bytes, %d custody events signed by the pinned key, %s; %s until %s; receipt at custody event %d (%s)\n",
		stationID, d, rep.Item.Size, rep.Events, proven, rep.Retention, rep.RetainUntil.UTC().Format(time.RFC3339), rep.ReceiptSeq, rep.ReceiptTime.UTC().Format(time.RFC3339))
	return 0
}

func centralWitnessKey(env *cliEnv, cfg central.Config) int {
	w, err := central.LoadWitness(cfg.Witness)
	if err != nil {
		fmt.Fprintf(env.stderr, "edgetriage central witness-key: %v\n", err)
		return 1
	}
	fmt.Fprintln(env.stdout, w.VerifierKey())
	return 0
}

func centralCheckpoint(ctx context.Context, env *cliEnv, cfg central.Config, stationID string, size int64) int {
	if stationID == "" {
		fmt.Fprintln(env.stderr, "edgetriage central checkpoint: want --station ID")
		return 2
	}
	note, err := central.CosignedCheckpoint(ctx, cfg, stationID, size)
	if err != nil {
		fmt.Fprintf(env.stderr, "edgetriage central checkpoint: %v\n", err)
		return 1
	}
	env.stdout.Write(note)
	return 0
}

func centralClear(ctx context.Context, env *cliEnv, cfg central.Config, stationID, by string, args []string) int {
	if stationID == "" || len(args) != 1 || by == "" {
		fmt.Fprintln(env.stderr, "edgetriage central clear: want --station ID, --by NAME (or $USER) and one alarm KIND")
		return 2
	}
	if err := central.ClearAlarm(ctx, cfg, stationID, args[0], by); err != nil {
		fmt.Fprintf(env.stderr, "edgetriage central clear: %v\n", err)
		return 1
	}
	fmt.Fprintf(env.stdout, "cleared: the %s alarm of %s, by %s\n", args[0], stationID, by)
	return 0
}

// startCPUProfile profiles the process into path until stop is called:
// where a worker's time goes, on the fleet it serves.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile %s: %w", path, err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
