package evidence

import (
	"net/url"
	"testing"
)

// FuzzParsePullFilter: any query a central client sends either is refused
// with an error or gives a filter that survives its own encoding.
func FuzzParsePullFilter(f *testing.F) {
	for _, seed := range []string{"", "flagged=true&origin=dock&kind=video", "flagged=yes", "kind=hologram", "origin=,,dock,&kind=video,audio", "flagged=true&flagged=false"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		pf, err := ParsePullFilter(q)
		if err != nil {
			return
		}
		again, err := ParsePullFilter(pf.Query())
		if err != nil {
			t.Fatalf("filter %+v from %q does not parse from its own query %q: %v", pf, raw, pf.Query().Encode(), err)
		}
		if again.Flagged != pf.Flagged || len(again.Origins) != len(pf.Origins) || len(again.Kinds) != len(pf.Kinds) {
			t.Fatalf("filter %+v became %+v through its query", pf, again)
		}
	})
}
