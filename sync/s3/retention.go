package s3

import (
	"context"
	"encoding/xml"
	"errors"
	"net/http"
	"time"

	"github.com/minio/minio-go/v7"
)

// Headers a HEAD answers with on an object under retention (AWS documents
// them for GetObject and HeadObject).
const (
	headerLockMode  = "X-Amz-Object-Lock-Mode"
	headerLockUntil = "X-Amz-Object-Lock-Retain-Until-Date"
)

// objectRetention reads the retention of key. Some gateways answer
// GetObjectRetention with a body that is not AWS's (versitygw answers
// <ObjectLockRetention> where AWS answers <Retention>); the answer is then
// read from HEAD's x-amz-object-lock-* headers instead, which carry the same
// two facts. Nothing is assumed: no answer from either means no retention.
func (t *Target) objectRetention(ctx context.Context, key string) (mode string, until time.Time, err error) {
	m, u, err := t.client.GetObjectRetention(ctx, t.cfg.Bucket, key, "")
	switch {
	case err == nil:
		if m != nil {
			mode = m.String()
		}
		if u != nil {
			until = *u
		}
		return mode, until, nil
	case unparsable(err):
		t.log.Debug("retention answer does not parse; reading HEAD's object lock headers", "key", key, "err", err)
		return t.retentionFromHead(ctx, key)
	case errorResponse(err).Code == "NoSuchObjectLockConfiguration":
		return "", time.Time{}, nil
	}
	return "", time.Time{}, err
}

// unparsable is true for an answer that arrived (HTTP 200) but whose body
// is not the XML minio-go expects.
func unparsable(err error) bool {
	var ue xml.UnmarshalError
	var se *xml.SyntaxError
	var te *time.ParseError
	return errors.As(err, &ue) || errors.As(err, &se) || errors.As(err, &te)
}

func (t *Target) retentionFromHead(ctx context.Context, key string) (string, time.Time, error) {
	info, err := t.client.StatObject(ctx, t.cfg.Bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return "", time.Time{}, err
	}
	return lockHeaders(info.Metadata)
}

// lockHeaders reads mode and date from a HEAD answer; a date that does not
// parse is an error, not "no retention", so a check is never weakened.
func lockHeaders(h http.Header) (string, time.Time, error) {
	mode := h.Get(headerLockMode)
	raw := h.Get(headerLockUntil)
	if raw == "" {
		return mode, time.Time{}, nil
	}
	until, err := time.Parse(time.RFC3339, raw)
	if err != nil {
		return mode, time.Time{}, err
	}
	return mode, until, nil
}
