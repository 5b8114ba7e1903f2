package redact

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"strings"
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

func probe(ctx context.Context, ffprobe, path string) (mediaInfo, error) {
	cmd := exec.CommandContext(ctx, ffprobe, "-v", "error", "-print_format", "json",
		"-show_entries", "stream=codec_type,codec_name,r_frame_rate,avg_frame_rate,nb_frames,start_time:stream_side_data=rotation:format=duration", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if ctx.Err() != nil {
			return mediaInfo{}, fmt.Errorf("probe %s: %w", path, ctx.Err())
		}
		return mediaInfo{}, fmt.Errorf("probe %s: %w: %s", path, err, strings.TrimSpace(stderr.String()))
	}
	var p struct {
		Streams []struct {
			CodecType    string `json:"codec_type"`
			CodecName    string `json:"codec_name"`
			RFrameRate   string `json:"r_frame_rate"`
			AvgFrameRate string `json:"avg_frame_rate"`
			NbFrames     string `json:"nb_frames"`
			StartTime    string `json:"start_time"`
			SideData     []struct {
				Rotation float64 `json:"rotation"`
			} `json:"side_data_list"`
		} `json:"streams"`
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &p); err != nil {
		return mediaInfo{}, fmt.Errorf("probe %s: read ffprobe output: %w", path, err)
	}
	var mi mediaInfo
	mi.Duration, _ = strconv.ParseFloat(p.Format.Duration, 64)
	for _, s := range p.Streams {
		switch s.CodecType {
		case "video":
			if mi.FrameRate != "" {
				continue
			}
			// avg_frame_rate is what the frames really average; r_frame_rate
			// is a guess at the base rate and can be far too high.
			for _, r := range []string{s.AvgFrameRate, s.RFrameRate} {
				if f := parseRate(r); f > 0 && f <= 240 {
					mi.FrameRate, mi.FPS = r, f
					break
				}
			}
			mi.Frames, _ = strconv.Atoi(s.NbFrames)
			mi.VideoStart, _ = strconv.ParseFloat(s.StartTime, 64)
			for _, sd := range s.SideData {
				mi.Rotation = normRotation(sd.Rotation)
			}
		case "audio":
			if mi.AudioCodec == "" {
				mi.AudioCodec = s.CodecName
				mi.AudioStart, _ = strconv.ParseFloat(s.StartTime, 64)
			}
		}
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

// normRotation rounds a display-matrix angle to a quarter turn in 0..270.
func normRotation(deg float64) int {
	q := int(math.Round(deg/90)) % 4
	if q < 0 {
		q += 4
	}
	return q * 90
}
