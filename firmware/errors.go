package firmware

import (
	"errors"
	"fmt"
)

// Reason names why a package was refused or not applied. It is stable text:
// it appears in custody events, the status API and metrics labels.
type Reason string

// Refusal reasons.
const (
	ReasonMalformed      Reason = "malformed"          // not a readable package
	ReasonUnsigned       Reason = "unsigned"           // no manifest.sig
	ReasonBadSignature   Reason = "bad-signature"      // the signature does not verify
	ReasonUnknownKey     Reason = "unknown-vendor-key" // vendor or key not in the trust store
	ReasonDigestMismatch Reason = "digest-mismatch"    // the image is not the one the manifest names
	ReasonWrongModel     Reason = "wrong-model"        // the package is not for this camera model
	ReasonDowngrade      Reason = "downgrade"          // older than installed, and no admin forced it
	ReasonTooOld         Reason = "below-min-from-version"
	ReasonLowBattery     Reason = "low-battery"
	ReasonRolloutLimit   Reason = "rollout-limit"     // today's quota of cameras is used up; retried on a later dock
	ReasonUnsafePath     Reason = "unsafe-path"       // a link (or not a folder or file) where the image goes on the camera
	ReasonKeyNotForModel Reason = "key-not-for-model" // the signing key is not trusted for a model the package names
)

// Sentinels for errors.Is; every *RefusedError matches the one of its Reason.
var (
	ErrMalformed      = errors.New("malformed firmware package")
	ErrUnsigned       = errors.New("firmware package is unsigned")
	ErrBadSignature   = errors.New("firmware signature does not verify")
	ErrUnknownKey     = errors.New("firmware signed by a key not in the trust store")
	ErrDigestMismatch = errors.New("firmware image does not match the digest in its manifest")
	ErrWrongModel     = errors.New("firmware is not for this camera model")
	ErrDowngrade      = errors.New("firmware would downgrade the camera")
	ErrTooOld         = errors.New("camera firmware is older than the package upgrades from")
	ErrLowBattery     = errors.New("camera battery too low for a firmware update")
	ErrRolloutLimit   = errors.New("firmware rollout limit for today reached")
	ErrUnsafePath     = errors.New("the camera's update path holds a link; no firmware is written through it")
	ErrKeyNotForModel = errors.New("firmware signed by a key not trusted for the package's camera models")
)

var sentinels = map[Reason]error{
	ReasonMalformed: ErrMalformed, ReasonUnsigned: ErrUnsigned, ReasonBadSignature: ErrBadSignature,
	ReasonUnknownKey: ErrUnknownKey, ReasonDigestMismatch: ErrDigestMismatch, ReasonWrongModel: ErrWrongModel,
	ReasonDowngrade: ErrDowngrade, ReasonTooOld: ErrTooOld, ReasonLowBattery: ErrLowBattery,
	ReasonRolloutLimit: ErrRolloutLimit, ReasonUnsafePath: ErrUnsafePath, ReasonKeyNotForModel: ErrKeyNotForModel,
}

// RefusedError says why a package was not accepted or not applied.
type RefusedError struct {
	Reason Reason
	Detail string // what exactly, in words an admin can act on
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("firmware refused (%s): %s", e.Reason, e.Detail)
}

// Is makes errors.Is(err, ErrDowngrade) and the like work.
func (e *RefusedError) Is(target error) bool { return sentinels[e.Reason] == target }

func refuse(r Reason, format string, args ...any) *RefusedError {
	return &RefusedError{Reason: r, Detail: fmt.Sprintf(format, args...)}
}

// ReasonOf returns the refusal reason carried by err, or "".
func ReasonOf(err error) Reason {
	var re *RefusedError
	if errors.As(err, &re) {
		return re.Reason
	}
	return ""
}
