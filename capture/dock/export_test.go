package dock

import "io"

// SetReadHook wraps every camera file reader of d; tests use it for faults
// and speeds a real disk cannot be made to show on demand.
func SetReadHook(d *Dock, fn func(rel string, r io.Reader) io.Reader) { d.readHook = fn }
