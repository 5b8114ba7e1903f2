package ffmpeg

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"strings"
)

// Info is what ffprobe says about a file: its container and streams, and
// what it complained about.
type Info struct {
	Format   Format // what the sniffer named
	Demuxer  string // ffprobe's format_name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
	Duration float64
	Streams  []Stream
	// Complaint is ffprobe's error output, as it wrote it; Failed says it
	// exited non-zero.
	Complaint string
	Failed    bool
}

// Stream is one stream of a probed file. Numbers the container does not
// give are zero.
type Stream struct {
	Index    int
	Type     string // "video", "audio", ...
	Codec    string
	Width    int
	Height   int
	AvgRate  string // average frame rate as a rational: "30000/1001"
	BaseRate string // r_frame_rate: the container's guess at the base rate
	Frames   int64  // nb_frames, as the container counts them
	Packets  int64  // packets read, with ProbeOptions.CountPackets
	Duration float64
	Start    float64 // start_time in seconds: where the stream begins on the file's timeline
	Rotation int     // how far a player turns the picture, counter-clockwise: 0, 90, 180 or 270
}

// Video returns the first video stream.
func (i Info) Video() (Stream, bool) { return i.first("video") }

// Audio returns the first audio stream.
func (i Info) Audio() (Stream, bool) { return i.first("audio") }

func (i Info) first(kind string) (Stream, bool) {
	for _, s := range i.Streams {
		if s.Type == kind {
			return s, true
		}
	}
	return Stream{}, false
}

// ProbeOptions choose what ffprobe does beyond reading the headers.
type ProbeOptions struct {
	// FFprobe is the program; "" is ffprobe from PATH.
	FFprobe string
	// CountPackets reads every packet to count them (the whole file).
	CountPackets bool
}

// ProbeFile checks the file at path (see File) and probes it. A playlist
// or list is a *RefusedError and ffprobe is never started.
func ProbeFile(ctx context.Context, path string, opt ProbeOptions) (Info, error) {
	in, err := File(path)
	if err != nil {
		return Info{}, err
	}
	return Probe(ctx, in, opt)
}

// Probe runs ffprobe on in. The error is for a probe that could not run
// (ffprobe missing, ctx ended) or whose output is unreadable; a file
// ffprobe could not read comes back with Complaint and Failed set.
func Probe(ctx context.Context, in Input, opt ProbeOptions) (Info, error) {
	c := FFprobe(opt.FFprobe).Args("-v", "error")
	if opt.CountPackets {
		c.Args("-count_packets")
	}
	c.Args("-show_entries", "stream=index,codec_type,codec_name,width,height,avg_frame_rate,r_frame_rate,nb_frames,duration,start_time"+
		packetsEntry(opt)+":stream_side_data=rotation:format=format_name,duration", "-of", "json").Input(in)
	cmd := c.Cmd(ctx)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	if ctx.Err() != nil {
		return Info{}, fmt.Errorf("ffprobe %s: %w", in.url, ctx.Err())
	}
	var execErr *exec.Error
	if errors.As(runErr, &execErr) {
		return Info{}, fmt.Errorf("ffprobe %s: %w", in.url, runErr)
	}
	info := Info{Format: in.Format, Failed: runErr != nil, Complaint: cleanComplaint(stderr.String(), in)}
	var out probeOutput
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil && runErr == nil {
		return info, fmt.Errorf("ffprobe %s: reading its output: %w", in.url, err)
	}
	if info.Failed && info.Complaint == "" {
		info.Complaint = runErr.Error()
	}
	out.fill(&info)
	return info, nil
}

func packetsEntry(opt ProbeOptions) string {
	if opt.CountPackets {
		return ",nb_read_packets"
	}
	return ""
}

// cleanComplaint drops the input's own name from ffprobe's messages: the
// temp or vault path means nothing to whoever reads them.
func cleanComplaint(s string, in Input) string {
	s = strings.ReplaceAll(s, in.url+": ", "")
	if in.path != "" {
		s = strings.ReplaceAll(s, in.path+": ", "")
	}
	return strings.TrimSpace(s)
}

type probeOutput struct {
	Streams []struct {
		Index        int    `json:"index"`
		CodecType    string `json:"codec_type"`
		CodecName    string `json:"codec_name"`
		Width        int    `json:"width"`
		Height       int    `json:"height"`
		AvgFrameRate string `json:"avg_frame_rate"`
		RFrameRate   string `json:"r_frame_rate"`
		NbFrames     string `json:"nb_frames"`
		Packets      string `json:"nb_read_packets"`
		Duration     string `json:"duration"`
		StartTime    string `json:"start_time"`
		SideData     []struct {
			Rotation *float64 `json:"rotation"`
		} `json:"side_data_list"`
	} `json:"streams"`
	Format struct {
		FormatName string `json:"format_name"`
		Duration   string `json:"duration"`
	} `json:"format"`
}

func (out probeOutput) fill(info *Info) {
	info.Demuxer = out.Format.FormatName
	info.Duration = parseFloat(out.Format.Duration)
	for _, s := range out.Streams {
		st := Stream{Index: s.Index, Type: s.CodecType, Codec: s.CodecName, Width: s.Width, Height: s.Height,
			AvgRate: s.AvgFrameRate, BaseRate: s.RFrameRate, Duration: parseFloat(s.Duration), Start: parseFloat(s.StartTime)}
		st.Frames, _ = strconv.ParseInt(s.NbFrames, 10, 64)
		st.Packets, _ = strconv.ParseInt(s.Packets, 10, 64)
		for _, sd := range s.SideData {
			if sd.Rotation != nil {
				st.Rotation = quarterTurn(*sd.Rotation)
			}
		}
		info.Streams = append(info.Streams, st)
	}
}

func parseFloat(s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

// ParseRate reads a frame rate written as ffmpeg does ("30000/1001", "25");
// zero for anything unusable.
func ParseRate(r string) float64 {
	num, den, ok := strings.Cut(r, "/")
	if !ok {
		return parseFloat(num)
	}
	n, d := parseFloat(num), parseFloat(den)
	if d == 0 {
		return 0
	}
	return n / d
}

// quarterTurn rounds a display-matrix angle to a quarter turn in 0..270.
func quarterTurn(deg float64) int {
	q := int(math.Round(deg/90)) % 4
	if q < 0 {
		q += 4
	}
	return q * 90
}
