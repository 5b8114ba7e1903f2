package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"

	"github.com/edgetriage/edgetriage/appliance"
	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/pipeline"
	"github.com/edgetriage/edgetriage/triage/redact"
)

func redactCommand() command {
	c := command{name: "redact", summary: "make a redacted working copy of a clip (faces and plates blurred)", usage: `Usage: edgetriage redact --data DIR DIGEST [--json] [--edits FILE] [--thorough]

Detects faces and licence plates, follows them between detections, covers
them irreversibly (pixelate + blur) and stores the result as a new item
linked to the master, with the redaction log (every box of every frame)
beside it. The master is never changed. Prints the new item's digest and
the QA summary: where detection was unsure or a track was interpolated for
long, for a reviewer. --edits adds manual regions or full-frame blur over
time ranges (a JSON array; see the triage/redact package). The default
settings are the daemon's (real time at 1080p on a two-core box);
--thorough detects faces and people on every few frames at full size with
a slower encoder, for a clip a reviewer found something missed in.

Examples:
  edgetriage redact --data ./data 3f5a...e1
  edgetriage redact --data ./data 3f5a...e1 --json | jq .qa
  edgetriage redact --data ./data 3f5a...e1 --edits extra-boxes.json`}
	c.run = func(ctx context.Context, env *cliEnv, args []string) int {
		fs := newFlags(env, c)
		data := fs.String("data", "./data", "vault data `directory`")
		asJSON := fs.Bool("json", false, "print the summary as JSON")
		editsFile := fs.String("edits", "", "JSON `file` of manual edits")
		thorough := fs.Bool("thorough", false, "more detections per second at full size and a slower encoder (several times slower than real time)")
		// --fast named the real-time profile before it became the default;
		// scripts that pass it get the default.
		fs.Bool("fast", false, "the default settings (kept for scripts written before they were the default)")
		if stop, code := parseFlags(fs, interleave(fs, args)); stop {
			return code
		}
		if fs.NArg() != 1 {
			fmt.Fprintln(env.stderr, "edgetriage redact: give one DIGEST; see 'edgetriage redact --help'")
			return 2
		}
		d, err := evidence.ParseDigest(fs.Arg(0))
		if err != nil {
			fmt.Fprintf(env.stderr, "edgetriage redact: %v\n", err)
			return 2
		}
		var edits []redact.ManualEdit
		if *editsFile != "" {
			raw, err := os.ReadFile(*editsFile)
			if err == nil {
				edits, err = redact.ParseEdits(raw)
			}
			if err != nil {
				fmt.Fprintf(env.stderr, "edgetriage redact: --edits: %v\n", err)
				return 2
			}
		}
		cfg := redact.Realtime()
		if *thorough {
			cfg = redact.Thorough()
		}
		r, err := redact.New(cfg)
		if err != nil {
			fmt.Fprintf(env.stderr, "edgetriage redact: %v\n", err)
			return 1
		}
		defer r.Close()
		v, err := appliance.OpenVault(ctx, *data, slog.New(slog.DiscardHandler))
		if err != nil {
			fmt.Fprintf(env.stderr, "edgetriage redact: %v\n", err)
			return 1
		}
		defer v.Close()
		out, err := pipeline.Redact(ctx, v, r, d, edits, "user:cli")
		if err != nil {
			fmt.Fprintf(env.stderr, "edgetriage redact: %v\n", err)
			return 1
		}
		if *asJSON {
			json.NewEncoder(env.stdout).Encode(out.Summary)
			return 0
		}
		s := out.Summary
		fmt.Fprintf(env.stdout, "%s\n", s.Digest)
		fmt.Fprintf(env.stdout, "%d frames, %d face tracks, %d person tracks, %d plate tracks, %d boxes, %d manual edits, audio %s\n",
			s.Frames, s.FaceTracks, s.PersonTracks, s.PlateTracks, s.Boxes, s.ManualEdits, s.Audio)
		fmt.Fprintf(env.stdout, "QA: %s\n", s.QA.Message)
		fmt.Fprintf(env.stdout, "review: %s\n", s.QA.Review.Message)
		for _, e := range s.QA.Review.Entries {
			fmt.Fprintf(env.stdout, "  #%d %.1f-%.1f s (risk %.1f, %s): %s\n", e.Rank, e.Start, e.End, e.Risk, e.ID, e.Why[0].Text)
			for _, w := range e.Why[1:] {
				fmt.Fprintf(env.stdout, "      and: %s\n", w.Text)
			}
		}
		for _, sp := range s.Speech.Spans {
			fmt.Fprintf(env.stdout, "  speech %.1f-%.1f s\n", sp.Start, sp.End)
		}
		return 0
	}
	return c
}
