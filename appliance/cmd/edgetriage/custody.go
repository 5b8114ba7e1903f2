package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
)

func custodyCommand() command {
	c := command{name: "custody", summary: "list the custody chain, whole or for one item", usage: `Usage: edgetriage custody --data DIR [--item DIGEST] [--after SEQ] [--json]

Prints the custody chain in order, one event per line: sequence number,
UTC time, actor, action, item digest (first 12 hex digits) and details.
--item lists only the events about that item; --after starts after that
sequence number; --json prints one JSON event per line, hashes included,
for tools. Changes nothing; the daemon must be stopped (the vault's index
is held by one process at a time). 'edgetriage verify' checks the chain.

Examples:
  edgetriage custody --data ./data
  edgetriage custody --data ./data --item 3f8a...e1 --json`}
	c.run = func(ctx context.Context, env *cliEnv, args []string) int {
		fs := newFlags(env, c)
		data := fs.String("data", "./data", "vault data `directory`")
		item := fs.String("item", "", "only events about this item `digest`")
		after := fs.Uint64("after", 0, "start after this sequence `number`")
		asJSON := fs.Bool("json", false, "one JSON event per line")
		if stop, code := parseFlags(fs, args); stop {
			return code
		}
		if err := listCustody(ctx, env.stdout, *data, *item, *after, *asJSON); err != nil {
			fmt.Fprintf(env.stderr, "edgetriage custody: %v\n", err)
			return 1
		}
		return 0
	}
	return c
}

func listCustody(ctx context.Context, w io.Writer, data, item string, after uint64, asJSON bool) error {
	print := func(e evidence.CustodyEvent) error { return printEvent(w, e) }
	if asJSON {
		enc := json.NewEncoder(w)
		print = func(e evidence.CustodyEvent) error { return enc.Encode(e) }
	}
	var only evidence.Digest
	if item != "" {
		d, err := evidence.ParseDigest(item)
		if err != nil {
			return fmt.Errorf("--item: %w", err)
		}
		only = d
	}
	v, err := vault.Open(ctx, data, vault.Options{VerifyOnly: true})
	if err != nil {
		return err
	}
	defer v.Close()
	var printErr error
	each := func(e evidence.CustodyEvent) bool {
		if e.Seq <= after {
			return true
		}
		printErr = print(e)
		return printErr == nil
	}
	if !only.IsZero() {
		evs, err := v.ItemEvents(only)
		if err != nil {
			return err
		}
		for _, e := range evs {
			if !each(e) {
				break
			}
		}
		return printErr
	}
	if err := v.Events(after+1, each); err != nil {
		return err
	}
	return printErr
}

func printEvent(w io.Writer, e evidence.CustodyEvent) error {
	item := "-"
	if !e.Item.IsZero() {
		item = e.Item.String()[:12]
	}
	var details []string
	for _, k := range slices.Sorted(maps.Keys(e.Details)) {
		details = append(details, k+"="+quoteIfSpaced(e.Details[k]))
	}
	_, err := fmt.Fprintf(w, "%6d  %s  %-22s %-20s %s  %s\n", e.Seq, e.Time.UTC().Format(time.RFC3339), e.Actor, e.Action, item, strings.Join(details, " "))
	return err
}

func quoteIfSpaced(s string) string {
	if strings.ContainsAny(s, " \t\n\"") {
		return fmt.Sprintf("%q", s)
	}
	return s
}
