package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/edgetriage/edgetriage/appliance/config"
	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
	"github.com/edgetriage/edgetriage/triage/motion"
)

func triageCommand() command {
	c := command{name: "triage", summary: "find the motion events in a clip", usage: `Usage: edgetriage triage [--data DIR] [--config FILE] DIGEST|PATH [--json]

Runs motion triage on a vault item (by digest) or on any video file, and
prints its events: start and end in seconds from the clip's start, peak
score, zones touched; with --json the whole result:
{"events":[{"start":S,"end":S,"score":X,...}],...}. Nothing is written; the
daemon triages every new clip by itself. --config takes the station config
for its triage section (masks, zones, sensitivity).

Examples:
  edgetriage triage --data ./data 3f5a...e1
  edgetriage triage yard-2026-11-27.mp4 --json | jq '.events[].start'`}
	c.run = func(ctx context.Context, env *cliEnv, args []string) int {
		fs := newFlags(env, c)
		data := fs.String("data", "./data", "vault data `directory` (for a DIGEST)")
		cfgPath := fs.String("config", "", "station config `file` whose triage section applies")
		asJSON := fs.Bool("json", false, "print the whole result as JSON")
		if stop, code := parseFlags(fs, interleave(fs, args)); stop {
			return code
		}
		if fs.NArg() != 1 {
			fmt.Fprintln(env.stderr, "edgetriage triage: give one DIGEST or PATH; see 'edgetriage triage --help'")
			return 2
		}
		cfg, err := config.Load(*cfgPath, env.environ)
		if err != nil {
			fmt.Fprintf(env.stderr, "edgetriage triage: %v\n", err)
			return 2
		}
		path, source, err := triageTarget(ctx, *data, fs.Arg(0))
		if err != nil {
			fmt.Fprintf(env.stderr, "edgetriage triage: %v\n", err)
			return 1
		}
		res, err := motion.Analyze(ctx, path, cfg.Triage.For(source))
		var de *motion.DecodeError
		if err != nil && !(errors.As(err, &de) && res.Frames > 0) {
			fmt.Fprintf(env.stderr, "edgetriage triage: %v\n", err)
			return 1
		}
		if de != nil {
			fmt.Fprintf(env.stderr, "edgetriage triage: only part of the clip decoded: %s\n", de.Reason)
		}
		if *asJSON {
			json.NewEncoder(env.stdout).Encode(res)
			return 0
		}
		fmt.Fprintf(env.stdout, "%d events in %.1f s (%d of %d frames decoded)\n", len(res.Events), res.Duration, res.Decoded, res.Frames)
		for _, e := range res.Events {
			fmt.Fprintf(env.stdout, "  %7.1f - %7.1f s  score %.3f  zones %v\n", e.Start, e.End, e.Score, e.Zones)
		}
		for _, a := range res.Alerts {
			fmt.Fprintf(env.stdout, "  tamper %s at %.1f s: %s\n", a.Kind, a.At, a.Detail)
		}
		return 0
	}
	return c
}

// triageTarget resolves a digest to its vault file, or takes a path as is.
func triageTarget(ctx context.Context, data, arg string) (path, source string, err error) {
	d, perr := evidence.ParseDigest(arg)
	if perr != nil {
		if _, err := os.Stat(arg); err != nil {
			return "", "", fmt.Errorf("%s is neither a digest nor a readable file: %w", arg, err)
		}
		return arg, "", nil
	}
	v, err := vault.Open(ctx, data, vault.Options{VerifyOnly: true})
	if err != nil {
		return "", "", err
	}
	defer v.Close()
	it, err := v.Item(d)
	if err != nil {
		return "", "", err
	}
	return v.ObjectPath(d), it.Source, nil
}
