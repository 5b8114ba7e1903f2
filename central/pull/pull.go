// Package pull is the client of a station's pull API (the appliance's
// /api/v1/central/... routes): the changes feed with its cursor and filter,
// manifests, content from an offset (HTTP Range), ack challenges and
// acknowledgements with a proof of possession, and the custody log's
// checkpoints, consistency proofs and cosignatures.
// Every answer is size-limited and decoded strictly enough that a hostile
// or broken station can make a call fail, never make it lie.
package pull

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/evidence/custodylog"
)

// Client talks to one station.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// New makes a client for the station at baseURL using a bearer token.
func New(baseURL, token string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("station url %q: want http(s)://host[:port]", baseURL)
	}
	if token == "" {
		return nil, errors.New("station token is empty")
	}
	if hc == nil {
		hc = &http.Client{Timeout: 0}
	}
	return &Client{base: u, token: token, http: hc}, nil
}

// StatusError is a station's answer other than the one asked for.
type StatusError struct {
	Op     string
	Status int
	Body   string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s: station answered %d: %s", e.Op, e.Status, e.Body)
}

// IsStatus reports whether err is a StatusError with that status.
func IsStatus(err error, status int) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Status == status
}

func (c *Client) do(ctx context.Context, op, method, path string, q url.Values, body []byte, hdr http.Header) (*http.Response, error) {
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return resp, nil
}

// call sends the request and decodes at most limit bytes of JSON into v
// (nil: the answer is returned as it is).
func (c *Client) call(ctx context.Context, op, method, path string, q url.Values, body []byte, limit int64, v any) ([]byte, error) {
	return c.callWith(ctx, op, method, path, q, body, nil, limit, v)
}

func (c *Client) callWith(ctx context.Context, op, method, path string, q url.Values, body []byte, hdr http.Header, limit int64, v any) ([]byte, error) {
	resp, err := c.do(ctx, op, method, path, q, body, hdr)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: read answer: %w", op, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &StatusError{Op: op, Status: resp.StatusCode, Body: strings.TrimSpace(string(raw[:min(len(raw), 300)]))}
	}
	if int64(len(raw)) > limit {
		return nil, fmt.Errorf("%s: answer larger than %d bytes", op, limit)
	}
	if v != nil {
		if err := json.Unmarshal(raw, v); err != nil {
			return nil, fmt.Errorf("%s: answer is not the expected JSON: %w", op, err)
		}
	}
	return raw, nil
}

// Change is one entry of the changes feed.
type Change struct {
	Seq    uint64          `json:"seq"`
	Action evidence.Action `json:"action"`
	Item   evidence.Item   `json:"item"`
}

// Page is one page of the changes feed; Next is the cursor to continue from.
type Page struct {
	Changes []Change `json:"changes"`
	Next    uint64   `json:"next"`
}

// Changes reads the feed after cursor after, filtered by f (the station
// applies it; callers check Match again, since a station from before the
// filter sends everything).
func (c *Client) Changes(ctx context.Context, after uint64, limit int, f evidence.PullFilter) (Page, error) {
	q := f.Query()
	q.Set("after", strconv.FormatUint(after, 10))
	q.Set("limit", strconv.Itoa(limit))
	var p Page
	_, err := c.call(ctx, "changes feed", http.MethodGet, "/api/v1/central/changes", q, nil, 64<<20, &p)
	if err == nil && p.Next < after {
		err = fmt.Errorf("changes feed: cursor went back from %d to %d", after, p.Next)
	}
	return p, err
}

// Manifest fetches the item's signed manifest, byte for byte.
func (c *Client) Manifest(ctx context.Context, d evidence.Digest) ([]byte, error) {
	return c.call(ctx, "manifest of "+d.Short(), http.MethodGet, "/api/v1/central/items/"+d.String()+"/manifest", nil, nil, 64<<20, nil)
}

// Content opens bytes [start, end) of the item (size bytes in all): the
// whole item with a plain GET, any other range with HTTP Range. The answer
// must be the range asked for (206 with a matching Content-Range, or 200
// for the whole item), so a resumed download never splices in other bytes.
func (c *Client) Content(ctx context.Context, d evidence.Digest, start, end, size int64) (io.ReadCloser, error) {
	op := fmt.Sprintf("content of %s, bytes %d-%d", d.Short(), start, end-1)
	whole := start == 0 && end == size
	hdr := http.Header{}
	if !whole {
		hdr.Set("Range", fmt.Sprintf("bytes=%d-%d", start, end-1))
	}
	resp, err := c.do(ctx, op, http.MethodGet, "/api/v1/central/items/"+d.String()+"/content", nil, nil, hdr)
	if err != nil {
		return nil, err
	}
	want := fmt.Sprintf("bytes %d-%d/%d", start, end-1, size)
	switch {
	case whole && resp.StatusCode == http.StatusOK && resp.ContentLength == size:
	case !whole && resp.StatusCode == http.StatusPartialContent && resp.Header.Get("Content-Range") == want && resp.ContentLength == end-start:
	default:
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		resp.Body.Close()
		return nil, &StatusError{Op: op, Status: resp.StatusCode, Body: fmt.Sprintf("%s (range %q, length %d)", strings.TrimSpace(string(b)), resp.Header.Get("Content-Range"), resp.ContentLength)}
	}
	return resp.Body, nil
}

// Challenge is the station's nonce for a proof-of-possession ack.
type Challenge struct {
	Nonce     []byte
	ExpiresAt time.Time
}

// NewChallenge asks for an ack challenge: the nonce the proof of possession
// must cover. A station from before proofs of possession has no such route;
// it cannot be acknowledged (its plain acks prove nothing).
func (c *Client) NewChallenge(ctx context.Context, d evidence.Digest) (Challenge, error) {
	var raw struct {
		Challenge string    `json:"challenge"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	_, err := c.call(ctx, "ack challenge of "+d.Short(), http.MethodPost, "/api/v1/central/items/"+d.String()+"/challenge", nil, []byte("{}"), 1<<16, &raw)
	if err != nil {
		return Challenge{}, err
	}
	nonce, err := decodeHex(raw.Challenge, 32)
	if err != nil {
		return Challenge{}, fmt.Errorf("ack challenge of %s: %w", d.Short(), err)
	}
	return Challenge{Nonce: nonce, ExpiresAt: raw.ExpiresAt}, nil
}

// Ack acknowledges the item with a proof of possession (evidence.AckProof
// over the challenge and the whole content) naming the manifest central
// verified. It answers the station's signed receipt byte for byte.
func (c *Client) Ack(ctx context.Context, d evidence.Digest, ch Challenge, proof, manifestSHA []byte) (evidence.SignedReceipt, error) {
	body, _ := json.Marshal(map[string]string{"challenge": hexString(ch.Nonce), "proof": hexString(proof), "manifest_sha256": hexString(manifestSHA)})
	return c.call(ctx, "ack of "+d.Short(), http.MethodPost, "/api/v1/central/items/"+d.String()+"/ack", nil, body, 1<<20, nil)
}

// ErrNoCheckpoint means the station serves no checkpoint of its custody
// log: it predates the log, or has signed none yet.
var ErrNoCheckpoint = errors.New("the station serves no checkpoint of its custody log")

// Checkpoint fetches the station's newest signed checkpoint (size 0) or
// the one of the given size: a C2SP signed note, byte for byte. Nothing in
// it is trusted until opened with the station's pinned key.
func (c *Client) Checkpoint(ctx context.Context, size int64) ([]byte, error) {
	q := url.Values{}
	if size > 0 {
		q.Set("size", strconv.FormatInt(size, 10))
	}
	raw, err := c.call(ctx, "log checkpoint", http.MethodGet, "/api/v1/central/log/checkpoint", q, nil, 64<<10, nil)
	if IsStatus(err, http.StatusNotFound) {
		return nil, fmt.Errorf("%w: %w", ErrNoCheckpoint, err)
	}
	return raw, err
}

// Consistency fetches the proof that the station's tree of newer events
// extends its tree of older ones (RFC 6962 order). The answer must be for
// the sizes asked; the proof itself is checked by the caller.
func (c *Client) Consistency(ctx context.Context, older, newer int64) ([]tlog.Hash, error) {
	op := fmt.Sprintf("consistency proof %d..%d", older, newer)
	q := url.Values{"old": {strconv.FormatInt(older, 10)}, "new": {strconv.FormatInt(newer, 10)}}
	var ans struct {
		Old   int64    `json:"old"`
		New   int64    `json:"new"`
		Proof []string `json:"proof"`
	}
	if _, err := c.call(ctx, op, http.MethodGet, "/api/v1/central/log/consistency", q, nil, 1<<20, &ans); err != nil {
		return nil, err
	}
	if ans.Old != older || ans.New != newer {
		return nil, fmt.Errorf("%s: the station answered for %d..%d", op, ans.Old, ans.New)
	}
	proof, err := custodylog.DecodeHashes(ans.Proof)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return proof, nil
}

// PostCosignature gives the station a checkpoint central co-signed (the
// signed note with central's cosignature line), for it to keep.
func (c *Client) PostCosignature(ctx context.Context, cosigned []byte) error {
	hdr := http.Header{"Content-Type": {"text/plain; charset=utf-8"}}
	_, err := c.callWith(ctx, "post cosignature", http.MethodPost, "/api/v1/central/log/cosignature", nil, cosigned, hdr, 1<<16, nil)
	return err
}
