package mp4

import (
	"io"
	"time"

	gomp4 "github.com/abema/go-mp4"
)

// epoch is where MP4 and QuickTime times count from.
func epoch() time.Time { return time.Date(1904, 1, 1, 0, 0, 0, 0, time.UTC) }

// MovieTimes reads when a recording started and how long it runs from its
// movie header (moov/mvhd), as the camera's clock wrote them. It reads a
// few boxes' headers, not the media; ok is false for anything that is not
// such a file or carries no creation time.
func MovieTimes(r io.ReaderAt, size int64) (start time.Time, dur time.Duration, ok bool) {
	moov, found := child(r, box{start: 0, end: size}, "moov")
	if !found {
		return time.Time{}, 0, false
	}
	b, found := child(r, moov, "mvhd")
	var mvhd gomp4.Mvhd
	if !found || decode(r, b, &mvhd) != nil {
		return time.Time{}, 0, false
	}
	created, scale, length := uint64(mvhd.CreationTimeV0), uint64(mvhd.Timescale), uint64(mvhd.DurationV0)
	if mvhd.GetVersion() == 1 {
		created, length = mvhd.CreationTimeV1, mvhd.DurationV1
	}
	// Zero is "not set"; past 2^40 seconds is no clock a camera has.
	if created == 0 || created > 1<<40 {
		return time.Time{}, 0, false
	}
	start = epoch().Add(time.Duration(created) * time.Second)
	if scale > 0 && length/scale < 1<<31 {
		dur = time.Duration(float64(length) / float64(scale) * float64(time.Second))
	}
	return start, dur, true
}
