package redact

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/edgetriage/edgetriage/media/ffmpeg"
)

// mediaInfo is what Render needs to know of a master before decoding it.
type mediaInfo struct {
	FrameRate  string // rational, as ffmpeg takes it: "30000/1001"
	FPS        float64
	AudioCodec string // empty when the master has no audio
	Duration   float64
	// Frames is what the container says the video holds: nb_frames, or
	// duration times rate when the container does not count them.
	Frames int
	// Rotation is how far a player turns the stored pixels, in degrees
	// counter-clockwise (0, 90, 180 or 270): phones record portrait video
	// as landscape pixels plus this tag.
	Rotation int
	// VideoStart and AudioStart are the streams' start times in seconds;
	// audio edits are given in video time.
	VideoStart, AudioStart float64
}

// probe reads what Render needs of the master. A playlist or list is
// refused (media/ffmpeg) without starting ffprobe.
func probe(ctx context.Context, ffprobe, path string) (mediaInfo, error) {
	info, err := ffmpeg.ProbeFile(ctx, path, ffmpeg.ProbeOptions{FFprobe: ffprobe})
	if err != nil {
		return mediaInfo{}, fmt.Errorf("probe %s: %w", path, err)
	}
	if info.Failed {
		return mediaInfo{}, fmt.Errorf("probe %s: ffprobe: %s", path, info.Complaint)
	}
	var mi mediaInfo
	mi.Duration = info.Duration
	if v, ok := info.Video(); ok {
		// avg_frame_rate is what the frames really average; r_frame_rate
		// is a guess at the base rate and can be far too high.
		for _, r := range []string{v.AvgRate, v.BaseRate} {
			if f := parseRate(r); f > 0 && f <= 240 {
				mi.FrameRate, mi.FPS = r, f
				break
			}
		}
		mi.Frames = int(v.Frames)
		mi.Rotation = v.Rotation
		mi.VideoStart = v.Start
	}
	if a, ok := info.Audio(); ok {
		mi.AudioCodec = a.Codec
		mi.AudioStart = a.Start
	}
	if mi.FrameRate == "" {
		return mi, fmt.Errorf("probe %s: no video stream with a usable frame rate", path)
	}
	if mi.Frames == 0 {
		mi.Frames = int(mi.Duration * mi.FPS)
	}
	return mi, nil
}

func parseRate(r string) float64 {
	num, den, ok := strings.Cut(r, "/")
	n, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0
	}
	if !ok {
		return n
	}
	d, err := strconv.ParseFloat(den, 64)
	if err != nil || d == 0 {
		return 0
	}
	return n / d
}
