// Package pull is the client of a station's pull API (the appliance's
// /api/v1/central/... routes): the changes feed with its cursor and filter,
// manifests, content from an offset (HTTP Range), acknowledgements and,
// where the station offers them, ack challenges and its log's checkpoints.
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

	"github.com/edgetriage/edgetriage/appliance/evidence"
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
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return resp, nil
}

// getJSON fetches path and decodes at most limit bytes of JSON into v.
func (c *Client) call(ctx context.Context, op, method, path string, q url.Values, body []byte, limit int64, v any) ([]byte, error) {
	resp, err := c.do(ctx, op, method, path, q, body, nil)
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

// Content opens the item's bytes from offset on. The answer must be the
// range asked for (206 with a matching Content-Range, or 200 from 0).
func (c *Client) Content(ctx context.Context, d evidence.Digest, offset, size int64) (io.ReadCloser, error) {
	op := fmt.Sprintf("content of %s from %d", d.Short(), offset)
	hdr := http.Header{}
	if offset > 0 {
		hdr.Set("Range", fmt.Sprintf("bytes=%d-", offset))
	}
	resp, err := c.do(ctx, op, http.MethodGet, "/api/v1/central/items/"+d.String()+"/content", nil, nil, hdr)
	if err != nil {
		return nil, err
	}
	want := fmt.Sprintf("bytes %d-%d/%d", offset, size-1, size)
	switch {
	case resp.StatusCode == http.StatusOK && offset == 0 && resp.ContentLength == size:
	case resp.StatusCode == http.StatusPartialContent && resp.Header.Get("Content-Range") == want:
	default:
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		resp.Body.Close()
		return nil, &StatusError{Op: op, Status: resp.StatusCode, Body: fmt.Sprintf("%s (range %q, length %d)", strings.TrimSpace(string(b)), resp.Header.Get("Content-Range"), resp.ContentLength)}
	}
	return resp.Body, nil
}

// Ack acknowledges the item the way today's stations take it: the digest
// central computed. It answers the station's signed receipt.
func (c *Client) Ack(ctx context.Context, d evidence.Digest) (evidence.SignedReceipt, error) {
	body, _ := json.Marshal(map[string]string{"sha256": d.String()})
	var r evidence.SignedReceipt
	_, err := c.call(ctx, "ack of "+d.Short(), http.MethodPost, "/api/v1/central/items/"+d.String()+"/ack", nil, body, 1<<20, &r)
	return r, err
}

// Challenge is the station's nonce for a proof-of-possession ack.
type Challenge struct {
	Nonce     []byte
	ExpiresAt time.Time
}

// ErrNotOffered means the station does not offer the route (it predates it).
var ErrNotOffered = errors.New("not offered by this station")

// NewChallenge asks for an ack challenge. A station without the route
// answers 404 or 405: ErrNotOffered.
func (c *Client) NewChallenge(ctx context.Context, d evidence.Digest) (Challenge, error) {
	var raw struct {
		Challenge string    `json:"challenge"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	_, err := c.call(ctx, "ack challenge of "+d.Short(), http.MethodPost, "/api/v1/central/items/"+d.String()+"/challenge", nil, []byte("{}"), 1<<16, &raw)
	if IsStatus(err, http.StatusNotFound) || IsStatus(err, http.StatusMethodNotAllowed) {
		return Challenge{}, ErrNotOffered
	}
	if err != nil {
		return Challenge{}, err
	}
	nonce, err := decodeHex(raw.Challenge, 32)
	if err != nil {
		return Challenge{}, fmt.Errorf("ack challenge of %s: %w", d.Short(), err)
	}
	return Challenge{Nonce: nonce, ExpiresAt: raw.ExpiresAt}, nil
}

// AckWithProof acknowledges the item with a proof of possession.
func (c *Client) AckWithProof(ctx context.Context, d evidence.Digest, ch Challenge, proof, manifestSHA []byte) (evidence.SignedReceipt, error) {
	body, _ := json.Marshal(map[string]string{"challenge": hexString(ch.Nonce), "proof": hexString(proof), "manifest_sha256": hexString(manifestSHA)})
	var r evidence.SignedReceipt
	_, err := c.call(ctx, "ack of "+d.Short(), http.MethodPost, "/api/v1/central/items/"+d.String()+"/ack", nil, body, 1<<20, &r)
	return r, err
}
