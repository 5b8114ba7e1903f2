package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/edgetriage/edgetriage/appliance"
	"github.com/edgetriage/edgetriage/appliance/backup"
	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// reloadOnHangup reloads the daemon's configuration at each SIGHUP (what
// `systemctl reload` sends) instead of letting the signal end the process.
// It must be set up before the daemon starts: until then a SIGHUP would
// kill it.
func reloadOnHangup(ctx context.Context, d *appliance.Daemon, log *slog.Logger) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-hup:
				// A refused file is logged by ReloadConfig with its errors.
				if rep, err := d.ReloadConfig(ctx, "appliance:sighup"); err == nil {
					log.Info("SIGHUP: configuration reloaded", "report", rep.String())
				}
			}
		}
	}()
	return func() { signal.Stop(hup); close(done) }
}

func reloadCommand() command {
	c := command{name: "reload", summary: "make the running daemon read its configuration again", usage: `Usage: edgetriage reload --data DIR

The same as SIGHUP (systemctl reload edgetriage), through the daemon's
console socket, with the outcome printed: cameras added, removed or changed
(only those restart; the others record on), flag rules and triage, upload
windows, retention and the login policy are applied at once. A file with an
error is refused with the same message as at start, and the running
configuration stays. Keys that need a restart (listener, data directory,
sync target, dock, ...) are named and left as they run.

Example:
  edgetriage reload --data /var/lib/edgetriage`}
	c.run = func(ctx context.Context, env *cliEnv, args []string) int {
		fs := newFlags(env, c)
		data := fs.String("data", "./data", "vault data `directory`")
		if stop, code := parseFlags(fs, args); stop {
			return code
		}
		con, err := dialConsole(*data)
		if err != nil {
			fmt.Fprintf(env.stderr, "edgetriage reload: %v\n", err)
			return 1
		}
		var rep appliance.ReloadReport
		if err := con.call(ctx, "POST", "/console/v1/reload", nil, &rep); err != nil {
			fmt.Fprintf(env.stderr, "edgetriage reload: refused, the running configuration stays: %v\n", err)
			return 1
		}
		fmt.Fprintln(env.stdout, rep.String())
		return 0
	}
	return c
}

func backupCommand() command {
	c := command{name: "backup", summary: "copy the index, keys and configuration (while running)", usage: `Usage: edgetriage backup --data DIR --to NEWDIR [--objects] [--config FILE]

Writes a backup into NEWDIR (new or empty): a consistent copy of the index
(item records, custody chain, checkpoints, accounts, queues) taken in one
read transaction while the daemon runs on, the signing key, and the
configuration file; the evidence files only with --objects (central storage
holds what was synced). MANIFEST.json lists every file with its SHA-256.
Through the running daemon's console socket, or on the vault directly when
the daemon is stopped (then --config names the configuration to include).
The backup is a custody event. Keep it where the key is safe: it signs.

Examples:
  edgetriage backup --data /var/lib/edgetriage --to /srv/backup/edgetriage-$(date +%F)
  edgetriage backup --data /var/lib/edgetriage --to /mnt/usb/full --objects`}
	c.run = func(ctx context.Context, env *cliEnv, args []string) int {
		fs := newFlags(env, c)
		data := fs.String("data", "./data", "vault data `directory`")
		to := fs.String("to", "", "new or empty `directory` to write the backup into")
		objects := fs.Bool("objects", false, "include the evidence files")
		cfgFile := fs.String("config", "", "with the daemon stopped: the configuration `file` to include")
		if stop, code := parseFlags(fs, args); stop {
			return code
		}
		if *to == "" {
			fmt.Fprintln(env.stderr, "edgetriage backup: --to is required")
			return 2
		}
		m, err := runBackup(ctx, *data, *to, *objects, *cfgFile)
		if err != nil {
			fmt.Fprintf(env.stderr, "edgetriage backup: %v\n", err)
			return 1
		}
		fmt.Fprintf(env.stdout, "backup of %s in %s: index as of custody event %d, %d stored items (files %s), config %s\n",
			m.Fingerprint, *to, m.Head, m.Stored, map[bool]string{true: "included", false: "not included"}[m.Objects], orDash(m.Config))
		return 0
	}
	return c
}

// runBackup streams the backup from the running daemon, or writes it here
// from the vault when the daemon is stopped, and unpacks it into to.
func runBackup(ctx context.Context, data, to string, objects bool, cfgFile string) (backup.Manifest, error) {
	con, err := dialConsole(data)
	if err == nil {
		path := "/console/v1/backup"
		if objects {
			path += "?objects=1"
		}
		resp, err := con.stream(ctx, "GET", path)
		if err != nil {
			return backup.Manifest{}, err
		}
		defer resp.Body.Close()
		return backup.Extract(resp.Body, to)
	}
	if !errors.Is(err, errNoDaemon) {
		return backup.Manifest{}, err
	}
	v, err := appliance.OpenVault(ctx, data, slog.New(slog.DiscardHandler))
	if err != nil {
		return backup.Manifest{}, err
	}
	defer v.Close()
	pr, pw := io.Pipe()
	go func() {
		_, err := backup.Write(ctx, pw, v, backup.Options{ConfigFile: cfgFile, Objects: objects, By: consoleActor()})
		pw.CloseWithError(err)
	}()
	m, err := backup.Extract(pr, to)
	pr.CloseWithError(err) // unblocks the writer if extraction stopped early
	return m, err
}

func consoleActor() evidence.Actor { return evidence.Actor("console:" + osUser()) }

func restoreCommand() command {
	c := command{name: "restore", summary: "put a backup back into a data directory (daemon stopped)", usage: `Usage: edgetriage restore --from BACKUP --data DIR [--force]

Copies a backup made by 'edgetriage backup' into DIR: the index, the signing
key, and the evidence files it holds; every file is checked against the
backup's manifest first. DIR may still hold the evidence files (a lost or
damaged index): they stay, and any that the restored index does not name are
moved aside to quarantine when the vault opens, never deleted. An index
already in DIR is refused unless --force, which moves it aside
(index.db.replaced-<time>); a key of another appliance is always refused.
The restore is recorded in the restored custody chain, which is then closed
in order, so 'edgetriage verify' passes on it. Events after the backup are
not in it: central's copies and witnessed checkpoints still hold them.
The configuration is left in BACKUP/config/ for you to put back.

Example:
  edgetriage restore --from /srv/backup/edgetriage-2026-03-01 --data /var/lib/edgetriage --force`}
	c.run = func(ctx context.Context, env *cliEnv, args []string) int {
		fs := newFlags(env, c)
		from := fs.String("from", "", "backup `directory`")
		data := fs.String("data", "./data", "vault data `directory` to restore into")
		force := fs.Bool("force", false, "move an index already in the data directory aside")
		if stop, code := parseFlags(fs, args); stop {
			return code
		}
		if *from == "" {
			fmt.Fprintln(env.stderr, "edgetriage restore: --from is required")
			return 2
		}
		r, err := runRestore(ctx, *from, *data, *force)
		if err != nil {
			fmt.Fprintf(env.stderr, "edgetriage restore: %v\n", err)
			return 1
		}
		fmt.Fprintf(env.stdout, "restored %s into %s: index as of custody event %d; %d evidence files copied, %d already there\n",
			r.Manifest.Fingerprint, *data, r.Manifest.Head, r.ObjectsCopied, r.ObjectsPresent)
		if r.MovedAside != "" {
			fmt.Fprintf(env.stdout, "the index that was there is kept as %s\n", r.MovedAside)
		}
		if r.Config != "" {
			fmt.Fprintf(env.stdout, "the configuration is in %s: put it back where the daemon reads it\n", r.Config)
		}
		fmt.Fprintf(env.stdout, "check it: edgetriage verify --data %s --fingerprint %s\n", *data, r.Manifest.Fingerprint)
		return 0
	}
	return c
}

func runRestore(ctx context.Context, from, data string, force bool) (backup.Restored, error) {
	if _, err := dialConsole(data); !errors.Is(err, errNoDaemon) {
		if err == nil {
			err = errors.New("a daemon is running on this data directory: stop it first")
		}
		return backup.Restored{}, err
	}
	r, err := backup.Restore(from, data, force, time.Now())
	if err != nil {
		return r, err
	}
	v, err := appliance.OpenVault(ctx, data, slog.New(slog.DiscardHandler))
	if err != nil {
		return r, fmt.Errorf("open the restored vault: %w", err)
	}
	if err := backup.Record(ctx, v, consoleActor(), r); err != nil {
		v.Close()
		return r, err
	}
	return r, v.Close()
}
