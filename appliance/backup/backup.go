// Package backup copies what a station cannot rebuild - the index (item
// records, the custody chain, checkpoints, accounts, queues), the signing
// key and the configuration - while the daemon runs on, and puts it back.
// The evidence files themselves are left out unless asked for: they are
// many and large, they are never changed once written, and central storage
// holds what was synced.
//
// A backup is a tar stream (what the daemon's console sends) or the
// directory it is unpacked into (what `edgetriage backup --to DIR` leaves):
//
//	MANIFEST.json          what the backup holds, with the SHA-256 of every file
//	index.db               a consistent copy of the bbolt index (one read transaction)
//	keys/appliance.key     the signing key (0600), and its public half
//	config/<name>          the configuration file the daemon runs with, if known
//	objects/ab/abcdef…     the evidence files, only with objects asked for
package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
)

// Format is the manifest's format number.
const Format = 1

// Manifest describes a backup.
type Manifest struct {
	Format int       `json:"format"`
	MadeAt time.Time `json:"made_at"`
	// Fingerprint is the signing key's: a backup restores one appliance.
	Fingerprint string `json:"key_fingerprint"`
	// Head is the newest custody event the index copy holds.
	Head uint64 `json:"custody_head"`
	// Stored counts the items whose bytes the vault held then; Objects
	// says whether those bytes are in the backup.
	Stored  int  `json:"items_stored"`
	Objects bool `json:"objects"`
	// Config is the configuration file's name under config/, if any.
	Config string `json:"config,omitempty"`
	// Files maps every file of the backup (but the manifest) to its SHA-256.
	Files map[string]string `json:"files"`
}

// Options say what goes into a backup.
type Options struct {
	// ConfigFile is the configuration the daemon runs with ("" if none).
	ConfigFile string
	// Objects adds the evidence files.
	Objects bool
	// By is who asked, for the custody event.
	By  evidence.Actor
	Now func() time.Time
}

// Write writes a backup of v as a tar stream to w, and records it in the
// custody chain (after the copy: the copy ends just before its own event).
func Write(ctx context.Context, w io.Writer, v *vault.Vault, opt Options) (Manifest, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	m := Manifest{Format: Format, MadeAt: opt.Now().UTC(), Fingerprint: evidence.Fingerprint(v.PublicKey()), Objects: opt.Objects,
		Files: map[string]string{}}
	a := &archive{tw: tar.NewWriter(w), m: &m}
	snap, err := v.WriteSnapshot(func(size int64) (io.Writer, error) {
		return a.begin("index.db", size, 0o600, m.MadeAt)
	})
	if err != nil {
		return m, err
	}
	a.end()
	m.Head, m.Stored = snap.Head, len(snap.Stored)
	if err := a.addDir(v.Dir(), "keys"); err != nil {
		return m, err
	}
	if opt.ConfigFile != "" {
		m.Config = filepath.Base(opt.ConfigFile)
		if err := a.addFile(opt.ConfigFile, "config/"+m.Config); err != nil {
			return m, fmt.Errorf("backup the configuration: %w", err)
		}
	}
	if opt.Objects {
		for _, d := range snap.Stored {
			if err := ctx.Err(); err != nil {
				return m, err
			}
			hx := d.String()
			if err := a.addFile(v.ObjectPath(d), path.Join("objects", hx[:2], hx)); err != nil {
				return m, fmt.Errorf("backup item %s: %w", d.Short(), err)
			}
		}
	}
	if err := a.writeManifest(); err != nil {
		return m, err
	}
	if err := a.tw.Close(); err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	details := map[string]string{"custody_head": fmt.Sprint(m.Head), "index_sha256": m.Files["index.db"],
		"objects": fmt.Sprint(m.Objects), "items_stored": fmt.Sprint(m.Stored)}
	if _, err := v.Append(context.WithoutCancel(ctx), evidence.CustodyEvent{Actor: opt.By, Action: evidence.ActionBackupMade, Details: details}); err != nil {
		return m, fmt.Errorf("record the backup: %w", err)
	}
	return m, nil
}

// archive writes the tar stream, hashing each entry into the manifest.
type archive struct {
	tw   *tar.Writer
	m    *Manifest
	name string
	cur  hash.Hash
}

// hashingWriter hashes what goes into the entry being written.
type hashingWriter struct {
	io.Writer
	h hash.Hash
}

func (h hashingWriter) Write(p []byte) (int, error) {
	h.h.Write(p)
	return h.Writer.Write(p)
}

func (a *archive) begin(name string, size int64, mode int64, mod time.Time) (io.Writer, error) {
	if err := a.tw.WriteHeader(&tar.Header{Name: name, Size: size, Mode: mode, ModTime: mod, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return nil, fmt.Errorf("backup %s: %w", name, err)
	}
	a.name, a.cur = name, sha256.New()
	return hashingWriter{a.tw, a.cur}, nil
}

// end notes the finished entry's hash.
func (a *archive) end() {
	a.m.Files[a.name] = hex.EncodeToString(a.cur.Sum(nil))
}

func (a *archive) addFile(src, name string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	w, err := a.begin(name, fi.Size(), int64(fi.Mode().Perm()), fi.ModTime())
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, f); err != nil {
		return fmt.Errorf("backup %s: %w", name, err)
	}
	a.end()
	return nil
}

func (a *archive) addDir(root, dir string) error {
	entries, err := os.ReadDir(filepath.Join(root, dir))
	if err != nil {
		return fmt.Errorf("backup %s: %w", dir, err)
	}
	for _, e := range entries {
		if e.Type().IsRegular() {
			if err := a.addFile(filepath.Join(root, dir, e.Name()), dir+"/"+e.Name()); err != nil {
				return err
			}
		}
	}
	return nil
}

func (a *archive) writeManifest() error {
	raw, err := json.MarshalIndent(a.m, "", "  ")
	if err != nil {
		return err
	}
	raw = append(raw, '\n')
	if err := a.tw.WriteHeader(&tar.Header{Name: "MANIFEST.json", Size: int64(len(raw)), Mode: 0o600, ModTime: a.m.MadeAt, Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	_, err = a.tw.Write(raw)
	return err
}

// Extract unpacks a backup stream into dir, which must not exist yet or be
// empty, and checks every file against the manifest.
func Extract(r io.Reader, dir string) (Manifest, error) {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return Manifest{}, fmt.Errorf("backup to %s: the directory is not empty; give a new one", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Manifest{}, err
	}
	got := map[string]string{}
	var m Manifest
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return m, fmt.Errorf("backup stream: %w", err)
		}
		name, err := safeName(hdr.Name)
		if err != nil {
			return m, err
		}
		var body io.Reader = tr
		if name == "MANIFEST.json" {
			raw, err := io.ReadAll(io.LimitReader(tr, 64<<20))
			if err == nil {
				err = json.Unmarshal(raw, &m)
			}
			if err != nil {
				return m, fmt.Errorf("backup manifest: %w", err)
			}
			body = bytes.NewReader(raw)
		}
		if got[name], err = writeOut(filepath.Join(dir, filepath.FromSlash(name)), body, hdr); err != nil {
			return m, err
		}
	}
	return m, m.check(got)
}

// check compares the files found with the manifest's list.
func (m Manifest) check(got map[string]string) error {
	if m.Format != Format {
		return fmt.Errorf("backup manifest: format %d, this program reads %d (or the manifest is missing: the stream was cut short)", m.Format, Format)
	}
	var errs []error
	for name, want := range m.Files {
		switch have, ok := got[name]; {
		case !ok:
			errs = append(errs, fmt.Errorf("%s: in the manifest, not in the backup", name))
		case have != want:
			errs = append(errs, fmt.Errorf("%s: SHA-256 %s, the manifest says %s", name, have, want))
		}
	}
	return errors.Join(errs...)
}

// safeName refuses archive names that would land outside the directory.
func safeName(name string) (string, error) {
	clean := path.Clean(name)
	if clean != name || path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("backup stream: entry %q is not a plain relative path", name)
	}
	return clean, nil
}

func writeOut(dst string, r io.Reader, hdr *tar.Header) (string, error) {
	if hdr.Typeflag != tar.TypeReg {
		return "", fmt.Errorf("backup stream: entry %q is not a regular file", hdr.Name)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return "", err
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, os.FileMode(hdr.Mode).Perm()&0o700|0o400)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("backup %s: %w", hdr.Name, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
