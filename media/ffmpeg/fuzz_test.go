package ffmpeg_test

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/edgetriage/edgetriage/media/ffmpeg"
)

// The sniffer reads the first bytes of anything a camera hands over. It
// never panics, either names a whitelisted demuxer or refuses, and a
// playlist header in front of any bytes is always refused.
func FuzzSniff(f *testing.F) {
	entries, _ := os.ReadDir(footage)
	for _, e := range entries {
		if b, err := os.ReadFile(footage + e.Name()); err == nil {
			f.Add(b[:min(len(b), ffmpeg.SniffLen)])
		}
	}
	for _, s := range []string{"#EXTM3U\n", "ffconcat version 1.0\n", "v=0\r\n", "\x00\x00\x00\x01\x67\x42", "\x00\x00\x01\x40\x01\x0c",
		"RIFF\x00\x00\x00\x00AVI LIST", "\x47" + strings.Repeat("\x00", 187) + "\x47", "ID3\x04\x00", "\xff\xfb\x90\x00"} {
		f.Add([]byte(s))
	}
	safe := strings.Split(ffmpeg.SafeDemuxers, ",")
	f.Fuzz(func(t *testing.T, head []byte) {
		format, err := ffmpeg.Sniff(head)
		if err != nil {
			if !errors.Is(err, ffmpeg.ErrRefused) || format.Known() {
				t.Fatalf("error %v with format %+v", err, format)
			}
		} else if format.Known() && !slices.Contains(safe, format.Demuxer) {
			t.Fatalf("demuxer %q is not whitelisted", format.Demuxer)
		}
		if _, err := ffmpeg.Sniff(append([]byte("#EXTM3U\n"), head...)); !errors.Is(err, ffmpeg.ErrRefused) {
			t.Fatalf("playlist header not refused: %v", err)
		}
	})
}
