package dock

import "io"

// SetReadHook wraps every camera file reader of d. It is for tests of
// faults and speeds a real camera cannot be made to show on demand (a read
// error halfway, a slow card); the daemon never sets it. Set it before the
// first offload.
func SetReadHook(d *Dock, fn func(rel string, r io.Reader) io.Reader) { d.readHook = fn }
