package motion

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// The prefilter reads the MP4 sample tables itself: it needs only where
// each H.264 access unit lies, how big it is, its timestamps and whether it
// is a keyframe, and it must accept the sloppy files cameras write.

type sample struct {
	offset int64
	size   uint32
	dts    int64
	cts    int64
	sync   bool
}

type avcTrack struct {
	id            uint32
	timescale     uint32
	width, height int
	lengthSize    int      // bytes in each NAL length prefix
	params        [][]byte // SPS and PPS NAL units
	samples       []sample // decode order
}

var errNotAVC = errors.New("no H.264 video track in an MP4 container")

type box struct {
	typ        string
	pos        int64 // where the box header starts
	start, end int64 // payload range in the file
}

// readBoxes lists the boxes in [from, to) of r.
func readBoxes(r io.ReaderAt, from, to int64) ([]box, error) {
	var out []box
	var hdr [16]byte
	for pos := from; pos+8 <= to; {
		if _, err := r.ReadAt(hdr[:8], pos); err != nil {
			return out, fmt.Errorf("box header at %d: %w", pos, err)
		}
		size := int64(binary.BigEndian.Uint32(hdr[:4]))
		typ := string(hdr[4:8])
		hl := int64(8)
		switch size {
		case 0:
			size = to - pos
		case 1:
			if _, err := r.ReadAt(hdr[8:16], pos+8); err != nil {
				return out, fmt.Errorf("box %q large size: %w", typ, err)
			}
			size, hl = int64(binary.BigEndian.Uint64(hdr[8:16])), 16
		}
		if size < hl || pos+size > to {
			// Trailing junk after the last real box is common; stop there.
			break
		}
		out = append(out, box{typ: typ, pos: pos, start: pos + hl, end: pos + size})
		pos += size
	}
	return out, nil
}

func child(r io.ReaderAt, parent box, typ string) (box, bool) {
	bs, _ := readBoxes(r, parent.start, parent.end)
	for _, b := range bs {
		if b.typ == typ {
			return b, true
		}
	}
	return box{}, false
}

func payload(r io.ReaderAt, b box) ([]byte, error) {
	if b.end-b.start > 64<<20 {
		return nil, fmt.Errorf("box %q too large (%d bytes)", b.typ, b.end-b.start)
	}
	buf := make([]byte, b.end-b.start)
	if _, err := r.ReadAt(buf, b.start); err != nil {
		return nil, fmt.Errorf("read box %q: %w", b.typ, err)
	}
	return buf, nil
}

// readAVCTrack returns the first H.264 video track of the MP4 file at path.
func readAVCTrack(path string) (*avcTrack, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	top, err := readBoxes(f, 0, fi.Size())
	if err != nil && len(top) == 0 {
		return nil, err
	}
	for _, b := range top {
		if b.typ != "moov" {
			continue
		}
		traks, err := readBoxes(f, b.start, b.end)
		if err != nil {
			return nil, err
		}
		for _, t := range traks {
			if t.typ != "trak" {
				continue
			}
			tr, err := readTrak(f, t)
			if errors.Is(err, errNotAVC) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if len(tr.samples) == 0 {
				// Fragmented MP4 (what RTSP recording writes): the samples
				// are described by the moof boxes after the moov.
				if err := tr.readFragments(f, b, top); err != nil {
					return nil, err
				}
			}
			if len(tr.samples) == 0 {
				return nil, errors.New("video track has no samples")
			}
			return tr, nil
		}
	}
	return nil, errNotAVC
}

func readTrak(r io.ReaderAt, trak box) (*avcTrack, error) {
	mdia, ok := child(r, trak, "mdia")
	if !ok {
		return nil, errNotAVC
	}
	hdlr, ok := child(r, mdia, "hdlr")
	if !ok {
		return nil, errNotAVC
	}
	h, err := payload(r, hdlr)
	if err != nil || len(h) < 12 || string(h[8:12]) != "vide" {
		return nil, errNotAVC
	}
	tr := &avcTrack{}
	if tkhd, ok := child(r, trak, "tkhd"); ok {
		if h, err := payload(r, tkhd); err == nil && len(h) >= 24 {
			tr.id = u32(h, 12)
			if h[0] == 1 {
				tr.id = u32(h, 20)
			}
		}
	}
	mdhd, ok := child(r, mdia, "mdhd")
	if !ok {
		return nil, errors.New("mdhd missing")
	}
	m, err := payload(r, mdhd)
	if err != nil {
		return nil, err
	}
	switch {
	case len(m) >= 16 && m[0] == 0:
		tr.timescale = binary.BigEndian.Uint32(m[12:16])
	case len(m) >= 24 && m[0] == 1:
		tr.timescale = binary.BigEndian.Uint32(m[20:24])
	}
	if tr.timescale == 0 {
		return nil, errors.New("mdhd: no timescale")
	}
	minf, ok := child(r, mdia, "minf")
	if !ok {
		return nil, errors.New("minf missing")
	}
	stbl, ok := child(r, minf, "stbl")
	if !ok {
		return nil, errors.New("stbl missing")
	}
	tables := map[string][]byte{}
	bs, _ := readBoxes(r, stbl.start, stbl.end)
	for _, b := range bs {
		if b.typ == "stsd" || b.typ == "stts" || b.typ == "ctts" || b.typ == "stss" ||
			b.typ == "stsz" || b.typ == "stsc" || b.typ == "stco" || b.typ == "co64" {
			if tables[b.typ], err = payload(r, b); err != nil {
				return nil, err
			}
		}
	}
	if err := tr.parseStsd(tables["stsd"]); err != nil {
		return nil, err
	}
	if err := tr.parseSamples(tables); err != nil {
		return nil, err
	}
	return tr, nil
}

// parseStsd finds the avcC record of an avc1/avc3 sample entry.
func (tr *avcTrack) parseStsd(b []byte) error {
	if len(b) < 16 {
		return errNotAVC
	}
	entry := b[8:]
	size := int(binary.BigEndian.Uint32(entry[:4]))
	if typ := string(entry[4:8]); typ != "avc1" && typ != "avc3" || size > len(entry) || size < 86 {
		return errNotAVC
	}
	// A visual sample entry has 78 bytes of fixed fields after its header;
	// width and height are at 24 and 26 of them.
	tr.width = int(binary.BigEndian.Uint16(entry[32:]))
	tr.height = int(binary.BigEndian.Uint16(entry[34:]))
	inner := entry[86:size]
	for len(inner) >= 8 {
		n := int(binary.BigEndian.Uint32(inner[:4]))
		if n < 8 || n > len(inner) {
			break
		}
		if string(inner[4:8]) == "avcC" {
			return tr.parseAvcC(inner[8:n])
		}
		inner = inner[n:]
	}
	return errors.New("avc1 without avcC")
}

func (tr *avcTrack) parseAvcC(b []byte) error {
	if len(b) < 7 {
		return errors.New("avcC too short")
	}
	tr.lengthSize = int(b[4]&3) + 1
	p := b[5:]
	for _, countMask := range []byte{0x1f, 0xff} {
		if len(p) < 1 {
			return errors.New("avcC truncated")
		}
		n := int(p[0] & countMask)
		p = p[1:]
		for range n {
			if len(p) < 2 {
				return errors.New("avcC truncated")
			}
			l := int(binary.BigEndian.Uint16(p))
			if len(p) < 2+l {
				return errors.New("avcC truncated")
			}
			tr.params = append(tr.params, slices.Clone(p[2:2+l]))
			p = p[2+l:]
		}
	}
	if len(tr.params) < 2 {
		return errors.New("avcC without SPS and PPS")
	}
	return nil
}

func u32(b []byte, i int) uint32 { return binary.BigEndian.Uint32(b[i:]) }

// parseSamples expands the sample tables into one record per access unit.
func (tr *avcTrack) parseSamples(t map[string][]byte) error {
	stsz, stsc, stts := t["stsz"], t["stsc"], t["stts"]
	if len(stsz) < 12 || len(stsc) < 8 || len(stts) < 8 {
		return errors.New("sample tables missing")
	}
	n := int(u32(stsz, 8))
	if n == 0 {
		return nil // fragmented: see readFragments
	}
	if n > 50_000_000 {
		return fmt.Errorf("stsz: %d samples", n)
	}
	fixed := u32(stsz, 4)
	if fixed == 0 && len(stsz) < 12+4*n {
		return errors.New("stsz truncated")
	}
	s := make([]sample, n)
	for i := range s {
		s[i].size = fixed
		if fixed == 0 {
			s[i].size = u32(stsz, 12+4*i)
		}
	}
	chunks, err := chunkOffsets(t)
	if err != nil {
		return err
	}
	if err := placeSamples(s, stsc, chunks); err != nil {
		return err
	}
	if err := sampleTimes(s, stts, t["ctts"]); err != nil {
		return err
	}
	if stss := t["stss"]; len(stss) >= 8 {
		m := int(u32(stss, 4))
		for i := 0; i < m && 8+4*i+4 <= len(stss); i++ {
			if k := int(u32(stss, 8+4*i)) - 1; k >= 0 && k < n {
				s[k].sync = true
			}
		}
	} else {
		for i := range s {
			s[i].sync = true
		}
	}
	tr.samples = s
	return nil
}

func chunkOffsets(t map[string][]byte) ([]int64, error) {
	if b := t["stco"]; len(b) >= 8 {
		n := int(u32(b, 4))
		if len(b) < 8+4*n {
			return nil, errors.New("stco truncated")
		}
		out := make([]int64, n)
		for i := range out {
			out[i] = int64(u32(b, 8+4*i))
		}
		return out, nil
	}
	if b := t["co64"]; len(b) >= 8 {
		n := int(u32(b, 4))
		if len(b) < 8+8*n {
			return nil, errors.New("co64 truncated")
		}
		out := make([]int64, n)
		for i := range out {
			out[i] = int64(binary.BigEndian.Uint64(b[8+8*i:]))
		}
		return out, nil
	}
	return nil, errors.New("no chunk offsets")
}

func placeSamples(s []sample, stsc []byte, chunks []int64) error {
	entries := int(u32(stsc, 4))
	if len(stsc) < 8+12*entries || entries == 0 {
		return errors.New("stsc truncated")
	}
	k := 0
	for e := 0; e < entries; e++ {
		first := int(u32(stsc, 8+12*e)) - 1
		per := int(u32(stsc, 8+12*e+4))
		last := len(chunks)
		if e+1 < entries {
			last = int(u32(stsc, 8+12*(e+1))) - 1
		}
		if first < 0 || last > len(chunks) || per <= 0 {
			return errors.New("stsc out of range")
		}
		for c := first; c < last; c++ {
			off := chunks[c]
			for j := 0; j < per && k < len(s); j++ {
				s[k].offset = off
				off += int64(s[k].size)
				k++
			}
		}
	}
	if k != len(s) {
		return fmt.Errorf("stsc places %d of %d samples", k, len(s))
	}
	return nil
}

func sampleTimes(s []sample, stts, ctts []byte) error {
	entries := int(u32(stts, 4))
	if len(stts) < 8+8*entries {
		return errors.New("stts truncated")
	}
	k, dts := 0, int64(0)
	for e := 0; e < entries && k < len(s); e++ {
		count, delta := int(u32(stts, 8+8*e)), int64(u32(stts, 8+8*e+4))
		for j := 0; j < count && k < len(s); j++ {
			s[k].dts, s[k].cts = dts, dts
			dts += delta
			k++
		}
	}
	if k != len(s) {
		return fmt.Errorf("stts times %d of %d samples", k, len(s))
	}
	if len(ctts) < 8 {
		return nil
	}
	entries = int(u32(ctts, 4))
	if len(ctts) < 8+8*entries {
		return errors.New("ctts truncated")
	}
	k = 0
	for e := 0; e < entries && k < len(s); e++ {
		count := int(u32(ctts, 8+8*e))
		// Signed in version 1, and in practice in version 0 too.
		off := int64(int32(u32(ctts, 8+8*e+4)))
		for j := 0; j < count && k < len(s); j++ {
			s[k].cts = s[k].dts + off
			k++
		}
	}
	return nil
}

// Bits of the ISO BMFF sample flags and fragment box flags used here.
const (
	flagNonSync         = 0x10000
	tfhdBaseOffset      = 0x1
	tfhdDescIndex       = 0x2
	tfhdDuration        = 0x8
	tfhdSize            = 0x10
	tfhdFlags           = 0x20
	trunDataOffset      = 0x1
	trunFirstFlags      = 0x4
	trunSampleDuration  = 0x100
	trunSampleSize      = 0x200
	trunSampleFlags     = 0x400
	trunSampleCTSOffset = 0x800
)

type fragDefaults struct{ duration, size, flags uint32 }

// readFragments appends the samples of every moof's traf for this track.
func (tr *avcTrack) readFragments(r io.ReaderAt, moov box, top []box) error {
	def := fragDefaults{}
	if mvex, ok := child(r, moov, "mvex"); ok {
		bs, _ := readBoxes(r, mvex.start, mvex.end)
		for _, b := range bs {
			if b.typ != "trex" {
				continue
			}
			t, err := payload(r, b)
			if err == nil && len(t) >= 24 && u32(t, 4) == tr.id {
				def = fragDefaults{duration: u32(t, 12), size: u32(t, 16), flags: u32(t, 20)}
			}
		}
	}
	var dts int64
	for _, moof := range top {
		if moof.typ != "moof" {
			continue
		}
		trafs, err := readBoxes(r, moof.start, moof.end)
		if err != nil {
			return err
		}
		for _, traf := range trafs {
			if traf.typ != "traf" {
				continue
			}
			if err := tr.readTraf(r, moof.pos, traf, def, &dts); err != nil {
				return err
			}
		}
	}
	return nil
}

func (tr *avcTrack) readTraf(r io.ReaderAt, moofStart int64, traf box, def fragDefaults, dts *int64) error {
	bs, err := readBoxes(r, traf.start, traf.end)
	if err != nil {
		return err
	}
	base := moofStart
	d := def
	for _, b := range bs {
		p, err := payload(r, b)
		if err != nil {
			return err
		}
		switch b.typ {
		case "tfhd":
			if len(p) < 8 {
				return errors.New("tfhd too short")
			}
			if u32(p, 4) != tr.id {
				return nil // another track's fragment
			}
			fl, q := u32(p, 0)&0xffffff, 8
			take := func() uint32 {
				if q+4 > len(p) {
					return 0
				}
				q += 4
				return u32(p, q-4)
			}
			if fl&tfhdBaseOffset != 0 && q+8 <= len(p) {
				base = int64(binary.BigEndian.Uint64(p[q:]))
				q += 8
			}
			if fl&tfhdDescIndex != 0 {
				take()
			}
			if fl&tfhdDuration != 0 {
				d.duration = take()
			}
			if fl&tfhdSize != 0 {
				d.size = take()
			}
			if fl&tfhdFlags != 0 {
				d.flags = take()
			}
		case "tfdt":
			if len(p) >= 8 && p[0] == 0 {
				*dts = int64(u32(p, 4))
			} else if len(p) >= 12 {
				*dts = int64(binary.BigEndian.Uint64(p[4:]))
			}
		case "trun":
			if err := tr.readTrun(p, base, d, dts); err != nil {
				return err
			}
		}
	}
	return nil
}

func (tr *avcTrack) readTrun(p []byte, base int64, d fragDefaults, dts *int64) error {
	if len(p) < 8 {
		return errors.New("trun too short")
	}
	fl, n, q := u32(p, 0)&0xffffff, int(u32(p, 4)), 8
	take := func() (uint32, error) {
		if q+4 > len(p) {
			return 0, errors.New("trun truncated")
		}
		q += 4
		return u32(p, q-4), nil
	}
	off := base
	if fl&trunDataOffset != 0 {
		v, err := take()
		if err != nil {
			return err
		}
		off = base + int64(int32(v))
	}
	first := d.flags
	hasFirst := fl&trunFirstFlags != 0
	if hasFirst {
		v, err := take()
		if err != nil {
			return err
		}
		first = v
	}
	if n > 10_000_000 {
		return fmt.Errorf("trun: %d samples", n)
	}
	for i := range n {
		s := sample{offset: off, size: d.size, dts: *dts}
		dur, flags, cto := d.duration, d.flags, int64(0)
		if i == 0 && hasFirst {
			flags = first
		}
		var err error
		if fl&trunSampleDuration != 0 {
			if dur, err = take(); err != nil {
				return err
			}
		}
		if fl&trunSampleSize != 0 {
			if s.size, err = take(); err != nil {
				return err
			}
		}
		if fl&trunSampleFlags != 0 {
			if flags, err = take(); err != nil {
				return err
			}
		}
		if fl&trunSampleCTSOffset != 0 {
			v, err := take()
			if err != nil {
				return err
			}
			cto = int64(int32(v))
		}
		s.cts = s.dts + cto
		s.sync = flags&flagNonSync == 0
		tr.samples = append(tr.samples, s)
		off += int64(s.size)
		*dts += int64(dur)
	}
	return nil
}
