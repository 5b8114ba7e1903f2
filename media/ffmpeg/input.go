package ffmpeg

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
)

// Input is one input of an ffmpeg or ffprobe command line: where it is read
// from and the options that pin how. Only this package makes them, so
// every input the appliance hands to ffmpeg carries a protocol whitelist
// and, where the kind is known, an explicit demuxer.
type Input struct {
	url    string
	path   string // the file's absolute path, for file inputs
	opts   []string
	Format Format
}

// Path is the absolute path of a file input ("" for cameras and pipes).
func (in Input) Path() string { return in.path }

// URL is what follows -i.
func (in Input) URL() string { return in.url }

// Options are the input options that precede -i.
func (in Input) Options() []string { return append([]string(nil), in.opts...) }

// fileProtocols are all a file input may open: itself (file) and, for
// the redaction encoder's raw frames, standard input (pipe). A nested open
// by a demuxer inherits the list.
const fileProtocols = "file,pipe"

// File checks the file at path and returns it as an input read through
// the file protocol only, with the demuxer its first bytes name. A
// playlist or list format is a *RefusedError and no Input; a kind the
// sniffer does not recognise is probed by ffmpeg among SafeDemuxers only.
func File(path string) (Input, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Input{}, fmt.Errorf("media input %s: %w", path, err)
	}
	f, err := os.Open(abs)
	if err != nil {
		return Input{}, fmt.Errorf("media input: %w", err)
	}
	defer f.Close()
	head := make([]byte, SniffLen)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return Input{}, fmt.Errorf("media input %s: %w", path, err)
	}
	format, err := Sniff(head[:n])
	if err != nil {
		return Input{}, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return fileInput(abs, format), nil
}

func fileInput(abs string, f Format) Input {
	opts := []string{"-protocol_whitelist", fileProtocols, "-format_whitelist", SafeDemuxers}
	if f.Known() {
		opts = append(opts, "-f", f.Demuxer)
	}
	// "file:" keeps ffmpeg from reading a protocol or an image-sequence
	// pattern into the name.
	return Input{url: "file:" + abs, path: abs, opts: opts, Format: f}
}

// cameraProtocols are what an RTSP client needs: the control connection
// (tcp), media over UDP or RTP, and TLS for rtsps.
const (
	cameraProtocols    = "rtsp,rtp,udp,tcp"
	cameraTLSProtocols = cameraProtocols + ",rtsps,tls"
)

// Camera returns a configured camera's RTSP URL as an input for the rtsp
// demuxer, allowed no protocol a camera stream does not need (no file,
// no http, no playlist).
func Camera(rawURL string) (Input, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return Input{}, fmt.Errorf("camera url: %w", err)
	}
	protocols := cameraProtocols
	switch u.Scheme {
	case "rtsp":
	case "rtsps":
		protocols = cameraTLSProtocols
	default:
		return Input{}, fmt.Errorf("camera url %q: scheme %q is not rtsp or rtsps", u.Redacted(), u.Scheme)
	}
	if u.Host == "" {
		return Input{}, fmt.Errorf("camera url %q: no host", u.Redacted())
	}
	return Input{url: rawURL, opts: []string{"-protocol_whitelist", protocols, "-f", "rtsp"},
		Format: Format{Name: "RTSP stream", Demuxer: "rtsp"}}, nil
}

// RawFrames is standard input carrying raw video frames of the given
// pixel format and size at rate (a rational such as "30000/1001").
func RawFrames(pixFmt string, width, height int, rate string) Input {
	return Input{url: "pipe:0", opts: []string{"-protocol_whitelist", "pipe", "-f", "rawvideo",
		"-pix_fmt", pixFmt, "-video_size", strconv.Itoa(width) + "x" + strconv.Itoa(height), "-framerate", rate},
		Format: Format{Name: "raw video", Demuxer: "rawvideo"}}
}
