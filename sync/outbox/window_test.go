package outbox_test

import (
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/sync/outbox"
)

func at(hhmm string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", "2026-03-10 "+hhmm, time.Local)
	if err != nil {
		panic(err)
	}
	return t
}

func TestParseWindow(t *testing.T) {
	good := map[string]string{"22:00-06:00": "22:00-06:00", " 9:30 - 17:00 ": "09:30-17:00", "00:00-24:00": "00:00-24:00"}
	for in, want := range good {
		w, err := outbox.ParseWindow(in)
		if err != nil || w.String() != want {
			t.Errorf("ParseWindow(%q) = %v, %v; want %s", in, w, err, want)
		}
	}
	for _, bad := range []string{"", "22:00", "22-06", "25:00-06:00", "22:60-06:00", "10:00-10:00", "24:00-01:00", "aa:bb-06:00"} {
		if w, err := outbox.ParseWindow(bad); err == nil {
			t.Errorf("ParseWindow(%q) = %v; want an error", bad, w)
		}
	}
}

func TestWindowOpen(t *testing.T) {
	night, _ := outbox.ParseWindow("22:00-06:00")
	lunch, _ := outbox.ParseWindow("12:00-13:00")
	ws := []outbox.Window{night, lunch}
	cases := map[string]bool{
		"21:59": false, "22:00": true, "23:59": true, "00:00": true, "05:59": true, "06:00": false,
		"11:59": false, "12:00": true, "12:59": true, "13:00": false,
	}
	for hhmm, want := range cases {
		if got := outbox.Open(ws, at(hhmm)); got != want {
			t.Errorf("open at %s = %v, want %v", hhmm, got, want)
		}
	}
	if !outbox.Open(nil, at("15:00")) {
		t.Errorf("no windows must mean always open")
	}
	next := map[string]string{"06:00": "12:00", "13:30": "22:00", "23:00": "23:00", "21:00": "22:00"}
	for from, want := range next {
		if got := outbox.NextOpen(ws, at(from)); !got.Equal(at(want)) {
			t.Errorf("next open after %s = %v, want %s", from, got, want)
		}
	}
	// Only a night window: from 07:00 the next opening is tonight.
	if got := outbox.NextOpen([]outbox.Window{night}, at("07:00")); !got.Equal(at("22:00")) {
		t.Errorf("next open = %v, want 22:00 the same day", got)
	}
}

func TestBackoffIsCappedAndJittered(t *testing.T) {
	b := outbox.Backoff{Base: time.Second, Max: time.Minute}
	for attempt := 1; attempt <= 20; attempt++ {
		full := min(time.Second<<min(attempt-1, 30), time.Minute)
		lo, hi := b.Delay(attempt, 0), b.Delay(attempt, 0.999999)
		if lo != full/2 || hi > full || hi < full*99/100 {
			t.Errorf("attempt %d: delays %v..%v, want %v..%v", attempt, lo, hi, full/2, full)
		}
	}
	if d := b.Delay(1000, 0.5); d > time.Minute {
		t.Errorf("attempt 1000: %v exceeds the cap", d)
	}
}
