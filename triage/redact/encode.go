package redact

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"io"
	"slices"
	"strings"

	"gocv.io/x/gocv"

	"github.com/edgetriage/edgetriage/media/ffmpeg"
)

// mp4Audio reports whether MP4 takes an audio codec as it is; anything
// else is re-encoded to AAC.
func mp4Audio(codec string) bool {
	switch codec {
	case "aac", "mp3", "alac", "ac3", "eac3", "opus", "flac":
		return true
	}
	return false
}

// rendered is what encode produced besides the file.
type rendered struct {
	auto   [][]LogBox // the detectors' boxes per frame, before manual edits
	final  [][]LogBox // what was covered
	audio  string
	speech SpeechMap
}

// encode decodes the master again, covers each frame's boxes, and pipes raw
// frames to ffmpeg, which writes H.264 without B-frames (Chromium's WebRTC
// and some players stall on them) in yuv420p with the index up front.
func (r *Redactor) encode(ctx context.Context, master, out string, mi mediaInfo, p *plan, edits []ManualEdit) (rendered, error) {
	c, audio, err := r.encoder(master, out, mi, p.size, edits)
	if err != nil {
		return rendered{}, fmt.Errorf("encode %s: %w", out, err)
	}
	cmd := c.Cmd(ctx)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return rendered{}, fmt.Errorf("ffmpeg stdin: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return rendered{}, fmt.Errorf("start ffmpeg: %w", err)
	}
	res, werr := r.writeFrames(ctx, master, stdin, mi, p, edits)
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		if ctx.Err() != nil {
			return rendered{}, fmt.Errorf("encode %s: %w", out, ctx.Err())
		}
		return rendered{}, fmt.Errorf("encode %s: ffmpeg: %w: %s", out, err, strings.TrimSpace(stderr.String()))
	}
	if werr != nil {
		return rendered{}, werr
	}
	res.audio = audio
	return res, nil
}

// encoder is the ffmpeg command that takes the covered frames on stdin and
// the master's audio from the master itself.
func (r *Redactor) encoder(master, out string, mi mediaInfo, size image.Point, edits []ManualEdit) (*ffmpeg.Command, string, error) {
	c := ffmpeg.FFmpeg(r.cfg.FFmpeg).Args("-loglevel", "error").
		Input(ffmpeg.RawFrames("yuv420p", evenSize(size).X, evenSize(size).Y, mi.FrameRate))
	audio := "none"
	switch {
	case mi.AudioCodec == "":
	case r.cfg.MuteAudio:
		audio = "muted"
	default:
		in, err := ffmpeg.File(master)
		if err != nil {
			return nil, "", err
		}
		c.Input(in).Args("-map", "0:v:0", "-map", "1:a:0")
		mute, bleep := audioEdits(edits)
		if af := audioFilter(mute, bleep, mi.AudioStart-mi.VideoStart); af != "" {
			c.Args("-af", af, "-c:a", "aac", "-b:a", "192k")
			audio = fmt.Sprintf("redacted: %d muted, %d bleeped", len(mute), len(bleep))
		} else if mp4Audio(mi.AudioCodec) {
			c.Args("-c:a", "copy")
			audio = "copied"
		} else {
			c.Args("-c:a", "aac", "-b:a", "128k")
			audio = "re-encoded"
		}
	}
	c.Args("-c:v", "libx264", "-preset", r.cfg.Preset, "-crf", fmt.Sprint(r.cfg.CRF),
		"-bf", "0", "-pix_fmt", "yuv420p", "-movflags", "+faststart", "-f", "mp4", "-y").ToFile(out)
	return c, audio, nil
}

// writeFrames covers each decoded frame once its boxes are final and
// passes it to the encoder.
func (r *Redactor) writeFrames(ctx context.Context, master string, w io.Writer, mi mediaInfo, p *plan, edits []ManualEdit) (rendered, error) {
	var res rendered
	p.mu.Lock()
	size := p.size
	p.mu.Unlock()
	dec, err := startDecoder(ctx, r.cfg.FFmpeg, master, size)
	if err != nil {
		return res, err
	}
	defer dec.stop()
	frame, err := newYUVFrame(evenSize(size))
	if err != nil {
		return res, err
	}
	defer frame.Close()
	c := newCoverer()
	defer c.Close()
	for i := 0; ; i++ {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		analysed, finished, err := p.wait(i + p.lag)
		if err != nil {
			return res, err
		}
		if finished && i >= analysed {
			return res, nil
		}
		if err := frame.read(dec.out); err != nil {
			dec.stop()
			return res, fmt.Errorf("decode %s: frame %d vanished on the second pass: %v %s", master, i, err, dec.complaint())
		}
		auto := p.boxesAt(i, r.cfg)
		final := applyEdits(edits, float64(i)/mi.FPS, p.bounds(), slices.Clone(auto))
		res.auto = append(res.auto, auto)
		res.final = append(res.final, final)
		for _, r := range coverAreas(final) {
			frame.cover(c, r)
		}
		if err := frame.write(w); err != nil {
			return res, fmt.Errorf("write frame %d to ffmpeg: %w", i, err)
		}
	}
}

// coverer destroys the content of a rectangle: it averages it down to a
// few cells (pixelation throws the detail away, unlike a blur that a
// deconvolution can partly undo) and then blurs the cells so their edges
// carry no shape either. The blur runs on the cell grid enlarged a few
// times, not on the full-size box, so its cost does not grow with the
// square of the box: a 1000 px box would otherwise need a 1000-tap kernel.
type coverer struct{ small, mid, work gocv.Mat }

func newCoverer() *coverer {
	return &coverer{small: gocv.NewMat(), mid: gocv.NewMat(), work: gocv.NewMat()}
}

func (c *coverer) Close() {
	c.small.Close()
	c.mid.Close()
	c.work.Close()
}

// cellsAcross is how many cells span the short side of a covered box: too
// few to hold a recognisable face or a readable character.
const cellsAcross = 4

// blurUp is how many pixels a cell has in the grid the blur runs on.
const blurUp = 4

func (c *coverer) Cover(frame *gocv.Mat, r image.Rectangle) {
	r = r.Intersect(image.Rect(0, 0, frame.Cols(), frame.Rows()))
	if r.Dx() < 2 || r.Dy() < 2 {
		return
	}
	cell := max(3, min(r.Dx(), r.Dy())/cellsAcross)
	roi := frame.Region(r)
	defer roi.Close()
	cw, ch := max(1, (r.Dx()+cell-1)/cell), max(1, (r.Dy()+cell-1)/cell)
	gocv.Resize(roi, &c.small, image.Pt(cw, ch), 0, 0, gocv.InterpolationArea)
	gocv.Resize(c.small, &c.mid, image.Pt(cw*blurUp, ch*blurUp), 0, 0, gocv.InterpolationNearestNeighbor)
	// A sigma of one cell melts the cell edges; OpenCV's default sigma
	// for a kernel size is far too light for that. The work happens off
	// the frame, so no uncovered pixel around the box leaks in.
	gocv.GaussianBlur(c.mid, &c.mid, image.Pt(6*blurUp+1, 6*blurUp+1), blurUp, blurUp, gocv.BorderReplicate)
	gocv.Resize(c.mid, &c.work, image.Pt(r.Dx(), r.Dy()), 0, 0, gocv.InterpolationLinear)
	c.work.CopyTo(&roi)
}
