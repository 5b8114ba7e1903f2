package motion

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"gocv.io/x/gocv"
)

// A live decoder hands over its frames as a YUV4MPEG2 stream (ffmpeg's
// yuv4mpegpipe): a header line with the picture size, then "FRAME" and the
// three planes of each 4:2:0 picture. The size travels with the stream, so
// the decoder may pick it from the camera's aspect ratio, and the colour
// the thumbnails need comes with the luma the detector reads. The bytes
// come from a child process fed by a camera: every field is checked.

// maxY4MSide bounds the picture the reader accepts: the live decoder never
// asks for more than a thumbnail-sized picture, and a lying header must
// not make the reader allocate gigabytes.
const maxY4MSide = 4096

// y4mHeader is the stream header: picture size in pixels.
type y4mHeader struct{ w, h int }

// frameBytes is the size of one 4:2:0 picture: the luma plane and two
// chroma planes of half its width and height, rounded up.
func (h y4mHeader) frameBytes() int {
	cw, ch := (h.w+1)/2, (h.h+1)/2
	return h.w*h.h + 2*cw*ch
}

// readY4MHeader reads the stream header line.
func readY4MHeader(r *bufio.Reader) (y4mHeader, error) {
	line, err := readY4MLine(r)
	if err != nil {
		return y4mHeader{}, err
	}
	fields := strings.Fields(line)
	if len(fields) == 0 || fields[0] != "YUV4MPEG2" {
		return y4mHeader{}, fmt.Errorf("not a YUV4MPEG2 stream: %q", truncate(line, 40))
	}
	var h y4mHeader
	for _, f := range fields[1:] {
		var err error
		switch f[0] {
		case 'W':
			h.w, err = y4mSide(f)
		case 'H':
			h.h, err = y4mSide(f)
		case 'C':
			// The reader takes 8-bit 4:2:0 only, which is what the live
			// decoder asks ffmpeg for; the chroma siting does not matter.
			switch f {
			case "C420", "C420jpeg", "C420paldv", "C420mpeg2":
			default:
				err = fmt.Errorf("colour space %q: want 8-bit 4:2:0", f[1:])
			}
		case 'I':
			if f != "Ip" && f != "I?" {
				err = fmt.Errorf("interlacing %q: want progressive", f[1:])
			}
		}
		if err != nil {
			return y4mHeader{}, err
		}
	}
	if h.w == 0 || h.h == 0 {
		return y4mHeader{}, fmt.Errorf("header %q lacks the picture size", truncate(line, 80))
	}
	return h, nil
}

func y4mSide(f string) (int, error) {
	n, err := strconv.Atoi(f[1:])
	if err != nil || n <= 0 || n > maxY4MSide {
		return 0, fmt.Errorf("picture size %q: want 1..%d", f, maxY4MSide)
	}
	return n, nil
}

// readY4MFrame reads one "FRAME" line and its picture into buf, which must
// be h.frameBytes() long. io.EOF means the stream ended between frames.
func readY4MFrame(r *bufio.Reader, buf []byte) error {
	line, err := readY4MLine(r)
	if err != nil {
		return err
	}
	if line != "FRAME" && !strings.HasPrefix(line, "FRAME ") {
		return fmt.Errorf("want a FRAME marker, got %q", truncate(line, 40))
	}
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("frame picture: %w", err)
	}
	return nil
}

// readY4MLine reads a header or frame line, at most 256 bytes.
func readY4MLine(r *bufio.Reader) (string, error) {
	var b []byte
	for {
		c, err := r.ReadByte()
		if err != nil {
			if len(b) > 0 {
				return "", io.ErrUnexpectedEOF
			}
			return "", err
		}
		if c == '\n' {
			return string(b), nil
		}
		if len(b) >= 256 {
			return "", errors.New("y4m line longer than 256 bytes")
		}
		b = append(b, c)
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// eachY4M reads a YUV4MPEG2 stream from r, calling fn with each picture as
// an I420 Mat (the luma plane's rows, then the chroma planes') and its
// size; the Mat is reused, so fn must not keep it. It returns the count
// and why it stopped.
func eachY4M(r *bufio.Reader, fn func(frame gocv.Mat, h y4mHeader)) (int, error) {
	hdr, err := readY4MHeader(r)
	if err != nil {
		return 0, err
	}
	rows := hdr.frameBytes() / hdr.w
	if hdr.frameBytes()%hdr.w != 0 || hdr.w%2 != 0 || hdr.h%2 != 0 {
		// OpenCV's I420 layout needs even sides; the decoder asks for them.
		return 0, fmt.Errorf("picture size %dx%d: want even sides", hdr.w, hdr.h)
	}
	m := gocv.NewMatWithSize(rows, hdr.w, gocv.MatTypeCV8U)
	defer m.Close()
	buf, err := m.DataPtrUint8()
	if err != nil {
		return 0, fmt.Errorf("frame buffer: %w", err)
	}
	n := 0
	for {
		if err := readY4MFrame(r, buf); err != nil {
			return n, err
		}
		fn(m, hdr)
		n++
	}
}
