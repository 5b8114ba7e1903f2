package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/edgetriage/edgetriage/appliance"
	"github.com/edgetriage/edgetriage/appliance/bundle"
	"github.com/edgetriage/edgetriage/appliance/evidence"
)

func exportCommand() command {
	c := command{name: "export", summary: "write an item and its signed custody record to a bundle", usage: `Usage: edgetriage export --data DIR DIGEST --out FILE --reason TEXT

The bundle is a tar file: the item's bytes and a manifest signed with the
appliance key (the record, the custody events, a signed checkpoint of the
custody log and the inclusion proofs that put the events in it). It
verifies offline with 'edgetriage verify --bundle FILE --pubkey KEY', on any
machine. The export itself, with its reason (a case or incident
reference), is recorded in the custody chain first.

Examples:
  edgetriage export --data ./data 3f5a...e1 --out case-1234.bundle --reason "case 1234, disclosure to CPS"
  edgetriage verify --bundle case-1234.bundle --pubkey ./data/keys/appliance.pub`}
	c.run = func(ctx context.Context, env *cliEnv, args []string) int {
		fs := newFlags(env, c)
		data := fs.String("data", "./data", "vault data `directory`")
		out := fs.String("out", "", "bundle `file` to write (must not exist)")
		actor := fs.String("as", os.Getenv("USER"), "`name` recorded as the exporting user")
		reason := fs.String("reason", "", "why the evidence leaves the appliance (case or incident reference); required")
		if stop, code := parseFlags(fs, interleave(fs, args)); stop {
			return code
		}
		if fs.NArg() != 1 || *out == "" {
			fmt.Fprintln(env.stderr, "edgetriage export: give one DIGEST and --out FILE; see 'edgetriage export --help'")
			return 2
		}
		d, err := evidence.ParseDigest(fs.Arg(0))
		if err != nil {
			fmt.Fprintf(env.stderr, "edgetriage export: %v\n", err)
			return 2
		}
		v, err := appliance.OpenVault(ctx, *data, slog.New(slog.DiscardHandler))
		if err != nil {
			fmt.Fprintf(env.stderr, "edgetriage export: %v\n", err)
			return 1
		}
		defer v.Close()
		who := *actor
		if who == "" {
			who = "cli"
		}
		if err := bundle.Export(ctx, v, d, *out, evidence.Actor("user:"+who), *reason); err != nil {
			fmt.Fprintf(env.stderr, "edgetriage export: %v\n", err)
			return 1
		}
		fmt.Fprintf(env.stdout, "%s  %s\n", d, *out)
		return 0
	}
	return c
}
