// Package mp4 is the appliance's one reader of MP4, MOV and fragmented MP4
// files: where each video sample lies, how big it is, when it is decoded
// and shown, and whether it is a keyframe, plus the movie header's times.
// Motion triage's prefilter, the browser preview and the dock use it.
//
// Everything it reads is hostile until checked. Box headers are walked
// here, leniently (cameras leave junk after the last box; the walk stops
// there). Headers and codec records (hdlr, tkhd, mdhd, mvhd, trex, the
// sample entry, avcC) are decoded with github.com/abema/go-mp4; the sample
// tables and fragment boxes, fixed layouts of many entries, are decoded
// here, where go-mp4's reflection would cost seconds on a long clip and
// build trun entries that take no bytes (see tables.go, readTrun). Every
// allocation is bounded by what the file can hold: the samples of a track
// must lie inside the file without sharing bytes, so their count never
// exceeds the file's size, and never MaxSamples; a fragment's sample count
// is checked against that before it is decoded. A crafted file gets an
// error, not an unbounded allocation.
//
// mediacommon's pmp4 and fmp4 readers (the writer side of capture/rtsp)
// are not used for reading: pmp4 refuses every clip in the test footage
// (an unexpected 'free', 'sdtp' or 'btrt' box), and fmp4's fragment reader
// needs the whole file in memory and bounds a trun's samples per box only,
// so many small truns still add up without limit.
//
// The package imports nothing of the project, so every part may use it.
package mp4

import (
	"errors"
	"fmt"
	"io"
	"slices"

	gomp4 "github.com/abema/go-mp4"
)

// Sample is one sample of a track, in decode order.
type Sample struct {
	Offset    int64 // where its bytes start in the file
	DTS       int64 // decode time, in the track's timescale
	Size      uint32
	Duration  uint32 // until the next sample's decode time
	PTSOffset int32  // presentation time is DTS + PTSOffset
	Sync      bool   // the container marks it a sync sample (keyframe)
}

// PTS is when the sample is shown, in the track's timescale.
func (s Sample) PTS() int64 { return s.DTS + int64(s.PTSOffset) }

// Track is an H.264 video track as a sample table.
type Track struct {
	ID            uint32
	Timescale     uint32
	Width, Height int
	// LengthSize is how many bytes prefix each NAL unit in a sample.
	LengthSize int
	// SPS and PPS are the parameter sets of the avcC record.
	SPS, PPS [][]byte
	// Samples are in decode order, from the moov's tables or, for a
	// fragmented file, from every moof's fragments of this track.
	Samples []Sample
}

// MaxSamples bounds a track's sample table whatever the file says: two
// days of 60 fps video, 8.3 million samples, 265 MB of table. Below that,
// samples must hold a NAL unit each (its length and header) without
// sharing bytes, so a table has at most one sample per five bytes of file.
const MaxSamples = 2 * 24 * 3600 * 60

// ErrNotH264 says the file is not MP4 or holds no H.264 video track.
var ErrNotH264 = errors.New("no H.264 video track in an MP4 container")

// ReadH264Track reads the sample table of the first H.264 (avc1 or avc3)
// video track of the MP4 or fragmented MP4 in r, which is size bytes long.
func ReadH264Track(r io.ReaderAt, size int64) (*Track, error) {
	top := boxes(r, 0, size)
	for _, moov := range top {
		if moov.typ != "moov" {
			continue
		}
		for _, trak := range boxes(r, moov.start, moov.end) {
			if trak.typ != "trak" {
				continue
			}
			tr, stbl, err := readTrak(r, trak)
			if errors.Is(err, ErrNotH264) {
				continue
			}
			if err != nil {
				return nil, err
			}
			b := &budget{fileSize: size, minSample: int64(tr.LengthSize) + 1}
			if err := tr.readSampleTables(r, stbl, b); err != nil {
				return nil, err
			}
			if len(tr.Samples) == 0 {
				// A fragmented file (what RTSP recording writes): the samples
				// are described by the moof boxes after the moov.
				if err := tr.readFragments(r, moov, top, b); err != nil {
					return nil, err
				}
			}
			if len(tr.Samples) == 0 {
				return nil, errors.New("the video track has no samples")
			}
			return tr, nil
		}
	}
	return nil, ErrNotH264
}

// readTrak reads a track's identity and codec; ErrNotH264 for any track
// that is not H.264 video.
func readTrak(r io.ReaderAt, trak box) (*Track, box, error) {
	mdia, ok := child(r, trak, "mdia")
	if !ok {
		return nil, box{}, ErrNotH264
	}
	var hdlr gomp4.Hdlr
	if h, ok := child(r, mdia, "hdlr"); !ok || decode(r, h, &hdlr) != nil || string(hdlr.HandlerType[:]) != "vide" {
		return nil, box{}, ErrNotH264
	}
	stbl, ok := path(r, mdia, "minf", "stbl")
	if !ok {
		return nil, box{}, errors.New("video track without a sample table (minf/stbl)")
	}
	tr := &Track{}
	if err := tr.readSampleEntry(r, stbl); err != nil {
		return nil, box{}, err
	}
	var tkhd gomp4.Tkhd
	if b, ok := child(r, trak, "tkhd"); ok && decode(r, b, &tkhd) == nil {
		tr.ID = tkhd.TrackID
	}
	var mdhd gomp4.Mdhd
	if b, ok := child(r, mdia, "mdhd"); !ok || decode(r, b, &mdhd) != nil {
		return nil, box{}, errors.New("video track without a readable media header (mdhd)")
	}
	if tr.Timescale = mdhd.Timescale; tr.Timescale == 0 {
		return nil, box{}, errors.New("mdhd: timescale 0")
	}
	return tr, stbl, nil
}

// sampleEntryFields is the size of a visual sample entry's fixed fields,
// after which its own boxes (avcC among them) start.
const sampleEntryFields = 78

// readSampleEntry finds the avc1/avc3 entry of stsd and its avcC record.
func (tr *Track) readSampleEntry(r io.ReaderAt, stbl box) error {
	stsd, ok := child(r, stbl, "stsd")
	if !ok || stsd.end-stsd.start < 8 {
		return ErrNotH264
	}
	entries := boxes(r, stsd.start+8, stsd.end)
	if len(entries) == 0 || (entries[0].typ != "avc1" && entries[0].typ != "avc3") {
		return ErrNotH264
	}
	entry := entries[0]
	if entry.end-entry.start < sampleEntryFields {
		return fmt.Errorf("%s sample entry too short", entry.typ)
	}
	var vse gomp4.VisualSampleEntry
	vse.SetType(gomp4.BoxTypeAvc1())
	if err := decode(r, box{typ: entry.typ, pos: entry.pos, start: entry.start, end: entry.start + sampleEntryFields}, &vse); err != nil {
		return err
	}
	tr.Width, tr.Height = int(vse.Width), int(vse.Height)
	avcC, ok := child(r, box{typ: entry.typ, start: entry.start + sampleEntryFields, end: entry.end}, "avcC")
	if !ok {
		return fmt.Errorf("%s sample entry without avcC", entry.typ)
	}
	var cfg gomp4.AVCDecoderConfiguration
	cfg.SetType(gomp4.BoxTypeAvcC())
	if err := decode(r, avcC, &cfg); err != nil {
		return err
	}
	tr.LengthSize = int(cfg.LengthSizeMinusOne) + 1
	for _, ps := range cfg.SequenceParameterSets {
		tr.SPS = append(tr.SPS, slices.Clone(ps.NALUnit))
	}
	for _, ps := range cfg.PictureParameterSets {
		tr.PPS = append(tr.PPS, slices.Clone(ps.NALUnit))
	}
	if len(tr.SPS) == 0 || len(tr.PPS) == 0 {
		return errors.New("avcC without SPS and PPS")
	}
	return nil
}

// budget keeps a track's samples inside the file: each must lie within it,
// and together they cannot hold more bytes than it has, since samples never
// share bytes. That bounds the table by the file, however many samples its
// boxes claim.
type budget struct {
	fileSize  int64
	minSample int64 // a NAL unit's length prefix and header
	samples   int
	bytes     int64
}

// take admits n more samples of the given total size.
func (b *budget) take(n int, bytes int64) error {
	if n < 0 || bytes < 0 || b.samples+n > MaxSamples || b.bytes+bytes > b.fileSize {
		return fmt.Errorf("%w (%d more samples of %d bytes after %d of %d; the file has %d)",
			ErrBeyondFile, n, bytes, b.samples, b.bytes, b.fileSize)
	}
	b.samples += n
	b.bytes += bytes
	return nil
}

// place checks that one sample lies inside the file and can hold a NAL
// unit.
func (b *budget) place(i int, s Sample) error {
	if int64(s.Size) < b.minSample {
		return fmt.Errorf("sample %d of %d bytes cannot hold a NAL unit", i, s.Size)
	}
	if s.Offset < 0 || s.Offset > b.fileSize-int64(s.Size) {
		return fmt.Errorf("sample %d (%d bytes at %d) lies outside the file of %d bytes (truncated?)", i, s.Size, s.Offset, b.fileSize)
	}
	return nil
}
