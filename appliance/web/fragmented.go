package web

import (
	"fmt"

	gomp4 "github.com/abema/go-mp4"
)

// fillFragments builds the sample table of a fragmented MP4 (the CCTV
// recorder's fMP4 segments), whose samples are listed in moof/traf/trun
// boxes rather than in the moov.
func (c *clip) fillFragments(trackID uint32) error {
	var defaults gomp4.Trex
	trex, err := gomp4.ExtractBoxWithPayload(c.f, nil, gomp4.BoxPath{gomp4.BoxTypeMoov(), gomp4.BoxTypeMvex(), gomp4.BoxTypeTrex()})
	if err != nil {
		return fmt.Errorf("read trex: %v: %w", err, errNeedsTranscode)
	}
	for _, b := range trex {
		if t, ok := b.Payload.(*gomp4.Trex); ok && t.TrackID == trackID {
			defaults = *t
		}
	}
	boxes, err := gomp4.ExtractBoxesWithPayload(c.f, nil, []gomp4.BoxPath{
		{gomp4.BoxTypeMoof()},
		{gomp4.BoxTypeMoof(), gomp4.BoxTypeTraf(), gomp4.BoxTypeTfhd()},
		{gomp4.BoxTypeMoof(), gomp4.BoxTypeTraf(), gomp4.BoxTypeTfdt()},
		{gomp4.BoxTypeMoof(), gomp4.BoxTypeTraf(), gomp4.BoxTypeTrun()},
	})
	if err != nil {
		return fmt.Errorf("read fragments: %v: %w", err, errNeedsTranscode)
	}
	fr := fragmentReader{c: c, trackID: trackID, trex: defaults}
	for _, b := range boxes {
		fr.box(b)
	}
	if len(c.samples) == 0 {
		return fmt.Errorf("no samples in the fragments: %w", errNeedsTranscode)
	}
	return nil
}

// fragmentReader walks the boxes of a fragmented file in file order: each
// traf's tfhd comes before its tfdt and truns.
type fragmentReader struct {
	c       *clip
	trackID uint32
	trex    gomp4.Trex

	moofOffset int64
	tfhd       *gomp4.Tfhd
	dts        int64
	pos        int64 // where the next trun's data starts without an offset
}

func (fr *fragmentReader) box(b *gomp4.BoxInfoWithPayload) {
	switch p := b.Payload.(type) {
	case *gomp4.Moof:
		fr.moofOffset = int64(b.Info.Offset)
	case *gomp4.Tfhd:
		fr.tfhd = p
		fr.pos = fr.moofOffset
		if p.CheckFlag(gomp4.TfhdBaseDataOffsetPresent) {
			fr.pos = int64(p.BaseDataOffset)
		}
	case *gomp4.Tfdt:
		if fr.tfhd != nil && fr.tfhd.TrackID == fr.trackID {
			fr.dts = int64(p.GetBaseMediaDecodeTime())
		}
	case *gomp4.Trun:
		if fr.tfhd != nil && fr.tfhd.TrackID == fr.trackID {
			fr.trun(p)
		}
	}
}

func (fr *fragmentReader) trun(t *gomp4.Trun) {
	base := fr.moofOffset
	if fr.tfhd.CheckFlag(gomp4.TfhdBaseDataOffsetPresent) {
		base = int64(fr.tfhd.BaseDataOffset)
	}
	off := fr.pos
	if t.CheckFlag(0x000001) {
		off = base + int64(t.DataOffset)
	}
	for i := range int(t.SampleCount) {
		var e gomp4.TrunEntry
		if i < len(t.Entries) {
			e = t.Entries[i]
		}
		dur := pick(t.CheckFlag(0x000100), e.SampleDuration, fr.tfhd.CheckFlag(gomp4.TfhdDefaultSampleDurationPresent), fr.tfhd.DefaultSampleDuration, fr.trex.DefaultSampleDuration)
		size := pick(t.CheckFlag(0x000200), e.SampleSize, fr.tfhd.CheckFlag(gomp4.TfhdDefaultSampleSizePresent), fr.tfhd.DefaultSampleSize, fr.trex.DefaultSampleSize)
		var cts int64
		if t.CheckFlag(0x000800) {
			if t.GetVersion() == 0 {
				cts = int64(e.SampleCompositionTimeOffsetV0)
			} else {
				cts = int64(e.SampleCompositionTimeOffsetV1)
			}
		}
		fr.c.samples = append(fr.c.samples, sample{offset: off, size: size, dts: fr.dts, dur: dur, cts: cts})
		off += int64(size)
		fr.dts += int64(dur)
	}
	fr.pos = off
}

// pick takes a per-sample value, else the fragment's default, else the
// track's.
func pick(own bool, v uint32, frag bool, fv uint32, track uint32) uint32 {
	switch {
	case own:
		return v
	case frag:
		return fv
	}
	return track
}
