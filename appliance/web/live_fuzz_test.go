package web

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"
)

// browserOffer is the shape of a receive-only video offer from Chromium.
const browserOffer = "v=0\r\no=- 4215775240449105457 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n" +
	"a=msid-semantic: WMS\r\nm=video 9 UDP/TLS/RTP/SAVPF 96 102\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n" +
	"a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=ice-options:trickle\r\n" +
	"a=fingerprint:sha-256 8B:87:09:8A:5D:C2:F3:33:EF:C5:B1:F6:84:3A:3D:D6:A3:E2:9C:17:4C:E7:46:3B:1B:CE:84:98:DD:8E:AF:7B\r\n" +
	"a=setup:actpass\r\na=mid:0\r\na=recvonly\r\na=rtcp-mux\r\na=rtcp-rsize\r\na=rtpmap:96 VP8/90000\r\n" +
	"a=rtpmap:102 H264/90000\r\na=rtcp-fb:102 nack\r\na=rtcp-fb:102 nack pli\r\n" +
	"a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n"

// FuzzLiveOffer feeds the WHEP handler's input path (content type and
// body, then pion's parse of what is accepted) with anything: it must
// never panic, refuse with a client error naming the problem, and accept
// only an H.264-receiving SDP offer, passed on unchanged.
func FuzzLiveOffer(f *testing.F) {
	f.Add("application/sdp", browserOffer)
	f.Add("application/sdp; charset=utf-8", strings.ReplaceAll(browserOffer, "H264", "VP9"))
	f.Add("application/sdp", "v=0\r\nm=video 9 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n")
	f.Add("application/json", `{"offer":"v=0"}`)
	f.Add("", "")
	f.Add("application/sdp", "v=0\r\nm=\r\n")
	f.Fuzz(func(t *testing.T, contentType, body string) {
		offer, err := readLiveOffer(contentType, strings.NewReader(body))
		if err != nil {
			var he *httpError
			if !errors.As(err, &he) || he.status < 400 || he.status >= 500 || he.msg == "" {
				t.Fatalf("refusal %v is not a client error with a message", err)
			}
			return
		}
		if offer != body || len(body) > maxOffer {
			t.Fatalf("accepted offer differs from the body or is over the limit (%d bytes)", len(body))
		}
		// What pion makes of it next must not panic either.
		(&webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}).Unmarshal()
	})
}

func TestBrowserOfferAccepted(t *testing.T) {
	if _, err := readLiveOffer("application/sdp", strings.NewReader(browserOffer)); err != nil {
		t.Fatalf("a browser's H.264 offer: %v", err)
	}
	_, err := readLiveOffer("application/sdp", strings.NewReader(strings.ReplaceAll(browserOffer, "H264", "VP9")))
	var he *httpError
	if !errors.As(err, &he) || he.status != http.StatusBadRequest || !strings.Contains(he.msg, "H.264") {
		t.Fatalf("an offer without H.264: %v, want 400 naming H.264", err)
	}
}
