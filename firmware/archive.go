package firmware

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// Names of the fixed entries of a package.
const (
	ManifestName  = "manifest.json"
	SignatureName = "manifest.sig"
)

// Small entries are read whole; anything bigger is not a manifest.
const maxSmallEntry = 1 << 20

// Manifest describes a firmware package. The signature covers its exact
// bytes as stored in the archive, not a re-encoding.
type Manifest struct {
	Vendor string   `json:"vendor"`
	Models []string `json:"models"`
	// Version is what the camera reports once the image is installed.
	Version string `json:"version"`
	// MinFromVersion is the oldest installed version this image upgrades
	// from; empty means any.
	MinFromVersion string          `json:"min_from_version,omitempty"`
	Image          string          `json:"image"`
	ImageSHA256    evidence.Digest `json:"image_sha256"`
	ImageSize      int64           `json:"image_size,omitempty"`
}

// ForModel reports whether the package is made for the given model.
func (m Manifest) ForModel(model string) bool {
	for _, x := range m.Models {
		if x == model {
			return true
		}
	}
	return false
}

func (m Manifest) check() error {
	var errs []string
	if m.Vendor == "" {
		errs = append(errs, "no vendor")
	}
	if len(m.Models) == 0 {
		errs = append(errs, "no camera models")
	}
	if err := ValidVersion(m.Version); err != nil {
		errs = append(errs, "version: "+err.Error())
	}
	if m.MinFromVersion != "" {
		if err := ValidVersion(m.MinFromVersion); err != nil {
			errs = append(errs, "min_from_version: "+err.Error())
		}
	}
	if !plainName(m.Image) {
		errs = append(errs, fmt.Sprintf("image %q is not a plain file name", m.Image))
	}
	if m.ImageSHA256.IsZero() {
		errs = append(errs, "no image_sha256")
	}
	if len(errs) > 0 {
		return refuse(ReasonMalformed, "manifest: %s", strings.Join(errs, "; "))
	}
	return nil
}

// Signature is the content of manifest.sig. A bare 64-byte signature is
// accepted too; then every key of the vendor is tried.
type Signature struct {
	KeyID     string `json:"key_id,omitempty"`
	Signature []byte `json:"signature"`
}

// SignManifest makes the manifest.sig content for manifest bytes.
func SignManifest(manifest []byte, key ed25519.PrivateKey) []byte {
	sig := Signature{KeyID: evidence.KeyID(key.Public().(ed25519.PublicKey)), Signature: ed25519.Sign(key, manifest)}
	b, err := json.Marshal(sig)
	if err != nil {
		panic("firmware: signature cannot be encoded: " + err.Error())
	}
	return b
}

func parseSignature(raw []byte) (Signature, error) {
	if len(raw) == ed25519.SignatureSize {
		return Signature{Signature: raw}, nil
	}
	var s Signature
	if err := json.Unmarshal(raw, &s); err != nil {
		// Base64 text of a bare signature is what a vendor tool most
		// likely writes otherwise.
		b, berr := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
		if berr != nil || len(b) != ed25519.SignatureSize {
			return Signature{}, fmt.Errorf("manifest.sig is neither JSON nor a %d-byte signature: %w", ed25519.SignatureSize, err)
		}
		return Signature{Signature: b}, nil
	}
	if len(s.Signature) != ed25519.SignatureSize {
		return Signature{}, fmt.Errorf("manifest.sig holds a %d-byte signature, want %d", len(s.Signature), ed25519.SignatureSize)
	}
	return s, nil
}

// contents is what one pass over an archive found.
type contents struct {
	manifestRaw []byte
	sigRaw      []byte // nil when the package has no signature
	// digests of every regular top-level entry, so the image can be
	// checked whatever order the entries come in.
	digests map[string]evidence.Digest
	sizes   map[string]int64
}

// Format is an archive format for WriteArchive.
type Format string

// Archive formats.
const (
	FormatTar Format = "tar"
	FormatZip Format = "zip"
)

// Entry is one file of an archive written by WriteArchive.
type Entry struct {
	Name string
	Data []byte
}

// WriteArchive writes entries as a tar or zip archive: the layout vendor
// tooling produces, used by tests and by whoever repackages an image.
func WriteArchive(w io.Writer, format Format, entries []Entry) error {
	switch format {
	case FormatTar:
		tw := tar.NewWriter(w)
		for _, e := range entries {
			if err := tw.WriteHeader(&tar.Header{Name: e.Name, Mode: 0o644, Size: int64(len(e.Data)), Typeflag: tar.TypeReg}); err != nil {
				return fmt.Errorf("write %s: %w", e.Name, err)
			}
			if _, err := tw.Write(e.Data); err != nil {
				return fmt.Errorf("write %s: %w", e.Name, err)
			}
		}
		return tw.Close()
	case FormatZip:
		zw := zip.NewWriter(w)
		for _, e := range entries {
			f, err := zw.Create(e.Name)
			if err != nil {
				return fmt.Errorf("write %s: %w", e.Name, err)
			}
			if _, err := f.Write(e.Data); err != nil {
				return fmt.Errorf("write %s: %w", e.Name, err)
			}
		}
		return zw.Close()
	}
	return fmt.Errorf("archive format %q: want tar or zip", format)
}

// BuildPackage writes a complete package: the manifest (with the image's
// digest and size filled in), the image and, when key is not nil, the
// signature.
func BuildPackage(w io.Writer, format Format, m Manifest, image []byte, key ed25519.PrivateKey) error {
	m.ImageSHA256 = evidence.DigestBytes(image)
	m.ImageSize = int64(len(image))
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	entries := []Entry{{ManifestName, raw}}
	if key != nil {
		entries = append(entries, Entry{SignatureName, SignManifest(raw, key)})
	}
	entries = append(entries, Entry{m.Image, image})
	return WriteArchive(w, format, entries)
}

// entryName gives the top-level name of an archive entry, or "" for
// anything in a sub-folder.
func entryName(n string) string {
	n = path.Clean(strings.TrimPrefix(n, "./"))
	if strings.Contains(n, "/") || n == "." {
		return ""
	}
	return n
}

// walkArchive calls fn for each regular top-level entry of the archive in
// r, which is tar, gzip-compressed tar or zip.
func walkArchive(r io.ReaderAt, size int64, fn func(name string, body io.Reader) (stop bool, err error)) error {
	var magic [4]byte
	if _, err := r.ReadAt(magic[:], 0); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read package: %w", err)
	}
	switch {
	case bytes.Equal(magic[:], []byte("PK\x03\x04")):
		return walkZip(r, size, fn)
	case magic[0] == 0x1f && magic[1] == 0x8b:
		gz, err := gzip.NewReader(bufio.NewReader(io.NewSectionReader(r, 0, size)))
		if err != nil {
			return refuse(ReasonMalformed, "gzip: %v", err)
		}
		return walkTar(gz, fn)
	}
	return walkTar(io.NewSectionReader(r, 0, size), fn)
}

func walkTar(r io.Reader, fn func(string, io.Reader) (bool, error)) error {
	tr := tar.NewReader(r)
	seen := 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			if seen == 0 {
				return refuse(ReasonMalformed, "not a tar or zip archive, or an empty one")
			}
			return nil
		}
		if err != nil && seen == 0 {
			return refuse(ReasonMalformed, "not a tar, tar.gz or zip archive (%v)", err)
		}
		if err != nil {
			return refuse(ReasonMalformed, "tar: %v", err)
		}
		seen++
		name := entryName(h.Name)
		if h.Typeflag != tar.TypeReg || name == "" {
			continue
		}
		stop, err := fn(name, tr)
		if err != nil || stop {
			return err
		}
	}
}

func walkZip(r io.ReaderAt, size int64, fn func(string, io.Reader) (bool, error)) error {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return refuse(ReasonMalformed, "zip: %v", err)
	}
	for _, f := range zr.File {
		name := entryName(f.Name)
		if !f.Mode().IsRegular() || name == "" {
			continue
		}
		body, err := f.Open()
		if err != nil {
			return refuse(ReasonMalformed, "zip entry %s: %v", f.Name, err)
		}
		stop, err := fn(name, body)
		body.Close()
		if err != nil || stop {
			return err
		}
	}
	return nil
}

// scan reads the whole archive once: manifest and signature bytes, and the
// digest of every entry.
func scan(r io.ReaderAt, size int64) (contents, error) {
	c := contents{digests: map[string]evidence.Digest{}, sizes: map[string]int64{}}
	err := walkArchive(r, size, func(name string, body io.Reader) (bool, error) {
		if _, dup := c.digests[name]; dup {
			return true, refuse(ReasonMalformed, "%s appears twice in the archive", name)
		}
		var buf []byte
		if name == ManifestName || name == SignatureName {
			b, err := io.ReadAll(io.LimitReader(body, maxSmallEntry+1))
			if err != nil {
				return true, refuse(ReasonMalformed, "read %s: %v", name, err)
			}
			if len(b) > maxSmallEntry {
				return true, refuse(ReasonMalformed, "%s is larger than %d bytes", name, maxSmallEntry)
			}
			buf = b
			body = bytes.NewReader(b)
		}
		d, n, err := evidence.DigestOf(body)
		if err != nil {
			return true, refuse(ReasonMalformed, "read %s: %v", name, err)
		}
		c.digests[name], c.sizes[name] = d, n
		switch name {
		case ManifestName:
			c.manifestRaw = buf
		case SignatureName:
			c.sigRaw = buf
		}
		return false, nil
	})
	return c, err
}

// openImage finds the named entry and hands its bytes to fn.
func openImage(r io.ReaderAt, size int64, image string, fn func(io.Reader) error) error {
	found := false
	err := walkArchive(r, size, func(name string, body io.Reader) (bool, error) {
		if name != image {
			return false, nil
		}
		found = true
		return true, fn(body)
	})
	if err == nil && !found {
		return refuse(ReasonMalformed, "image %s is not in the package", image)
	}
	return err
}
