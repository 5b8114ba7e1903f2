package motion

import (
	"errors"
	"os"

	"github.com/edgetriage/edgetriage/media/mp4"
)

// The prefilter needs only where each H.264 access unit lies, how big it
// is, its timestamps and whether it is a keyframe: media/mp4 reads that
// from the sample tables, accepting the sloppy files cameras write and
// refusing tables that describe more than the file holds.

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
	t, err := mp4.ReadH264Track(f, fi.Size())
	if err != nil {
		return nil, err
	}
	if len(t.Samples) == 0 {
		return nil, errors.New("video track has no samples")
	}
	tr := &avcTrack{id: t.ID, timescale: t.Timescale, width: t.Width, height: t.Height, lengthSize: t.LengthSize,
		params: append(append([][]byte{}, t.SPS...), t.PPS...), samples: make([]sample, len(t.Samples))}
	for i, s := range t.Samples {
		tr.samples[i] = sample{offset: s.Offset, size: s.Size, dts: s.DTS, cts: s.PTS(), sync: s.Sync}
	}
	return tr, nil
}
