// Package ffmpeg is the one place that builds ffmpeg and ffprobe command
// lines for evidence, and the one that decides what OpenCV's FFmpeg backend
// may open.
//
// Evidence is hostile until checked. Left to itself, ffmpeg probes a file's
// kind from its bytes, and some kinds are lists of other files: an HLS
// playlist named CLIP.MP4 on a docked camera makes ffprobe read whatever
// local files it names into the probe of this item, and the decoder does
// the same for triage, redaction and the preview. So every file input
// here is read through the file protocol only, with the demuxer its first
// bytes name (Sniff); playlist and list formats are refused with a
// *RefusedError before any process starts; and bytes the sniffer does not
// recognise are probed among SafeDemuxers, none of which opens another
// file. Camera URLs get the rtsp demuxer and the network protocols RTSP
// needs, nothing else.
//
// The package imports nothing of the project, so every part may use it.
package ffmpeg

import (
	"context"
	"os/exec"
	"slices"
)

// Command is an ffmpeg or ffprobe command line. Inputs enter only through
// Input, so none lacks its whitelist; everything else is added in order
// with Args.
type Command struct {
	bin  string
	args []string
}

// FFmpeg starts an ffmpeg command line. bin is the program ("" is
// "ffmpeg" from PATH). It never reads the terminal (-nostdin) and prints
// no banner.
func FFmpeg(bin string) *Command {
	if bin == "" {
		bin = "ffmpeg"
	}
	return &Command{bin: bin, args: []string{"-nostdin", "-hide_banner"}}
}

// FFprobe starts an ffprobe command line; bin "" is "ffprobe" from PATH.
func FFprobe(bin string) *Command {
	if bin == "" {
		bin = "ffprobe"
	}
	return &Command{bin: bin, args: []string{"-hide_banner"}}
}

// Args appends options (global, output, or the output itself). An input
// given here instead of through Input is a programming error.
func (c *Command) Args(args ...string) *Command {
	if slices.Contains(args, "-i") {
		panic("ffmpeg: inputs must be added with Command.Input")
	}
	c.args = append(c.args, args...)
	return c
}

// Input appends an input: opts (such as -ss or -threads that apply to
// this input), then the input's own whitelist and demuxer, then -i.
func (c *Command) Input(in Input, opts ...string) *Command {
	if in.url == "" {
		panic("ffmpeg: an Input must come from File, Camera or RawFrames")
	}
	c.Args(opts...)
	c.args = append(c.args, in.opts...)
	c.args = append(c.args, "-i", in.url)
	return c
}

// ToFile appends the output file, named so that ffmpeg reads no protocol
// into it.
func (c *Command) ToFile(path string) *Command {
	c.args = append(c.args, "file:"+path)
	return c
}

// Line is the program and its arguments, for logs and tests.
func (c *Command) Line() []string { return append([]string{c.bin}, c.args...) }

// Cmd makes the process; ctx ends it.
func (c *Command) Cmd(ctx context.Context) *exec.Cmd {
	return exec.CommandContext(ctx, c.bin, slices.Clone(c.args)...)
}
