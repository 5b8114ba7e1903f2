package mp4

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	gomp4 "github.com/abema/go-mp4"
)

// box is one ISO BMFF box of the file: its type, where its header starts
// and its payload's range.
type box struct {
	typ        string
	pos        int64
	start, end int64
}

// maxBoxes bounds how many sibling boxes one walk lists: a file of empty
// boxes must not make a list longer than a real camera file ever has.
const maxBoxes = 1 << 20

// boxes lists the boxes in [from, to) of r. Cameras leave junk after the
// last real box (a cut write, padding): the walk stops at the first header
// that does not fit instead of failing, so what came before stays usable.
func boxes(r io.ReaderAt, from, to int64) []box {
	var out []box
	var hdr [16]byte
	for pos := from; pos+8 <= to && len(out) < maxBoxes; {
		if _, err := r.ReadAt(hdr[:8], pos); err != nil {
			break
		}
		size, hl := int64(binary.BigEndian.Uint32(hdr[:4])), int64(8)
		switch size {
		case 0: // to the end of the enclosing box
			size = to - pos
		case 1: // a 64-bit size follows the type
			if _, err := r.ReadAt(hdr[8:16], pos+8); err != nil {
				return out
			}
			size, hl = int64(binary.BigEndian.Uint64(hdr[8:16])), 16
		}
		if size < hl || size > to-pos {
			break
		}
		out = append(out, box{typ: typeName(hdr[4:8]), pos: pos, start: pos + hl, end: pos + size})
		pos += size
	}
	return out
}

// typeName is a box's type as a string, without an allocation for the
// types this package looks for (a fragmented hour has thousands of boxes).
func typeName(t []byte) string {
	switch string(t) {
	case "moov":
		return "moov"
	case "moof":
		return "moof"
	case "traf":
		return "traf"
	case "tfhd":
		return "tfhd"
	case "tfdt":
		return "tfdt"
	case "trun":
		return "trun"
	case "mdat":
		return "mdat"
	case "trak":
		return "trak"
	}
	return string(t)
}

// child returns the first box of type typ inside parent.
func child(r io.ReaderAt, parent box, typ string) (box, bool) {
	for _, b := range boxes(r, parent.start, parent.end) {
		if b.typ == typ {
			return b, true
		}
	}
	return box{}, false
}

// path follows a chain of box types down from parent.
func path(r io.ReaderAt, parent box, types ...string) (box, bool) {
	b := parent
	for _, t := range types {
		var ok bool
		if b, ok = child(r, b, t); !ok {
			return box{}, false
		}
	}
	return b, true
}

// decode reads b's payload into dst with go-mp4: the headers and codec
// records (hdlr, tkhd, mdhd, mvhd, trex, the sample entry and avcC), each a
// few dozen bytes, none with a table whose entries could be empty.
func decode(r io.ReaderAt, b box, dst gomp4.IBox) error {
	// One read of the payload; go-mp4 reads field by field, which on a
	// file would be a system call per table entry.
	p, err := payload(r, b)
	if err != nil {
		return err
	}
	if _, err := gomp4.Unmarshal(bytes.NewReader(p), uint64(len(p)), dst, gomp4.Context{}); err != nil {
		return fmt.Errorf("%s box at %d: %w", b.typ, b.pos, err)
	}
	return nil
}

// ErrBeyondFile says a file's sample tables describe more media than the
// file holds: crafted, or cut off after its index was written.
var ErrBeyondFile = errors.New("the sample tables describe more media than the file holds")

// maxPayload bounds a box read whole: no table a real clip has comes near.
const maxPayload = 64 << 20

// payload reads b's payload whole.
func payload(r io.ReaderAt, b box) ([]byte, error) {
	if b.end-b.start > maxPayload {
		return nil, fmt.Errorf("%s box at %d too large (%d bytes)", b.typ, b.pos, b.end-b.start)
	}
	buf := make([]byte, b.end-b.start)
	if _, err := r.ReadAt(buf, b.start); err != nil {
		return nil, fmt.Errorf("%s box at %d: %w", b.typ, b.pos, err)
	}
	return buf, nil
}
