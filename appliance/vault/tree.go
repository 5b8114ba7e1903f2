package vault

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// TreeResult is the outcome for one path met while ingesting a tree.
type TreeResult struct {
	Path  string
	Item  evidence.Item
	New   bool
	Err   error // the path was not stored; Item is empty
	Skip  string
	Bytes int64
}

// Files are ingested a few at a time so that one file's fsyncs overlap the
// next one's copy and their index writes share a transaction; results are
// still reported in walk order.
const (
	treeWorkers = 4
	treeChunk   = 64
)

// IngestPaths ingests files and, recursively, directories. Symbolic links
// are reported and never followed, so nothing outside the given trees is
// read. Each path's outcome goes to report in walk order; a failed file
// does not stop the others. It returns the number of paths that failed.
func (v *Vault) IngestPaths(ctx context.Context, paths []string, in evidence.Intake, report func(TreeResult)) (failed int, err error) {
	var pending []TreeResult
	flush := func() {
		v.ingestChunk(ctx, pending, in)
		for _, r := range pending {
			if r.Err != nil {
				failed++
			}
			report(r)
		}
		pending = pending[:0]
	}
	for _, root := range paths {
		walkErr := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return ctxErr
			}
			res := classifyEntry(p, de, err)
			if res.Path != "" {
				pending = append(pending, res)
			}
			if len(pending) >= treeChunk {
				flush()
			}
			if err != nil && de != nil && de.IsDir() {
				return fs.SkipDir
			}
			return nil
		})
		if walkErr != nil {
			flush()
			return failed, fmt.Errorf("ingest %s: %w", root, walkErr)
		}
	}
	flush()
	return failed, nil
}

// classifyEntry decides what to do with one walked path: a result with
// Err or Skip set is final, one with neither is a file to ingest.
func classifyEntry(p string, de fs.DirEntry, walkErr error) TreeResult {
	switch {
	case walkErr != nil:
		return TreeResult{Path: p, Err: walkErr}
	case de.Type()&fs.ModeSymlink != 0:
		target, _ := os.Readlink(p)
		return TreeResult{Path: p, Skip: fmt.Sprintf("symbolic link to %s: not followed", target)}
	case de.IsDir():
		return TreeResult{}
	case !de.Type().IsRegular():
		return TreeResult{Path: p, Skip: fmt.Sprintf("not a regular file (%s)", de.Type())}
	}
	return TreeResult{Path: p}
}

// ingestChunk ingests the files among results concurrently, in place.
func (v *Vault) ingestChunk(ctx context.Context, results []TreeResult, in evidence.Intake) {
	sem := make(chan struct{}, treeWorkers)
	var wg sync.WaitGroup
	for i := range results {
		r := &results[i]
		if r.Err != nil || r.Skip != "" {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			fileIn := in
			fileIn.OriginalName = r.Path
			r.Item, r.New, r.Err = v.IngestFile(ctx, r.Path, fileIn)
			r.Bytes = r.Item.Size
		})
	}
	wg.Wait()
}
