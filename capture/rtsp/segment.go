package rtsp

import (
	"encoding/binary"
	"fmt"
	"os"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
)

const (
	videoTrackID = 1
	audioTrackID = 2
)

// segmentFile is one fragmented MP4 file being written. Fragments go to the
// file as soon as they are complete so that a killed daemon leaves at most
// one unfinished fragment behind; fsync waits until the segment closes.
type segmentFile struct {
	f    *os.File
	path string
	seq  uint32
	buf  seekablebuffer.Buffer

	video, audio fragTrack
	written      int64
}

// fragTrack buffers one track's samples of the fragment being built.
type fragTrack struct {
	present bool
	base    uint64 // decode time of the first buffered sample, track timescale
	next    uint64 // decode time after the last buffered sample
	samples []*fmp4.Sample
}

func (t *fragTrack) add(s *fmp4.Sample, dts uint64) {
	if len(t.samples) == 0 {
		t.base = dts
	}
	t.samples = append(t.samples, s)
	t.next = dts + uint64(s.Duration)
}

// labelBoxUUID marks the top-level uuid box that carries a segment's
// identity (camera, session, start) as JSON. Players skip it; it also keeps
// two recordings of identical pictures from having identical bytes, which
// would make the vault take the second for a copy of the first.
var labelBoxUUID = [16]byte{0x38, 0x87, 0x0c, 0x62, 0xaf, 0x24, 0x42, 0xbd, 0x87, 0x00, 0x64, 0x83, 0x89, 0x4b, 0x45, 0xdc}

func createSegmentFile(path string, init *fmp4.Init, label []byte) (*segmentFile, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create segment: %w", err)
	}
	s := &segmentFile{f: f, path: path}
	s.video.present = true
	s.audio.present = len(init.Tracks) > 1
	if err := init.Marshal(&s.buf); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("encode segment header: %w", err)
	}
	s.buf.Write(binary.BigEndian.AppendUint32(nil, uint32(8+16+len(label))))
	s.buf.Write([]byte("uuid"))
	s.buf.Write(labelBoxUUID[:])
	s.buf.Write(label)
	if err := s.writeBuf(); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	return s, nil
}

func (s *segmentFile) writeBuf() error {
	n, err := s.f.Write(s.buf.Bytes())
	s.written += int64(n)
	s.buf.Reset()
	if err != nil {
		return fmt.Errorf("write %s: %w", s.path, err)
	}
	return nil
}

// flush writes the buffered samples as one moof+mdat fragment.
func (s *segmentFile) flush() error {
	if len(s.video.samples) == 0 && len(s.audio.samples) == 0 {
		return nil
	}
	s.seq++
	part := fmp4.Part{SequenceNumber: s.seq}
	if len(s.video.samples) > 0 {
		part.Tracks = append(part.Tracks, &fmp4.PartTrack{ID: videoTrackID, BaseTime: s.video.base, Samples: s.video.samples})
	}
	if len(s.audio.samples) > 0 {
		part.Tracks = append(part.Tracks, &fmp4.PartTrack{ID: audioTrackID, BaseTime: s.audio.base, Samples: s.audio.samples})
	}
	s.video.samples, s.audio.samples = nil, nil
	if err := part.Marshal(&s.buf); err != nil {
		return fmt.Errorf("encode fragment: %w", err)
	}
	return s.writeBuf()
}

// close flushes, fsyncs and closes; the file is then complete on disk.
func (s *segmentFile) close() error {
	err := s.flush()
	if err2 := s.f.Sync(); err == nil && err2 != nil {
		err = fmt.Errorf("fsync %s: %w", s.path, err2)
	}
	if err2 := s.f.Close(); err == nil && err2 != nil {
		err = fmt.Errorf("close %s: %w", s.path, err2)
	}
	return err
}

// abort closes without caring about the content; used when the segment is
// abandoned after an error and will be handled by recovery.
func (s *segmentFile) abort() {
	s.f.Close()
}
