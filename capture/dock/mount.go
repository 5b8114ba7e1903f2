package dock

import (
	"bufio"
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// Mount is how a docked device is mounted in its bay (edgetriage dock
// mount, run by the package's edgetriage-dock@.service as root).
type Mount struct {
	Bay    string
	Target string // Root/<bay>
	Volume Volume
	// FSType and Options go to mount(2); the mount is nosuid, nodev and
	// noexec besides.
	FSType  string
	Options string
}

// cameraFileSystems are the file systems body cameras format their cards
// with, as udev names them (ID_FS_TYPE), and mount(2)'s name for each.
// All of them take uid/gid, so the files are the daemon's to read and, for
// a profile that releases, to delete; nothing else may touch them.
var cameraFileSystems = map[string]string{"vfat": "vfat", "exfat": "exfat", "ntfs": "ntfs3"}

// PlanMount decides where and how the device udev described in props is
// mounted: in the bay named after its USB port (names: dock.bays), owned
// by uid and gid. A device that is not a USB file system a camera uses is
// refused, naming what it is.
func PlanMount(root string, props map[string]string, names map[string]string, uid, gid int) (Mount, error) {
	vol, err := VolumeFromUdev(props)
	if err != nil {
		return Mount{}, err
	}
	bay, err := BayName(props["ID_PATH"], names)
	if err != nil {
		return Mount{}, err
	}
	if !bayNameOK.MatchString(bay) {
		return Mount{}, fmt.Errorf("dock.bays names port %s %q, which is not usable as a bay name", vol.Port, bay)
	}
	fstype, ok := cameraFileSystems[vol.FSType]
	if !ok {
		return Mount{}, fmt.Errorf("device on port %s holds a %q file system, not one a camera uses (vfat, exfat, ntfs)", vol.Port, vol.FSType)
	}
	return Mount{Bay: bay, Target: filepath.Join(root, bay), Volume: vol, FSType: fstype,
		Options: fmt.Sprintf("uid=%d,gid=%d,fmask=0137,dmask=0027", uid, gid)}, nil
}

// maxMountInfo bounds what is read of /proc/self/mountinfo.
const maxMountInfo = 4 << 20

// BayOfDevice finds the bay the device is mounted in under root, from
// /proc/self/mountinfo: the device may be gone already when its bay is
// unmounted, so udev cannot be asked which port it was on.
func BayOfDevice(mountinfo io.Reader, root, device string) (bay string, ok bool, err error) {
	root = filepath.Clean(root)
	sc := bufio.NewScanner(io.LimitReader(mountinfo, maxMountInfo))
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if len(fields) < 5 || sep < 0 || sep+2 >= len(fields) {
			continue
		}
		target, source := unescapeMountInfo(fields[4]), unescapeMountInfo(fields[sep+2])
		if source != device || filepath.Dir(target) != root {
			continue
		}
		name := filepath.Base(target)
		if bayNameOK.MatchString(name) {
			return name, true, nil
		}
	}
	return "", false, sc.Err()
}

// unescapeMountInfo undoes the kernel's octal escapes (\040 for a space).
func unescapeMountInfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) && isOctal(s[i+1:i+4]) {
			var v byte
			for _, c := range []byte(s[i+1 : i+4]) {
				v = v*8 + (c - '0')
			}
			b.WriteByte(v)
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(s string) bool {
	if len(s) != 3 {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '7' {
			return false
		}
	}
	return true
}
