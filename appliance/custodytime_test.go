package appliance

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/appliance/config"
	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/pipeline"
	"github.com/edgetriage/edgetriage/appliance/status"
	"github.com/edgetriage/edgetriage/testkit"
)

func alarmShown(alarms []status.Alarm, text string) bool {
	for _, a := range alarms {
		if strings.Contains(a.Message, text) {
			return true
		}
	}
	return false
}

// The daemon configured with a TSA that is down keeps taking in evidence,
// shows the TSA alarm on the dashboard, and stamps its checkpoints once
// the TSA answers; the clock alarm follows this machine's real clock state.
func TestDaemonStampsCheckpointsAndNeverWaitsForTheTSA(t *testing.T) {
	tsa := testkit.StartTSA(t)
	tsa.SetDown(true)
	d, _ := startDaemon(t, func(c *config.Config) {
		c.CheckpointInterval = 200 * time.Millisecond
		c.Custody.Timestamp = pipeline.TimestampConfig{URL: tsa.URL, CACert: tsa.CACertFile, Interval: 300 * time.Millisecond, AlarmAfter: time.Second}
	})
	ctx := context.Background()
	panel := healthPanel{d}
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; !alarmShown(panel.Alarms(), "checkpoints are not timestamped"); i++ {
		start := time.Now()
		if _, _, err := d.vault.IngestReader(ctx, strings.NewReader("clip "+strconv.Itoa(i)), evidence.Intake{Source: "cam"}); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("ingest with the TSA down took %s", took)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no TSA alarm on the dashboard: %+v", panel.Alarms())
		}
		time.Sleep(50 * time.Millisecond)
	}

	tsa.SetDown(false)
	for alarmShown(panel.Alarms(), "checkpoints are not timestamped") || tsa.Served() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the TSA is back but: served %d, alarms %+v", tsa.Served(), panel.Alarms())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cp, err := d.vault.LogCheckpoint(0)
	if err != nil {
		t.Fatal(err)
	}
	var stamped bool
	for size := cp.Size; size > 0 && !stamped; size-- {
		_, stamped, _ = d.vault.Timestamp(size)
	}
	if !stamped {
		t.Fatal("the TSA served a token but no checkpoint is stamped")
	}

	sync, err := pipeline.NewSystemClock().Sync()
	if err != nil {
		t.Fatal(err)
	}
	if got := alarmShown(panel.Alarms(), "system clock is not synchronised"); got == sync.Synchronised {
		t.Fatalf("clock alarm shown %v, but the kernel says synchronised %v", got, sync.Synchronised)
	}
}
