package motion

import (
	"bytes"
	"os"
	"testing"
)

// fuzzSeeds are a real clip's parameter sets and first slices.
func fuzzSeeds(f *testing.F) (sps, pps []byte, slices [][]byte) {
	f.Helper()
	tr, err := readAVCTrack(footage + "faces-walking.mp4")
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range tr.params {
		switch p[0] & 0x1f {
		case 7:
			sps = p
		case 8:
			pps = p
		}
	}
	raw, err := readFileRange(footage+"faces-walking.mp4", tr.samples[:min(4, len(tr.samples))])
	if err != nil {
		f.Fatal(err)
	}
	return sps, pps, raw
}

func readFileRange(path string, ss []sample) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out [][]byte
	for _, s := range ss {
		b := make([]byte, s.size)
		if _, err := f.ReadAt(b, s.offset); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// The prefilter reads parameter sets and slice headers from the camera's
// bitstream, bit by bit. Whatever the bytes, it never panics, and a QP it
// reports is one H.264 allows.
func FuzzSliceHeader(f *testing.F) {
	sps, pps, samples := fuzzSeeds(f)
	for _, s := range samples {
		// Samples are length-prefixed; the slice NAL unit follows.
		for b := s; len(b) > 4; {
			n := int(b[0])<<24 | int(b[1])<<16 | int(b[2])<<8 | int(b[3])
			if n <= 0 || n > len(b)-4 {
				break
			}
			if t := b[4] & 0x1f; t == 1 || t == 5 {
				f.Add(sps, pps, b[4:4+min(n, sliceHeaderBytes)])
			}
			b = b[4+n:]
		}
	}
	f.Fuzz(func(t *testing.T, sps, pps, slice []byte) {
		ps := newParamSets()
		if ps.add(sps) != nil || ps.add(pps) != nil {
			return
		}
		qp, err := ps.sliceQP(slice)
		if err == nil && (qp < 0 || qp > 51+6*8) {
			t.Fatalf("QP %d", qp)
		}
	})
}

// A whole access unit, as the prefilter reads it from the file: NAL
// lengths, in-band parameter sets, slices. Never a panic, never more slice
// bytes than the unit holds.
func FuzzFrameCost(f *testing.F) {
	sps, pps, samples := fuzzSeeds(f)
	for _, s := range samples {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, unit []byte) {
		ps := newParamSets()
		ps.add(sps)
		ps.add(pps)
		buf := make([]byte, 4+sliceHeaderBytes)
		c, err := readFrameCost(bytes.NewReader(unit), 0, uint32(len(unit)), 4, ps, buf)
		if err == nil && c.sliceBytes > len(unit) {
			t.Fatalf("%d slice bytes in a %d-byte unit", c.sliceBytes, len(unit))
		}
	})
}
