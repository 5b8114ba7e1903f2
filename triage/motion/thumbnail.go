package motion

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"time"

	ff "github.com/edgetriage/edgetriage/media/ffmpeg" // the tests name a helper ffmpeg
)

// addThumbnails cuts a JPEG of each event's peak frame from the file: one
// short ffmpeg run per event, seeking to the keyframe before the peak and
// decoding up to it. That costs at most a GOP per event, where carrying
// colour frames through the decoding pipe costs on every frame. An event
// whose frame cannot be cut keeps no thumbnail; the events still stand.
func addThumbnails(ctx context.Context, path string, si streamInfo, events []Event) {
	for i := range events {
		if ctx.Err() != nil {
			return
		}
		jpeg, err := thumbnailAt(ctx, path, si, events[i].PeakAt)
		if err != nil {
			continue
		}
		events[i].Thumbnail = jpeg
	}
}

// thumbnailAt returns a JPEG, at most thumbWidth wide, of the first frame
// presented at or after t seconds from the clip's start.
func thumbnailAt(parent context.Context, path string, si streamInfo, t float64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(parent, 30*time.Second)
	defer cancel()
	// Event times are rounded to the millisecond; start half of one early
	// so the rounding cannot step past the peak frame.
	ss := strconv.FormatFloat(max(0, t-0.0005), 'f', 4, 64)
	w := min(thumbWidth, si.width) &^ 1
	in, err := ff.File(path)
	if err != nil {
		return nil, fmt.Errorf("thumbnail of %s: %w", path, err)
	}
	cmd := ff.FFmpeg("").Args("-v", "error").Input(in, "-threads", "1", "-ss", ss).
		Args("-map", "0:v:0", "-frames:v", "1",
			"-vf", fmt.Sprintf("scale=%d:-2:flags=area", w), "-q:v", "4",
			"-f", "image2pipe", "-c:v", "mjpeg", "-").Cmd(ctx)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("thumbnail of %s at %s s: %w: %s", path, ss, err, cleanMsg(stderr.String(), in.URL()))
	}
	if out.Len() < 2 || !bytes.HasPrefix(out.Bytes(), []byte{0xff, 0xd8}) {
		return nil, fmt.Errorf("thumbnail of %s at %s s: no picture", path, ss)
	}
	return out.Bytes(), nil
}
