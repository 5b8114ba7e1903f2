package rtsp

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// Spool file names: <base>.json is written first and describes the segment,
// <base>.mp4.part is the segment being written, <base>.mp4 a closed one
// waiting for the vault.
const (
	metaExt = ".json"
	partExt = ".mp4.part"
	segExt  = ".mp4"
)

// segMeta is what the spool knows about a segment beyond its bytes.
type segMeta struct {
	Camera     string    `json:"camera"`
	URL        string    `json:"url"` // without password
	Session    int64     `json:"session"`
	Index      int       `json:"index"`
	VideoCodec string    `json:"video_codec"`
	AudioCodec string    `json:"audio_codec,omitempty"`
	ClockRate  int64     `json:"clock_rate"`
	WallStart  time.Time `json:"wall_start"`
	WallEnd    time.Time `json:"wall_end"`
	PTSStart   int64     `json:"pts_start"` // presentation time of the first keyframe, session timeline, ClockRate units
	// PTSEnd is where the next segment of the session starts, or the end of
	// the last frame.
	PTSEnd     int64     `json:"pts_end"`
	RTPStart   uint32    `json:"rtp_start"` // the camera's raw RTP timestamp of the first frame
	RTPLast    uint32    `json:"rtp_last"`  // and of the last one, in decode order
	NTPStart   time.Time `json:"ntp_start,omitzero"`
	NTPEnd     time.Time `json:"ntp_end,omitzero"`
	Frames     int       `json:"frames"`
	ClockJumps int       `json:"clock_jumps"`
	// PacketsLost counts RTP packets lost while the segment was written;
	// frames they carried are missing from it.
	PacketsLost uint64 `json:"packets_lost"`
	Closed      bool   `json:"closed"`
}

// closedSegment is a spool entry handed to the sealer.
type closedSegment struct {
	base    string
	meta    segMeta
	partial bool // writing failed; handle like a crash leftover
}

func writeMeta(base string, m segMeta) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode segment metadata: %w", err)
	}
	tmp := base + metaExt + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write segment metadata: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if err2 := f.Close(); err == nil {
		err = err2
	}
	if err == nil {
		err = os.Rename(tmp, base+metaExt)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write segment metadata %s: %w", base+metaExt, err)
	}
	return nil
}

func readMeta(base string) (segMeta, error) {
	var m segMeta
	b, err := os.ReadFile(base + metaExt)
	if err != nil {
		return m, fmt.Errorf("read segment metadata: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("read segment metadata %s: %w", base+metaExt, err)
	}
	return m, nil
}

// intake is the vault record of a segment.
func (m segMeta) intake(name string) evidence.Intake {
	labels := map[string]string{
		"camera":       m.Camera,
		"video_codec":  m.VideoCodec,
		"rtp_clock":    strconv.FormatInt(m.ClockRate, 10),
		"rtp_start":    strconv.FormatUint(uint64(m.RTPStart), 10),
		"rtp_last":     strconv.FormatUint(uint64(m.RTPLast), 10),
		"pts_start":    strconv.FormatInt(m.PTSStart, 10),
		"pts_end":      strconv.FormatInt(m.PTSEnd, 10),
		"session":      strconv.FormatInt(m.Session, 10),
		"segment":      strconv.Itoa(m.Index),
		"frames":       strconv.Itoa(m.Frames),
		"wall_start":   m.WallStart.UTC().Format(time.RFC3339Nano),
		"wall_end":     m.WallEnd.UTC().Format(time.RFC3339Nano),
		"url":          m.URL,
		"clock_source": "appliance",
	}
	if m.AudioCodec != "" {
		labels["audio_codec"] = m.AudioCodec
	}
	if !m.NTPStart.IsZero() {
		labels["camera_ntp_start"] = m.NTPStart.UTC().Format(time.RFC3339Nano)
	}
	if !m.NTPEnd.IsZero() {
		labels["camera_ntp_end"] = m.NTPEnd.UTC().Format(time.RFC3339Nano)
	}
	if m.PacketsLost > 0 {
		labels["rtp_packets_lost"] = strconv.FormatUint(m.PacketsLost, 10)
	}
	if m.ClockJumps > 0 {
		labels["clock_jumps"] = strconv.Itoa(m.ClockJumps)
	}
	return evidence.Intake{
		Actor:         evidence.Actor("camera:" + m.Camera),
		Kind:          evidence.KindVideo,
		Source:        m.Camera,
		OriginalName:  name,
		CapturedStart: m.WallStart.UTC(),
		CapturedEnd:   m.WallEnd.UTC(),
		Labels:        labels,
		Details:       map[string]string{"camera": m.Camera, "segment": name},
	}
}
