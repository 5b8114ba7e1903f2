package main

import (
	"flag"
	"io"
	"slices"
	"testing"
)

// Flags may follow the positional arguments; which of them take a value
// is the flag set's to say: "redact DIGEST --fast --edits F" has F as the
// edits file, not as a second digest.
func TestInterleaveAsksTheFlagSet(t *testing.T) {
	fs := flag.NewFlagSet("redact", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.String("data", "./data", "")
	fs.Bool("json", false, "")
	edits := fs.String("edits", "", "")
	fast := fs.Bool("fast", false, "")
	for _, args := range [][]string{
		{"DIGEST", "--fast", "--edits", "F"},
		{"--fast", "DIGEST", "--edits", "F"},
		{"--edits", "F", "DIGEST", "--fast"},
		{"DIGEST", "--edits=F", "--fast=true"},
	} {
		*edits, *fast = "", false
		if err := fs.Parse(interleave(fs, args)); err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		if *edits != "F" || !*fast || !slices.Equal(fs.Args(), []string{"DIGEST"}) {
			t.Errorf("%q: edits %q fast %v positional %q", args, *edits, *fast, fs.Args())
		}
	}
	if err := fs.Parse(interleave(fs, []string{"DIGEST", "--", "--fast"})); err != nil || !slices.Equal(fs.Args(), []string{"DIGEST", "--fast"}) {
		t.Errorf("after --: %v %q", err, fs.Args())
	}
	if err := fs.Parse(interleave(fs, []string{"DIGEST", "--fsat"})); err == nil {
		t.Error("an unknown flag was accepted")
	}
}
