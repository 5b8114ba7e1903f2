// Package rtspdesc reads what an RTSP session description offers, for
// the recorder and the live view alike.
package rtspdesc

import (
	"strings"

	"github.com/bluenviron/gortsplib/v4/pkg/description"
)

// Codecs names every format the description offers, in order ("H264,
// MPEG-4 Audio"), or "nothing": for errors that tell an operator why a
// camera's stream cannot be used.
func Codecs(desc *description.Session) string {
	var names []string
	for _, m := range desc.Medias {
		for _, f := range m.Formats {
			names = append(names, f.Codec())
		}
	}
	if len(names) == 0 {
		return "nothing"
	}
	return strings.Join(names, ", ")
}
