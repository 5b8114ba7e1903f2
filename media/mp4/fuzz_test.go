package mp4_test

import (
	"bytes"
	"testing"

	"github.com/edgetriage/edgetriage/media/mp4"
)

// The reader takes whatever a docked camera or a crafted upload holds. It
// never panics, and a table it accepts keeps every sample inside the file,
// each big enough for a NAL unit, with no two sharing bytes: so the table
// is never bigger than the file can hold. Seeds (testdata/fuzz) are cuts
// of the footage as MP4, fragmented MP4 and QuickTime.
func FuzzReadH264Track(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x00\x00\x00\x08moov"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tr, err := mp4.ReadH264Track(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		var total int64
		for i, s := range tr.Samples {
			if s.Offset < 0 || s.Offset+int64(s.Size) > int64(len(data)) || int(s.Size) < tr.LengthSize+1 {
				t.Fatalf("sample %d %+v outside a %d-byte file", i, s, len(data))
			}
			total += int64(s.Size)
		}
		if total > int64(len(data)) || len(tr.Samples) > len(data)/5 {
			t.Fatalf("%d samples of %d bytes from a %d-byte file", len(tr.Samples), total, len(data))
		}
		if tr.Timescale == 0 || len(tr.SPS) == 0 || len(tr.PPS) == 0 || tr.LengthSize < 1 || tr.LengthSize > 4 {
			t.Fatalf("accepted track %+v", tr)
		}
	})
}

// The movie header reader never panics and never gives a time for a file
// too short to hold a movie header.
func FuzzMovieTimes(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x6cmoov\x00\x00\x00\x64mvhd"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, dur, ok := mp4.MovieTimes(bytes.NewReader(data), int64(len(data)))
		if ok && (len(data) < 8+8+100 || dur < 0) {
			t.Fatalf("time from %d bytes, duration %v", len(data), dur)
		}
	})
}

// What ingest records of an MP4 never panics to read, and a description
// it gives is one the file can hold: a video track's samples fit in it and
// its times are not negative.
func FuzzReadInfo(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x00\x00\x00\x08moov"))
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := mp4.ReadInfo(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		if info.Duration < 0 {
			t.Fatalf("negative duration %+v", info)
		}
		if v := info.Video; v != nil && (v.Samples <= 0 || v.Samples > int64(len(data))/5 || v.Duration < 0 || v.Width < 0 || v.Height < 0) {
			t.Fatalf("video %+v from a %d-byte file", *v, len(data))
		}
	})
}
