package s3

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/minio/minio-go/v7"

	"github.com/edgetriage/edgetriage/sync/target"
)

// Classify sorts an error from an S3 call by what an operator must do about
// it: fix credentials (auth), create the bucket (bucket-missing), use a
// bucket with Object Lock (lock-not-enabled), wait for the uplink or the
// server (network), or look at the data (integrity).
func Classify(err error) target.Class {
	if err == nil {
		return ""
	}
	var te *target.Error
	if errors.As(err, &te) {
		return te.Class
	}
	resp := errorResponse(err)
	switch resp.Code {
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken",
		"InvalidToken", "AuthorizationHeaderMalformed", "AccountProblem", "InvalidSecurity",
		"MissingSecurityHeader", "RequestTimeTooSkewed",
		// versitygw's answer (404) to an access key it does not know.
		"XAdminUserNotFound":
		return target.ClassAuth
	case "NoSuchBucket":
		return target.ClassBucketMissing
	case "ObjectLockConfigurationNotFoundError", "InvalidBucketState":
		return target.ClassLockDisabled
	case "BadDigest", "XAmzContentSHA256Mismatch", "InvalidDigest", "InvalidPart":
		return target.ClassIntegrity
	case "InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout", "ServiceUnavailableException":
		return target.ClassNetwork
	case "InvalidRequest":
		if strings.Contains(strings.ToLower(resp.Message), "object lock") {
			return target.ClassLockDisabled
		}
	}
	switch {
	case resp.StatusCode == 401 || resp.StatusCode == 403:
		return target.ClassAuth
	case resp.StatusCode >= 500:
		return target.ClassNetwork
	}
	if isNetwork(err) {
		return target.ClassNetwork
	}
	return target.ClassOther
}

func isNetwork(err error) bool {
	var ne net.Error
	var oe *net.OpError
	switch {
	case errors.As(err, &oe), errors.As(err, &ne):
		return true
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, context.DeadlineExceeded):
		return true
	}
	return false
}

// errorResponse finds the server's answer anywhere in err's chain;
// minio.ToErrorResponse only looks at err itself.
func errorResponse(err error) minio.ErrorResponse {
	var v minio.ErrorResponse
	if errors.As(err, &v) {
		return v
	}
	var p *minio.ErrorResponse
	if errors.As(err, &p) && p != nil {
		return *p
	}
	return minio.ErrorResponse{}
}
