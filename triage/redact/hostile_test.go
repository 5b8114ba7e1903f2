package redact

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgetriage/edgetriage/media/ffmpeg"
)

// A playlist named like a clip is refused before any decoder or encoder
// starts: a redacted copy of it would be made of the footage it names.
func TestPlaylistIsRefusedNotRendered(t *testing.T) {
	dir := t.TempDir()
	other, err := filepath.Abs(filepath.Join(footage, "faces-walking.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	clip := filepath.Join(dir, "CLIP0001.MP4")
	os.WriteFile(clip, []byte("#EXTM3U\n#EXT-X-TARGETDURATION:3\n#EXTINF:2.9,\n"+other+"\n#EXT-X-ENDLIST\n"), 0o644)
	r := newRedactorT(t, Config{})
	out := t.TempDir()
	if _, err := r.Render(context.Background(), clip, out, nil); !errors.Is(err, ffmpeg.ErrRefused) {
		t.Fatalf("Render: %v", err)
	}
	if _, err := openVideo(clip); !errors.Is(err, ffmpeg.ErrRefused) {
		t.Fatalf("openVideo: %v", err)
	}
	if ents, _ := os.ReadDir(out); len(ents) != 0 {
		t.Fatalf("output written: %v", ents)
	}
}
