package vault

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

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

// IngestPaths ingests files and, recursively, directories. Symbolic links
// are reported and never followed, so nothing outside the given trees is
// read. Each path's outcome goes to report as soon as it is known; a failed
// file does not stop the others. It returns the number of paths that failed.
func (v *Vault) IngestPaths(ctx context.Context, paths []string, in evidence.Intake, report func(TreeResult)) (failed int, err error) {
	for _, root := range paths {
		walkErr := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return ctxErr
			}
			res := v.ingestEntry(ctx, p, de, err, in)
			if res.Err != nil {
				failed++
			}
			if res.Path != "" {
				report(res)
			}
			if err != nil && de != nil && de.IsDir() {
				return fs.SkipDir
			}
			return nil
		})
		if walkErr != nil {
			return failed, fmt.Errorf("ingest %s: %w", root, walkErr)
		}
	}
	return failed, nil
}

func (v *Vault) ingestEntry(ctx context.Context, p string, de fs.DirEntry, walkErr error, in evidence.Intake) TreeResult {
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
	fileIn := in
	fileIn.OriginalName = p
	item, isNew, err := v.IngestFile(ctx, p, fileIn)
	return TreeResult{Path: p, Item: item, New: isNew, Err: err, Bytes: item.Size}
}
