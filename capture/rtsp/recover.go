package rtsp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// salvage describes what could be kept of a segment whose writing stopped
// before it was closed.
type salvage struct {
	keep      int64 // bytes of complete boxes; the rest is an unfinished fragment
	total     int64
	fragments int
	frames    int
	duration  time.Duration // of the video track
	err       error         // why nothing playable is left, if so
}

// salvagePartial finds the longest prefix of an fMP4 file that is made of
// whole boxes: header, then complete moof+mdat pairs. Recording writes whole
// fragments with single writes, so a SIGKILL can cut only the last one.
func salvagePartial(data []byte) salvage {
	s := salvage{total: int64(len(data))}
	var off, headerEnd, pairEnd, firstFrag int64
	var sawMoov, inPair bool
	for off+8 <= int64(len(data)) {
		size := int64(binary.BigEndian.Uint32(data[off:]))
		typ := string(data[off+4 : off+8])
		if size == 1 && off+16 <= int64(len(data)) {
			size = int64(binary.BigEndian.Uint64(data[off+8:]))
		}
		if size < 8 || off+size > int64(len(data)) {
			break
		}
		switch typ {
		case "moov":
			sawMoov, headerEnd, pairEnd = true, off+size, off+size
		case "moof":
			inPair = true
			if firstFrag == 0 {
				firstFrag = off
			}
		case "mdat":
			if inPair {
				pairEnd, inPair = off+size, false
				s.fragments++
			}
		}
		off += size
	}
	if !sawMoov {
		s.err = errors.New("the segment header was never completely written")
		return s
	}
	s.keep = pairEnd
	var init fmp4.Init
	if err := init.Unmarshal(bytes.NewReader(data[:headerEnd])); err != nil {
		s.err = fmt.Errorf("segment header unreadable: %w", err)
		return s
	}
	if s.fragments == 0 {
		s.err = errors.New("no complete fragment was written")
		return s
	}
	var parts fmp4.Parts
	if err := parts.Unmarshal(data[firstFrag:pairEnd]); err != nil {
		s.err = fmt.Errorf("fragments unreadable: %w", err)
		return s
	}
	s.frames, s.duration = videoExtent(init, parts)
	return s
}

// videoExtent counts the video frames and measures their presentation span,
// which is what the segment's wall-clock start and end describe.
func videoExtent(init fmp4.Init, parts fmp4.Parts) (int, time.Duration) {
	var scale uint32 = 90000
	for _, t := range init.Tracks {
		if t.ID == videoTrackID {
			scale = t.TimeScale
		}
	}
	frames := 0
	first, end := int64(math.MaxInt64), int64(0)
	for _, p := range parts {
		for _, t := range p.Tracks {
			if t.ID != videoTrackID {
				continue
			}
			dts := int64(t.BaseTime)
			for _, smp := range t.Samples {
				pts := dts + int64(smp.PTSOffset)
				first = min(first, pts)
				end = max(end, pts+int64(smp.Duration))
				dts += int64(smp.Duration)
				frames++
			}
		}
	}
	if frames == 0 {
		return 0, 0
	}
	return frames, time.Duration(float64(end-first) / float64(scale) * float64(time.Second))
}

// salvageSpool turns an interrupted spool entry into something to seal: the
// playable prefix when there is one, the bytes as they are otherwise. Either
// way the intake carries the interrupted mark and says what was done.
func salvageSpool(base string, file string, meta segMeta, haveMeta bool) (evidence.Intake, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return evidence.Intake{}, fmt.Errorf("read interrupted segment: %w", err)
	}
	s := salvagePartial(data)
	var detail string
	if s.err == nil {
		if s.keep < s.total {
			if err := os.Truncate(file, s.keep); err != nil {
				return evidence.Intake{}, fmt.Errorf("cut unfinished fragment off %s: %w", file, err)
			}
		}
		detail = fmt.Sprintf("recording stopped before the segment was closed; kept %d complete fragments (%d frames, %.3fs), removed %d bytes of an unfinished fragment",
			s.fragments, s.frames, s.duration.Seconds(), s.total-s.keep)
	} else {
		detail = fmt.Sprintf("recording stopped before the segment was closed; sealed as found (%d bytes): %v", s.total, s.err)
	}
	if !haveMeta {
		meta.Camera = cameraFromSpool(base)
	}
	in := meta.intake(segName(base))
	if s.err == nil && haveMeta {
		in.CapturedEnd = meta.WallStart.Add(s.duration).UTC()
		in.Labels["wall_end"] = in.CapturedEnd.Format(time.RFC3339Nano)
		in.Labels["frames"] = fmt.Sprint(s.frames)
	}
	if !haveMeta {
		in.CapturedStart, in.CapturedEnd = time.Time{}, time.Time{}
	}
	in.Problems = append(in.Problems, evidence.Problem{Code: evidence.ProblemInterrupted, Detail: detail})
	in.Details["recovered"] = "interrupted"
	return in, nil
}
