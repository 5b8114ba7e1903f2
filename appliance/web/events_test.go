package web_test

import (
	"bufio"
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/web"
)

func TestEventStreamPushesStatusAndNewCustodyEvents(t *testing.T) {
	f := newFixture(t, web.Config{}, func(d *web.Deps) { d.Dock = stationStatus{} })
	c := f.login(t, "sam", staffPass)
	res := c.do("GET", "/api/v1/events", nil, false)
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("events: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	defer res.Body.Close()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	waitFor := func(what string, match func(string) bool) {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("stream ended before %s", what)
				}
				if match(l) {
					return
				}
			case <-timeout:
				t.Fatalf("no %s within 10 s", what)
			}
		}
	}
	waitFor("status snapshot with the dock", func(l string) bool {
		return strings.HasPrefix(l, "data: ") && strings.Contains(l, `"bwv-0042"`) && strings.Contains(l, `"cameras":null`)
	})
	it, _, err := f.v.IngestFile(context.Background(), filepath.Join(footage, "store-aisle.mp4"),
		evidence.Intake{Actor: "dock:bay-2", Source: "bwv-0017"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor("custody event of the new item", func(l string) bool {
		return strings.HasPrefix(l, "data: ") && strings.Contains(l, it.Digest.String()) && strings.Contains(l, `"ingested"`)
	})
}

func TestCloseEndsEventStreams(t *testing.T) {
	f := newFixture(t, web.Config{})
	c := f.login(t, "sam", staffPass)
	res := c.do("GET", "/api/v1/events", nil, false)
	defer res.Body.Close()
	ended := make(chan struct{})
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := res.Body.Read(buf); err != nil {
				close(ended)
				return
			}
		}
	}()
	f.web.Close()
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("event stream still open after Close; http.Server.Shutdown would hang on it")
	}
}
