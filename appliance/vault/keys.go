package vault

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

func (v *Vault) keyPath() string { return filepath.Join(v.dir, "keys", "appliance.key") }

// loadKey reads the signing key, or makes one when the vault has none yet.
// The key file holds the hex Ed25519 seed and must stay private (0600).
func (v *Vault) loadKey() (created bool, err error) {
	raw, err := os.ReadFile(v.keyPath())
	if errors.Is(err, fs.ErrNotExist) {
		return true, v.createKey()
	}
	if err != nil {
		return false, fmt.Errorf("read signing key: %w", err)
	}
	seed, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return false, fmt.Errorf("signing key %s: not a hex Ed25519 seed", v.keyPath())
	}
	v.key = ed25519.NewKeyFromSeed(seed)
	v.pub = v.key.Public().(ed25519.PublicKey)
	return false, nil
}

func (v *Vault) createKey() error {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("generate signing key: %w", err)
	}
	seed := hex.EncodeToString(priv.Seed()) + "\n"
	if err := writeFileSync(v.keyPath(), []byte(seed), 0o600); err != nil {
		return fmt.Errorf("write signing key: %w", err)
	}
	pubPath := filepath.Join(v.dir, "keys", "appliance.pub")
	if err := writeFileSync(pubPath, []byte(hex.EncodeToString(pub)+"\n"), 0o644); err != nil {
		return fmt.Errorf("write public key: %w", err)
	}
	v.key, v.pub = priv, pub
	return nil
}

// writeFileSync writes a small file durably: temp name, fsync, rename, fsync dir.
func writeFileSync(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
