package dock

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"
)

// ReleasePolicy says when a camera's copy of a file may be deleted.
type ReleasePolicy string

// Release policies.
const (
	// ReleaseNever keeps everything on the camera.
	ReleaseNever ReleasePolicy = "never"
	// ReleaseAfterVerify deletes a file once its vault copy re-read as what
	// was copied and the custody events for it are durable.
	ReleaseAfterVerify ReleasePolicy = "after-verify"
	// ReleaseAfterAck waits, besides, for central storage to acknowledge
	// the item.
	ReleaseAfterAck ReleasePolicy = "after-ack"
)

// Profile describes one camera model: where it keeps its recordings, which
// files travel with them, how it says who it is, and when it may be wiped.
type Profile struct {
	Name string `yaml:"name"`
	// Videos are globs relative to the bay, matched without regard to case;
	// "**" stands for any number of directories.
	Videos []string `yaml:"videos"`
	// Sidecars are extensions (".GPX") of files kept beside a video with
	// the same stem: GPS tracks, bookmarks, metadata.
	Sidecars []string `yaml:"sidecars"`
	// Ready are paths that must exist before the bay is read, so a bay
	// that is still mounting is not taken for an empty camera. Empty means
	// the first directory of each video glob.
	Ready    []string      `yaml:"ready"`
	Identity Identity      `yaml:"identity"`
	Release  ReleasePolicy `yaml:"release"`
	// ReleaseMarked allows releasing files the vault marked as broken
	// (undecodable); by default they stay on the camera too.
	ReleaseMarked bool `yaml:"release_marked"`
}

// Identity says how a camera names itself.
type Identity struct {
	// Files are candidate descriptor files, relative to the bay (first
	// found wins, name matched without regard to case): JSON objects or INI
	// key=value files.
	Files []string `yaml:"files"`
	// Fields maps descriptor keys to what they mean; unset entries use the
	// key of the same name (serial, model, firmware, battery, officer).
	Fields Fields `yaml:"fields"`
	// VolumeLabels identifies cameras without a descriptor by the volume
	// label the device carries (as udev read it; for a bay made by hand,
	// the bay directory's name).
	VolumeLabels map[string]Device `yaml:"volume_labels"`
	// RequireDescriptor refuses cameras this profile cannot identify. By
	// default a bay with videos and no identity is offloaded as an
	// unidentified device and never released, for staff to assign later.
	RequireDescriptor bool `yaml:"require_descriptor"`
}

// Fields names the descriptor keys holding each identity value.
type Fields struct {
	Serial   string `yaml:"serial"`
	Model    string `yaml:"model"`
	Firmware string `yaml:"firmware"`
	Battery  string `yaml:"battery"`
	Officer  string `yaml:"officer"`
}

// Device is what a camera says about itself.
type Device struct {
	Serial   string `yaml:"serial" json:"serial"`
	Model    string `yaml:"model" json:"model,omitempty"`
	Firmware string `yaml:"firmware" json:"firmware,omitempty"`
	Battery  string `yaml:"battery" json:"battery,omitempty"`
	Officer  string `yaml:"officer" json:"officer,omitempty"`
	// IdentifiedBy says where Serial came from when the camera described
	// nothing (IdentifiedByUSBSerial, ...); empty for a camera that did.
	IdentifiedBy string `yaml:"-" json:"identified_by,omitempty"`
}

// Unidentified reports whether the camera described nothing and its
// identity was made up by the dock.
func (d Device) Unidentified() bool { return d.IdentifiedBy != "" }

// GenericMassStorage is the profile shipped for any camera that mounts as a
// USB drive with its videos under DCIM and a device.json or device.ini at
// its root. It releases nothing.
func GenericMassStorage() Profile {
	var videos []string
	for _, ext := range []string{"MP4", "MOV", "AVI", "MKV"} {
		videos = append(videos, "DCIM/**/*."+ext)
	}
	return Profile{
		Name:     "generic-mass-storage",
		Videos:   videos,
		Sidecars: []string{".GPX", ".JSON", ".BMK", ".XML", ".SRT", ".NMEA"},
		Identity: Identity{Files: []string{"device.json", "device.ini"}},
		Release:  ReleaseNever,
	}
}

// Validate reports the first thing wrong with p, naming the key.
func (p Profile) Validate() error {
	switch {
	case p.Name == "":
		return errors.New("'name' must be set")
	case len(p.Videos) == 0:
		return fmt.Errorf("profile %s: 'videos' must list at least one glob", p.Name)
	case len(p.Identity.Files) == 0 && len(p.Identity.VolumeLabels) == 0:
		return fmt.Errorf("profile %s: 'identity' needs 'files' or 'volume_labels'", p.Name)
	}
	for _, g := range p.Videos {
		if _, err := path.Match(strings.ReplaceAll(g, "**", "x"), ""); err != nil || path.IsAbs(g) || strings.Contains(g, "..") {
			return fmt.Errorf("profile %s: 'videos' glob %q is not a relative glob", p.Name, g)
		}
	}
	for _, s := range p.Sidecars {
		if !strings.HasPrefix(s, ".") || strings.Contains(s, "/") {
			return fmt.Errorf("profile %s: 'sidecars' entry %q must be an extension such as .GPX", p.Name, s)
		}
	}
	switch p.Release {
	case ReleaseNever, ReleaseAfterVerify, ReleaseAfterAck:
	case "":
		return fmt.Errorf("profile %s: 'release' must be set (never, after-verify or after-ack)", p.Name)
	default:
		return fmt.Errorf("profile %s: 'release' %q is not never, after-verify or after-ack", p.Name, p.Release)
	}
	for _, f := range p.Identity.Files {
		if f == "" || path.IsAbs(f) || strings.Contains(f, "..") {
			return fmt.Errorf("profile %s: 'identity.files' entry %q must be a path inside the bay", p.Name, f)
		}
	}
	for label, dev := range p.Identity.VolumeLabels {
		if dev.Serial == "" {
			return fmt.Errorf("profile %s: 'volume_labels' %q has no 'serial'", p.Name, label)
		}
	}
	return nil
}

func (p Profile) readyPaths() []string {
	if len(p.Ready) > 0 {
		return p.Ready
	}
	var out []string
	for _, g := range p.Videos {
		first, _, _ := strings.Cut(g, "/")
		if !strings.ContainsAny(first, "*?[") && !contains(out, first) {
			out = append(out, first)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// errNoIdentity means the bay does not carry this profile's identity.
var errNoIdentity = errors.New("no identity")

// identify reads the camera's identity under p, or errNoIdentity.
func (p Profile) identify(root *os.Root, bayName string) (Device, error) {
	if dev, ok := p.Identity.VolumeLabels[bayName]; ok {
		return dev, nil
	}
	for _, want := range p.Identity.Files {
		if name, ok := findFold(root, want); ok {
			return p.readDescriptor(root, name)
		}
	}
	return Device{}, errNoIdentity
}

// findFold finds rel in the bay matching each path element without regard
// to case, as FAT file systems do; it returns the name as stored.
func findFold(root *os.Root, rel string) (string, bool) {
	found := "."
	for _, el := range strings.Split(path.Clean(rel), "/") {
		entries, err := fs.ReadDir(root.FS(), found)
		if err != nil {
			return "", false
		}
		next := ""
		for _, e := range entries {
			if strings.EqualFold(e.Name(), el) {
				next = path.Join(found, e.Name())
				break
			}
		}
		if next == "" {
			return "", false
		}
		found = next
	}
	return found, true
}

// maxDescriptor bounds what is read of an identity file: a descriptor is a
// few hundred bytes, and a bay is untrusted input.
const maxDescriptor = 64 << 10

func (p Profile) readDescriptor(root *os.Root, name string) (Device, error) {
	f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return Device{}, fmt.Errorf("identity file %s: %w", name, err)
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxDescriptor))
	if err != nil {
		return Device{}, fmt.Errorf("identity file %s: %w", name, err)
	}
	values, err := parseDescriptor(name, raw)
	if err != nil {
		return Device{}, fmt.Errorf("identity file %s: %w", name, err)
	}
	fl := p.Identity.Fields
	get := func(key, def string) string {
		if key == "" {
			key = def
		}
		return values[strings.ToLower(key)]
	}
	dev := Device{
		Serial: get(fl.Serial, "serial"), Model: get(fl.Model, "model"), Firmware: get(fl.Firmware, "firmware"),
		Battery: get(fl.Battery, "battery"), Officer: get(fl.Officer, "officer"),
	}
	if dev.Serial == "" {
		return Device{}, fmt.Errorf("identity file %s: no serial number in it", name)
	}
	if strings.ContainsAny(dev.Serial, "/\x00") {
		return Device{}, fmt.Errorf("identity file %s: serial %q has a slash or NUL in it", name, dev.Serial)
	}
	return dev, nil
}

// parseDescriptor reads a flat JSON object or INI file into lower-case keys.
func parseDescriptor(name string, raw []byte) (map[string]string, error) {
	out := map[string]string{}
	trimmed := bytes.TrimSpace(raw)
	if strings.HasSuffix(strings.ToLower(name), ".json") || bytes.HasPrefix(trimmed, []byte("{")) {
		var obj map[string]any
		if err := json.Unmarshal(trimmed, &obj); err != nil {
			return nil, fmt.Errorf("not a JSON object: %w", err)
		}
		for k, v := range obj {
			switch v := v.(type) {
			case string:
				out[strings.ToLower(k)] = v
			case float64, bool:
				out[strings.ToLower(k)] = fmt.Sprint(v)
			}
		}
		return out, nil
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == ';' || line[0] == '#' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %q is not key=value", line)
		}
		out[strings.ToLower(strings.TrimSpace(k))] = strings.Trim(strings.TrimSpace(v), `"`)
	}
	return out, sc.Err()
}

// matchGlob matches a slash-separated relative path against a glob where
// "**" is any number of directories, without regard to case (camera file
// systems are FAT, and models disagree on case).
func matchGlob(glob, rel string) bool {
	return matchSegs(strings.Split(strings.ToLower(glob), "/"), strings.Split(strings.ToLower(rel), "/"))
}

func matchSegs(glob, segs []string) bool {
	for len(glob) > 0 {
		if glob[0] == "**" {
			for i := 0; i <= len(segs); i++ {
				if matchSegs(glob[1:], segs[i:]) {
					return true
				}
			}
			return false
		}
		if len(segs) == 0 {
			return false
		}
		if ok, _ := path.Match(glob[0], segs[0]); !ok {
			return false
		}
		glob, segs = glob[1:], segs[1:]
	}
	return len(segs) == 0
}
