// Package media probes ingested files, once, at ingest: MP4 and MOV from
// their movie box (media/mp4), JPEG and PNG from their headers (Go's image
// decoders), anything else with ffprobe through
// media/ffmpeg (whitelisted input, explicit demuxer, playlists refused):
// what codec, resolution, duration and frame rate they hold, and what was
// wrong when they are broken. Probing never decides whether a
// file is kept; broken or refused footage is still evidence.
package media

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"os"
	"strings"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/media/ffmpeg"
	"github.com/edgetriage/edgetriage/media/mp4"
)

// Probe says what path holds. An MP4 or MOV is read from its movie box and
// sample tables (media/mp4), which ingest can afford on every clip: ffprobe
// counting packets reads the whole file, as long again as copying and
// hashing it. A JPEG or PNG is read from its header. ffprobe runs only for
// what these do not describe (other containers, other codecs). Bytes the sniffer does not recognise are
// recorded as unrecognised media without starting ffprobe, and a playlist
// or list is refused (media/ffmpeg); both are kept like any evidence. The
// returned error is only for a probe that could not run at all (file
// unreadable, ffprobe missing, context cancelled); a file that is not
// readable media comes back with Media.Error set.
func Probe(ctx context.Context, path string) (evidence.Media, error) {
	in, err := ffmpeg.File(path)
	var refused *ffmpeg.RefusedError
	if errors.As(err, &refused) {
		return evidence.Media{Error: refused.Error()}, nil
	}
	if err != nil {
		return evidence.Media{}, err
	}
	if !in.Format.Known() {
		return evidence.Media{Container: Unrecognised, Error: "unrecognised media: the first bytes name no container or stream the appliance reads, so it was not probed"}, nil
	}
	switch in.Format.Demuxer {
	case "mov":
		m, err := probeMP4(path)
		if !errors.Is(err, mp4.ErrUnsupported) {
			return m, err
		}
	case "jpeg_pipe", "png_pipe":
		m, err := probeImage(path, in.Format.Demuxer)
		if !errors.Is(err, errImageUnsupported) {
			return m, err
		}
	}
	return probeFFprobe(ctx, in)
}

var errImageUnsupported = errors.New("image kind not read in-process")

// probeImage reads a JPEG's or PNG's dimensions from its header, what
// ffprobe reads of a still, without starting a process: triage stores
// a thumbnail for every motion event of every camera, and a process per
// thumbnail was what kept triage behind its cameras. A JPEG kind Go does
// not read (arithmetic coding) goes to ffprobe.
func probeImage(path, demuxer string) (evidence.Media, error) {
	f, err := os.Open(path)
	if err != nil {
		return evidence.Media{}, fmt.Errorf("probe %s: %w", path, err)
	}
	defer f.Close()
	m := evidence.Media{Container: demuxer, VideoCodec: "png", Frames: 1}
	var cfg image.Config
	if demuxer == "jpeg_pipe" {
		m.VideoCodec = "mjpeg" // ffprobe's name for a JPEG's codec
		cfg, err = jpeg.DecodeConfig(bufio.NewReader(f))
		var unsupported jpeg.UnsupportedError
		if errors.As(err, &unsupported) {
			return evidence.Media{}, errImageUnsupported
		}
	} else {
		cfg, err = png.DecodeConfig(bufio.NewReader(f))
	}
	if err != nil {
		m.Error = fmt.Sprintf("%s header: %v", m.VideoCodec, err)
		return m, nil
	}
	m.Width, m.Height = cfg.Width, cfg.Height
	return m, nil
}

// Unrecognised is the Container of bytes the sniffer does not recognise.
const Unrecognised = "unrecognised"

// movContainer is ffmpeg's name for the demuxer that reads MP4 and MOV,
// what the records of clips probed by ffprobe say.
const movContainer = "mov,mp4,m4a,3gp,3g2,mj2"

// probeMP4 reads an MP4 or MOV's record from its moov. mp4.ErrUnsupported
// sends it to ffprobe; any other error of the reader is what is wrong
// with the file.
func probeMP4(path string) (evidence.Media, error) {
	f, err := os.Open(path)
	if err != nil {
		return evidence.Media{}, fmt.Errorf("probe %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return evidence.Media{}, fmt.Errorf("probe %s: %w", path, err)
	}
	info, err := mp4.ReadInfo(f, fi.Size())
	if errors.Is(err, mp4.ErrUnsupported) {
		return evidence.Media{}, err
	}
	m := evidence.Media{Container: movContainer}
	if err != nil {
		m.Error = err.Error()
		return m, nil
	}
	m.Duration, m.AudioCodec = info.Duration, info.AudioCodec
	if v := info.Video; v != nil {
		m.VideoCodec, m.Width, m.Height = v.Codec, v.Width, v.Height
		m.FrameRate, m.Frames = v.FrameRate(), v.Samples
	}
	if m.VideoCodec == "" && m.AudioCodec == "" {
		m.Error = "no audio or video stream found"
	}
	return m, nil
}

func probeFFprobe(ctx context.Context, in ffmpeg.Input) (evidence.Media, error) {
	info, err := ffmpeg.Probe(ctx, in, ffmpeg.ProbeOptions{CountPackets: true})
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
