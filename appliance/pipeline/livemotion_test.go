package pipeline

import (
	"context"
	"log/slog"
	"testing"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
	"github.com/edgetriage/edgetriage/triage/motion"
)

// A live camera's tamper alert lands in the custody chain under the
// camera's name, as a clip's does under triage's.
func TestLiveTamperAlertIsACustodyEvent(t *testing.T) {
	v, err := vault.Open(context.Background(), t.TempDir(), vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	TamperRecorder(v, slog.New(slog.DiscardHandler))("yard", motion.Alert{Kind: motion.AlertCovered, At: 12.5, Detail: "mean luma 3 from 20:01:02"})
	var got []evidence.CustodyEvent
	if err := v.Events(1, func(e evidence.CustodyEvent) bool {
		if e.Action == evidence.ActionTamperAlert {
			got = append(got, e)
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Actor != "camera:yard" || got[0].Details["kind"] != "covered" || got[0].Details["camera"] != "yard" {
		t.Fatalf("tamper events: %+v", got)
	}
}
