package hardware_test

import (
	"context"
	"testing"

	"github.com/edgetriage/edgetriage/hardware"
)

// BenchmarkSample is the cost of one full health sample, which the daemon
// pays every interval.
func BenchmarkSample(b *testing.B) {
	s, err := hardware.NewSampler(hardware.DefaultConfig(), b.TempDir(), nil, hardware.Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		if _, err := s.Sample(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
