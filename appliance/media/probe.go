// Package media probes ingested files with ffprobe, through media/ffmpeg
// (whitelisted input, explicit demuxer, playlists refused): what codec,
// resolution, duration and frame rate they hold, and what the demuxer
// complained about when they are broken. Probing never decides whether a
// file is kept; broken or refused footage is still evidence.
package media

import (
	"context"
	"errors"
	"strings"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/media/ffmpeg"
)

// Probe reads path's container and packets (without decoding them) and
// reports what it found. The returned error is only for a probe that could
// not run at all (ffprobe missing, context cancelled); a file ffprobe
// rejects comes back with Media.Error set, and so does a playlist or list
// format, which is refused without starting ffprobe (media/ffmpeg).
func Probe(ctx context.Context, path string) (evidence.Media, error) {
	info, err := ffmpeg.ProbeFile(ctx, path, ffmpeg.ProbeOptions{CountPackets: true})
	var refused *ffmpeg.RefusedError
	if errors.As(err, &refused) {
		return evidence.Media{Error: refused.Error()}, nil
	}
	if err != nil {
		return evidence.Media{}, err
	}
	m := summarise(info)
	if info.Complaint != "" {
		m.Error = firstLines(info.Complaint, 3)
	}
	if m.Error == "" && m.VideoCodec == "" && m.AudioCodec == "" {
		m.Error = "no audio or video stream found"
	}
	return m, nil
}

func summarise(info ffmpeg.Info) evidence.Media {
	m := evidence.Media{Container: info.Demuxer, Duration: info.Duration}
	if v, ok := info.Video(); ok {
		m.VideoCodec, m.Width, m.Height = v.Codec, v.Width, v.Height
		m.FrameRate = ffmpeg.ParseRate(v.AvgRate)
		m.Frames = v.Packets
		if v.Duration > 0 {
			m.Duration = v.Duration
		}
	}
	if a, ok := info.Audio(); ok {
		m.AudioCodec = a.Codec
	}
	return m
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
