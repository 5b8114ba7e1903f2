package motion

import (
	"context"
	"errors"
)

// errNoPrefilter means the prefilter cannot vouch for this file; Analyze
// then decodes everything.
var errNoPrefilter = errors.New("prefilter not applicable")

// PrefilterReport says what the compressed-domain pass decided.
type PrefilterReport struct {
	GOPs        int     `json:"gops"`
	DecodedGOPs int     `json:"decoded_gops"`
	Skipped     float64 `json:"skipped_seconds"`
}

func analyzePrefiltered(ctx context.Context, path string, cfg Config) (Result, error) {
	return Result{}, errNoPrefilter
}
