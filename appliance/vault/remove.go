package vault

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// RemoveLocal deletes the local copy of d's bytes for reason, keeping its
// record (state removed) and its history. The removal is recorded before
// the file goes, so a crash in between leaves a removed record and a file
// that the next removal pass deletes, never a file missing without a
// reason. Refused for held items.
func (v *Vault) RemoveLocal(ctx context.Context, d evidence.Digest, actor evidence.Actor, reason string) error {
	_, err := v.UpdateItem(ctx, d, Change{Actor: actor, Action: evidence.ActionRemoved,
		Details: map[string]string{"reason": reason},
		Apply: func(it *evidence.Item) error {
			if it.Hold {
				return fmt.Errorf("item %s is on legal hold", d.Short())
			}
			if it.State == evidence.StateRemoved {
				return errAlreadyRemoved
			}
			it.State = evidence.StateRemoved
			return nil
		}})
	if err != nil && !errors.Is(err, errAlreadyRemoved) {
		return fmt.Errorf("remove %s: %w", d.Short(), err)
	}
	p := v.ObjectPath(d)
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", d.Short(), err)
	}
	return nil
}

var errAlreadyRemoved = errors.New("already removed")

// intakeGate stops new bytes entering the vault, for instance when the disk
// reaches its reserve; what is already stored is not affected.
type intakeGate struct {
	mu     sync.Mutex
	reason string
}

// ErrIntakeStopped is returned by ingests while intake is stopped.
var ErrIntakeStopped = errors.New("intake stopped")

// StopIntake refuses new ingests with reason until ResumeIntake. It
// reports whether intake was running before.
func (v *Vault) StopIntake(reason string) bool {
	v.gate.mu.Lock()
	defer v.gate.mu.Unlock()
	was := v.gate.reason == ""
	v.gate.reason = reason
	return was
}

// ResumeIntake lets ingests in again. It reports whether intake was stopped.
func (v *Vault) ResumeIntake() bool {
	v.gate.mu.Lock()
	defer v.gate.mu.Unlock()
	was := v.gate.reason != ""
	v.gate.reason = ""
	return was
}

// IntakeStopped returns why intake is stopped, or "" while it runs.
func (v *Vault) IntakeStopped() string {
	v.gate.mu.Lock()
	defer v.gate.mu.Unlock()
	return v.gate.reason
}
