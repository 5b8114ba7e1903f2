// Package dock offloads docked body-worn cameras into the vault.
//
// Each docked camera shows up as a directory (a USB mass-storage mount) under
// the dock root, one per bay. Run watches the root with inotify (fsnotify)
// and a periodic rescan. A bay is read only once it is whole: its camera
// profile's identity is present, the directories its videos live in exist,
// and two listings in a row agree, so a bay that is still mounting is never
// taken for an empty camera. A bay no profile recognises is reported as
// "not-a-camera" and nothing in it is read or changed.
//
// For every recording the dock streams the camera file into the vault once
// (the vault hashes while it copies), has the vault re-read its copy
// (VerifyItem), checks the size read against the size stored, and records
// file-offloaded and verified custody events with the bay, camera serial,
// officer, camera path, the camera's clock (the file time, and the
// recording's own start and length from its MP4/MOV movie header when it has
// one) and the appliance's clock, so a camera clock that is years off shows
// as such; items get the camera's times as CapturedStart/End beside the
// vault's IngestedAt. Sidecar files
// (same directory and stem as a video, an extension the profile lists) are
// stored as items of kind sidecar linked to their video's digest; a
// recording leaves the camera only together with its sidecars, and a sidecar
// whose video is gone is offloaded on its own, unlinked.
//
// A camera file is deleted ("released") only when the profile's release
// policy says so, its vault copy verified, and the custody events for it are
// durable; a released event follows. Files the vault marks undecodable stay
// on the camera unless the profile sets release_marked. A file that changed
// while it was read (still being written) is stored as read but not released,
// and is copied again once it settles. Symbolic links are never followed and
// no name can reach outside the bay: files are opened through an os.Root with
// O_NOFOLLOW.
//
// Resume points (camera serial + path, with size and camera time -> digest)
// are kept in the daemon's durable state, so a camera docked again after an
// interruption copies only what was not done; the vault itself stores the
// same bytes only once in any case. Copies across all bays share a small
// semaphore (max_concurrent_copies, default 2) so the vault disk is saturated
// without seeking between many streams; read-backs have their own semaphore
// of the same size, so while one file is read back from the vault the next
// is already being read from the camera.
//
// # What verification costs
//
// The read-back must come from the disk, not from the page cache (that would
// compare the copy with the kernel's memory of it), so every byte crosses
// the vault disk twice: written, then read. `cp -r` + `sync` writes it once.
// BenchmarkOffloadBay measures both with the disk's own rates in one run:
// with the camera's files already in memory, the offload cannot come near
// cp + sync, only near cp + sync + a read-back. BenchmarkOffloadCamera reads
// a camera that is its own block device at a USB camera's rate (a loop
// device throttled by the blkio cgroup; it needs root): there the fsyncs and
// read-backs overlap the camera reads, and the offload takes about as long
// as cp + sync.
//
// Progress returns a JSON-ready snapshot of every bay and file (bytes, total,
// rate, ETA, state) for the dashboard.
//
// # Wiring
//
// The daemon passes its vault and the vault's durable state space:
//
//	d, err := dock.New(dock.Options{Config: cfg.Dock, Vault: v, State: v.State("dock"), Ack: outbox, Logger: log})
//	// run d.Run(ctx) under the supervisor; serve d.Progress() at /api/v1/dock
//
// Offload(ctx, dir) does a single pass over one bay without watching, for
// the CLI's offload command.
//
// # Adding a camera profile
//
// A profile is configuration, not code. Add an entry under dock.profiles in
// the appliance config (profiles are tried in order; the first whose
// identity matches wins; listing any profile replaces the built-in generic
// one, so list it too if it is still wanted):
//
//	dock:
//	  root: /media/dock                # one directory per bay (default ./dock)
//	  rescan_interval: 2s              # a bay must stay unchanged this long before it is read
//	  retry_interval: 1m               # look again at bays with files waiting
//	  max_concurrent_copies: 2         # across all bays
//	  read_bytes_per_second: 0         # cap on reading cameras, all bays together (0: none)
//	  profiles:
//	    - name: acme-bwc3
//	      videos: ["DCIM/**/*.MP4", "RECORD/*.MOV"]   # globs, ** = any dirs, any case
//	      sidecars: [".GPX", ".BMK"]                  # same stem as the video
//	      ready: ["DCIM"]                             # default: first dir of each glob
//	      identity:
//	        files: ["SYSTEM/DEVINFO.JSON"]            # JSON object or INI key=value
//	        fields: {serial: sn, officer: badge}      # keys in that file, when not the defaults
//	        volume_labels:                            # cameras with no descriptor:
//	          BWC3_0042: {serial: "0042", model: BWC3} # the bay dir is named after the label
//	      release: after-verify                       # never | after-verify | after-ack
//	      release_marked: false                       # also release files marked undecodable
//
// The built-in GenericMassStorage profile takes DCIM/**/*.MP4|MOV|AVI|MKV,
// sidecars .GPX .JSON .BMK .XML .SRT .NMEA, identity from device.json or
// device.ini at the bay root (keys serial, model, firmware, battery,
// officer), and releases nothing.
package dock
