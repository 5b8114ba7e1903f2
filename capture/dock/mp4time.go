package dock

import (
	"encoding/binary"
	"io"
	"time"
)

// mp4Epoch is where MP4/QuickTime times count from.
var mp4Epoch = time.Date(1904, 1, 1, 0, 0, 0, 0, time.UTC)

// maxBoxes bounds the walk over an untrusted file's boxes.
const maxBoxes = 4096

// recordingTimes reads when an MP4 or MOV recording started and how long it
// runs from its movie header (moov/mvhd), as the camera's clock wrote them.
// It reads a few boxes' headers, not the media; ok is false for anything
// that is not such a file or carries no creation time.
func recordingTimes(r io.ReaderAt, size int64) (start time.Time, dur time.Duration, ok bool) {
	moov, moovEnd, found := findBox(r, 0, size, "moov")
	if !found {
		return time.Time{}, 0, false
	}
	mvhd, mvhdEnd, found := findBox(r, moov, moovEnd, "mvhd")
	if !found || mvhdEnd-mvhd < 32 {
		return time.Time{}, 0, false
	}
	var b [32]byte
	if _, err := r.ReadAt(b[:], mvhd); err != nil {
		return time.Time{}, 0, false
	}
	var created, scale, length uint64
	if b[0] == 1 { // version 1: 64-bit times
		created, scale, length = binary.BigEndian.Uint64(b[4:]), uint64(binary.BigEndian.Uint32(b[20:])), binary.BigEndian.Uint64(b[24:])
	} else {
		created, scale, length = uint64(binary.BigEndian.Uint32(b[4:])), uint64(binary.BigEndian.Uint32(b[12:])), uint64(binary.BigEndian.Uint32(b[16:]))
	}
	if created == 0 || created > 1<<40 {
		return time.Time{}, 0, false
	}
	start = mp4Epoch.Add(time.Duration(created) * time.Second)
	if scale > 0 && length/scale < 1<<31 {
		dur = time.Duration(float64(length) / float64(scale) * float64(time.Second))
	}
	return start, dur, true
}

// findBox looks for a box of the given type among the boxes in [from, to)
// and returns where its payload starts and ends.
func findBox(r io.ReaderAt, from, to int64, typ string) (payload, end int64, ok bool) {
	var h [16]byte
	for i := 0; i < maxBoxes && from+8 <= to; i++ {
		if _, err := r.ReadAt(h[:8], from); err != nil {
			return 0, 0, false
		}
		size, hdr := int64(binary.BigEndian.Uint32(h[:4])), int64(8)
		switch size {
		case 0: // to the end of the enclosing space
			size = to - from
		case 1: // a 64-bit size follows the type
			if _, err := r.ReadAt(h[8:16], from+8); err != nil {
				return 0, 0, false
			}
			size, hdr = int64(binary.BigEndian.Uint64(h[8:16])), 16
		}
		if size < hdr || from+size > to || from+size < from {
			return 0, 0, false
		}
		if string(h[4:8]) == typ {
			return from + hdr, from + size, true
		}
		from += size
	}
	return 0, 0, false
}
