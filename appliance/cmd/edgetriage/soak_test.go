package main

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/testkit"
)

// BenchmarkSoak runs the station's day as a loop on the real daemon: four
// RTSP cameras recording all along while body cameras are docked, offloaded,
// released and undocked one after another, for EDGETRIAGE_TEST_SOAK_DURATION
// (default 10m). It samples the daemon's resident memory, goroutines and
// open file descriptors, and reports them at the start (after a minute of
// warm-up) and at the end with every recording gap and logged error; none
// of them may keep growing. `make soak` runs it.
func BenchmarkSoak(b *testing.B) {
	duration := 10 * time.Minute
	if s := os.Getenv("EDGETRIAGE_TEST_SOAK_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			b.Fatalf("EDGETRIAGE_TEST_SOAK_DURATION: %v", err)
		}
		duration = d
	}
	for i := 0; i < b.N; i++ {
		soak(b, duration)
	}
}

type soakSample struct {
	at                      time.Duration
	rssMB, heapMB           float64
	goroutines, fds, events float64
	backlog                 float64
}

func soak(b *testing.B, duration time.Duration) {
	srv := testkit.StartRTSP(b)
	cameras := map[string]string{}
	for i, clip := range []string{"room-people-enter-leave.mp4", "parking-cars.mp4", "static-room.mp4", "store-aisle.mp4"} {
		path := fmt.Sprintf("cam%d", i+1)
		srv.Publish(b, path, filepath.Join(footage, clip))
		cameras[path] = srv.URL(path)
	}
	st := newStation(b, stationOptions{cameras: cameras, flagSources: []string{"SOAK-*"}})
	st.serve()
	pieces := shiftClips(b, st.dir)
	names := make([]string, 0, len(pieces))
	for name := range pieces {
		names = append(names, name)
	}

	start := time.Now()
	var samples []soakSample
	nextSample := start
	docks := 0
	for time.Since(start) < duration {
		if time.Now().After(nextSample) {
			samples = append(samples, st.sample(time.Since(start)))
			nextSample = nextSample.Add(30 * time.Second)
		}
		// A camera of three clips, a different three each time round.
		clips := map[string]string{}
		for k := range 3 {
			name := names[(docks*3+k)%len(names)]
			clips[name] = pieces[name]
		}
		bay := st.dock(fmt.Sprintf("bay-%d", docks%2+1), bodyCamera{serial: fmt.Sprintf("SOAK-%04d", docks), officer: "PC 1", clips: clips})
		st.waitFor("offload of dock "+strconv.Itoa(docks), 3*time.Minute, func() (bool, string) {
			left := cameraFiles(b, bay)
			return len(left) == 0, fmt.Sprintf("%d videos on the camera", len(left))
		})
		if err := os.RemoveAll(bay); err != nil {
			b.Fatal(err)
		}
		docks++
		time.Sleep(5 * time.Second)
	}
	samples = append(samples, st.sample(time.Since(start)))
	gaps := st.cameraGaps()
	st.stop()
	if r := verifyPinned(b, st.data); r.code != 0 {
		b.Fatalf("verify after the soak: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	st.reportSoak(b, samples, docks, gaps)
}

// sample reads the daemon's own figures from /metrics and the kernel's.
func (st *station) sample(at time.Duration) soakSample {
	m := st.scrape()
	s := soakSample{at: at, goroutines: m["go_goroutines"], fds: m["process_open_fds"],
		rssMB: m["process_resident_memory_bytes"] / (1 << 20), heapMB: m["go_memstats_heap_inuse_bytes"] / (1 << 20), events: m["edgetriage_custody_events_total"],
		backlog: m["edgetriage_stage_backlog_events"]}
	st.t.Logf("t=%-6s rss=%.1f MiB go_heap=%.1f MiB goroutines=%.0f fds=%.0f custody_events=%.0f stage_backlog=%.0f",
		at.Round(time.Second), s.rssMB, s.heapMB, s.goroutines, s.fds, s.events, s.backlog)
	return s
}

// scrape sums each metric's series from the Prometheus text format, and
// keeps each series by its full name too ("name{labels}").
func (st *station) scrape() map[string]float64 {
	resp, err := http.Get(st.base + "/metrics")
	if err != nil {
		st.t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		series, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		name, _, _ := strings.Cut(series, "{")
		v, err := strconv.ParseFloat(strings.Fields(value)[0], 64)
		if err == nil {
			out[name] += v
			if series != name {
				out[series] = v
			}
		}
	}
	return out
}

// cameraGaps lists the recording gaps the cameras report.
func (st *station) cameraGaps() []string {
	var status struct {
		Cameras []struct {
			Name string `json:"name"`
			Gaps []struct {
				Start  time.Time `json:"start"`
				End    time.Time `json:"end"`
				Reason string    `json:"reason"`
			} `json:"gaps"`
		} `json:"cameras"`
	}
	if err := st.getJSON(st.user, "/api/v1/status", &status); err != nil {
		st.t.Fatal(err)
	}
	var out []string
	for _, c := range status.Cameras {
		for _, g := range c.Gaps {
			out = append(out, fmt.Sprintf("%s: %s for %v (%s)", c.Name, g.Start.Format(time.TimeOnly), g.End.Sub(g.Start).Round(time.Millisecond), g.Reason))
		}
	}
	return out
}

func (st *station) reportSoak(b *testing.B, samples []soakSample, docks int, gaps []string) {
	// The first sample is taken before anything ran; growth is judged from
	// the one after a minute or two of warm-up.
	first := samples[min(2, len(samples)-1)]
	last := samples[len(samples)-1]
	errorsLogged := st.log.lines("level=ERROR", "panic:")
	b.ReportMetric(first.rssMB, "rss-start-MiB")
	b.ReportMetric(last.rssMB, "rss-end-MiB")
	b.ReportMetric(first.goroutines, "goroutines-start")
	b.ReportMetric(last.goroutines, "goroutines-end")
	b.ReportMetric(first.fds, "fds-start")
	b.ReportMetric(last.fds, "fds-end")
	b.ReportMetric(float64(docks), "docks")
	b.ReportMetric(float64(len(gaps)), "gaps")
	b.ReportMetric(float64(len(errorsLogged)), "errors")
	b.Logf("soak: %d docks over %v with 4 cameras; from t=%v to t=%v: rss %.1f -> %.1f MiB, goroutines %.0f -> %.0f, fds %.0f -> %.0f; %d recording gaps %v; %d errors logged %v",
		docks, last.at.Round(time.Second), first.at.Round(time.Second), last.at.Round(time.Second), first.rssMB, last.rssMB,
		first.goroutines, last.goroutines, first.fds, last.fds, len(gaps), gaps, len(errorsLogged), errorsLogged)
	if last.goroutines > first.goroutines+20 || last.fds > first.fds+20 {
		b.Errorf("goroutines or file descriptors grew: %+v -> %+v", first, last)
	}
}
