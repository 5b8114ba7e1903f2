package s3_test

import (
	"fmt"
	"net"
	"syscall"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/edgetriage/edgetriage/sync/s3"
	"github.com/edgetriage/edgetriage/sync/target"
)

func TestClassifyServerAnswers(t *testing.T) {
	resp := func(code string, status int, msg string) error {
		return fmt.Errorf("put x: %w", minio.ErrorResponse{Code: code, StatusCode: status, Message: msg})
	}
	cases := []struct {
		err  error
		want target.Class
	}{
		{resp("SignatureDoesNotMatch", 403, ""), target.ClassAuth},
		{resp("InvalidAccessKeyId", 403, ""), target.ClassAuth},
		{resp("", 403, ""), target.ClassAuth}, // HEAD answers carry no body
		{resp("NoSuchBucket", 404, ""), target.ClassBucketMissing},
		{resp("ObjectLockConfigurationNotFoundError", 404, ""), target.ClassLockDisabled},
		{resp("InvalidRequest", 400, "Bucket is missing Object Lock Configuration"), target.ClassLockDisabled},
		{resp("InvalidRequest", 400, "something else"), target.ClassOther},
		{resp("BadDigest", 400, ""), target.ClassIntegrity},
		{resp("SlowDown", 503, ""), target.ClassNetwork},
		{resp("", 502, ""), target.ClassNetwork},
		{&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, target.ClassNetwork},
		{fmt.Errorf("put: %w", syscall.ECONNRESET), target.ClassNetwork},
		{target.Errorf(target.ClassIntegrity, "already classified"), target.ClassIntegrity},
		{nil, ""},
	}
	for _, c := range cases {
		if got := s3.Classify(c.err); got != c.want {
			t.Errorf("Classify(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}
