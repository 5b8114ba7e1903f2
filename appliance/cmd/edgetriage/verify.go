package main

import (
	"context"
	"fmt"

	"github.com/edgetriage/edgetriage/appliance/vault"
)

func verifyCommand() command {
	c := command{name: "verify", summary: "check every stored byte, the custody chain and its signatures", usage: `Usage: edgetriage verify --data DIR

Re-hashes every file in the vault, walks the whole custody chain, checks
every signed checkpoint and every item record. Changes nothing. Exit status 0
with a one-line summary when all is intact; 1 with one line per problem,
naming the item digest or event number, otherwise.

Examples:
  edgetriage verify --data ./data
  edgetriage verify --data /srv/evidence || alert-admin`}
	c.run = func(ctx context.Context, env *cliEnv, args []string) int {
		fs := newFlags(env, c)
		data := fs.String("data", "./data", "vault data `directory`")
		if stop, code := parseFlags(fs, args); stop {
			return code
		}
		v, err := vault.Open(ctx, *data, vault.Options{VerifyOnly: true})
		if err != nil {
			fmt.Fprintf(env.stderr, "edgetriage verify: %v\n", err)
			return 1
		}
		defer v.Close()
		r, err := v.Verify(ctx, nil)
		if err != nil {
			fmt.Fprintf(env.stderr, "edgetriage verify: %v\n", err)
			return 1
		}
		if !r.OK() {
			for _, f := range r.Findings {
				fmt.Fprintln(env.stdout, f)
			}
			fmt.Fprintf(env.stderr, "edgetriage verify: %d problem(s) found\n", len(r.Findings))
			return 1
		}
		fmt.Fprintf(env.stdout, "intact: %d items (%d removed), %d bytes re-hashed, %d custody events, %d signed checkpoints\n",
			r.Items, r.Removed, r.Bytes, r.Events, r.Checkpoints)
		return 0
	}
	return c
}
