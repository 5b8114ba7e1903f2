package evidence

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Origin is the kind of source an item came from ("dock", "rtsp", "cli",
// "derived"): what sync policy and central's pull filter are written in.
func (it Item) Origin() string {
	if c := it.Labels["origin"]; c != "" {
		return c
	}
	if !it.Parent.IsZero() {
		return "derived"
	}
	return "cli"
}

// PullFilter says which items a central client wants from the changes feed:
// flagged items, and every item from the named origins, either narrowed to
// the named kinds. The zero filter wants everything (the feed as it was).
type PullFilter struct {
	Flagged bool     `yaml:"flagged" json:"flagged"`
	Origins []string `yaml:"origins" json:"origins"`
	Kinds   []Kind   `yaml:"kinds" json:"kinds"`
}

// IsZero reports whether the filter lets every item through.
func (f PullFilter) IsZero() bool { return !f.Flagged && len(f.Origins) == 0 && len(f.Kinds) == 0 }

// Match reports whether it passes the filter.
func (f PullFilter) Match(it Item) bool {
	if len(f.Kinds) > 0 && !slices.Contains(f.Kinds, it.Kind) {
		return false
	}
	if !f.Flagged && len(f.Origins) == 0 {
		return true
	}
	return (f.Flagged && it.Labels[LabelFlagged] != "") || slices.Contains(f.Origins, it.Origin())
}

// Query is the filter as the changes feed's query parameters.
func (f PullFilter) Query() url.Values {
	q := url.Values{}
	if f.Flagged {
		q.Set("flagged", "true")
	}
	if len(f.Origins) > 0 {
		q.Set("origin", strings.Join(f.Origins, ","))
	}
	if len(f.Kinds) > 0 {
		ks := make([]string, len(f.Kinds))
		for i, k := range f.Kinds {
			ks[i] = string(k)
		}
		q.Set("kind", strings.Join(ks, ","))
	}
	return q
}

// ParsePullFilter reads a filter from the changes feed's query parameters.
func ParsePullFilter(q url.Values) (PullFilter, error) {
	var f PullFilter
	switch q.Get("flagged") {
	case "", "false":
	case "true":
		f.Flagged = true
	default:
		return f, fmt.Errorf("'flagged' must be true or false, got %q", q.Get("flagged"))
	}
	for o := range strings.SplitSeq(q.Get("origin"), ",") {
		if o != "" {
			f.Origins = append(f.Origins, o)
		}
	}
	for k := range strings.SplitSeq(q.Get("kind"), ",") {
		switch Kind(k) {
		case "":
		case KindVideo, KindAudio, KindImage, KindSidecar, KindRedactionLog, KindFirmware, KindOther:
			f.Kinds = append(f.Kinds, Kind(k))
		default:
			return f, fmt.Errorf("'kind' names an unknown kind %q", k)
		}
	}
	return f, nil
}
