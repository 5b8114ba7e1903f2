package rtspdesc

import (
	"testing"

	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
)

func TestCodecsNamesEveryFormatInOrder(t *testing.T) {
	desc := &description.Session{Medias: []*description.Media{
		{Type: description.MediaTypeVideo, Formats: []format.Format{&format.H265{PayloadTyp: 96}}},
		{Type: description.MediaTypeAudio, Formats: []format.Format{&format.G711{PayloadTyp: 0, MULaw: true, SampleRate: 8000, ChannelCount: 1}}},
	}}
	if got := Codecs(desc); got != "H265, G711" {
		t.Errorf("Codecs = %q, want %q", got, "H265, G711")
	}
	if got := Codecs(&description.Session{}); got != "nothing" {
		t.Errorf("Codecs of an empty description = %q, want nothing", got)
	}
}
