package mp4

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"

	gomp4 "github.com/abema/go-mp4"
)

// Sample flag and box flag bits used here (ISO/IEC 14496-12).
const (
	sampleIsNonSync       = 0x10000
	tfhdBaseDataOffset    = 0x1
	tfhdSampleDescription = 0x2
	tfhdDefaultDuration   = 0x8
	tfhdDefaultSize       = 0x10
	tfhdDefaultFlags      = 0x20
	trunDataOffset        = 0x1
	trunFirstFlags        = 0x4
	trunDuration          = 0x100
	trunSize              = 0x200
	trunFlags             = 0x400
	trunCTSOffset         = 0x800
	trunPerSampleFields   = trunDuration | trunSize | trunFlags | trunCTSOffset
)

// fragmentDefaults are a track's sample defaults from trex, overridden per
// fragment by tfhd.
type fragmentDefaults struct{ duration, size, flags uint32 }

// readFragments appends the samples of every moof's fragments of this
// track, in file order.
func (tr *Track) readFragments(r io.ReaderAt, moov box, top []box, b *budget) error {
	var def fragmentDefaults
	if mvex, ok := child(r, moov, "mvex"); ok {
		for _, x := range boxes(r, mvex.start, mvex.end) {
			var trex gomp4.Trex
			if x.typ == "trex" && decode(r, x, &trex) == nil && trex.TrackID == tr.ID {
				def = fragmentDefaults{trex.DefaultSampleDuration, trex.DefaultSampleSize, trex.DefaultSampleFlags}
			}
		}
	}
	var dts int64
	for _, moof := range top {
		if moof.typ != "moof" {
			continue
		}
		// A moof is small: one read, then its boxes are walked in memory.
		p, err := payload(r, moof)
		if err != nil {
			return err
		}
		mr := region{base: moof.start, b: p}
		for _, traf := range boxes(mr, moof.start, moof.end) {
			if traf.typ != "traf" {
				continue
			}
			if err := tr.readTraf(mr, moof.pos, traf, def, &dts, b); err != nil {
				return err
			}
		}
	}
	return nil
}

// region is part of the file held in memory, addressed by file offsets.
type region struct {
	base int64
	b    []byte
}

func (g region) ReadAt(p []byte, off int64) (int, error) {
	if off < g.base || off-g.base > int64(len(g.b)) {
		return 0, io.EOF
	}
	n := copy(p, g.b[off-g.base:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// fragment is the state of one traf while its truns are read.
type fragment struct {
	def  fragmentDefaults
	next int64 // where a trun without a data offset starts: after the last one
	base int64
}

func (tr *Track) readTraf(r io.ReaderAt, moofPos int64, traf box, def fragmentDefaults, dts *int64, b *budget) error {
	kids := boxes(r, traf.start, traf.end)
	fr := fragment{def: def, base: moofPos, next: moofPos}
	for _, k := range kids {
		if k.typ != "tfhd" {
			continue
		}
		p, err := payload(r, k)
		if err != nil {
			return err
		}
		id, ok := fr.apply(p)
		if !ok {
			return fmt.Errorf("tfhd at %d: truncated", k.pos)
		}
		if id != tr.ID {
			return nil // another track's fragment
		}
		break
	}
	for _, k := range kids {
		switch k.typ {
		case "tfdt":
			p, err := payload(r, k)
			if err != nil {
				return err
			}
			switch {
			case len(p) >= 12 && p[0] == 1:
				*dts = int64(min(binary.BigEndian.Uint64(p[4:]), 1<<62))
			case len(p) >= 8:
				*dts = int64(binary.BigEndian.Uint32(p[4:]))
			default:
				return fmt.Errorf("tfdt at %d: too short", k.pos)
			}
		case "trun":
			if err := tr.readTrun(r, k, &fr, dts, b); err != nil {
				return err
			}
		}
	}
	return nil
}

// apply reads a tfhd payload: its track and the fragment's base offset and
// sample defaults. ok is false when the fields its flags name are missing.
func (fr *fragment) apply(p []byte) (trackID uint32, ok bool) {
	if len(p) < 8 {
		return 0, false
	}
	flags := binary.BigEndian.Uint32(p) & 0xffffff
	q := fieldReader{p: p, at: 8}
	if flags&tfhdBaseDataOffset != 0 {
		hi, lo := q.next(), q.next()
		fr.base = int64(min(uint64(hi)<<32|uint64(lo), 1<<62))
		fr.next = fr.base
	}
	if flags&tfhdSampleDescription != 0 {
		q.next()
	}
	if flags&tfhdDefaultDuration != 0 {
		fr.def.duration = q.next()
	}
	if flags&tfhdDefaultSize != 0 {
		fr.def.size = q.next()
	}
	if flags&tfhdDefaultFlags != 0 {
		fr.def.flags = q.next()
	}
	return binary.BigEndian.Uint32(p[4:]), !q.short
}

// readTrun appends a trun's samples. It is read here rather than by
// go-mp4, whose decoder builds every entry by reflection (about 900 bytes
// and 13 µs each, measured) even when the entries carry no bytes at all, so
// that a 20-byte trun could claim four billion of them. Here the count is
// checked against what is left of the file before any sample is made.
func (tr *Track) readTrun(r io.ReaderAt, k box, fr *fragment, dts *int64, b *budget) error {
	p, err := payload(r, k)
	if err != nil {
		return err
	}
	if len(p) < 8 {
		return fmt.Errorf("trun at %d: too short", k.pos)
	}
	flags, count := binary.BigEndian.Uint32(p[:4])&0xffffff, binary.BigEndian.Uint32(p[4:8])
	q := fieldReader{p: p, at: 8}
	off := fr.next
	if flags&trunDataOffset != 0 {
		off = fr.base + int64(int32(q.next()))
	}
	first, hasFirst := fr.def.flags, flags&trunFirstFlags != 0
	if hasFirst {
		first = q.next()
	}
	if err := fr.checkCount(k, flags, count, len(p)-q.at, b); err != nil {
		return err
	}
	for i := range int(count) {
		s := Sample{Offset: off, Size: fr.def.size, DTS: *dts, Duration: fr.def.duration}
		sflags := fr.def.flags
		if i == 0 && hasFirst {
			sflags = first
		}
		if flags&trunDuration != 0 {
			s.Duration = q.next()
		}
		if flags&trunSize != 0 {
			s.Size = q.next()
		}
		if flags&trunFlags != 0 {
			sflags = q.next()
		}
		if flags&trunCTSOffset != 0 {
			// Signed in version 1, and in practice in version 0 too.
			s.PTSOffset = int32(q.next())
		}
		if q.short {
			return fmt.Errorf("trun at %d: truncated at sample %d of %d", k.pos, i, count)
		}
		s.Sync = sflags&sampleIsNonSync == 0
		if err := b.place(len(tr.Samples), s); err != nil {
			return err
		}
		if err := b.take(1, int64(s.Size)); err != nil {
			return fmt.Errorf("trun at %d: %w", k.pos, err)
		}
		tr.Samples = append(tr.Samples, s)
		off += int64(s.Size)
		*dts += int64(s.Duration)
	}
	fr.next = off
	return nil
}

// checkCount bounds a trun's sample count before any sample is made: with
// per-sample fields the entries must fit in the box; without, the count
// alone would decide, so it must fit what is left of the file at the
// fragment's default sample size.
func (fr *fragment) checkCount(k box, flags, count uint32, left int, b *budget) error {
	if per := bits.OnesCount32(flags&trunPerSampleFields) * 4; per > 0 && int64(count) > int64(left/per) {
		return fmt.Errorf("trun at %d: %d samples do not fit in its %d bytes", k.pos, count, k.end-k.start)
	}
	size := int64(fr.def.size)
	if flags&trunSize != 0 {
		size = b.minSample // each sample's own size is checked as it is read
	}
	if size < b.minSample && count > 0 {
		return fmt.Errorf("trun at %d: samples of %d bytes cannot hold a NAL unit", k.pos, size)
	}
	if b.samples+int(count) > MaxSamples || int64(count) > (b.fileSize-b.bytes)/size {
		return fmt.Errorf("trun at %d: %w (%d more samples)", k.pos, ErrBeyondFile, count)
	}
	return nil
}

// fieldReader takes 32-bit fields off a payload; past its end it gives
// zeros and remembers that it ran short.
type fieldReader struct {
	p     []byte
	at    int
	short bool
}

func (f *fieldReader) next() uint32 {
	if f.at+4 > len(f.p) {
		f.short = true
		return 0
	}
	f.at += 4
	return binary.BigEndian.Uint32(f.p[f.at-4:])
}
