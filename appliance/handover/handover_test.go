package handover

import (
	"testing"
)

// Download ranges are recorded as central asks for them, in any order
// and overlapping: the item counts as received only when they cover it.
func TestRangesCoverTheItemOnlyWhenWhole(t *testing.T) {
	var rs byteRanges
	rs = rs.add(50, 100)
	rs = rs.add(0, 30)
	if m := rs.missing(100); m != 20 {
		t.Fatalf("missing %d of 100, want 20", m)
	}
	rs = rs.add(25, 60)
	if m := rs.missing(100); m != 0 || len(rs) != 1 {
		t.Fatalf("after the gap was filled: missing %d, ranges %v", m, rs)
	}
}

func FuzzByteRanges(f *testing.F) {
	f.Add(int64(0), int64(10), int64(5), int64(20), int64(20))
	f.Fuzz(func(t *testing.T, a, b, c, d, size int64) {
		if size < 0 || size > 1<<40 {
			return
		}
		var rs byteRanges
		rs = rs.add(min(a, b), max(a, b))
		rs = rs.add(min(c, d), max(c, d))
		m := rs.missing(size)
		if m < 0 || m > size {
			t.Fatalf("missing %d of %d bytes: %v", m, size, rs)
		}
		for i := 1; i < len(rs); i++ {
			if rs[i][0] <= rs[i-1][1] {
				t.Fatalf("ranges overlap or touch after merging: %v", rs)
			}
		}
	})
}
