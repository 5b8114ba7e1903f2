package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
)

// Restored says what a restore did.
type Restored struct {
	Manifest Manifest
	// MovedAside is where the index that was in the data directory went
	// (with --force); it is never deleted.
	MovedAside string
	// ObjectsCopied came from the backup; ObjectsPresent were in the data
	// directory already (the same bytes: their names are their digests).
	ObjectsCopied, ObjectsPresent int
	// Config is the backed-up configuration file, for the admin to put back.
	Config string
}

// ReadManifest reads and checks a backup directory: every file the
// manifest lists is there with its SHA-256.
func ReadManifest(from string) (Manifest, error) {
	var m Manifest
	raw, err := os.ReadFile(filepath.Join(from, "MANIFEST.json"))
	if err != nil {
		return m, fmt.Errorf("backup %s: %w", from, err)
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return m, fmt.Errorf("backup %s: manifest: %w", from, err)
	}
	got := map[string]string{}
	for name := range m.Files {
		sum, err := fileSHA256(filepath.Join(from, filepath.FromSlash(name)))
		if err != nil {
			return m, fmt.Errorf("backup %s: %w", from, err)
		}
		got[name] = sum
	}
	if err := m.check(got); err != nil {
		return m, fmt.Errorf("backup %s: %w", from, err)
	}
	return m, nil
}

// Restore puts the backup unpacked in from back into dataDir: the index,
// the keys and (if the backup has them) the evidence files. It refuses a
// data directory holding another appliance's key, and one holding an index
// unless force is set, in which case that index is moved aside, never
// deleted. Evidence files already in dataDir stay. The daemon must be
// stopped; open the vault afterwards and record the restore (Record), so
// that the restored chain ends in order and verifies.
func Restore(from, dataDir string, force bool, now time.Time) (Restored, error) {
	m, err := ReadManifest(from)
	if err != nil {
		return Restored{}, err
	}
	r := Restored{Manifest: m}
	if m.Config != "" {
		r.Config = filepath.Join(from, "config", m.Config)
	}
	if err := os.MkdirAll(filepath.Join(dataDir, "keys"), 0o750); err != nil {
		return r, err
	}
	if err := checkKeys(from, dataDir, m); err != nil {
		return r, err
	}
	if r.MovedAside, err = moveIndexAside(dataDir, force, now); err != nil {
		return r, err
	}
	names := sortedNames(m)
	for _, name := range names {
		if !strings.HasPrefix(name, "keys/") {
			continue
		}
		if err := copyIfMissing(filepath.Join(from, name), filepath.Join(dataDir, filepath.FromSlash(name)), 0o600); err != nil {
			return r, err
		}
	}
	if err := copyIfMissing(filepath.Join(from, "index.db"), filepath.Join(dataDir, "index.db"), 0o600); err != nil {
		return r, err
	}
	for _, name := range names {
		if !strings.HasPrefix(name, "objects/") {
			continue
		}
		dst := filepath.Join(dataDir, filepath.FromSlash(name))
		if _, err := os.Lstat(dst); err == nil {
			r.ObjectsPresent++
			continue
		}
		if err := copyIfMissing(filepath.Join(from, filepath.FromSlash(name)), dst, 0o444); err != nil {
			return r, err
		}
		r.ObjectsCopied++
	}
	return r, nil
}

// Record puts the restore in the restored vault's custody chain; closing
// the vault then ends the chain in order.
func Record(ctx context.Context, v *vault.Vault, by evidence.Actor, r Restored) error {
	details := map[string]string{"backup_made_at": r.Manifest.MadeAt.Format(time.RFC3339), "backup_custody_head": fmt.Sprint(r.Manifest.Head),
		"index_sha256": r.Manifest.Files["index.db"], "objects_copied": fmt.Sprint(r.ObjectsCopied), "objects_present": fmt.Sprint(r.ObjectsPresent)}
	if r.MovedAside != "" {
		details["index_moved_aside"] = filepath.Base(r.MovedAside)
	}
	if _, err := v.Append(ctx, evidence.CustodyEvent{Actor: by, Action: evidence.ActionVaultRestored, Details: details}); err != nil {
		return fmt.Errorf("record the restore: %w", err)
	}
	return nil
}

func sortedNames(m Manifest) []string {
	names := make([]string, 0, len(m.Files))
	for n := range m.Files {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// checkKeys refuses to mix two appliances: a key in the data directory
// must be the backup's.
func checkKeys(from, dataDir string, m Manifest) error {
	for name, sum := range m.Files {
		if !strings.HasPrefix(name, "keys/") {
			continue
		}
		have, err := fileSHA256(filepath.Join(dataDir, filepath.FromSlash(name)))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if have != sum {
			return fmt.Errorf("%s in %s is another appliance's key than the backup's (%s): restore into an empty data directory", name, dataDir, m.Fingerprint)
		}
	}
	return nil
}

func moveIndexAside(dataDir string, force bool, now time.Time) (string, error) {
	cur := filepath.Join(dataDir, "index.db")
	if _, err := os.Lstat(cur); errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if !force {
		return "", fmt.Errorf("%s holds an index already: restoring would replace it; with --force it is moved aside (never deleted)", dataDir)
	}
	aside := cur + ".replaced-" + now.UTC().Format("20060102T150405Z")
	if err := os.Rename(cur, aside); err != nil {
		return "", fmt.Errorf("move the current index aside: %w", err)
	}
	return aside, nil
}

// copyIfMissing copies src to dst through a temporary name, fsynced, so
// that a restore cut short never leaves a half-written file under the
// real name; an existing dst is left as it is.
func copyIfMissing(src, dst string, perm os.FileMode) error {
	if _, err := os.Lstat(dst); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".restoring"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, perm)
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("restore %s: %w", dst, err)
	}
	return nil
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
