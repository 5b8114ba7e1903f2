package dock

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// On a station, bays are USB ports: the package's udev rule mounts each
// docked camera at Root/<bay>, the bay named after the USB port path that
// udev reports (ID_PATH), so "bay 3" is always the same physical slot
// whatever the camera calls itself. What udev knows about the device (its
// volume label and UUID, its USB serial) is written beside the mount, in
// VolumeDir/<bay>.json, for the dock to identify cameras by.

// Volume is what udev reported about the device mounted in a bay.
type Volume struct {
	// Port is the USB port path ("pci-0000:00:14.0-usb-0:3.2").
	Port   string `json:"port"`
	Label  string `json:"label,omitempty"`  // ID_FS_LABEL
	UUID   string `json:"uuid,omitempty"`   // ID_FS_UUID
	FSType string `json:"fstype,omitempty"` // ID_FS_TYPE
	// Serial is the USB device's serial number (ID_SERIAL_SHORT).
	Serial string `json:"serial,omitempty"`
	Vendor string `json:"vendor,omitempty"`
	Model  string `json:"model,omitempty"`
}

// usbPort matches the USB part of a udev ID_PATH: the controller, then
// "usb-0:" and the chain of ports from the root hub ("3.2" is port 2 of
// the hub on root port 3), then the configuration and interface.
var usbPort = regexp.MustCompile(`^(.*-usb-\d+:[0-9.]+)(:\d+\.\d+)?(-.*)?$`)

// PortPath is the physical USB port of a udev ID_PATH such as
// "pci-0000:00:14.0-usb-0:3.2:1.0-scsi-0:0:0:0": the controller and the
// chain of ports, without the interface and SCSI parts, which are the same
// for every camera.
func PortPath(idPath string) (string, error) {
	m := usbPort.FindStringSubmatch(idPath)
	if m == nil {
		return "", fmt.Errorf("ID_PATH %q names no USB port", idPath)
	}
	return m[1], nil
}

func mustPort(idPath string) string {
	p, _ := PortPath(idPath)
	return p
}

// bayNameOK is what a bay may be called: it becomes a directory name, a
// custody event's actor and a metrics label.
var bayNameOK = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// BayName names the bay of the device at udev's ID_PATH: the name the
// station gave that port in names (dock.bays), else one made from the
// port path itself ("bay-usb-0000.00.14.0-3.2"). It is never derived from
// anything the device says about itself.
func BayName(idPath string, names map[string]string) (string, error) {
	port, err := PortPath(idPath)
	if err != nil {
		return "", err
	}
	if name, ok := names[port]; ok {
		return name, nil
	}
	controller, chain, _ := strings.Cut(port, "-usb-")
	controller = strings.TrimPrefix(controller, "pci-")
	_, ports, _ := strings.Cut(chain, ":")
	name := "bay-usb-" + strings.NewReplacer(":", ".", "/", ".", "-", ".").Replace(controller) + "-" + ports
	if !bayNameOK.MatchString(name) {
		return "", fmt.Errorf("ID_PATH %q gives no usable bay name; name its port in dock.bays", idPath)
	}
	return name, nil
}

// maxUdevProperties bounds what is read of udevadm's output.
const maxUdevProperties = 64 << 10

// ParseUdevProperties reads `udevadm info --query=property` output:
// KEY=VALUE lines.
func ParseUdevProperties(r io.Reader) (map[string]string, error) {
	props := map[string]string{}
	sc := bufio.NewScanner(io.LimitReader(r, maxUdevProperties))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), "=")
		if ok && key != "" {
			props[key] = val
		}
	}
	return props, sc.Err()
}

// VolumeFromUdev is the Volume of a device from its udev properties. The
// label is udev's decoded one (ID_FS_LABEL), not the mangled ENC form.
func VolumeFromUdev(props map[string]string) (Volume, error) {
	port, err := PortPath(props["ID_PATH"])
	if err != nil {
		return Volume{}, err
	}
	return Volume{Port: port, Label: props["ID_FS_LABEL"], UUID: props["ID_FS_UUID"], FSType: props["ID_FS_TYPE"],
		Serial: props["ID_SERIAL_SHORT"], Vendor: props["ID_VENDOR"], Model: props["ID_MODEL"]}, nil
}

// WriteVolume records v for bay in dir, replacing any earlier record at
// once (a rename), so the dock never reads half of one.
func WriteVolume(dir, bay string, v Volume) error {
	if !bayNameOK.MatchString(bay) {
		return fmt.Errorf("bay name %q is not usable", bay)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("volume dir: %w", err)
	}
	tmp := filepath.Join(dir, "."+bay+".json.tmp")
	if err := os.WriteFile(tmp, raw, 0o644); err != nil {
		return fmt.Errorf("write volume of bay %s: %w", bay, err)
	}
	return os.Rename(tmp, filepath.Join(dir, bay+".json"))
}

// maxVolumeRecord bounds what is read of a volume record.
const maxVolumeRecord = 16 << 10

// ReadVolume reads the record of bay in dir; ok is false when there is
// none (a bay made by hand, or no dir configured).
func ReadVolume(dir, bay string) (v Volume, ok bool, err error) {
	if dir == "" || !bayNameOK.MatchString(bay) {
		return Volume{}, false, nil
	}
	f, err := os.Open(filepath.Join(dir, bay+".json"))
	if errors.Is(err, fs.ErrNotExist) {
		return Volume{}, false, nil
	}
	if err != nil {
		return Volume{}, false, fmt.Errorf("volume of bay %s: %w", bay, err)
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxVolumeRecord))
	if err != nil {
		return Volume{}, false, fmt.Errorf("volume of bay %s: %w", bay, err)
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return Volume{}, false, fmt.Errorf("volume of bay %s: %w", bay, err)
	}
	return v, true, nil
}

// RemoveVolume forgets the record of bay in dir (the camera was undocked).
func RemoveVolume(dir, bay string) error {
	if !bayNameOK.MatchString(bay) {
		return fmt.Errorf("bay name %q is not usable", bay)
	}
	err := os.Remove(filepath.Join(dir, bay+".json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
