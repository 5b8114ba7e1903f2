package dock

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"time"
)

// camFile is one file on a camera as listed, before it is read.
type camFile struct {
	Rel   string // slash-separated, relative to the bay
	Size  int64
	Mtime time.Time // the camera's clock
	// Sidecar marks a file that travels with a video (or lost its video).
	Sidecar bool
	// RecStart and RecDur are the recording's start and length from its
	// own header (camera clock), when it has them; found while copying.
	RecStart time.Time
	RecDur   time.Duration
}

// unit is a video and the sidecar files that travel with it, or a sidecar
// whose video is gone, alone.
type unit struct {
	video    camFile
	sidecars []camFile
}

// Skipped is a path in a bay the dock saw and will not read, and why.
type Skipped struct {
	Rel    string `json:"path"`
	Reason string `json:"reason"`
}

// listing is what a bay holds under its profile.
type listing struct {
	units   []unit
	skipped []Skipped
	// fingerprint changes when any name, size or time in the bay changes;
	// two equal fingerprints in a row mean the bay has settled.
	fingerprint string
}

// scanBay lists the bay without following symbolic links: a link is
// reported and never read, so nothing outside the bay is reached.
func scanBay(root *os.Root, p Profile) (listing, error) {
	var l listing
	var videos []camFile
	sidecars := map[string][]camFile{} // by dir + lower-case stem
	fp := sha256.New()
	err := fs.WalkDir(root.FS(), ".", func(rel string, de fs.DirEntry, err error) error {
		if err != nil {
			if rel == "." {
				return err
			}
			l.skipped = append(l.skipped, Skipped{rel, err.Error()})
			return nil
		}
		if rel == "." {
			return nil
		}
		info, err := de.Info()
		if err != nil {
			l.skipped = append(l.skipped, Skipped{rel, err.Error()})
			return nil
		}
		fmt.Fprintf(fp, "%s\x00%d\x00%d\x00%d\n", rel, info.Size(), info.ModTime().UnixNano(), de.Type())
		switch {
		case de.Type()&fs.ModeSymlink != 0:
			target, _ := root.Readlink(rel)
			l.skipped = append(l.skipped, Skipped{rel, fmt.Sprintf("symbolic link to %q: not followed", target)})
		case de.IsDir():
		case !de.Type().IsRegular():
			l.skipped = append(l.skipped, Skipped{rel, fmt.Sprintf("not a regular file (%s)", de.Type())})
		default:
			f := camFile{Rel: rel, Size: info.Size(), Mtime: info.ModTime()}
			if p.isVideo(rel) {
				videos = append(videos, f)
			} else if p.isSidecar(rel) && !p.isIdentityFile(rel) {
				f.Sidecar = true
				k := stemKey(rel)
				sidecars[k] = append(sidecars[k], f)
			}
		}
		return nil
	})
	if err != nil {
		return listing{}, fmt.Errorf("list bay: %w", err)
	}
	for _, v := range videos {
		k := stemKey(v.Rel)
		l.units = append(l.units, unit{video: v, sidecars: sidecars[k]})
		delete(sidecars, k)
	}
	// A sidecar whose video is gone is still evidence: it is offloaded on
	// its own, unlinked.
	var orphans []camFile
	for _, fs := range sidecars {
		orphans = append(orphans, fs...)
	}
	slices.SortFunc(orphans, func(a, b camFile) int { return strings.Compare(a.Rel, b.Rel) })
	for _, f := range orphans {
		l.units = append(l.units, unit{video: f})
	}
	l.fingerprint = hex.EncodeToString(fp.Sum(nil))
	return l, nil
}

func (p Profile) isVideo(rel string) bool {
	for _, g := range p.Videos {
		if matchGlob(g, rel) {
			return true
		}
	}
	return false
}

func (p Profile) isIdentityFile(rel string) bool {
	for _, f := range p.Identity.Files {
		if strings.EqualFold(path.Clean(f), rel) {
			return true
		}
	}
	return false
}

func (p Profile) isSidecar(rel string) bool {
	ext := path.Ext(rel)
	for _, s := range p.Sidecars {
		if strings.EqualFold(s, ext) {
			return true
		}
	}
	return false
}

// stemKey names the group a file belongs to: same directory, same name
// without its extension, any case.
func stemKey(rel string) string {
	return strings.ToLower(strings.TrimSuffix(rel, path.Ext(rel)))
}

// total is the bytes a listing holds in its units.
func (l listing) total() int64 {
	var n int64
	for _, u := range l.units {
		n += u.video.Size
		for _, s := range u.sidecars {
			n += s.Size
		}
	}
	return n
}
