package hardware

import (
	"context"
	"fmt"

	"github.com/shirou/gopsutil/v4/disk"
)

// Space is how full the file system holding Path is.
type Space struct {
	Path string `json:"path"`
	// Total is the file system size; Free is what an unprivileged writer
	// can still use (blocks reserved for root are not counted).
	Total       uint64  `json:"total"`
	Free        uint64  `json:"free"`
	Used        uint64  `json:"used"`
	UsedPercent float64 `json:"used_percent"`
	InodesFree  uint64  `json:"inodes_free"`
}

// DiskSpace reads the space of the file system holding path, for
// retention's watermarks and intake's reserve.
func DiskSpace(ctx context.Context, path string) (Space, error) {
	u, err := disk.UsageWithContext(ctx, path)
	if err != nil {
		return Space{}, fmt.Errorf("disk space of %s: %w", path, err)
	}
	return spaceOf(path, u), nil
}

func spaceOf(path string, u *disk.UsageStat) Space {
	return Space{Path: path, Total: u.Total, Free: u.Free, Used: u.Used, UsedPercent: u.UsedPercent, InodesFree: u.InodesFree}
}
