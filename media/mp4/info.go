package mp4

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	gomp4 "github.com/abema/go-mp4"
)

// Info is what an item's record says of an MP4 or MOV, read from its movie
// box and sample tables alone, without decoding and without reading the
// media data: ingest reads it instead of running ffprobe over the whole
// file.
type Info struct {
	Duration float64 // seconds: the video track's, else the movie header's
	Video    *VideoInfo
	// AudioCodec is ffmpeg's name for the first audio track's codec ("aac"),
	// "" when there is no audio track.
	AudioCodec string
}

// VideoInfo is the first video track, an H.264 one.
type VideoInfo struct {
	Codec         string // "h264", as ffmpeg names it
	Width, Height int
	Samples       int64   // access units, what ffprobe counts as packets
	Duration      float64 // seconds, from the samples' own durations
}

// FrameRate is the average rate of the track's samples.
func (v VideoInfo) FrameRate() float64 {
	if v.Duration <= 0 {
		return 0
	}
	return float64(v.Samples) / v.Duration
}

// ErrUnsupported says the file holds a track this reader does not name (a
// video codec other than H.264, an audio entry it cannot read): the
// caller asks ffprobe instead. The file is not thereby broken.
var ErrUnsupported = errors.New("a track this reader does not describe")

// ErrNoMovie says the file has no movie box (moov): a recording cut off
// before its index was written, or not an MP4 at all.
var ErrNoMovie = errors.New("no movie box (moov): the recording's index is missing (cut off before it was written?)")

// ReadInfo describes the MP4, MOV or fragmented MP4 in r, which is size
// bytes long. The video track's sample table is built and checked against
// the file as ReadH264Track does, so a truncated or crafted file is an
// error naming what is wrong. ErrUnsupported (wrapped) is for tracks it
// cannot describe; other errors say the file is broken.
func ReadInfo(r io.ReaderAt, size int64) (Info, error) {
	moov, ok := child(r, box{start: 0, end: size}, "moov")
	if !ok {
		return Info{}, ErrNoMovie
	}
	var info Info
	var mvhd gomp4.Mvhd
	if b, ok := child(r, moov, "mvhd"); ok && decode(r, b, &mvhd) == nil && mvhd.Timescale > 0 {
		length := uint64(mvhd.DurationV0)
		if mvhd.GetVersion() == 1 {
			length = mvhd.DurationV1
		}
		info.Duration = float64(length) / float64(mvhd.Timescale)
	}
	for _, trak := range boxes(r, moov.start, moov.end) {
		if trak.typ != "trak" {
			continue
		}
		if err := info.addTrack(r, trak); err != nil {
			return Info{}, err
		}
	}
	if info.Video != nil {
		tr, err := ReadH264Track(r, size)
		if err != nil {
			return Info{}, err
		}
		info.Video.Width, info.Video.Height = tr.Width, tr.Height
		info.Video.Samples = int64(len(tr.Samples))
		last := tr.Samples[len(tr.Samples)-1]
		info.Video.Duration = float64(last.DTS+int64(last.Duration)-tr.Samples[0].DTS) / float64(tr.Timescale)
		if info.Video.Duration > 0 {
			info.Duration = info.Video.Duration
		}
	}
	return info, nil
}

// addTrack names one track's codec. Only the first video and the first
// audio track count, as in ffprobe's summary; timed metadata (a body
// camera's GPS track) and other handlers are passed over.
func (info *Info) addTrack(r io.ReaderAt, trak box) error {
	mdia, ok := child(r, trak, "mdia")
	if !ok {
		return nil
	}
	var hdlr gomp4.Hdlr
	if h, ok := child(r, mdia, "hdlr"); !ok || decode(r, h, &hdlr) != nil {
		return nil
	}
	kind := string(hdlr.HandlerType[:])
	if (kind == "vide" && info.Video != nil) || (kind == "soun" && info.AudioCodec != "") || (kind != "vide" && kind != "soun") {
		return nil
	}
	entry, ok := firstSampleEntry(r, mdia)
	if !ok {
		return fmt.Errorf("%s track without a sample description (stsd)", kind)
	}
	if kind == "vide" {
		if entry.typ != "avc1" && entry.typ != "avc3" {
			return fmt.Errorf("%w: video in %q", ErrUnsupported, entry.typ)
		}
		info.Video = &VideoInfo{Codec: "h264"}
		return nil
	}
	codec, err := audioCodec(r, entry)
	info.AudioCodec = codec
	return err
}

func firstSampleEntry(r io.ReaderAt, mdia box) (box, bool) {
	stsd, ok := path(r, mdia, "minf", "stbl", "stsd")
	if !ok || stsd.end-stsd.start < 8 {
		return box{}, false
	}
	entries := boxes(r, stsd.start+8, stsd.end)
	if len(entries) == 0 {
		return box{}, false
	}
	return entries[0], true
}

// audioEntryFields is an audio sample entry's fixed part by its version:
// ISO's (0) and QuickTime's sound descriptions 1 and 2.
var audioEntryFields = map[uint16]int64{0: 28, 1: 44, 2: 64}

// audioCodec names an audio sample entry as ffmpeg does. Plain PCM and the
// common speech codecs are named by their entry type; mp4a by the object
// type of its esds, which may sit inside QuickTime's wave box.
func audioCodec(r io.ReaderAt, entry box) (string, error) {
	switch entry.typ {
	case "samr":
		return "amr_nb", nil
	case "sawb":
		return "amr_wb", nil
	case "Opus":
		return "opus", nil
	case "alaw":
		return "pcm_alaw", nil
	case "ulaw":
		return "pcm_mulaw", nil
	case "mp4a":
	default:
		return "", fmt.Errorf("%w: audio in %q", ErrUnsupported, entry.typ)
	}
	var v [2]byte
	if entry.end-entry.start < 10 {
		return "", fmt.Errorf("%w: short mp4a entry", ErrUnsupported)
	}
	if _, err := r.ReadAt(v[:], entry.start+8); err != nil {
		return "", fmt.Errorf("mp4a entry at %d: %w", entry.pos, err)
	}
	fixed, ok := audioEntryFields[binary.BigEndian.Uint16(v[:])]
	if !ok || entry.end-entry.start < fixed {
		return "", fmt.Errorf("%w: mp4a entry of version %d", ErrUnsupported, binary.BigEndian.Uint16(v[:]))
	}
	inner := box{typ: entry.typ, start: entry.start + fixed, end: entry.end}
	esds, ok := child(r, inner, "esds")
	if !ok {
		esds, ok = path(r, inner, "wave", "esds")
	}
	var e gomp4.Esds
	if !ok || decode(r, esds, &e) != nil {
		return "", fmt.Errorf("%w: mp4a without a readable esds", ErrUnsupported)
	}
	for _, d := range e.Descriptors {
		if d.DecoderConfigDescriptor == nil {
			continue
		}
		switch d.DecoderConfigDescriptor.ObjectTypeIndication {
		case 0x40, 0x66, 0x67, 0x68: // MPEG-4 AAC and MPEG-2 AAC's profiles
			return "aac", nil
		case 0x69, 0x6b:
			return "mp3", nil
		}
		return "", fmt.Errorf("%w: mp4a object type 0x%02x", ErrUnsupported, d.DecoderConfigDescriptor.ObjectTypeIndication)
	}
	return "", fmt.Errorf("%w: esds without a decoder configuration", ErrUnsupported)
}
