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
	c := command{name: "export", summary: "write an item and its signed custody record to a bundle", usage: `Usage: edgetriage export --data DIR DIGEST --out FILE

The bundle is a tar file: the item's bytes and a manifest signed with the
appliance key (record, custody events, chain links up to a signed
checkpoint). It verifies offline with 'edgetriage verify --bundle FILE',
on any machine. The export itself is recorded in the custody chain first.

Examples:
  edgetriage export --data ./data 3f5a...e1 --out case-1234.bundle
  edgetriage verify --bundle case-1234.bundle --pubkey ./data/keys/appliance.pub`}
	c.run = func(ctx context.Context, env *cliEnv, args []string) int {
		fs := newFlags(env, c)
		data := fs.String("data", "./data", "vault data `directory`")
		out := fs.String("out", "", "bundle `file` to write (must not exist)")
		actor := fs.String("as", os.Getenv("USER"), "`name` recorded as the exporting user")
		if stop, code := parseFlags(fs, interleave(args)); stop {
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
		if err := bundle.Export(ctx, v, d, *out, evidence.Actor("user:"+who)); err != nil {
			fmt.Fprintf(env.stderr, "edgetriage export: %v\n", err)
			return 1
		}
		fmt.Fprintf(env.stdout, "%s  %s\n", d, *out)
		return 0
	}
	return c
}

// interleave moves flags after positional arguments to the front, so
// "export DIGEST --out F" works as users type it; the flag package stops
// at the first non-flag otherwise.
func interleave(args []string) []string {
	var flags, rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			rest = append(rest, args[i+1:]...)
			i = len(args)
		case len(a) > 1 && a[0] == '-':
			flags = append(flags, a)
			if !containsEq(a) && i+1 < len(args) && !isBoolFlag(a) {
				flags = append(flags, args[i+1])
				i++
			}
		default:
			rest = append(rest, a)
		}
	}
	return append(flags, rest...)
}

func containsEq(s string) bool {
	for _, r := range s {
		if r == '=' {
			return true
		}
	}
	return false
}

func isBoolFlag(a string) bool {
	switch a {
	case "-h", "--help", "-help", "--json", "-json":
		return true
	}
	return false
}
