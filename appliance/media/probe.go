// Package media probes ingested files with ffprobe: what codec, resolution,
// duration and frame rate they hold, and what the demuxer complained about
// when they are broken. Probing never decides whether a file is kept; broken
// footage is still evidence.
package media

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

type probeOutput struct {
	Streams []struct {
		CodecType    string `json:"codec_type"`
		CodecName    string `json:"codec_name"`
		Width        int    `json:"width"`
		Height       int    `json:"height"`
		AvgFrameRate string `json:"avg_frame_rate"`
		Duration     string `json:"duration"`
		Packets      string `json:"nb_read_packets"`
	} `json:"streams"`
	Format struct {
		FormatName string `json:"format_name"`
		Duration   string `json:"duration"`
	} `json:"format"`
}

// Probe reads path's container and packets (without decoding them) and
// reports what it found. The returned error is only for a probe that could
// not run at all (ffprobe missing, context cancelled); a file ffprobe rejects
// comes back with Media.Error set.
func Probe(ctx context.Context, path string) (evidence.Media, error) {
	cmd := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-count_packets",
		"-show_entries", "stream=codec_type,codec_name,width,height,avg_frame_rate,duration,nb_read_packets:format=format_name,duration",
		"-of", "json", "--", path)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	if ctx.Err() != nil {
		return evidence.Media{}, fmt.Errorf("probe %s: %w", path, ctx.Err())
	}
	var execErr *exec.Error
	if errors.As(runErr, &execErr) {
		return evidence.Media{}, fmt.Errorf("probe %s: %w", path, runErr)
	}
	var out probeOutput
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil && runErr == nil {
		return evidence.Media{}, fmt.Errorf("probe %s: reading ffprobe output: %w", path, err)
	}
	m := summarise(out)
	if complaint := strings.TrimSpace(stderr.String()); complaint != "" {
		m.Error = firstLines(complaint, 3)
	} else if runErr != nil {
		m.Error = runErr.Error()
	}
	if m.Error == "" && m.VideoCodec == "" && m.AudioCodec == "" {
		m.Error = "no audio or video stream found"
	}
	return m, nil
}

func summarise(out probeOutput) evidence.Media {
	m := evidence.Media{Container: out.Format.FormatName, Duration: parseFloat(out.Format.Duration)}
	for _, s := range out.Streams {
		switch s.CodecType {
		case "video":
			if m.VideoCodec != "" {
				continue
			}
			m.VideoCodec, m.Width, m.Height = s.CodecName, s.Width, s.Height
			m.FrameRate = parseRate(s.AvgFrameRate)
			m.Frames, _ = strconv.ParseInt(s.Packets, 10, 64)
			if d := parseFloat(s.Duration); d > 0 {
				m.Duration = d
			}
		case "audio":
			if m.AudioCodec == "" {
				m.AudioCodec = s.CodecName
			}
		}
	}
	return m
}

func parseFloat(s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0
	}
	return f
}

func parseRate(s string) float64 {
	num, den, ok := strings.Cut(s, "/")
	if !ok {
		return parseFloat(s)
	}
	n, d := parseFloat(num), parseFloat(den)
	if d == 0 {
		return 0
	}
	return n / d
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "; ")
}

// IsMedia reports whether a file kind is worth probing; probing sidecars and
// firmware would only produce noise.
func IsMedia(k evidence.Kind) bool {
	return k == evidence.KindVideo || k == evidence.KindAudio || k == evidence.KindImage
}

// KindOf guesses an item's kind from its file name.
func KindOf(name string) evidence.Kind {
	ext := strings.ToLower(name)
	if i := strings.LastIndexByte(ext, '.'); i >= 0 {
		ext = ext[i+1:]
	} else {
		return evidence.KindOther
	}
	switch ext {
	case "mp4", "mov", "avi", "mkv", "m4v", "mts", "ts", "3gp", "webm", "h264", "h265":
		return evidence.KindVideo
	case "wav", "mp3", "m4a", "aac", "opus", "ogg", "flac":
		return evidence.KindAudio
	case "jpg", "jpeg", "png", "bmp", "tif", "tiff", "webp":
		return evidence.KindImage
	case "gpx", "kml", "nmea", "json", "xml", "csv", "txt", "srt", "log", "bmk":
		return evidence.KindSidecar
	}
	return evidence.KindOther
}
