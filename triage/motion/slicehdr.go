package motion

import (
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/bluenviron/mediacommon/v2/pkg/bits"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
)

// A frame's size in the sample table is not what the encoder spent on the
// picture: it includes filler data (a CBR encoder pads quiet frames to its
// bit rate, so every frame weighs the same), SEI messages and repeated
// parameter sets. And rate control hides content in the quantiser: a CBR
// encoder spends the same bits on a busy frame as on a still one, at a
// coarser QP. So the prefilter reads, for every predicted frame, the bytes
// of its slice NAL units and the QP of its slice header (entropy-decoding
// the header's Exp-Golomb fields up to slice_qp_delta, nothing of the
// slice data), and weighs the bytes by 2^((QP-26)/6): six QP steps halve
// the bits a given content costs, so the weighed bytes follow what is in
// the picture whatever rate control did.

// frameCost is what the encoder spent on one access unit's picture.
type frameCost struct {
	sliceBytes int
	qp         int // of the first slice; 0 when unknown
}

// weighed is the frame's bytes at QP 26.
func (c frameCost) weighed() float64 {
	if c.qp == 0 {
		return float64(c.sliceBytes)
	}
	return float64(c.sliceBytes) * math.Exp2(float64(c.qp-26)/6)
}

// paramSets holds the SPS and PPS a stream's slice headers refer to.
type paramSets struct {
	sps map[uint32]*h264.SPS
	pps map[uint32]*picParams
}

// picParams is the part of a PPS that slice headers up to slice_qp_delta depend on.
type picParams struct {
	spsID                      uint32
	cabac                      bool
	bottomFieldPicOrderInFrame bool
	numRefIdxL0, numRefIdxL1   uint32
	weightedPred               bool
	weightedBipredIdc          uint64
	picInitQP                  int
	redundantPicCntPresent     bool
}

func newParamSets() *paramSets {
	return &paramSets{sps: map[uint32]*h264.SPS{}, pps: map[uint32]*picParams{}}
}

// add parses an SPS or PPS NAL unit; other units are ignored.
func (ps *paramSets) add(nalu []byte) error {
	if len(nalu) == 0 {
		return nil
	}
	switch h264.NALUType(nalu[0] & 0x1f) {
	case h264.NALUTypeSPS:
		var s h264.SPS
		if err := s.Unmarshal(nalu); err != nil {
			return fmt.Errorf("SPS: %w", err)
		}
		ps.sps[s.ID] = &s
	case h264.NALUTypePPS:
		p, id, err := parsePPS(h264.EmulationPreventionRemove(nalu[1:]))
		if err != nil {
			return fmt.Errorf("PPS: %w", err)
		}
		ps.pps[id] = p
	}
	return nil
}

func parsePPS(b []byte) (*picParams, uint32, error) {
	r := headerReader{b: b}
	var p picParams
	id := r.ue()
	p.spsID = r.ue()
	p.cabac = r.flag()
	p.bottomFieldPicOrderInFrame = r.flag()
	if groups := r.ue(); groups > 0 {
		return nil, 0, errors.New("slice groups (FMO) are not supported")
	}
	p.numRefIdxL0, p.numRefIdxL1 = r.ue()+1, r.ue()+1
	p.weightedPred = r.flag()
	p.weightedBipredIdc = r.u(2)
	p.picInitQP = 26 + int(r.se())
	r.se() // pic_init_qs_minus26
	r.se() // chroma_qp_index_offset
	r.flag()
	r.flag()
	p.redundantPicCntPresent = r.flag()
	if r.err != nil {
		return nil, 0, r.err
	}
	return &p, id, nil
}

// sliceQP parses a slice NAL unit's header (its first bytes are enough)
// up to slice_qp_delta and returns the slice's QP.
func (ps *paramSets) sliceQP(nalu []byte) (int, error) {
	if len(nalu) < 2 {
		return 0, errors.New("empty slice")
	}
	h := headerReader{b: h264.EmulationPreventionRemove(nalu[1:])}
	idr := nalu[0]&0x1f == byte(h264.NALUTypeIDR)
	refIdc := nalu[0] >> 5
	h.ue() // first_mb_in_slice
	sliceType := h.ue() % 5
	pps, ok := ps.pps[h.ue()]
	if !ok {
		return 0, errors.New("slice refers to an unknown PPS")
	}
	sps, ok := ps.sps[pps.spsID]
	if !ok {
		return 0, errors.New("PPS refers to an unknown SPS")
	}
	p, b, sp := sliceType == 0, sliceType == 1, sliceType == 3
	if sps.SeparateColourPlaneFlag {
		h.u(2)
	}
	h.u(int(sps.Log2MaxFrameNumMinus4) + 4)
	field := false
	if !sps.FrameMbsOnlyFlag {
		if field = h.flag(); field {
			h.flag()
		}
	}
	if idr {
		h.ue()
	}
	switch sps.PicOrderCntType {
	case 0:
		h.u(int(sps.Log2MaxPicOrderCntLsbMinus4) + 4)
		if pps.bottomFieldPicOrderInFrame && !field {
			h.se()
		}
	case 1:
		if !sps.DeltaPicOrderAlwaysZeroFlag {
			h.se()
			if pps.bottomFieldPicOrderInFrame && !field {
				h.se()
			}
		}
	}
	if pps.redundantPicCntPresent {
		h.ue()
	}
	if b {
		h.flag() // direct_spatial_mv_pred_flag
	}
	l0, l1 := pps.numRefIdxL0, pps.numRefIdxL1
	if (p || sp || b) && h.flag() {
		l0 = h.ue() + 1
		if b {
			l1 = h.ue() + 1
		}
	}
	if sliceType != 2 && sliceType != 4 {
		h.refPicListModification()
		if b {
			h.refPicListModification()
		}
	}
	if pps.weightedPred && (p || sp) || pps.weightedBipredIdc == 1 && b {
		chroma := !sps.SeparateColourPlaneFlag && chromaFormat(sps) != 0
		h.predWeightTable(l0, chroma)
		if b {
			h.predWeightTable(l1, chroma)
		}
	}
	if refIdc != 0 {
		h.decRefPicMarking(idr)
	}
	if pps.cabac && sliceType != 2 && sliceType != 4 {
		h.ue() // cabac_init_idc
	}
	qp := pps.picInitQP + int(h.se())
	if h.err != nil {
		return 0, fmt.Errorf("slice header: %w", h.err)
	}
	if qp < 0 || qp > 51+6*int(sps.BitDepthLumaMinus8) {
		return 0, fmt.Errorf("slice header: QP %d out of range", qp)
	}
	return qp, nil
}

// chromaFormat is chroma_format_idc, which the SPS carries only for the
// High profiles; the others are 4:2:0.
func chromaFormat(sps *h264.SPS) uint32 {
	switch sps.ProfileIdc {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		return sps.ChromaFormatIdc
	}
	return 1
}

// headerReader reads the Exp-Golomb and fixed-width fields of a parameter
// set or slice header, keeping the first error so a header is parsed
// straight through and checked once.
type headerReader struct {
	b   []byte
	pos int
	err error
}

func (r *headerReader) ue() uint32 {
	if r.err != nil {
		return 0
	}
	v, err := bits.ReadGolombUnsigned(r.b, &r.pos)
	r.err = err
	return v
}

func (r *headerReader) se() int32 {
	if r.err != nil {
		return 0
	}
	v, err := bits.ReadGolombSigned(r.b, &r.pos)
	r.err = err
	return v
}

func (r *headerReader) u(n int) uint64 {
	if r.err != nil {
		return 0
	}
	v, err := bits.ReadBits(r.b, &r.pos, n)
	r.err = err
	return v
}

func (r *headerReader) flag() bool { return r.u(1) == 1 }

func (r *headerReader) refPicListModification() {
	if !r.flag() {
		return
	}
	for range 128 {
		switch r.ue() {
		case 0, 1, 2:
			r.ue()
		case 3:
			return
		default:
			r.fail("bad modification_of_pic_nums_idc")
			return
		}
		if r.err != nil {
			return
		}
	}
	r.fail("ref_pic_list_modification does not end")
}

func (r *headerReader) predWeightTable(refs uint32, chroma bool) {
	if r.err == nil && refs > 32 {
		r.fail("more than 32 reference pictures")
		return
	}
	r.ue() // luma_log2_weight_denom
	if chroma {
		r.ue()
	}
	for range refs {
		if r.flag() {
			r.se()
			r.se()
		}
		if chroma && r.flag() {
			for range 4 {
				r.se()
			}
		}
	}
}

func (r *headerReader) decRefPicMarking(idr bool) {
	if idr {
		r.flag()
		r.flag()
		return
	}
	if !r.flag() {
		return
	}
	for range 64 {
		op := r.ue()
		switch op {
		case 0:
			return
		case 1, 2, 4, 6:
			r.ue()
		case 3:
			r.ue()
			r.ue()
		case 5:
		default:
			r.fail("bad memory_management_control_operation")
		}
		if r.err != nil {
			return
		}
	}
	r.fail("dec_ref_pic_marking does not end")
}

func (r *headerReader) fail(msg string) {
	if r.err == nil {
		r.err = errors.New(msg)
	}
}

// sliceHeaderBytes is how much of a slice NAL unit is read to find its
// QP: a header with a long weight table or many reference list changes
// can run to a few hundred bytes.
const sliceHeaderBytes = 512

// readFrameCost walks the NAL units of the access unit at [off, off+size)
// of r (length-prefixed, lengthSize bytes), reading only each unit's
// first bytes into buf (lengthSize+sliceHeaderBytes long): the slices'
// bytes and the first slice's QP. Parameter sets found in band are added
// to ps.
func readFrameCost(r io.ReaderAt, off int64, size uint32, lengthSize int, ps *paramSets, buf []byte) (frameCost, error) {
	var c frameCost
	end := off + int64(size)
	for pos := off; pos < end; {
		n := min(int64(len(buf)), end-pos)
		if _, err := r.ReadAt(buf[:n], pos); err != nil {
			return c, fmt.Errorf("NAL unit at %d: %w", pos, err)
		}
		if n < int64(lengthSize)+1 {
			return c, fmt.Errorf("NAL unit at %d: truncated", pos)
		}
		l := int64(0)
		for _, x := range buf[:lengthSize] {
			l = l<<8 | int64(x)
		}
		body := pos + int64(lengthSize)
		if l == 0 || body+l > end {
			return c, fmt.Errorf("NAL unit at %d: %d bytes overrun the sample", pos, l)
		}
		head := buf[lengthSize:min(n, int64(lengthSize)+l)]
		switch typ := h264.NALUType(head[0] & 0x1f); typ {
		case h264.NALUTypeNonIDR, h264.NALUTypeIDR:
			if c.sliceBytes == 0 {
				qp, err := ps.sliceQP(head)
				if err != nil {
					return c, err
				}
				c.qp = qp
			}
			c.sliceBytes += int(l)
		case h264.NALUTypeSPS, h264.NALUTypePPS:
			if int64(len(head)) < l {
				full := make([]byte, l)
				if _, err := r.ReadAt(full, body); err != nil {
					return c, fmt.Errorf("parameter set at %d: %w", pos, err)
				}
				head = full
			}
			if err := ps.add(head); err != nil {
				return c, err
			}
		case h264.NALUTypeDataPartitionA, h264.NALUTypeDataPartitionB, h264.NALUTypeDataPartitionC:
			return c, errors.New("data partitioning is not supported")
		}
		pos = body + l
	}
	return c, nil
}
