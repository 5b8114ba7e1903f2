package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/edgetriage/edgetriage/appliance/config"
	"github.com/edgetriage/edgetriage/capture/dock"
)

func dockCommand() command {
	c := command{name: "dock", summary: "mount and unmount docked cameras in their bays (the package's udev rule runs it)",
		usage: `Usage: edgetriage dock mount|unmount [--config FILE] [--owner USER] DEVICE
       edgetriage dock ports [--config FILE]

mount mounts a docked camera's file system (DEVICE: /dev/sdb1) under
dock.root/<bay>, the bay named after the USB port it is plugged into
(dock.bays names ports; never the volume label), owned by --owner, and
records what udev read of the device (label, UUID, USB serial) in
dock.volume_dir/<bay>.json for the daemon to identify it by. unmount
undoes it, also after the device is gone. Both are run as root by
edgetriage-dock@.service when udev sees a camera come and go.
ports lists the docked cameras' bays and USB port paths: plug a camera into
each slot of a rack in turn to write dock.bays.

Examples:
  edgetriage dock mount --config /etc/edgetriage/edgetriage.yaml /dev/sdb1
  edgetriage dock ports --config /etc/edgetriage/edgetriage.yaml`}
	c.run = func(ctx context.Context, env *cliEnv, args []string) int {
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
				fmt.Fprintf(env.stdout, "%s\n\n%s\n", c.summary, c.usage)
				return 0
			}
			fmt.Fprintln(env.stderr, "edgetriage dock: give mount, unmount or ports; see 'edgetriage dock --help'")
			return 2
		}
		sub := args[0]
		fs := newFlags(env, c)
		cfgPath := fs.String("config", "", "station config `file` (dock.root, dock.bays, dock.volume_dir)")
		owner := fs.String("owner", "edgetriage", "`user` the daemon runs as, who owns the mounted files")
		if stop, code := parseFlags(fs, interleave(fs, args[1:])); stop {
			return code
		}
		cfg, err := config.Load(*cfgPath, env.environ)
		if err != nil {
			fmt.Fprintf(env.stderr, "edgetriage dock %s: %v\n", sub, err)
			return 2
		}
		switch sub {
		case "mount", "unmount":
			if fs.NArg() != 1 {
				fmt.Fprintf(env.stderr, "edgetriage dock %s: give one DEVICE (/dev/sdb1)\n", sub)
				return 2
			}
			run := dockUnmount
			if sub == "mount" {
				run = func(cfg dock.Config, device string) (string, error) { return dockMount(ctx, cfg, device, *owner) }
			}
			msg, err := run(cfg.Dock, fs.Arg(0))
			if err != nil {
				fmt.Fprintf(env.stderr, "edgetriage dock %s %s: %v\n", sub, fs.Arg(0), err)
				return 1
			}
			fmt.Fprintln(env.stdout, msg)
			return 0
		case "ports":
			return dockPorts(env, cfg.Dock)
		}
		fmt.Fprintf(env.stderr, "edgetriage dock: unknown subcommand %q (mount, unmount, ports)\n", sub)
		return 2
	}
	return c
}

// udevProperties asks udev what it knows of a device.
func udevProperties(ctx context.Context, device string) (map[string]string, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "udevadm", "info", "--query=property", "--name="+device)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("udevadm info %s: %w: %s", device, err, strings.TrimSpace(stderr.String()))
	}
	return dock.ParseUdevProperties(bytes.NewReader(out))
}

func dockMount(ctx context.Context, cfg dock.Config, device, owner string) (string, error) {
	if cfg.VolumeDir == "" {
		return "", errors.New("dock.volume_dir is not set: the daemon would not learn the device's label or serial")
	}
	u, err := user.Lookup(owner)
	if err != nil {
		return "", fmt.Errorf("owner: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	props, err := udevProperties(ctx, device)
	if err != nil {
		return "", err
	}
	m, err := dock.PlanMount(cfg.Root, props, cfg.Bays, uid, gid)
	if err != nil {
		return "", err
	}
	// The record goes first: the dock reads it when it sees the bay's
	// files, which the mount makes appear.
	if err := dock.WriteVolume(cfg.VolumeDir, m.Bay, m.Volume); err != nil {
		return "", err
	}
	if err := os.Mkdir(m.Target, 0o750); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("bay %s: %w", m.Bay, err)
	}
	os.Chown(m.Target, uid, gid)
	if err := unix.Mount(device, m.Target, m.FSType, unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, m.Options); err != nil {
		dock.RemoveVolume(cfg.VolumeDir, m.Bay)
		return "", fmt.Errorf("mount %s on %s (%s): %w", device, m.Target, m.FSType, err)
	}
	return fmt.Sprintf("bay %s: %s mounted on %s (port %s, label %q, serial %q)", m.Bay, device, m.Target, m.Volume.Port, m.Volume.Label, m.Volume.Serial), nil
}

func dockUnmount(cfg dock.Config, device string) (string, error) {
	info, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	bay, ok, err := dock.BayOfDevice(info, cfg.Root, device)
	info.Close()
	if err != nil {
		return "", fmt.Errorf("read mounts: %w", err)
	}
	if !ok {
		return fmt.Sprintf("%s is not mounted in a bay under %s", device, cfg.Root), nil
	}
	target := filepath.Join(cfg.Root, bay)
	// Detached: the camera may have been pulled out already.
	if err := unix.Unmount(target, unix.MNT_DETACH); err != nil {
		return "", fmt.Errorf("unmount bay %s (%s): %w", bay, target, err)
	}
	if cfg.VolumeDir != "" {
		if err := dock.RemoveVolume(cfg.VolumeDir, bay); err != nil {
			return "", err
		}
	}
	os.Remove(target) // only if empty: a bay made by hand keeps its files
	return fmt.Sprintf("bay %s: %s unmounted", bay, device), nil
}

// dockPorts prints the bays of the docked cameras with their USB ports.
func dockPorts(env *cliEnv, cfg dock.Config) int {
	if cfg.VolumeDir == "" {
		fmt.Fprintln(env.stderr, "edgetriage dock ports: dock.volume_dir is not set; bays are not mounted by port")
		return 2
	}
	names, err := filepath.Glob(filepath.Join(cfg.VolumeDir, "*.json"))
	if err != nil {
		fmt.Fprintf(env.stderr, "edgetriage dock ports: %v\n", err)
		return 1
	}
	sort.Strings(names)
	if len(names) == 0 {
		fmt.Fprintln(env.stdout, "no camera is docked")
	}
	for _, n := range names {
		bay := strings.TrimSuffix(filepath.Base(n), ".json")
		v, ok, err := dock.ReadVolume(cfg.VolumeDir, bay)
		if err != nil || !ok {
			fmt.Fprintf(env.stderr, "edgetriage dock ports: bay %s: %v\n", bay, err)
			continue
		}
		fmt.Fprintf(env.stdout, "%-24s port %s  label %q  serial %q\n", bay, v.Port, v.Label, v.Serial)
	}
	return 0
}
