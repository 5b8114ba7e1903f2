package hardware

import (
	"slices"
	"strings"
	"sync"
	"time"
)

// Bay is one dock bay and the camera in it, if any.
type Bay struct {
	Bay      string `json:"bay"`
	Serial   string `json:"serial,omitempty"`
	Model    string `json:"model,omitempty"`
	Firmware string `json:"firmware,omitempty"`
	// Battery is the charge in percent; -1 when the camera did not say.
	Battery  int       `json:"battery"`
	DockedAt time.Time `json:"docked_at,omitzero"`
	Updated  time.Time `json:"updated"`
}

// Occupied reports whether a camera is in the bay.
func (b Bay) Occupied() bool { return b.Serial != "" }

// Inventory knows which camera is in which bay. The dock wiring updates it;
// the API reads snapshots. It is safe for concurrent use.
type Inventory struct {
	now func() time.Time

	mu   sync.RWMutex
	bays map[string]Bay
}

// NewInventory makes an inventory of the named bays, all empty. now may be
// nil for the wall clock.
func NewInventory(now func() time.Time, bays ...string) *Inventory {
	if now == nil {
		now = time.Now
	}
	inv := &Inventory{now: now, bays: map[string]Bay{}}
	t := now().UTC()
	for _, b := range bays {
		inv.bays[b] = Bay{Bay: b, Battery: -1, Updated: t}
	}
	return inv
}

// Dock records a camera in a bay. A camera can be in one bay only: if the
// dock missed its removal from another bay, that bay is emptied.
func (inv *Inventory) Dock(bay, serial, model, firmware string, battery int) Bay {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	t := inv.now().UTC()
	for name, b := range inv.bays {
		if b.Serial == serial && name != bay {
			inv.bays[name] = Bay{Bay: name, Battery: -1, Updated: t}
		}
	}
	b := Bay{Bay: bay, Serial: serial, Model: model, Firmware: firmware, Battery: battery, DockedAt: t, Updated: t}
	if prev := inv.bays[bay]; prev.Serial == serial && !prev.DockedAt.IsZero() {
		b.DockedAt = prev.DockedAt // a re-read identity, not a new dock
	}
	inv.bays[bay] = b
	return b
}

// SetBattery updates the charge of the camera in a bay, as the dock polls
// it; false when the bay is empty.
func (inv *Inventory) SetBattery(bay string, battery int) bool {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	b, ok := inv.bays[bay]
	if !ok || !b.Occupied() {
		return false
	}
	b.Battery, b.Updated = battery, inv.now().UTC()
	inv.bays[bay] = b
	return true
}

// Undock empties a bay and returns what was in it.
func (inv *Inventory) Undock(bay string) (Bay, bool) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	b, ok := inv.bays[bay]
	if !ok || !b.Occupied() {
		return Bay{}, false
	}
	inv.bays[bay] = Bay{Bay: bay, Battery: -1, Updated: inv.now().UTC()}
	return b, true
}

// Find returns the bay holding the camera with the given serial.
func (inv *Inventory) Find(serial string) (Bay, bool) {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	for _, b := range inv.bays {
		if b.Serial == serial {
			return b, true
		}
	}
	return Bay{}, false
}

// Snapshot returns every bay, empty ones included, by bay name.
func (inv *Inventory) Snapshot() []Bay {
	inv.mu.RLock()
	out := make([]Bay, 0, len(inv.bays))
	for _, b := range inv.bays {
		out = append(out, b)
	}
	inv.mu.RUnlock()
	slices.SortFunc(out, func(a, b Bay) int { return strings.Compare(a.Bay, b.Bay) })
	return out
}
