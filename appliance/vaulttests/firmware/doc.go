// Package firmware holds the tests of the firmware leaf that need a real
// vault: importing a package into it, staging, applying at the dock, and
// the custody events and state each writes. The leaf's own tests may not
// import the vault (docs/architecture.md, TestLayout), so they live here,
// beside the daemon that joins the two. It has no code of its own.
package firmware
