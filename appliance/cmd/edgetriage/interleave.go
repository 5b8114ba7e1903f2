package main

import (
	"flag"
	"strings"
)

// interleave moves flags after positional arguments to the front, so
// "export DIGEST --out F" works as users type it; the flag package stops
// at the first non-flag otherwise. Whether a flag takes the next argument
// as its value is asked of the flag set itself (a boolean flag does not),
// so a new flag cannot be mistaken for the other kind.
func interleave(fs *flag.FlagSet, args []string) []string {
	var flags, rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			rest = append(rest, args[i+1:]...)
			i = len(args)
		case len(a) > 1 && a[0] == '-':
			flags = append(flags, a)
			if takesValue(fs, a) && i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
		default:
			rest = append(rest, a)
		}
	}
	return append(flags, rest...)
}

// takesValue reports whether arg (-name or --name, without =value) names
// a flag of fs that reads the next argument. Unknown flags take nothing:
// parsing reports them.
func takesValue(fs *flag.FlagSet, arg string) bool {
	name := strings.TrimLeft(arg, "-")
	if strings.Contains(name, "=") {
		return false
	}
	f := fs.Lookup(name)
	if f == nil {
		return false
	}
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return !ok || !b.IsBoolFlag()
}
