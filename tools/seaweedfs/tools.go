//go:build tools

// Package tools pins the SeaweedFS server used as the real S3 peer in tests
// and CI. It lives in its own module so the appliance's go.mod never carries
// SeaweedFS's large dependency tree; scripts/s3server.sh builds the weed binary
// from here with `go build github.com/seaweedfs/seaweedfs/weed`.
package tools

import _ "github.com/seaweedfs/seaweedfs/weed"
