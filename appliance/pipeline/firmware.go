package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strconv"
	"time"

	"github.com/edgetriage/edgetriage/appliance/supervisor"
	"github.com/edgetriage/edgetriage/capture/dock"
	"github.com/edgetriage/edgetriage/firmware"
)

// FirmwareAtDock offers each camera whose offload has finished the newest
// staged firmware for its model. It follows the dock's progress rather than
// sitting inside the dock, so offload never waits on a firmware write and
// firmware is only ever written after the camera's footage is safe.
type FirmwareAtDock struct {
	dock     *dock.Dock
	fw       *firmware.Manager
	dockRoot string
	log      *slog.Logger
	every    time.Duration
	// done remembers the docks already handled: bay, serial and dock time.
	done map[string]bool
}

// NewFirmwareAtDock looks at the dock's bays every interval; dockRoot is
// where the bays are mounted.
func NewFirmwareAtDock(d *dock.Dock, fw *firmware.Manager, dockRoot string, every time.Duration, log *slog.Logger) *FirmwareAtDock {
	return &FirmwareAtDock{dock: d, fw: fw, dockRoot: dockRoot, every: every, log: log}
}

func (f *FirmwareAtDock) Name() string { return "firmware-at-dock" }

func (f *FirmwareAtDock) Run(ctx context.Context) error {
	f.done = map[string]bool{}
	return supervisor.Every(ctx, f.every, func() error { f.pass(ctx); return nil })
}

func (f *FirmwareAtDock) pass(ctx context.Context) {
	for _, b := range f.dock.Progress().Bays {
		if b.State != dock.BayDone || b.Device.Serial == "" {
			continue
		}
		key := b.Bay + "|" + b.Device.Serial + "|" + b.Started.String()
		if f.done[key] {
			continue
		}
		f.done[key] = true
		cam := firmware.Camera{Serial: b.Device.Serial, Model: b.Device.Model, Firmware: b.Device.Firmware, Battery: battery(b.Device.Battery)}
		st, err := f.fw.Apply(ctx, cam, filepath.Join(f.dockRoot, b.Bay))
		var refused *firmware.RefusedError
		switch {
		case errors.As(err, &refused):
			f.log.Info("firmware not written", "bay", b.Bay, "serial", cam.Serial, "reason", refused.Reason, "detail", refused.Detail)
		case err != nil:
			f.log.Warn("firmware write failed", "bay", b.Bay, "serial", cam.Serial, "err", err)
		default:
			f.log.Info("firmware", "bay", b.Bay, "serial", cam.Serial, "state", st.State, "to", st.To)
		}
	}
}

// battery reads a camera's reported battery level; unknown is -1, which
// the firmware checks treat as too low to flash.
func battery(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}
