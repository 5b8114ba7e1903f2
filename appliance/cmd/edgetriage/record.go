package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/edgetriage/edgetriage/appliance"
	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/capture/rtsp"
)

func recordCommand() command {
	c := command{name: "record", summary: "record one RTSP camera into the vault, to try it before configuring it", usage: `Usage: edgetriage record --data DIR --url URL [--for DURATION] [--id NAME] [--transport tcp|udp|auto]

Records the camera's stream as-is (no transcoding) into sealed segments,
each hashed and stored in the vault with its custody events, and prints one
line per sealed segment: "<sha256-hex>  <start RFC3339>  <duration s>".
Stops after --for, or on Ctrl-C; outages in between are recorded as gaps.

Examples:
  edgetriage record --data ./data --url rtsp://viewer:secret@10.1.2.3:554/stream1 --for 1m
  edgetriage record --data ./data --url rtsp://10.1.2.4/h264 --transport tcp --id front-desk`}
	c.run = func(ctx context.Context, env *cliEnv, args []string) int {
		fs := newFlags(env, c)
		data := fs.String("data", "./data", "vault data `directory`")
		url := fs.String("url", "", "camera stream `URL`, credentials included")
		dur := fs.Duration("for", 0, "stop after this `duration` (0: until interrupted)")
		id := fs.String("id", "cli-camera", "camera `name` recorded with each segment")
		transport := fs.String("transport", "auto", "RTSP `transport`: tcp, udp or auto")
		segment := fs.Duration("segment", 10*time.Second, "segment `length`")
		if stop, code := parseFlags(fs, args); stop {
			return code
		}
		cfg := rtsp.Config{ID: *id, URL: *url, Transport: rtsp.Transport(*transport),
			SpoolDir: filepath.Join(*data, "spool"), SegmentLength: *segment}.WithDefaults()
		if err := cfg.Validate(); err != nil {
			fmt.Fprintf(env.stderr, "edgetriage record: %v\n", err)
			return 2
		}
		v, err := appliance.OpenVault(ctx, *data, slog.New(slog.DiscardHandler))
		if err != nil {
			fmt.Fprintf(env.stderr, "edgetriage record: %v\n", err)
			return 1
		}
		defer v.Close()
		if *dur > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, *dur)
			defer cancel()
		}
		err = rtsp.RecordOnce(ctx, cfg, v, func(it evidence.Item) { fmt.Fprintln(env.stdout, rtsp.SealedLine(it)) })
		if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			fmt.Fprintf(env.stderr, "edgetriage record: %v\n", err)
			return 1
		}
		return 0
	}
	return c
}
