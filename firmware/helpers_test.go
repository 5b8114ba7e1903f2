package firmware_test

import (
	"bytes"

	"github.com/edgetriage/edgetriage/firmware"
)

// The vault-free helpers of the package fixtures; the tests that import
// into a real vault have the same ones in appliance/vaulttests/firmware.

const model = "BWC-200"

func manifest(version string) firmware.Manifest {
	return firmware.Manifest{Vendor: "Acme", Models: []string{model, "BWC-210"}, Version: version, MinFromVersion: "1.5.0", Image: "bwc200-" + version + ".bin"}
}

func image(version string, size int) []byte {
	b := bytes.Repeat([]byte("firmware "+version+" "), size/len("firmware "+version+" ")+1)
	return b[:size]
}
