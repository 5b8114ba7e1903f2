package pull

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
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

// answering serves one fixed answer to every request.
func answering(t *testing.T, status int, body []byte) *Client {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, "et_token", srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// FuzzConsistencyAnswer: whatever a station answers for a consistency
// proof, the client returns an error or a proof for exactly the sizes
// asked, every hash whole; it never panics.
func FuzzConsistencyAnswer(f *testing.F) {
	h := base64.StdEncoding.EncodeToString(make([]byte, 32))
	f.Add(200, []byte(`{"old":3,"new":7,"proof":["`+h+`","`+h+`"]}`))
	f.Add(200, []byte(`{"old":3,"new":8,"proof":[]}`))
	f.Add(200, []byte(`{"old":3,"new":7,"proof":["AAAA"]}`))
	f.Add(200, []byte(`{"old":3,"new":7,"proof":null}`))
	f.Add(400, []byte(`{"error":"no such proof"}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 200 || status > 599 {
			return
		}
		proof, err := answering(t, status, body).Consistency(context.Background(), 3, 7)
		if err != nil {
			return
		}
		var ans struct {
			Old, New int64
			Proof    []string
		}
		if json.Unmarshal(body, &ans) != nil || ans.Old != 3 || ans.New != 7 || len(proof) != len(ans.Proof) {
			t.Fatalf("answer %q taken as a proof of %d hashes", body, len(proof))
		}
	})
}

// FuzzChallengeAnswer: whatever a station answers for an ack challenge,
// the client returns an error or a nonce of exactly AckChallengeSize bytes.
func FuzzChallengeAnswer(f *testing.F) {
	f.Add(200, []byte(`{"challenge":"`+strings.Repeat("ab", 32)+`","expires_at":"2026-01-01T00:00:00Z"}`))
	f.Add(200, []byte(`{"challenge":"abcd"}`))
	f.Add(200, []byte(`{"challenge":"`+strings.Repeat("zz", 32)+`"}`))
	f.Add(404, []byte(`404 page not found`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 200 || status > 599 {
			return
		}
		ch, err := answering(t, status, body).NewChallenge(context.Background(), evidence.DigestBytes(nil))
		if err == nil && len(ch.Nonce) != evidence.AckChallengeSize {
			t.Fatalf("answer %q taken as a nonce of %d bytes", body, len(ch.Nonce))
		}
	})
}
