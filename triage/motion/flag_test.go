package motion

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

func TestFlagRules(t *testing.T) {
	var rules FlagRules
	err := json.Unmarshal([]byte(`{"zones":["door"],"longer_than":"30s","sources":["bwv-*"],
		"labels":{"category":["assault"]}}`), &rules)
	if err != nil {
		t.Fatal(err)
	}
	if err := rules.Validate(); err != nil {
		t.Fatal(err)
	}
	cctv := evidence.Item{Kind: evidence.KindVideo, Source: "cam-yard"}
	short := []Event{{Start: 1, End: 5, Zones: []string{"yard"}}}
	cases := []struct {
		name   string
		item   evidence.Item
		events []Event
		reason string // "" means not flagged
	}{
		{"quiet cctv", cctv, nil, ""},
		{"event elsewhere", cctv, short, ""},
		{"event in zone", cctv, []Event{{Start: 2, End: 4, Zones: []string{"door"}}}, `touches zone "door"`},
		{"long event", cctv, []Event{{Start: 0, End: 31}}, "longer than 30s"},
		{"body-worn", evidence.Item{Kind: evidence.KindVideo, Source: "bwv-0042"}, nil, `source "bwv-0042" matches "bwv-*"`},
		{"staff category", evidence.Item{Source: "cam-yard", Labels: map[string]string{"category": "assault"}}, nil, `category is "assault"`},
		{"other category", evidence.Item{Source: "cam-yard", Labels: map[string]string{"category": "lost-property"}}, nil, ""},
	}
	for _, c := range cases {
		d := rules.Decide(c.item, c.events)
		if d.Flag != (c.reason != "") || !strings.Contains(d.Reason(), c.reason) {
			t.Errorf("%s: got %+v, want reason containing %q", c.name, d, c.reason)
		}
		if d.Flag && d.Details()["reason"] == "" {
			t.Errorf("%s: flagged without a recorded reason", c.name)
		}
	}
	all := FlagRules{Kinds: []evidence.Kind{evidence.KindVideo}, Zones: []string{"*"}}
	if d := all.Decide(cctv, short); len(d.Reasons) != 2 || len(d.Names) != 2 || d.Names[0] != "kind video" || !strings.HasPrefix(d.Names[1], "zone ") {
		t.Errorf("two matching rules should give two reasons and two names: %+v", d)
	}
	if err := (FlagRules{Sources: []string{"bwv-["}}).Validate(); err == nil || !strings.Contains(err.Error(), "sources[0]") {
		t.Errorf("bad pattern: %v", err)
	}
}
