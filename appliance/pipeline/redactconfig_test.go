package pipeline

import (
	"testing"

	"github.com/edgetriage/edgetriage/triage/redact"
)

// The daemon's default redaction (fast) is the redactor's own defaults,
// which the CLI uses too, so neither is slower than the other; fast: false
// picks the Thorough profile. Per-source people and muting apply to both.
func TestRedactionProfiles(t *testing.T) {
	def := DefaultRedaction()
	def.MuteAudio = true
	def.Sources = map[string]RedactionSource{"cam-yard": {People: redact.PeopleWhole}}
	want := redact.Config{People: redact.PeopleWhole, MuteAudio: true}
	if got := def.Redactor("cam-yard"); got != want {
		t.Errorf("fast (default) for cam-yard: %+v, want %+v", got, want)
	}
	slow := def
	slow.Fast = false
	want = redact.Thorough()
	want.People, want.MuteAudio = redact.PeopleHeads, true
	if got := slow.Redactor("dock"); got != want {
		t.Errorf("fast: false for dock: %+v, want %+v", got, want)
	}
}
