package pull

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// FuzzChangesAnswer: whatever a station answers to the changes feed, the
// client returns an error or a page whose cursor does not go back; it never
// panics.
func FuzzChangesAnswer(f *testing.F) {
	f.Add(200, []byte(`{"changes":[{"seq":3,"action":"ingested","item":{"digest":"`+evidence.DigestBytes(nil).String()+`","size":1}}],"next":3}`))
	f.Add(200, []byte(`{"changes":[],"next":1}`))
	f.Add(200, []byte(`{"next":-1}`))
	f.Add(500, []byte(`{"error":"boom"}`))
	f.Add(200, []byte(`{"changes":[{"item":{"digest":"zz"}}]}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 200 || status > 599 {
			return
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(status)
			w.Write(body)
		}))
		defer srv.Close()
		c, err := New(srv.URL, "et_token", srv.Client())
		if err != nil {
			t.Fatal(err)
		}
		p, err := c.Changes(context.Background(), 2, 10, evidence.PullFilter{})
		if err == nil && p.Next < 2 {
			t.Fatalf("cursor went back to %d without an error", p.Next)
		}
	})
}

// TestContentRefusesTheWrongRange: a station that answers a resumed
// download with other bytes than the range asked for is refused, so a
// resumed upload never splices the wrong bytes in.
func TestContentRefusesTheWrongRange(t *testing.T) {
	body := []byte("0123456789")
	for name, h := range map[string]http.HandlerFunc{
		"whole body for a range": func(w http.ResponseWriter, _ *http.Request) { w.Write(body) },
		"another range": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Range", "bytes 0-9/10")
			w.WriteHeader(http.StatusPartialContent)
			w.Write(body)
		},
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(h)
			defer srv.Close()
			c, _ := New(srv.URL, "et_token", srv.Client())
			if r, err := c.Content(context.Background(), evidence.DigestBytes(body), 4, 10, 10); err == nil {
				r.Close()
				t.Fatal("a wrong answer to a range request was taken")
			}
		})
	}
}
