package s3

import "testing"

func TestPartSizeFitsTenThousandParts(t *testing.T) {
	const mib = 1 << 20
	cases := []struct{ size, configured, want int64 }{
		{100 * mib, 16 * mib, 16 * mib},
		{160000 * mib, 16 * mib, 16 * mib},
		{160000*mib + 1, 16 * mib, 17 * mib},
		{1 << 40, 16 * mib, 105 * mib}, // 1 TiB
	}
	for _, c := range cases {
		got := partSizeFor(c.size, c.configured)
		if got != c.want || got*maxParts < c.size {
			t.Errorf("partSizeFor(%d, %d) = %d, want %d", c.size, c.configured, got, c.want)
		}
	}
}
