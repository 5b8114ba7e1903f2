package evidence

import (
	"encoding/json"
	"time"
)

// Kind says what an item is, so the appliance knows which work applies to it.
type Kind string

// Item kinds.
const (
	KindVideo        Kind = "video"
	KindAudio        Kind = "audio"
	KindImage        Kind = "image"
	KindSidecar      Kind = "sidecar"       // GPS track, bookmarks, camera metadata kept with a video
	KindRedactionLog Kind = "redaction-log" // every box of a redacted copy, hashed with it
	KindFirmware     Kind = "firmware"
	KindOther        Kind = "other"
)

// State is where an item is in its life on this appliance.
type State string

// Item states. A removed item keeps its record and custody events: only the
// local copy of its bytes is gone, for a reason recorded in the chain.
const (
	StateStored  State = "stored"
	StateRemoved State = "removed"
)

// Problem codes mark evidence that is kept although it is not whole or not
// readable; broken footage is still evidence.
const (
	ProblemUndecodable   = "undecodable"       // the decoder refused it; Detail holds its error
	ProblemChangedOnRead = "changed-on-read"   // the source grew or changed while it was read
	ProblemInterrupted   = "interrupted"       // recording stopped before the segment was closed
	ProblemEmpty         = "empty"             // zero bytes
	ProblemUnreadable    = "source-unreadable" // reading the source failed part way
)

// Labels the appliance's parts agree on. Each change of one is a record
// change, so it is in the custody chain.
const (
	LabelCategory   = "category" // set by staff: decides local retention
	LabelFlagged    = "flagged"  // why triage or staff flagged the item
	LabelFlagPrefix = "flag."    // "flag.<name>": one per flag rule that matched, its reason as value
	// Deprecated: no longer written; the outbox alone keeps sync state.
	LabelSynced     = "synced"
	LabelCentralAck = "central_ack" // central client and time it acknowledged the item
	LabelNeverSync  = "never_sync"  // policy: stays local only; expires by category
)

// Problem is one thing wrong with an item, kept with it.
type Problem struct {
	Code   string `json:"code"`
	Detail string `json:"detail,omitempty"`
}

// Media is what probing found in an item's bytes.
type Media struct {
	Container  string  `json:"container,omitempty"`
	VideoCodec string  `json:"video_codec,omitempty"`
	AudioCodec string  `json:"audio_codec,omitempty"`
	Width      int     `json:"width,omitempty"`
	Height     int     `json:"height,omitempty"`
	Duration   float64 `json:"duration_s,omitempty"`
	FrameRate  float64 `json:"frame_rate,omitempty"`
	Frames     int64   `json:"frames,omitempty"`
	// Error is the decoder's own message when the bytes could not be read as
	// media; the item is kept regardless.
	Error string `json:"error,omitempty"`
}

// Item is the index record of one piece of evidence. Its bytes live in the
// vault under Digest and never change; the record changes only through
// custody events that carry the hash of the new record.
type Item struct {
	Digest Digest `json:"digest"`
	Size   int64  `json:"size"`
	Kind   Kind   `json:"kind"`
	State  State  `json:"state"`

	// Source names where the item came from: a dock bay's camera serial, an
	// RTSP camera id, "cli", or "derived" for redactions and thumbnails.
	Source       string `json:"source"`
	Officer      string `json:"officer,omitempty"`
	OriginalName string `json:"original_name,omitempty"`

	// CapturedStart/End are the recording's own times (camera clock);
	// IngestedAt is the appliance clock. Both are kept because a camera clock
	// can be years off.
	CapturedStart time.Time `json:"captured_start,omitzero"`
	CapturedEnd   time.Time `json:"captured_end,omitzero"`
	IngestedAt    time.Time `json:"ingested_at"`

	// Parent links a derivative (redacted copy, thumbnail, sidecar) to the
	// item it was made from or belongs to; Relation says how.
	Parent   Digest `json:"parent,omitzero"`
	Relation string `json:"relation,omitempty"`

	Media    Media             `json:"media,omitzero"`
	Problems []Problem         `json:"problems,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	Hold     bool              `json:"hold,omitempty"`

	// Raw keeps, hex encoded, the bytes of any field above that arrived as
	// something other than UTF-8 (a camera's file name, say), keyed by the
	// field's JSON name; the field itself holds the text with U+FFFD in
	// place of each bad byte. See Sanitized.
	Raw map[string]string `json:"raw_hex,omitempty"`
}

// HasProblem reports whether the item carries the given problem code.
func (it Item) HasProblem(code string) bool {
	for _, p := range it.Problems {
		if p.Code == code {
			return true
		}
	}
	return false
}

// RecordHash is the hash of the record's canonical JSON. Every custody event
// that creates or changes a record carries it, so an edit of the index that
// bypasses the chain is found by verify.
func (it Item) RecordHash() Digest {
	b, err := json.Marshal(it)
	if err != nil {
		panic("evidence: item record cannot be encoded: " + err.Error())
	}
	return DigestBytes(b)
}
