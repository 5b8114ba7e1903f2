//go:build tools

// Package tools pins nfpm, which builds the appliance's Debian package from
// packaging/nfpm.yaml (make deb). It lives in its own module so the
// appliance's go.mod never carries the packager's dependencies;
// scripts/deb.sh builds the nfpm binary from here.
package tools

import _ "github.com/goreleaser/nfpm/v2/cmd/nfpm"
