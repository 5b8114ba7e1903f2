package dock

import (
	"errors"
	"fmt"
	"os"
)

// Where the identity of a camera that describes nothing comes from, best
// first: what the USB device reports of itself is the hardest to confuse,
// the file system's UUID changes when the card is formatted, and the bay
// says only which slot it was in.
const (
	IdentifiedByUSBSerial  = "usb-serial"
	IdentifiedByVolumeUUID = "volume-uuid"
	IdentifiedByBay        = "bay"
)

// LabelUnidentified marks items offloaded from a camera that described
// nothing; its value is how the device was told apart (IdentifiedBy*).
// Staff assign the officer and camera afterwards.
const LabelUnidentified = "unidentified"

// inspectUnidentified takes a bay no profile identified: the first profile
// that does not require a descriptor and finds videos in it offloads it,
// with an identity made from what udev reported of the device, and with
// release never, whatever the profile says: nobody has yet said whose
// footage it is.
func (d *Dock) inspectUnidentified(root *os.Root, bay string, vol Volume) (*session, listing, error) {
	var notReady error
	for _, p := range d.cfg.Profiles {
		if p.Identity.RequireDescriptor {
			continue
		}
		s, l, err := d.open(root, bay, p, unidentifiedDevice(vol, bay))
		if errors.Is(err, ErrNotReady) {
			notReady = err
			continue
		}
		if err != nil {
			return nil, listing{}, err
		}
		if len(l.units) == 0 {
			continue
		}
		s.profile.Release = ReleaseNever
		d.log.Warn("camera describes nothing; offloading it as an unidentified device", "bay", bay,
			"device", s.dev.Serial, "identified_by", s.dev.IdentifiedBy)
		return s, l, nil
	}
	if notReady != nil {
		// Nothing names it a camera and none of a camera's folders is
		// there: a stick of documents, or a mount still filling in. The
		// watcher waits for the listing to settle before it believes this.
		return nil, listing{}, fmt.Errorf("bay %s: %w (no descriptor, and no camera folders)", bay, ErrNotCamera)
	}
	return nil, listing{}, fmt.Errorf("bay %s: %w (no descriptor, and no videos)", bay, ErrNotCamera)
}

// unidentifiedDevice names a device by the best thing udev reported.
func unidentifiedDevice(vol Volume, bay string) Device {
	switch {
	case vol.Serial != "":
		return Device{Serial: "usb-" + safeID(vol.Serial), Model: vol.Model, IdentifiedBy: IdentifiedByUSBSerial}
	case vol.UUID != "":
		return Device{Serial: "uuid-" + safeID(vol.UUID), Model: vol.Model, IdentifiedBy: IdentifiedByVolumeUUID}
	}
	return Device{Serial: "bay-" + bay, IdentifiedBy: IdentifiedByBay}
}

// safeID keeps what a device reports usable as an identifier: anything but
// letters, digits, '.', '_' and '-' becomes '_' (a serial is the device's
// to choose, and ends up in labels and file names).
func safeID(s string) string {
	out := []rune(s)
	for i, r := range out {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			out[i] = '_'
		}
	}
	if len(out) > 64 {
		out = out[:64]
	}
	return string(out)
}
