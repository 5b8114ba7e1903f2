package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"

	"github.com/edgetriage/edgetriage/appliance/bundle"

	"github.com/edgetriage/edgetriage/appliance/vault"
)

func verifyCommand() command {
	c := command{name: "verify", summary: "check every stored byte, the custody chain and its signatures", usage: `Usage: edgetriage verify --data DIR
       edgetriage verify --bundle FILE [--pubkey KEY]

With --data: re-hashes every file in the vault, walks the whole custody
chain, checks every signed checkpoint and every item record. Changes
nothing. Exit status 0 with a one-line summary when all is intact; 1 with
one line per problem, naming the item digest or event number, otherwise.

With --bundle: checks an export bundle offline, without the appliance's
data: the manifest signature, the custody history up to the signed
checkpoint, and the item's bytes. --pubkey pins the appliance key (hex, or
a file holding it, such as DATA/keys/appliance.pub); without it the bundle
proves it is intact but not which appliance made it.

Examples:
  edgetriage verify --data ./data
  edgetriage verify --data /srv/evidence || alert-admin
  edgetriage verify --bundle case-1234.bundle --pubkey station-7.pub`}
	c.run = func(ctx context.Context, env *cliEnv, args []string) int {
		fs := newFlags(env, c)
		data := fs.String("data", "./data", "vault data `directory`")
		bundle := fs.String("bundle", "", "export bundle `file` to verify instead of a vault")
		pubkey := fs.String("pubkey", "", "appliance public `key` (hex or file) a bundle must be signed with")
		if stop, code := parseFlags(fs, args); stop {
			return code
		}
		if *bundle != "" {
			return verifyBundle(env, *bundle, *pubkey)
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

func verifyBundle(env *cliEnv, path, pubkey string) int {
	var pinned ed25519.PublicKey
	if pubkey != "" {
		text := pubkey
		if raw, err := os.ReadFile(pubkey); err == nil {
			text = string(raw)
		}
		key, err := vault.ParsePublicKey(text)
		if err != nil {
			fmt.Fprintf(env.stderr, "edgetriage verify: --pubkey: %v\n", err)
			return 2
		}
		pinned = key
	}
	r, err := bundle.Verify(path, pinned)
	if err != nil {
		fmt.Fprintln(env.stdout, err)
		return 1
	}
	origin := "signed by key " + r.KeyID + " (embedded in the bundle; pin it with --pubkey to prove origin)"
	if r.Pinned {
		origin = "signed by the pinned key " + r.KeyID
	}
	fmt.Fprintf(env.stdout, "intact: item %s (%d bytes), %d custody events up to signed checkpoint %d, %s\n",
		r.Item.Digest, r.Item.Size, r.Events, r.Checkpnt, origin)
	return 0
}
