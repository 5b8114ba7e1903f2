// Package firmware stages signed camera firmware and writes it to body
// cameras while they sit in a dock.
//
// A package is an archive (tar, tar.gz or zip) holding manifest.json, the
// image it names, and manifest.sig: an Ed25519 signature over the exact
// manifest bytes by a vendor key from the configured trust store. The
// manifest carries the image's SHA-256, so one signature covers the image
// too.
//
// Import verifies a package and keeps it in the vault as an item of kind
// firmware. Apply runs when a docked camera's offload has been verified: it
// picks the newest staged package for the camera's model, checks battery,
// version and the daily rollout limit, writes the image to the camera's
// update folder under a temporary name, re-reads it, and only then renames
// it to the name the camera looks for. The camera reporting the new version
// on a later dock closes the update. Every step is a custody event of action
// firmware; the per-camera state lives in the daemon's durable key-value
// space, not in the chain.
package firmware
