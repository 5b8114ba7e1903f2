package pipeline

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
	"github.com/edgetriage/edgetriage/testkit"
)

// alarmEvents are the alarm custody events recorded for name, as
// "raised"/"cleared" in order.
func alarmEvents(t *testing.T, v *vault.Vault, name string) []string {
	t.Helper()
	var out []string
	err := v.Events(1, func(e evidence.CustodyEvent) bool {
		if e.Action == evidence.ActionAlarm && e.Details["alarm"] == name {
			out = append(out, e.Details["state"])
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func waitFor(t *testing.T, what string, within time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A station whose TSA is down keeps taking in evidence at full pace; the
// stamper raises an alarm, and once the TSA is back stamps the newest
// checkpoint and clears it.
func TestTSADownNeverStopsIntakeAndIsAlarmed(t *testing.T) {
	tsa := testkit.StartTSA(t)
	tsa.SetDown(true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	v, err := vault.Open(ctx, dir, vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	cfg := TimestampConfig{URL: tsa.URL, CACert: tsa.CACertFile, Interval: 200 * time.Millisecond, AlarmAfter: 500 * time.Millisecond}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	s, err := NewStamper(cfg, v, NewAlarmRecorder(v, log), log)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	var ingested int
	for ingested < 40 || len(s.Alarms()) == 0 {
		start := time.Now()
		if _, _, err := v.IngestReader(ctx, strings.NewReader("clip "+strconv.Itoa(ingested)), evidence.Intake{Source: "cam"}); err != nil {
			t.Fatal(err)
		}
		if _, err := v.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("an ingest with the TSA down took %s", took)
		}
		ingested++
		if ingested > 2000 {
			t.Fatal("no alarm for a TSA down over 2000 ingests")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The dashboard's list changes first; the custody event follows it.
	waitFor(t, "alarm recorded in the custody chain", 5*time.Second, func() bool { return len(alarmEvents(t, v, "tsa_unreachable")) > 0 })
	if got := alarmEvents(t, v, "tsa_unreachable"); len(got) != 1 || got[0] != "raised" {
		t.Fatalf("alarm events %v, want one raised", got)
	}
	if _, unstamped, _ := v.Unstamped(); !unstamped || tsa.Served() != 0 {
		t.Fatalf("a checkpoint was stamped by a TSA that is down (served %d)", tsa.Served())
	}

	tsa.SetDown(false)
	waitFor(t, "timestamp after the TSA came back", 15*time.Second, func() bool {
		_, unstamped, _ := v.Unstamped()
		return !unstamped
	})
	waitFor(t, "alarm cleared", 5*time.Second, func() bool { return len(alarmEvents(t, v, "tsa_unreachable")) == 2 })
	if len(s.Alarms()) != 0 {
		t.Fatalf("alarm still shown: %+v", s.Alarms())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	head, _ := v.Head()
	cp, _ := v.LogCheckpoint(0)
	stamp, ok, err := v.Timestamp(cp.Size)
	if !ok || err != nil || stamp.Note != string(cp.Signed) {
		t.Fatalf("stamp of the newest checkpoint %d (head %d): %v %v", cp.Size, head.Seq, ok, err)
	}
	v.Close()
	r := verifyWith(t, dir, tsa)
	if len(r.TrustedTimes) != 1 || r.TrustedTimes[0].Size != cp.Size || r.TrustedTimes[0].TSA != tsa.Subject {
		t.Fatalf("verify: trusted times %+v, findings %v", r.TrustedTimes, r.Findings)
	}
}

func verifyWith(t *testing.T, dir string, tsa *testkit.TSA) vault.Report {
	t.Helper()
	v, err := vault.Open(context.Background(), dir, vault.Options{VerifyOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	r, err := v.Verify(context.Background(), vault.VerifyOptions{TSARoots: tsa.Pool()})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestTimestampConfigNamesWhatIsWrong(t *testing.T) {
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(notPEM, []byte("not a certificate"), 0o600)
	for want, cfg := range map[string]TimestampConfig{
		"'timestamp.url'":         {URL: "tsa.example.org", CACert: notPEM, Interval: time.Minute, AlarmAfter: time.Hour},
		"holds no PEM":            {URL: "http://tsa.example.org", CACert: notPEM, Interval: time.Minute, AlarmAfter: time.Hour},
		"'timestamp.ca_cert'":     {URL: "http://tsa.example.org", Interval: time.Minute, AlarmAfter: time.Hour},
		"'timestamp.alarm_after'": {URL: "http://tsa.example.org", CACert: notPEM, Interval: time.Minute},
	} {
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: %v, want it to name %s", cfg, err, want)
		}
	}
	if err := DefaultCustody().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}
