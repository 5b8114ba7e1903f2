package media

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzProbeImage: whatever bytes a file that starts like a JPEG or PNG
// holds, probing it in-process ends with a record (dimensions, or what is
// wrong with it) or a hand-over to ffprobe, never a panic, and a record
// with an error claims no dimensions.
func FuzzProbeImage(f *testing.F) {
	png, err := os.ReadFile(footage + "faces-29-still.png")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(png[:4096])
	f.Add([]byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xc0\x00\x11\x08\x01\x0e\x01\xe0\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"))
	f.Add([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\xe0\x00\x00\x01\x0e\x08\x02\x00\x00\x00"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		demuxer := "jpeg_pipe"
		if strings.HasPrefix(string(data), "\x89PNG") {
			demuxer = "png_pipe"
		}
		p := filepath.Join(dir, "still")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := probeImage(p, demuxer)
		if err != nil {
			return // handed to ffprobe
		}
		if m.Error != "" && (m.Width != 0 || m.Height != 0) {
			t.Fatalf("broken still recorded with dimensions: %+v", m)
		}
		if m.Error == "" && (m.Width <= 0 || m.Height <= 0) {
			t.Fatalf("healthy still recorded without dimensions: %+v", m)
		}
	})
}
