package ffmpeg_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/edgetriage/edgetriage/media/ffmpeg"
)

const footage = "../../testdata/footage/"

// derive makes a file from a real clip with ffmpeg (arguments after the
// input) in a temp dir.
func derive(t *testing.T, src, name string, args ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("ffmpeg", append(append([]string{"-nostdin", "-v", "error", "-i", footage + src}, args...), out)...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("derive %s: %v: %s", name, err, msg)
	}
	return out
}

// Each kind a camera or a phone writes is named from its bytes alone (the
// derived files have no telling extension), and the demuxer named reads it:
// ffprobe finds the stream through the whitelisted input.
func TestSniffedDemuxerReadsEachKind(t *testing.T) {
	clip := "faces-walking.mp4"
	cases := []struct {
		name, demuxer, stream string
		path                  string
	}{
		{"mp4", "mov", "video", footage + clip},
		{"avi", "avi", "video", footage + "tree-nuisance.avi"},
		{"png", "png_pipe", "video", footage + "faces-29-still.png"},
		{"mkv", "matroska", "video", derive(t, clip, "a", "-c", "copy", "-f", "matroska")},
		{"webm", "matroska", "video", derive(t, clip, "b", "-c:v", "libvpx", "-f", "webm")},
		{"mpegts", "mpegts", "video", derive(t, clip, "c", "-c", "copy", "-f", "mpegts")},
		{"m2ts", "mpegts", "video", derive(t, clip, "d", "-c", "copy", "-f", "mpegts", "-mpegts_m2ts_mode", "1")},
		{"mpeg-ps", "mpeg", "video", derive(t, clip, "e", "-c:v", "mpeg2video", "-f", "vob")},
		{"h264", "h264", "video", derive(t, clip, "f", "-c", "copy", "-f", "h264")},
		{"hevc", "hevc", "video", derive(t, clip, "g", "-c:v", "libx265", "-x265-params", "log-level=error", "-f", "hevc")},
		{"mov", "mov", "video", derive(t, clip, "h", "-c", "copy", "-f", "mov")},
		{"fmp4", "mov", "video", derive(t, clip, "i", "-c", "copy", "-movflags", "frag_keyframe+empty_moov", "-f", "mp4")},
		{"jpeg", "jpeg_pipe", "video", derive(t, clip, "j", "-frames:v", "1", "-f", "image2pipe", "-c:v", "mjpeg")},
		{"wav", "wav", "audio", derive(t, "parking-cars.mp4", "k", "-vn", "-f", "wav")},
		{"flac", "flac", "audio", derive(t, "parking-cars.mp4", "l", "-vn", "-f", "flac")},
		{"ogg", "ogg", "audio", derive(t, "parking-cars.mp4", "m", "-vn", "-c:a", "libopus", "-f", "ogg")},
		{"adts", "aac", "audio", derive(t, "parking-cars.mp4", "n", "-vn", "-c:a", "copy", "-f", "adts")},
		{"mp3", "mp3", "audio", derive(t, "parking-cars.mp4", "o", "-vn", "-c:a", "libmp3lame", "-f", "mp3")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in, err := ffmpeg.File(c.path)
			if err != nil {
				t.Fatal(err)
			}
			if in.Format.Demuxer != c.demuxer {
				t.Fatalf("sniffed %+v, want demuxer %s", in.Format, c.demuxer)
			}
			info, err := ffmpeg.Probe(context.Background(), in, ffmpeg.ProbeOptions{})
			if err != nil || info.Failed {
				t.Fatalf("probe: %v %s", err, info.Complaint)
			}
			video, hasVideo := info.Video()
			_, hasAudio := info.Audio()
			if c.stream == "video" && (!hasVideo || video.Width == 0) || c.stream == "audio" && !hasAudio {
				t.Fatalf("no %s stream: %+v", c.stream, info)
			}
		})
	}
}

// writeSentinel puts a real clip where a playlist can name it: if any
// probe read it, its stream would show up in the result.
func writeSentinel(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	raw := derive(t, "static-room.mp4", "sentinel", "-c", "copy", "-f", "mpegts")
	data, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Playlists and lists name other files; they are refused before any
// process starts, whatever their name, with a reason that says what they
// are. The same bytes read by a bare ffprobe do reach the sentinel, so the
// refusal is what keeps it out.
func TestPlaylistsAndListsAreRefused(t *testing.T) {
	dir := t.TempDir()
	sentinel := writeSentinel(t, dir, "other-camera.ts")
	writeSentinel(t, dir, "beside.ts")
	hls := "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:6.0,\n" + sentinel + "\n#EXTINF:6.0,\nbeside.ts\n#EXT-X-ENDLIST\n"
	cases := map[string]string{
		"hls":          hls,
		"hls-bom":      "\xef\xbb\xbf\r\n  " + hls,
		"m3u-no-head":  "#EXTINF:6.0,\n" + sentinel + "\n",
		"ffconcat":     "ffconcat version 1.0\nfile beside.ts\n",
		"concat":       "file '" + sentinel + "'\n",
		"sdp":          "v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\nm=video 5004 RTP/AVP 96\n",
		"pls":          "[playlist]\nFile1=" + sentinel + "\n",
		"dash":         `<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011"></MPD>`,
		"xspf-no-decl": `<playlist version="1"><trackList><track><location>file://` + sentinel + `</location></track></trackList></playlist>`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			clip := filepath.Join(dir, "CLIP-"+name+".MP4")
			if err := os.WriteFile(clip, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := ffmpeg.File(clip)
			var refused *ffmpeg.RefusedError
			if !errors.As(err, &refused) || !errors.Is(err, ffmpeg.ErrRefused) {
				t.Fatalf("File: %v, want a refusal", err)
			}
			if !strings.Contains(err.Error(), "refused") || !strings.Contains(err.Error(), refused.Kind) {
				t.Errorf("unclear refusal: %v", err)
			}
			if _, err := ffmpeg.ProbeFile(context.Background(), clip, ffmpeg.ProbeOptions{}); !errors.Is(err, ffmpeg.ErrRefused) {
				t.Errorf("ProbeFile: %v", err)
			}
		})
	}
	// Without the refusal, ffprobe reads the playlist and both sentinels.
	clip := filepath.Join(dir, "CLIP.MP4")
	os.WriteFile(clip, []byte(hls), 0o644)
	out, _ := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=format_name,duration", "-of", "csv=p=0", clip).Output()
	if !strings.Contains(string(out), "hls") {
		t.Fatalf("bare ffprobe did not follow the playlist (%q): the sentinel proves nothing", out)
	}
}

// Bytes the sniffer does not know are probed among SafeDemuxers only: an
// SDP description that does not start with v=0 still probes as SDP (which
// opens network sockets) and is stopped by the whitelist, with ffprobe's
// own words.
func TestUnrecognisedIsProbedOnlyAmongSafeDemuxers(t *testing.T) {
	p := filepath.Join(t.TempDir(), "CLIP0007.MP4")
	os.WriteFile(p, []byte("junk\nc=IN IP4 127.0.0.1\nm=video 5004 RTP/AVP 96\n"), 0o644)
	in, err := ffmpeg.File(p)
	if err != nil {
		t.Fatal(err)
	}
	if in.Format.Known() {
		t.Fatalf("sniffed %+v", in.Format)
	}
	if !slices.Contains(in.Options(), ffmpeg.SafeDemuxers) {
		t.Fatalf("options %v lack the format whitelist", in.Options())
	}
	out, _ := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=format_name", "-of", "csv=p=0", p).CombinedOutput()
	// The SDP demuxer, chosen by the bare probe, tries to open RTP.
	if !strings.Contains(string(out), "rtp") {
		t.Fatalf("bare ffprobe: %q; the case does not exercise the whitelist", out)
	}
	info, err := ffmpeg.Probe(context.Background(), in, ffmpeg.ProbeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !info.Failed || !strings.Contains(info.Complaint, "Format not on whitelist") || strings.Contains(info.Complaint, "rtp") {
		t.Fatalf("probe of an SDP body: %+v", info)
	}
}

func TestCommandLines(t *testing.T) {
	in, err := ffmpeg.File(footage + "static-room.mp4")
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(footage + "static-room.mp4")
	line := strings.Join(ffmpeg.FFmpeg("").Args("-v", "error").Input(in, "-ss", "1").Args("-f", "null", "-").Line(), " ")
	want := "ffmpeg -nostdin -hide_banner -v error -ss 1 -protocol_whitelist file,pipe -format_whitelist " + ffmpeg.SafeDemuxers +
		" -f mov -i file:" + abs + " -f null -"
	if line != want {
		t.Fatalf("line\n%s\nwant\n%s", line, want)
	}
	cam, err := ffmpeg.Camera("rtsp://user:secret@10.0.0.5:554/stream1")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cam.Options(), " "); got != "-protocol_whitelist rtsp,rtp,udp,tcp -f rtsp" {
		t.Fatalf("camera options %q", got)
	}
	for _, bad := range []string{"http://10.0.0.5/x.m3u8", "file:///etc/passwd", "/dev/video0", "rtsp:///nohost"} {
		if _, err := ffmpeg.Camera(bad); err == nil {
			t.Errorf("camera url %q accepted", bad)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("an input passed as a plain argument was accepted")
		}
	}()
	ffmpeg.FFmpeg("").Args("-i", "/etc/passwd")
}
