package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/edgetriage/edgetriage/appliance"
	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
)

func ingestCommand() command {
	c := command{name: "ingest", summary: "store files or directories in the vault", usage: `Usage: edgetriage ingest --data DIR [--source NAME] [--officer ID] PATH...

Directories are read recursively; symbolic links are reported and never
followed. Prints one line per stored item: "<sha256-hex>  <path>". Bytes the
vault already holds are not stored twice; the arrival is still recorded.
Exit status 1 when any path could not be stored.

Examples:
  edgetriage ingest --data ./data --source bwv-0042 /media/usb/DCIM
  edgetriage ingest --data ./data interview.mp4 notes.txt`}
	c.run = func(ctx context.Context, env *cliEnv, args []string) int {
		fs := newFlags(env, c)
		data := fs.String("data", "./data", "vault data `directory`")
		source := fs.String("source", "cli", "source device or camera `name` recorded with each item")
		officer := fs.String("officer", "", "officer `id` recorded with each item")
		if stop, code := parseFlags(fs, args); stop {
			return code
		}
		if fs.NArg() == 0 {
			fmt.Fprintln(env.stderr, "edgetriage ingest: no PATH given; see 'edgetriage ingest --help'")
			return 2
		}
		v, err := appliance.OpenVault(ctx, *data, slog.New(slog.DiscardHandler))
		if err != nil {
			fmt.Fprintf(env.stderr, "edgetriage ingest: %v\n", err)
			return 1
		}
		in := evidence.Intake{Actor: "user:cli", Source: *source, Officer: *officer}
		progress := newProgress(env)
		failed, err := v.IngestPaths(ctx, fs.Args(), in, func(r vault.TreeResult) {
			progress.clear()
			reportIngest(env, r)
			progress.add(r.Bytes)
		})
		progress.clear()
		if cerr := v.Close(); cerr != nil && err == nil {
			err = cerr
		}
		if err != nil {
			fmt.Fprintf(env.stderr, "edgetriage ingest: %v\n", err)
			return 1
		}
		if failed > 0 {
			fmt.Fprintf(env.stderr, "edgetriage ingest: %d path(s) could not be stored\n", failed)
			return 1
		}
		return 0
	}
	return c
}

func reportIngest(env *cliEnv, r vault.TreeResult) {
	switch {
	case r.Err != nil:
		fmt.Fprintf(env.stderr, "error: %v\n", r.Err)
	case r.Skip != "":
		fmt.Fprintf(env.stderr, "skipped: %s: %s\n", r.Path, r.Skip)
	default:
		fmt.Fprintf(env.stdout, "%s  %s\n", r.Item.Digest, r.Path)
		for _, p := range r.Item.Problems {
			fmt.Fprintf(env.stderr, "marked: %s: %s: %s\n", r.Path, p.Code, p.Detail)
		}
		if !r.New {
			fmt.Fprintf(env.stderr, "already stored: %s (recorded again)\n", r.Path)
		}
	}
}

// progress shows a running count on a terminal and nothing otherwise, so
// scripted use gets only the result lines.
type progress struct {
	env   *cliEnv
	start time.Time
	files int
	bytes int64
	shown bool
}

func newProgress(env *cliEnv) *progress { return &progress{env: env, start: time.Now()} }

func (p *progress) add(n int64) {
	p.files++
	p.bytes += n
	if !p.env.isTTY {
		return
	}
	rate := float64(p.bytes) / max(time.Since(p.start).Seconds(), 1e-3) / (1 << 20)
	fmt.Fprintf(p.env.stderr, "\r%d files, %.1f MiB, %.1f MiB/s", p.files, float64(p.bytes)/(1<<20), rate)
	p.shown = true
}

func (p *progress) clear() {
	if p.shown {
		fmt.Fprint(p.env.stderr, "\r\033[K")
		p.shown = false
	}
}
