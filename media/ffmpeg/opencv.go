package ffmpeg

import (
	"fmt"
	"os"
)

// openCVOptionsVar is the one channel through which OpenCV's FFmpeg backend
// takes demuxer options: it reads the variable on every open and parses it
// as "key;value|key;value".
const openCVOptionsVar = "OPENCV_FFMPEG_CAPTURE_OPTIONS"

// openCVOptions are the whitelists every OpenCV open runs under. OpenCV
// cannot be given a demuxer per file, so files reach it only after Sniff;
// the format whitelist still holds for what the sniffer left unrecognised.
const openCVOptions = "protocol_whitelist;" + fileProtocols + "|format_whitelist;" + SafeDemuxers

// GuardOpenCV sets the environment variable through which OpenCV's FFmpeg
// backend applies the whitelists. The command calls it at start, before
// any other goroutine runs; ForOpenCV calls it too, which is then a no-op.
func GuardOpenCV() error {
	if os.Getenv(openCVOptionsVar) == openCVOptions {
		return nil
	}
	if err := os.Setenv(openCVOptionsVar, openCVOptions); err != nil {
		return fmt.Errorf("set %s: %w", openCVOptionsVar, err)
	}
	return nil
}

// ForOpenCV checks the file at path as File does and returns what to give
// gocv.VideoCaptureFileWithAPI, always with gocv.VideoCaptureFFmpeg: with
// any other choice OpenCV falls back to GStreamer, whose own HLS demuxer
// follows playlists whatever FFmpeg was told.
func ForOpenCV(path string) (string, error) {
	in, err := File(path)
	if err != nil {
		return "", err
	}
	if err := GuardOpenCV(); err != nil {
		return "", err
	}
	return in.url, nil
}
