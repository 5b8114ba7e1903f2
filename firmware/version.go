package firmware

import (
	"fmt"
	"strconv"
	"strings"
)

// CompareVersions compares dotted numeric versions numerically, part by
// part, so 1.10.0 is newer than 1.9.3; missing parts count as zero (1.2 ==
// 1.2.0). It returns -1, 0 or +1.
func CompareVersions(a, b string) (int, error) {
	pa, err := parseVersion(a)
	if err != nil {
		return 0, err
	}
	pb, err := parseVersion(b)
	if err != nil {
		return 0, err
	}
	for i := range max(len(pa), len(pb)) {
		x, y := part(pa, i), part(pb, i)
		switch {
		case x < y:
			return -1, nil
		case x > y:
			return 1, nil
		}
	}
	return 0, nil
}

// ValidVersion reports why s is not a dotted numeric version, or nil.
func ValidVersion(s string) error {
	_, err := parseVersion(s)
	return err
}

func part(p []uint64, i int) uint64 {
	if i < len(p) {
		return p[i]
	}
	return 0
}

func parseVersion(s string) ([]uint64, error) {
	if s == "" {
		return nil, fmt.Errorf("version is empty")
	}
	fields := strings.Split(s, ".")
	out := make([]uint64, len(fields))
	for i, f := range fields {
		n, err := strconv.ParseUint(f, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("version %q: part %q is not a number (want dotted numbers such as 1.10.2)", s, f)
		}
		out[i] = n
	}
	return out, nil
}
