package redact

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"os/exec"
	"strings"

	"gocv.io/x/gocv"

	"github.com/edgetriage/edgetriage/media/ffmpeg"
)

// yuvFrame is one decoded frame in yuv420p, the layout both the decoder
// and the encoder use: covering the three planes in place and passing them
// on costs no colour conversion either way and half the bytes of BGR.
// Each plane is a Mat of its own (in C memory, so the pipes read into and
// write from it directly).
type yuvFrame struct {
	size    image.Point // of the luma plane; both sides even
	planes  [3]gocv.Mat // Y, U, V
	buffers [3][]byte   // the planes' bytes
}

func newYUVFrame(size image.Point) (*yuvFrame, error) {
	f := &yuvFrame{size: size}
	dims := [3]image.Point{size, size.Div(2), size.Div(2)}
	for i, d := range dims {
		f.planes[i] = gocv.NewMatWithSize(d.Y, d.X, gocv.MatTypeCV8U)
		b, err := f.planes[i].DataPtrUint8()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("frame buffer: %w", err)
		}
		f.buffers[i] = b
	}
	return f, nil
}

func (f *yuvFrame) Close() {
	for i := range f.planes {
		f.planes[i].Close()
	}
}

// read fills the frame from r; io.EOF means no frame was left.
func (f *yuvFrame) read(r io.Reader) error {
	for i, b := range f.buffers {
		if _, err := io.ReadFull(r, b); err != nil {
			if i == 0 && errors.Is(err, io.EOF) {
				return io.EOF
			}
			return fmt.Errorf("read decoded frame: %w", err)
		}
	}
	return nil
}

func (f *yuvFrame) write(w io.Writer) error {
	for _, b := range f.buffers {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// cover destroys r in every plane; the chroma planes take r halved,
// rounded outwards.
func (f *yuvFrame) cover(c *coverer, r image.Rectangle) {
	c.Cover(&f.planes[0], r)
	half := image.Rect(r.Min.X/2, r.Min.Y/2, (r.Max.X+1)/2, (r.Max.Y+1)/2)
	c.Cover(&f.planes[1], half)
	c.Cover(&f.planes[2], half)
}

// evenSize is size grown to even sides, as yuv420p needs.
func evenSize(size image.Point) image.Point {
	return image.Pt(size.X+size.X%2, size.Y+size.Y%2)
}

// frameDecoder is an ffmpeg process decoding the master's video to raw
// yuv420p on a pipe, every frame as decoded (no frame rate conversion),
// turned upright as a player shows it (ffmpeg's autorotation, from the
// same tag orient follows) and padded to even sides.
type frameDecoder struct {
	cmd    *exec.Cmd
	out    io.ReadCloser
	stderr bytes.Buffer
}

func startDecoder(ctx context.Context, bin, master string, size image.Point) (*frameDecoder, error) {
	in, err := ffmpeg.File(master)
	if err != nil {
		return nil, err
	}
	c := ffmpeg.FFmpeg(bin).Args("-loglevel", "error").Input(in).Args("-map", "0:v:0", "-fps_mode", "passthrough")
	if even := evenSize(size); even != size {
		c.Args("-vf", fmt.Sprintf("pad=%d:%d", even.X, even.Y))
	}
	c.Args("-f", "rawvideo", "-pix_fmt", "yuv420p", "pipe:1")
	d := &frameDecoder{cmd: c.Cmd(ctx)}
	d.cmd.Stderr = &d.stderr
	if d.out, err = d.cmd.StdoutPipe(); err != nil {
		return nil, fmt.Errorf("decoder stdout: %w", err)
	}
	if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start decoder: %w", err)
	}
	return d, nil
}

// stop ends the decoder, which may still be writing frames nobody reads.
func (d *frameDecoder) stop() {
	d.cmd.Process.Kill()
	d.out.Close()
	d.cmd.Wait()
}

// complaint is what ffmpeg said on stderr, for an error.
func (d *frameDecoder) complaint() string {
	return strings.TrimSpace(d.stderr.String())
}
