package motion

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A playlist named like a clip is refused by every decoding path (the
// ffmpeg child, the OpenCV fallback), before any decoder starts: its
// events could only come from the other camera's footage it names.
func TestPlaylistIsRefusedNotDecoded(t *testing.T) {
	dir := t.TempDir()
	other, err := filepath.Abs(footage + "parking-cars.mp4")
	if err != nil {
		t.Fatal(err)
	}
	clip := filepath.Join(dir, "CLIP0001.MP4")
	os.WriteFile(clip, []byte("#EXTM3U\n#EXT-X-TARGETDURATION:31\n#EXTINF:30.0,\n"+other+"\n#EXT-X-ENDLIST\n"), 0o644)
	for name, analyze := range map[string]func() (Result, error){
		"ffmpeg": func() (Result, error) { return Analyze(context.Background(), clip, DefaultConfig()) },
		"opencv": func() (Result, error) { return analyzeFull(context.Background(), clip, DefaultConfig()) },
	} {
		res, err := analyze()
		var de *DecodeError
		if !errors.As(err, &de) || !strings.Contains(de.Reason, "refused") || !strings.Contains(de.Reason, "HLS") {
			t.Errorf("%s: %v", name, err)
		}
		if len(res.Events) != 0 || res.Frames != 0 {
			t.Errorf("%s: decoded %d frames, %d events", name, res.Frames, len(res.Events))
		}
	}
}
