package main

import (
	"context"
	"fmt"
	"log/slog"
	"path"
	"strings"
	"time"

	"github.com/edgetriage/edgetriage/appliance"
	"github.com/edgetriage/edgetriage/capture/dock"
)

func offloadCommand() command {
	c := command{name: "offload", summary: "offload one docked camera into the vault", usage: `Usage: edgetriage offload --data DIR [--release POLICY] BAYDIR

Identifies the camera mounted at BAYDIR (device.json or device.ini at its
root), copies every recording under DCIM with its sidecar files into the
vault, re-reads and verifies each copy, and records the custody of each
file. With --release after-verify, each verified recording is then deleted
from the camera; the default keeps everything on it. Files already
offloaded from this camera are not copied again. Symbolic links are never
followed. Prints one line per offloaded file: "<sha256-hex>  <camera path>",
and a progress bar on a terminal. Exit status 1 when any file could not be
offloaded or the directory is not a camera.

Examples:
  edgetriage offload --data ./data /media/dock/bay1
  edgetriage offload --data /srv/evidence --release after-verify /media/dock/bay3`}
	c.run = func(ctx context.Context, env *cliEnv, args []string) int {
		fs := newFlags(env, c)
		data := fs.String("data", "./data", "vault data `directory`")
		release := fs.String("release", string(dock.ReleaseNever), "release `policy`: never or after-verify")
		if stop, code := parseFlags(fs, args); stop {
			return code
		}
		if fs.NArg() != 1 {
			fmt.Fprintln(env.stderr, "edgetriage offload: give exactly one BAYDIR; see 'edgetriage offload --help'")
			return 2
		}
		p := dock.GenericMassStorage()
		p.Release = dock.ReleasePolicy(*release)
		if p.Release != dock.ReleaseNever && p.Release != dock.ReleaseAfterVerify {
			fmt.Fprintf(env.stderr, "edgetriage offload: --release %q: want never or after-verify (after-ack needs the daemon)\n", *release)
			return 2
		}
		v, err := appliance.OpenVault(ctx, *data, slog.New(slog.DiscardHandler))
		if err != nil {
			fmt.Fprintf(env.stderr, "edgetriage offload: %v\n", err)
			return 1
		}
		defer v.Close()
		d, err := dock.New(dock.Options{Config: dock.Config{Profiles: []dock.Profile{p}}, Vault: v, State: v.State("dock")})
		if err != nil {
			fmt.Fprintf(env.stderr, "edgetriage offload: %v\n", err)
			return 1
		}
		return runOffload(ctx, env, d, fs.Arg(0))
	}
	return c
}

func runOffload(ctx context.Context, env *cliEnv, d *dock.Dock, bay string) int {
	stopBar := make(chan struct{})
	barDone := make(chan struct{})
	go func() {
		defer close(barDone)
		if env.isTTY {
			drawBar(env, d, stopBar)
		}
	}()
	rep, err := d.Offload(ctx, bay)
	close(stopBar)
	<-barDone
	if err != nil {
		fmt.Fprintf(env.stderr, "edgetriage offload: %v\n", err)
		return 1
	}
	for _, s := range rep.Skipped {
		fmt.Fprintf(env.stderr, "skipped: %s: %s\n", s.Rel, s.Reason)
	}
	for _, f := range rep.Files {
		reportOffload(env, f)
	}
	if !rep.Complete() {
		fmt.Fprintf(env.stderr, "edgetriage offload: camera %s: not every file was offloaded; dock it again to resume\n", rep.Device.Serial)
		return 1
	}
	return 0
}

func reportOffload(env *cliEnv, f dock.FileReport) {
	if f.Err != nil && f.State != dock.FileKept && f.State != dock.FileOffloaded && f.State != dock.FileReleased {
		fmt.Fprintf(env.stderr, "%s: %s: %v\n", f.State, f.Path, f.Err)
		return
	}
	fmt.Fprintf(env.stdout, "%s  %s\n", f.Item.Digest, f.Path)
	for _, p := range f.Item.Problems {
		fmt.Fprintf(env.stderr, "marked: %s: %s: %s\n", f.Path, p.Code, p.Detail)
	}
	switch f.State {
	case dock.FileReleased:
		fmt.Fprintf(env.stderr, "released: %s\n", f.Path)
	case dock.FileKept:
		fmt.Fprintf(env.stderr, "kept on the camera: %s\n", f.Path)
	}
}

// drawBar redraws one progress line on the terminal until stop closes.
func drawBar(env *cliEnv, d *dock.Dock, stop <-chan struct{}) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			fmt.Fprint(env.stderr, "\r\033[K")
			return
		case <-t.C:
			for _, b := range d.Progress().Bays {
				fmt.Fprint(env.stderr, "\r\033[K"+barLine(b))
			}
		}
	}
}

func barLine(b dock.BayProgress) string {
	const width = 30
	frac := 0.0
	if b.Total > 0 {
		frac = float64(b.Bytes) / float64(b.Total)
	}
	filled := int(frac * width)
	current := ""
	for _, f := range b.Files {
		if f.State == dock.FileCopying || f.State == dock.FileVerifying {
			current = path.Base(f.Path) + " " + f.State
		}
	}
	eta := "--"
	if b.ETA >= 0 {
		eta = time.Duration(b.ETA * float64(time.Second)).Round(time.Second).String()
	}
	return fmt.Sprintf("%s [%s%s] %3.0f%% %.1f/%.1f MiB %.1f MiB/s ETA %s %s", b.Device.Serial,
		strings.Repeat("#", filled), strings.Repeat(".", width-filled), 100*frac,
		float64(b.Bytes)/(1<<20), float64(b.Total)/(1<<20), b.Rate/(1<<20), eta, current)
}
