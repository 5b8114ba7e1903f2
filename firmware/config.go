package firmware

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// Config is the firmware section of the appliance configuration.
type Config struct {
	// Vendors is the trust store: only packages signed by one of these keys
	// are staged or written to a camera.
	Vendors []VendorKey `yaml:"vendors"`
	// MinBattery is the battery percentage below which a camera is not
	// updated: a camera that dies while flashing may not start again.
	MinBattery int `yaml:"min_battery"`
	// RolloutPerDay caps how many distinct cameras get an image written per
	// UTC day, so a bad release reaches a few cameras, not the fleet. Zero
	// means no cap.
	RolloutPerDay int `yaml:"rollout_per_day"`
	// DefaultUpdateDir is the folder, relative to a camera's storage root,
	// that images go to when the camera's model has no profile.
	DefaultUpdateDir string `yaml:"default_update_dir"`
	// Profiles say per camera model where its loader looks for an image.
	Profiles []Profile `yaml:"profiles"`
}

// VendorKey is one trusted signing key.
type VendorKey struct {
	Vendor string `yaml:"vendor"`
	// PublicKey is the Ed25519 public key, hex (64 characters) or base64.
	PublicKey string `yaml:"public_key"`
	// Models are the camera models this key may sign firmware for: a
	// package naming any other model is refused, so one vendor key (or
	// one leaked key) cannot reach cameras it was never meant for.
	Models []string `yaml:"models"`
}

// Profile is where one camera model expects a firmware image.
type Profile struct {
	Model string `yaml:"model"`
	// UpdateDir is relative to the camera's storage root, e.g. "UPDATE".
	UpdateDir string `yaml:"update_dir"`
	// ImageName is the file name the camera's loader looks for; empty keeps
	// the image name from the package manifest.
	ImageName string `yaml:"image_name"`
}

// DefaultConfig is what applies when the configuration says nothing.
func DefaultConfig() Config {
	return Config{MinBattery: 50, RolloutPerDay: 0, DefaultUpdateDir: "UPDATE"}
}

// Validate checks the values and says which key is wrong.
func (c Config) Validate() error {
	var errs []error
	for i, k := range c.Vendors {
		if strings.TrimSpace(k.Vendor) == "" {
			errs = append(errs, fmt.Errorf("'firmware.vendors[%d].vendor' must not be empty", i))
		}
		if _, err := ParsePublicKey(k.PublicKey); err != nil {
			errs = append(errs, fmt.Errorf("'firmware.vendors[%d].public_key': %w", i, err))
		}
		if len(k.Models) == 0 {
			errs = append(errs, fmt.Errorf("'firmware.vendors[%d].models' must list the camera models this key may sign firmware for", i))
		}
		for j, m := range k.Models {
			if strings.TrimSpace(m) == "" {
				errs = append(errs, fmt.Errorf("'firmware.vendors[%d].models[%d]' must not be empty", i, j))
			}
		}
	}
	if c.MinBattery < 0 || c.MinBattery > 100 {
		errs = append(errs, fmt.Errorf("'firmware.min_battery' must be a percentage from 0 to 100, not %d", c.MinBattery))
	}
	if c.RolloutPerDay < 0 {
		errs = append(errs, fmt.Errorf("'firmware.rollout_per_day' must be zero (no cap) or more, not %d", c.RolloutPerDay))
	}
	if err := checkRelDir(c.DefaultUpdateDir); err != nil {
		errs = append(errs, fmt.Errorf("'firmware.default_update_dir': %w", err))
	}
	seen := map[string]bool{}
	for i, p := range c.Profiles {
		if p.Model == "" {
			errs = append(errs, fmt.Errorf("'firmware.profiles[%d].model' must not be empty", i))
		}
		if seen[p.Model] {
			errs = append(errs, fmt.Errorf("'firmware.profiles[%d].model': %q is listed twice", i, p.Model))
		}
		seen[p.Model] = true
		if err := checkRelDir(p.UpdateDir); err != nil {
			errs = append(errs, fmt.Errorf("'firmware.profiles[%d].update_dir': %w", i, err))
		}
		if p.ImageName != "" && !plainName(p.ImageName) {
			errs = append(errs, fmt.Errorf("'firmware.profiles[%d].image_name' must be a plain file name, not %q", i, p.ImageName))
		}
	}
	return errors.Join(errs...)
}

func (c Config) profile(model string) Profile {
	for _, p := range c.Profiles {
		if p.Model == model {
			return p
		}
	}
	return Profile{Model: model, UpdateDir: c.DefaultUpdateDir}
}

// checkRelDir keeps image writes inside the camera's storage.
func checkRelDir(d string) error {
	if d == "" {
		return errors.New("must name a folder on the camera storage, e.g. UPDATE")
	}
	if filepath.IsAbs(d) || !filepath.IsLocal(d) {
		return fmt.Errorf("%q must be relative to the camera storage root and stay inside it", d)
	}
	return nil
}

func plainName(n string) bool {
	return n != "" && n != "." && n != ".." && !strings.ContainsAny(n, `/\`) && !strings.HasPrefix(n, ".")
}

// ParsePublicKey reads an Ed25519 public key written as hex or base64.
func ParsePublicKey(text string) (ed25519.PublicKey, error) {
	text = strings.TrimSpace(text)
	if raw, err := hex.DecodeString(text); err == nil && len(raw) == ed25519.PublicKeySize {
		return ed25519.PublicKey(raw), nil
	}
	if raw, err := base64.StdEncoding.DecodeString(text); err == nil && len(raw) == ed25519.PublicKeySize {
		return ed25519.PublicKey(raw), nil
	}
	return nil, fmt.Errorf("not an Ed25519 public key: want %d bytes as %d hex characters or base64", ed25519.PublicKeySize, 2*ed25519.PublicKeySize)
}
