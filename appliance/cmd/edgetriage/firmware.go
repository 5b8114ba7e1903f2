package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"

	"go.yaml.in/yaml/v3"

	"github.com/edgetriage/edgetriage/appliance"
	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
	"github.com/edgetriage/edgetriage/firmware"
)

func firmwareCommand() command {
	c := command{name: "firmware", summary: "stage and check signed camera firmware", usage: `Usage:
  edgetriage firmware import --data DIR --trust FILE [--by NAME] PACKAGE...
  edgetriage firmware list   --data DIR [--json]
  edgetriage firmware verify --data DIR --trust FILE [--model M --installed V --battery N [--force-by ADMIN]] PACKAGE|DIGEST

import checks each package (tar, tar.gz or zip with manifest.json, the image
and manifest.sig) against the vendor keys in the trust file and stores it in
the vault; cameras of its models get it on their next dock. A refused package
is not stored, and the refusal is recorded in the custody chain.
list shows the staged packages. verify checks a package file or a staged
package (by digest) and, given a camera's model, installed version and
battery, whether it could be written to that camera. Exit status 1 names the
reason: unsigned, bad-signature, unknown-vendor-key, digest-mismatch,
wrong-model, key-not-for-model, downgrade, below-min-from-version,
low-battery, malformed.

The trust file is YAML (the firmware section of the appliance config):
  vendors:
    - vendor: Acme
      public_key: 5d1c...e9 (hex or base64 Ed25519)
      models: [BWC-200, BWC-210] (the camera models this key may sign for)
  min_battery: 50
  rollout_per_day: 10

Examples:
  edgetriage firmware import --data ./data --trust firmware.yaml --by alice acme-2.10.0.tar
  edgetriage firmware list --data ./data
  edgetriage firmware verify --data ./data --trust firmware.yaml --model BWC-200 --installed 1.9.3 --battery 80 acme-2.10.0.tar`}
	c.run = func(ctx context.Context, env *cliEnv, args []string) int {
		if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
			newFlags(env, c).Usage()
			if len(args) == 0 {
				return 2
			}
			return 0
		}
		switch args[0] {
		case "import":
			return firmwareImport(ctx, env, c, args[1:])
		case "list":
			return firmwareList(ctx, env, c, args[1:])
		case "verify":
			return firmwareVerify(ctx, env, c, args[1:])
		}
		fmt.Fprintf(env.stderr, "edgetriage firmware: unknown sub-command %q: want import, list or verify\n", args[0])
		return 2
	}
	return c
}

// loadFirmwareConfig reads a trust file strictly: an unknown key is a typo
// that would otherwise silently trust nothing or everything.
func loadFirmwareConfig(path string) (firmware.Config, error) {
	cfg := firmware.DefaultConfig()
	if path == "" {
		return cfg, errors.New("--trust FILE is required: packages are checked against its vendor keys")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("trust file: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return cfg, fmt.Errorf("trust file %s: %w", path, err)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("trust file %s: %w", path, err)
	}
	return cfg, nil
}

type firmwareFlags struct {
	fs    *flag.FlagSet
	data  *string
	trust *string
}

func newFirmwareFlags(env *cliEnv, c command, sub string) firmwareFlags {
	fs := newFlags(env, c)
	fs.Init("firmware "+sub, flag.ContinueOnError)
	return firmwareFlags{fs: fs, data: fs.String("data", "./data", "vault data `directory`")}
}

// openFirmware opens the vault (read-only unless write) and a manager.
func openFirmware(ctx context.Context, data string, cfg firmware.Config, write bool) (*vault.Vault, *firmware.Manager, error) {
	var v *vault.Vault
	var err error
	if write {
		v, err = appliance.OpenVault(ctx, data, slog.New(slog.DiscardHandler))
	} else {
		v, err = vault.Open(ctx, data, vault.Options{VerifyOnly: true})
	}
	if err != nil {
		return nil, nil, err
	}
	m, err := firmware.New(cfg, v, v.State("firmware"), firmware.Options{})
	if err != nil {
		v.Close()
		return nil, nil, err
	}
	return v, m, nil
}

func firmwareImport(ctx context.Context, env *cliEnv, c command, args []string) int {
	ff := newFirmwareFlags(env, c, "import")
	ff.trust = ff.fs.String("trust", "", "trust `file` (YAML) with the vendor keys")
	by := ff.fs.String("by", "cli", "`name` of the admin importing, recorded in the custody chain")
	if stop, code := parseFlags(ff.fs, args); stop {
		return code
	}
	if ff.fs.NArg() == 0 {
		fmt.Fprintln(env.stderr, "edgetriage firmware import: no PACKAGE given; see 'edgetriage firmware --help'")
		return 2
	}
	cfg, err := loadFirmwareConfig(*ff.trust)
	if err != nil {
		fmt.Fprintf(env.stderr, "edgetriage firmware import: %v\n", err)
		return 2
	}
	v, m, err := openFirmware(ctx, *ff.data, cfg, true)
	if err != nil {
		fmt.Fprintf(env.stderr, "edgetriage firmware import: %v\n", err)
		return 1
	}
	failed := 0
	for _, p := range ff.fs.Args() {
		st, err := m.ImportFile(ctx, p, evidence.Actor("user:"+*by))
		if err != nil {
			fmt.Fprintf(env.stderr, "refused: %v\n", err)
			failed++
			continue
		}
		fmt.Fprintf(env.stdout, "%s  %s  %s %s for %s\n", st.Package, p, st.Manifest.Vendor, st.Manifest.Version, strings.Join(st.Manifest.Models, ","))
	}
	if err := v.Close(); err != nil {
		fmt.Fprintf(env.stderr, "edgetriage firmware import: %v\n", err)
		return 1
	}
	if failed > 0 {
		fmt.Fprintf(env.stderr, "edgetriage firmware import: %d package(s) refused\n", failed)
		return 1
	}
	return 0
}

func firmwareList(ctx context.Context, env *cliEnv, c command, args []string) int {
	ff := newFirmwareFlags(env, c, "list")
	asJSON := ff.fs.Bool("json", false, "print JSON instead of a table")
	if stop, code := parseFlags(ff.fs, args); stop {
		return code
	}
	v, m, err := openFirmware(ctx, *ff.data, firmware.DefaultConfig(), false)
	if err != nil {
		fmt.Fprintf(env.stderr, "edgetriage firmware list: %v\n", err)
		return 1
	}
	defer v.Close()
	list, err := m.List()
	if err != nil {
		fmt.Fprintf(env.stderr, "edgetriage firmware list: %v\n", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		if list == nil {
			list = []firmware.Staged{}
		}
		enc.Encode(list)
		return 0
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PACKAGE\tVENDOR\tVERSION\tMIN FROM\tMODELS\tNAME\tIMPORTED")
	for _, s := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s by %s\n", s.Package.Short(), s.Manifest.Vendor, s.Manifest.Version,
			orDash(s.Manifest.MinFromVersion), strings.Join(s.Manifest.Models, ","), s.Name, s.ImportedAt.Format("2006-01-02 15:04Z"), s.ImportedBy)
	}
	tw.Flush()
	return 0
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func firmwareVerify(ctx context.Context, env *cliEnv, c command, args []string) int {
	ff := newFirmwareFlags(env, c, "verify")
	ff.trust = ff.fs.String("trust", "", "trust `file` (YAML) with the vendor keys")
	model := ff.fs.String("model", "", "camera `model` to check the package against")
	installed := ff.fs.String("installed", "", "firmware `version` installed on the camera")
	battery := ff.fs.Int("battery", -1, "camera battery `percent`")
	forceBy := ff.fs.String("force-by", "", "`admin` forcing a downgrade")
	if stop, code := parseFlags(ff.fs, args); stop {
		return code
	}
	if ff.fs.NArg() != 1 {
		fmt.Fprintln(env.stderr, "edgetriage firmware verify: give one PACKAGE file or staged DIGEST; see 'edgetriage firmware --help'")
		return 2
	}
	cfg, err := loadFirmwareConfig(*ff.trust)
	if err != nil {
		fmt.Fprintf(env.stderr, "edgetriage firmware verify: %v\n", err)
		return 2
	}
	ver, err := verifyTarget(ctx, *ff.data, cfg, ff.fs.Arg(0))
	if err == nil && *model != "" {
		cam := firmware.Camera{Serial: "(given)", Model: *model, Firmware: *installed, Battery: *battery}
		err = firmware.CheckCamera(ver.Manifest, cam, cfg.MinBattery, *forceBy)
	}
	if err != nil {
		fmt.Fprintf(env.stdout, "refused: %s\n", firmware.ReasonOf(err))
		fmt.Fprintf(env.stderr, "edgetriage firmware verify: %v\n", err)
		return 1
	}
	m := ver.Manifest
	fmt.Fprintf(env.stdout, "ok: %s %s for %s, image %s (%s), signed by key %s\n", m.Vendor, m.Version,
		strings.Join(m.Models, ","), m.Image, m.ImageSHA256.Short(), ver.KeyID)
	return 0
}

// verifyTarget checks a package file, or the staged package a digest names.
func verifyTarget(ctx context.Context, data string, cfg firmware.Config, arg string) (firmware.Verified, error) {
	if d, err := evidence.ParseDigest(arg); err == nil {
		if _, statErr := os.Stat(arg); statErr != nil {
			v, m, err := openFirmware(ctx, data, cfg, false)
			if err != nil {
				return firmware.Verified{}, err
			}
			defer v.Close()
			return m.VerifyStaged(d)
		}
	}
	trust, err := firmware.NewTrustStore(cfg.Vendors)
	if err != nil {
		return firmware.Verified{}, err
	}
	f, err := os.Open(arg)
	if err != nil {
		return firmware.Verified{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return firmware.Verified{}, err
	}
	return trust.VerifyPackage(f, fi.Size())
}
