package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/edgetriage/edgetriage/appliance"
	"github.com/edgetriage/edgetriage/appliance/config"
)

func serveCommand() command {
	c := command{name: "serve", summary: "run the appliance daemon", usage: `Usage: edgetriage serve [--config FILE]

Without --config the embedded defaults apply: data in ./data, HTTP on
127.0.0.1:8080. Any key can be overridden from the environment:
http.addr -> EDGETRIAGE_HTTP_ADDR.

Examples:
  edgetriage serve
  edgetriage serve --config /etc/edgetriage/station.yaml
  EDGETRIAGE_DATA_DIR=/srv/evidence edgetriage serve`}
	c.run = func(ctx context.Context, env *cliEnv, args []string) int {
		fs := newFlags(env, c)
		path := fs.String("config", "", "YAML configuration `file` (unknown keys are refused)")
		pprofAddr := fs.String("pprof-addr", "", "serve Go profiles on this loopback `address` (e.g. 127.0.0.1:6060), for finding where the daemon's time goes")
		if stop, code := parseFlags(fs, args); stop {
			return code
		}
		cfg, err := config.Load(*path, env.environ)
		if err != nil {
			fmt.Fprintf(env.stderr, "edgetriage serve: %v\n", err)
			return 2
		}
		var level slog.Level
		level.UnmarshalText([]byte(cfg.Log.Level))
		log := newLogger(env.stderr, level, cfg.Log.Format == "json")
		for _, msg := range cfg.Deprecations() {
			log.Warn("config: "+msg, "config", *path)
		}
		if *pprofAddr != "" {
			stop, err := servePprof(*pprofAddr, log)
			if err != nil {
				fmt.Fprintf(env.stderr, "edgetriage serve: %v\n", err)
				return 2
			}
			defer stop()
		}
		d := appliance.New(cfg, log)
		d.Version = version
		if env.isTTY {
			d.Terminal = env.stderr
		}
		d.ConfigSource = func() (config.Config, error) { return config.Load(*path, env.environ) }
		if *path != "" {
			d.ConfigFile, _ = filepath.Abs(*path)
		}
		defer reloadOnHangup(ctx, d, log)()
		if err := d.Run(ctx); err != nil {
			log.Error("edgetriage stopped with an error", "err", err)
			return 1
		}
		return 0
	}
	return c
}
