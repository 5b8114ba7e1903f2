package motion

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"

	"gocv.io/x/gocv"
)

// TestY4MReadsWhatFFmpegWrites decodes a clip the way the live decoder
// does (yuv4mpegpipe, 4:2:0) and reads every picture back at its size;
// the luma rows are the picture's luma.
func TestY4MReadsWhatFFmpegWrites(t *testing.T) {
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", footage+"static-room.mp4", "-t", "2",
		"-vf", "scale=480:-2", "-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe", "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	frames := 0
	n, err := eachY4M(bufio.NewReader(bytes.NewReader(out)), func(m gocv.Mat, h y4mHeader) {
		frames++
		if h.w != 480 || h.h != 270 || m.Cols() != 480 || m.Rows() != 405 {
			t.Fatalf("picture %dx%d in a %dx%d Mat, want 480x270 in 480x405", h.w, h.h, m.Cols(), m.Rows())
		}
		y := m.RowRange(0, h.h)
		defer y.Close()
		if mean := y.Mean().Val1; mean < 40 || mean > 220 {
			t.Fatalf("luma mean %.0f: not the room", mean)
		}
	})
	if !errors.Is(err, io.EOF) || n != frames || n < 19 || n > 21 {
		t.Fatalf("read %d frames (%d), stopped by %v; want 20 and io.EOF", n, frames, err)
	}
}

// TestY4MRefusesWhatItCannotRead: a stream the reader cannot take is an
// error naming what is wrong, never a panic or a huge allocation.
func TestY4MRefusesWhatItCannotRead(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "EOF"},
		{"P5 320 180 255\n", "not a YUV4MPEG2 stream"},
		{"YUV4MPEG2 W320 F5:1\n", "lacks the picture size"},
		{"YUV4MPEG2 W320 H99999999\n", "picture size"},
		{"YUV4MPEG2 W320 H-5\n", "picture size"},
		{"YUV4MPEG2 W320 H180 C444\n", "want 8-bit 4:2:0"},
		{"YUV4MPEG2 W320 H180 C420p10\n", "want 8-bit 4:2:0"},
		{"YUV4MPEG2 W320 H180 It\n", "progressive"},
		{"YUV4MPEG2 W321 H181\n", "even sides"},
		{"YUV4MPEG2 W4 H2\nFRAM\n", "FRAME marker"},
		{"YUV4MPEG2 W4 H2\nFRAME\n\x01\x02", "unexpected EOF"},
		{"YUV4MPEG2 " + strings.Repeat("X", 300) + "\n", "longer than 256"},
	} {
		_, err := eachY4M(bufio.NewReader(strings.NewReader(c.in)), func(gocv.Mat, y4mHeader) {})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want an error saying %q", c.in, err, c.want)
		}
	}
}

// FuzzY4M: whatever the bytes, the reader ends with an error or io.EOF,
// and every picture it hands over has the size its header promised.
func FuzzY4M(f *testing.F) {
	f.Add([]byte("YUV4MPEG2 W4 H2 F5:1 Ip A1:1 C420jpeg XYSCSS=420JPEG\nFRAME\n0123456789ab"))
	f.Add([]byte("YUV4MPEG2 W2 H2\nFRAME Ixyz\n012345FRAME\n012345"))
	f.Add([]byte("YUV4MPEG2 W2048 H2048\nFRAME\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := eachY4M(bufio.NewReader(bytes.NewReader(b)), func(m gocv.Mat, h y4mHeader) {
			if m.Cols() != h.w || m.Rows()*m.Cols() != h.frameBytes() {
				t.Fatalf("picture %dx%d for header %+v", m.Cols(), m.Rows(), h)
			}
		})
		if err == nil {
			t.Fatalf("read %d frames and no error", n)
		}
	})
}
