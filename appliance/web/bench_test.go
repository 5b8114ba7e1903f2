package web_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/web"
	"github.com/edgetriage/edgetriage/testkit"
)

// BenchmarkPreviewFirstFrame measures, in Debian's chromium, the time from
// the POST of the SDP offer to the first frame getStats reports decoded
// (goal: <= 500 ms on loopback), for the passthrough and the transcode path.
// ms/first-frame is the median over b.N previews; ms/click-to-frame also
// counts the browser's offer creation and candidate gathering.
func BenchmarkPreviewFirstFrame(b *testing.B) {
	for _, tc := range []struct{ name, user, pass, variant string }{
		{"passthrough", "sam", staffPass, "redacted"},
		{"transcode", "ivy", invPass, "original"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			f := newFixture(b, web.Config{})
			ctx := newBrowserB(b)
			do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
				if err := chromedp.Do(ctx, actions...); err != nil {
					b.Fatalf("%s: %v", what, err)
				}
			}
			do("log in", chromedp.Navigate(f.http.URL+"/#/item/"+f.master.Digest.String()),
				chromedp.WaitVisible(chromedp.CSS("#login-user")),
				chromedp.SendKeys(chromedp.CSS("#login-user"), tc.user), chromedp.SendKeys(chromedp.CSS("#login-pass"), tc.pass),
				chromedp.Click(chromedp.CSS("#login-btn")), chromedp.WaitVisible(chromedp.CSS("#preview-start")),
				chromedp.SetValue(chromedp.CSS("#variant"), tc.variant), chromedp.SendKeys(chromedp.CSS("#reason"), "benchmark"))
			var post, click []float64
			b.ResetTimer()
			for range b.N {
				do("start", chromedp.Click(chromedp.CSS("#preview-start")))
				deadline := time.Now().Add(10 * time.Second)
				for {
					v, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`window.etPreview && window.etPreview.postToFrameMs != null ? [window.etPreview.postToFrameMs, window.etPreview.firstFrameMs] : []`))
					if err != nil {
						b.Fatal(err)
					}
					if len(v) == 2 {
						post, click = append(post, v[0]), append(click, v[1])
						break
					}
					if time.Now().After(deadline) {
						b.Fatal("no frame decoded within 10 s")
					}
					time.Sleep(20 * time.Millisecond)
				}
				do("stop", chromedp.Click(chromedp.CSS("#preview-stop")))
				if _, err := chromedp.Run(ctx, chromedp.Evaluate[int](`(window.etPreview = null, 0)`)); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(median(post), "ms/first-frame")
			b.ReportMetric(median(click), "ms/click-to-frame")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func newBrowserB(b *testing.B) context.Context { return testkit.Chromium(b) }

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSixteenPassthroughPreviews measures the CPU of 16 concurrent
// passthrough previews of a 30 s 768x432 baseline clip (goal: < 1 core).
// The viewers are 16 in-process pion receivers, not browsers, so
// cores/16-previews counts the receivers' RTP/SRTP work as well as the
// server's: an upper bound for the server. cores/1-preview is the same
// measurement with one viewer, taken in the same run.
func BenchmarkSixteenPassthroughPreviews(b *testing.B) {
	f := newFixture(b, web.Config{})
	parking, _, err := f.v.IngestFile(context.Background(), filepath.Join(footage, "parking-cars.mp4"),
		evidence.Intake{Actor: "rtsp:cam-yard", Source: "cctv-yard"})
	if err != nil {
		b.Fatal(err)
	}
	inv := f.login(b, "ivy", invPass)
	measure := func(n int) float64 {
		var viewers []*viewer
		for i := range n {
			v, res := inv.startViewer(parking.Digest, "original", fmt.Sprintf("benchmark %d", i))
			if v == nil {
				b.Fatalf("viewer %d: %d %s", i, res.StatusCode, readAll(res))
			}
			if v.mode != "passthrough" {
				b.Fatalf("viewer %d: mode %s", i, v.mode)
			}
			viewers = append(viewers, v)
		}
		for _, v := range viewers {
			v.waitPackets(b, 10, 10*time.Second)
		}
		const window = 5 * time.Second
		c0, t0 := cpuTime(), time.Now()
		time.Sleep(window)
		cores := float64(cpuTime()-c0) / float64(time.Since(t0))
		for _, v := range viewers {
			if p, _ := v.counts(); p < 50 {
				b.Fatalf("a viewer got only %d packets", p)
			}
			inv.do("DELETE", v.location, nil, true).Body.Close()
			v.pc.Close()
		}
		return cores
	}
	b.ResetTimer()
	var one, sixteen float64
	for range b.N {
		one = measure(1)
		sixteen = measure(16)
	}
	b.ReportMetric(one, "cores/1-preview")
	b.ReportMetric(sixteen, "cores/16-previews")
	b.ReportMetric(0, "ns/op")
}
