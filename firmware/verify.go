package firmware

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"slices"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// TrustStore holds the vendor keys packages must be signed with, each with
// the camera models it may sign for.
type TrustStore struct {
	keys map[string][]trustedKey // vendor -> keys
}

type trustedKey struct {
	pub    ed25519.PublicKey
	models []string
}

// NewTrustStore builds a trust store from configured keys.
func NewTrustStore(keys []VendorKey) (*TrustStore, error) {
	ts := &TrustStore{keys: map[string][]trustedKey{}}
	for i, k := range keys {
		pub, err := ParsePublicKey(k.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("trust store key %d (%s): %w", i, k.Vendor, err)
		}
		if len(k.Models) == 0 {
			return nil, fmt.Errorf("trust store key %d (%s): no camera models listed for it", i, k.Vendor)
		}
		ts.keys[k.Vendor] = append(ts.keys[k.Vendor], trustedKey{pub: pub, models: slices.Clone(k.Models)})
	}
	return ts, nil
}

// Verified is what a successful package check established.
type Verified struct {
	Manifest Manifest `json:"manifest"`
	// KeyID names the vendor key that signed the manifest.
	KeyID string `json:"key_id"`
}

// VerifyPackage checks a package archive on its own: signed, by a trusted
// key of the vendor it names, and carrying exactly the image its manifest
// describes. The refusal, if any, is a *RefusedError.
func (ts *TrustStore) VerifyPackage(r io.ReaderAt, size int64) (Verified, error) {
	c, err := scan(r, size)
	if err != nil {
		return Verified{}, err
	}
	if c.manifestRaw == nil {
		return Verified{}, refuse(ReasonMalformed, "no %s in the package", ManifestName)
	}
	if len(bytes.TrimSpace(c.sigRaw)) == 0 {
		return Verified{}, refuse(ReasonUnsigned, "the package has no %s: unsigned firmware is never staged", SignatureName)
	}
	// The vendor is read before the signature is checked only to choose
	// the key; nothing else of the manifest is trusted until it verifies.
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(c.manifestRaw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Verified{}, refuse(ReasonMalformed, "%s: %v", ManifestName, err)
	}
	key, keyID, err := ts.checkSignature(m.Vendor, c.manifestRaw, c.sigRaw)
	if err != nil {
		return Verified{}, err
	}
	if err := m.check(); err != nil {
		return Verified{}, err
	}
	for _, model := range m.Models {
		if !slices.Contains(key.models, model) {
			return Verified{}, refuse(ReasonKeyNotForModel, "key %s of vendor %q may sign for %v only; the package is for %v", keyID, m.Vendor, key.models, m.Models)
		}
	}
	got, ok := c.digests[m.Image]
	if !ok {
		return Verified{}, refuse(ReasonMalformed, "the manifest names image %s, which is not in the package", m.Image)
	}
	if got != m.ImageSHA256 {
		return Verified{}, refuse(ReasonDigestMismatch, "image %s hashes to %s, the signed manifest says %s", m.Image, got, m.ImageSHA256)
	}
	if m.ImageSize != 0 && c.sizes[m.Image] != m.ImageSize {
		return Verified{}, refuse(ReasonDigestMismatch, "image %s is %d bytes, the signed manifest says %d", m.Image, c.sizes[m.Image], m.ImageSize)
	}
	return Verified{Manifest: m, KeyID: keyID}, nil
}

func (ts *TrustStore) checkSignature(vendor string, manifest, sigRaw []byte) (trustedKey, string, error) {
	sig, err := parseSignature(sigRaw)
	if err != nil {
		return trustedKey{}, "", refuse(ReasonBadSignature, "%v", err)
	}
	keys := ts.keys[vendor]
	if len(keys) == 0 {
		return trustedKey{}, "", refuse(ReasonUnknownKey, "vendor %q has no key in the trust store", vendor)
	}
	tried := 0
	for _, k := range keys {
		id := evidence.KeyID(k.pub)
		if sig.KeyID != "" && sig.KeyID != id {
			continue
		}
		tried++
		if ed25519.Verify(k.pub, manifest, sig.Signature) {
			return k, id, nil
		}
	}
	if tried == 0 {
		return trustedKey{}, "", refuse(ReasonUnknownKey, "signed with key %s, which is not a trusted key of vendor %q", sig.KeyID, vendor)
	}
	return trustedKey{}, "", refuse(ReasonBadSignature, "the signature over %s does not verify with vendor %q's key: the manifest or signature was altered", ManifestName, vendor)
}

// Camera is a docked camera as the dock reads it from the device.
type Camera struct {
	Serial   string `json:"serial"`
	Model    string `json:"model"`
	Firmware string `json:"firmware"`
	// Battery is the charge in percent; negative means the camera did not
	// say, which is treated as too low.
	Battery int `json:"battery"`
}

// CheckCamera decides whether m may be written to cam: model, version order
// and battery. A downgrade passes only when forcedBy names the admin who
// forced it.
func CheckCamera(m Manifest, cam Camera, minBattery int, forcedBy string) error {
	if !m.ForModel(cam.Model) {
		return refuse(ReasonWrongModel, "package %s is for %v, camera %s is a %s", m.Version, m.Models, cam.Serial, cam.Model)
	}
	cmp, err := CompareVersions(m.Version, cam.Firmware)
	if err != nil {
		return refuse(ReasonMalformed, "camera %s reports firmware %q: %v", cam.Serial, cam.Firmware, err)
	}
	if cmp < 0 && forcedBy == "" {
		return refuse(ReasonDowngrade, "package %s is older than %s installed on camera %s; an admin must force a downgrade", m.Version, cam.Firmware, cam.Serial)
	}
	if m.MinFromVersion != "" && cmp >= 0 {
		if c, _ := CompareVersions(cam.Firmware, m.MinFromVersion); c < 0 {
			return refuse(ReasonTooOld, "camera %s runs %s; package %s upgrades only from %s or later", cam.Serial, cam.Firmware, m.Version, m.MinFromVersion)
		}
	}
	if cam.Battery < minBattery {
		return refuse(ReasonLowBattery, "camera %s battery at %d%%, at least %d%% is needed to update", cam.Serial, cam.Battery, minBattery)
	}
	return nil
}
