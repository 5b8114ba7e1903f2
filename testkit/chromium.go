// Package testkit is the one test kit: real components started for tests
// (an RTSP camera fed by ffmpeg, the S3 server, Debian's chromium) and the
// helpers every test needs (WaitFor). It imports nothing of the project but
// the domain types, so the leaves' tests may use it under the dependency
// rules; it is imported only by tests.
package testkit

// Chromium is Debian's chromium for browser tests of the dashboard and its
// WebRTC previews, with the flags that work on a headless station or CI
// machine.

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"
)

// Chromium starts a fresh headless chromium (its own profile, a
// 1366x768 station screen) and returns a context that drives it; the
// browser is closed at cleanup.
func Chromium(t testing.TB) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath("/usr/bin/chromium"),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1366, 768),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}
