package evidence

import (
	"fmt"
	"io/fs"
)

// ChangedWhileRead compares a source file's state before and after it was
// read (read bytes in between) and says how it changed, or "" when it did
// not. A file still being written is evidence too: it is kept as the bytes
// read, and marked with this.
func ChangedWhileRead(before, after fs.FileInfo, read int64) string {
	switch {
	case read != before.Size():
		return fmt.Sprintf("%d bytes when opened, %d bytes read", before.Size(), read)
	case after.Size() != before.Size():
		return fmt.Sprintf("grew from %d to %d bytes while it was read", before.Size(), after.Size())
	case !after.ModTime().Equal(before.ModTime()):
		return fmt.Sprintf("modified while it was read (mtime %s -> %s)", before.ModTime().UTC(), after.ModTime().UTC())
	}
	return ""
}
