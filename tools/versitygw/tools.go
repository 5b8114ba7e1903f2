//go:build tools

// Package tools pins versitygw, the second, independent S3 server the sync
// and central tests run against (SeaweedFS is the first). versitygw is an
// Apache-2.0 S3 gateway in front of a POSIX file system with Object Lock; it
// lives in its own module so the appliance's go.mod never carries its
// dependencies, and scripts/versitygw.sh builds it from here.
package tools

import _ "github.com/versity/versitygw/cmd/versitygw"
