package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/edgetriage/edgetriage/appliance"
	"github.com/edgetriage/edgetriage/appliance/evidence"
)

func centralCommand() command {
	c := command{name: "central", summary: "register central systems that pull and acknowledge evidence", usage: `Usage: edgetriage central add --data DIR NAME

Creates the bearer token a central system uses for the pull API
(/api/v1/central/...). The token is printed once; only its hash is kept.

Examples:
  edgetriage central add --data ./data hq-evidence
  curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/api/v1/central/changes`}
	c.run = func(ctx context.Context, env *cliEnv, args []string) int {
		fs := newFlags(env, c)
		data := fs.String("data", "./data", "vault data `directory`")
		if stop, code := parseFlags(fs, interleave(args)); stop {
			return code
		}
		if fs.NArg() != 2 || fs.Arg(0) != "add" {
			fmt.Fprintln(env.stderr, "edgetriage central: usage: edgetriage central add --data DIR NAME")
			return 2
		}
		v, err := appliance.OpenVault(ctx, *data, slog.New(slog.DiscardHandler))
		if err != nil {
			fmt.Fprintf(env.stderr, "edgetriage central: %v\n", err)
			return 1
		}
		defer v.Close()
		who := os.Getenv("USER")
		if who == "" {
			who = "cli"
		}
		token, err := appliance.AddCentralClient(ctx, v, fs.Arg(1), evidence.Actor("user:"+who))
		if err != nil {
			fmt.Fprintf(env.stderr, "edgetriage central: %v\n", err)
			return 1
		}
		fmt.Fprintln(env.stdout, token)
		return 0
	}
	return c
}
