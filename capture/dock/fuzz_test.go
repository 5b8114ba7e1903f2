package dock

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// An identity file comes from the device: JSON or INI, any bytes. Parsing
// never panics, and what it returns has lower-case keys (the profile's
// field names are matched that way).
func FuzzParseDescriptor(f *testing.F) {
	f.Add("device.json", []byte(`{"serial":"BWC3-000123","model":"BWC-3","firmware":"1.2.0","battery":80,"officer":"PC 4711"}`))
	f.Add("device.ini", []byte("[device]\nSerial = BWC3-000123\nModel=\"BWC-3\"\n; comment\nbattery=80\n"))
	f.Add("DEVICE.JSON", []byte(`{"Serial":"\u00e9\u0000x","nested":{"a":1},"list":[1,2]}`))
	f.Add("device.ini", []byte("serial=\xff\xfe\nno equals sign\n"))
	f.Fuzz(func(t *testing.T, name string, raw []byte) {
		values, err := parseDescriptor(name, raw)
		if err != nil {
			return
		}
		for k := range values {
			if utf8.ValidString(k) && k != strings.ToLower(k) {
				t.Fatalf("key %q not lower-cased", k)
			}
		}
	})
}

// Camera file names are whatever the device's file system holds. Matching
// them against the shipped profile's globs never panics, ignores case, and
// takes time linear in the name (the walk over "**" must not explode on a
// deep path).
func FuzzCameraFileNames(f *testing.F) {
	for _, s := range []string{"DCIM/100BWC/CLIP0001.MP4", "dcim/a/b/c/d/e/f.mp4", "DCIM/100BWC/CLIP0001.GPX", "device.json",
		"DCIM/" + strings.Repeat("a/", 200) + "x.MP4", "DCIM/\xff\xfe/CLIP.MP4", "DCIM/**/x.mp4", "DCIM/[/x.MP4"} {
		f.Add(s)
	}
	p := GenericMassStorage()
	f.Fuzz(func(t *testing.T, rel string) {
		video := p.isVideo(rel)
		p.isSidecar(rel)
		p.isIdentityFile(rel)
		stemKey(rel)
		if isASCII(rel) && video != p.isVideo(strings.ToUpper(rel)) {
			t.Fatalf("%q: case changes the match", rel)
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
