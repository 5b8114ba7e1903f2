package dock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/media/mp4"
)

// ErrNotCamera means no profile recognises the bay; nothing in it is read
// beyond the listing or changed.
var ErrNotCamera = errors.New("no camera profile matches this bay")

// ErrNotReady means the bay is still mounting: its identity or video
// directories are not all there yet.
var ErrNotReady = errors.New("bay is not ready (still mounting?)")

// session is one docked camera: its bay, profile and identity.
type session struct {
	bay     string
	root    *os.Root
	profile Profile
	dev     Device
	actor   evidence.Actor
}

// inspect identifies the camera in a bay and lists what it holds. A bay
// that no profile identifies but that holds videos is a camera that
// describes nothing (unidentified.go).
func (d *Dock) inspect(root *os.Root, bay string) (*session, listing, error) {
	vol, hasVol, err := ReadVolume(d.cfg.VolumeDir, bay)
	if err != nil {
		d.log.Warn("bay's volume record unreadable; identifying without it", "bay", bay, "err", err)
	}
	label := bay
	if hasVol {
		label = vol.Label
	}
	for _, p := range d.cfg.Profiles {
		dev, err := p.identify(root, label)
		if errors.Is(err, errNoIdentity) {
			continue
		}
		if err != nil {
			return nil, listing{}, fmt.Errorf("bay %s: profile %s: %w", bay, p.Name, err)
		}
		return d.open(root, bay, p, dev)
	}
	return d.inspectUnidentified(root, bay, vol)
}

// open checks the bay has finished mounting under p and lists it.
func (d *Dock) open(root *os.Root, bay string, p Profile, dev Device) (*session, listing, error) {
	for _, r := range p.readyPaths() {
		name, ok := findFold(root, r)
		info, err := root.Lstat(name)
		if !ok || err != nil || !info.IsDir() {
			return nil, listing{}, fmt.Errorf("bay %s: %s missing: %w", bay, r, ErrNotReady)
		}
	}
	l, err := scanBay(root, p)
	if err != nil {
		return nil, listing{}, fmt.Errorf("bay %s: %w", bay, err)
	}
	return &session{bay: bay, root: root, profile: p, dev: dev, actor: evidence.Actor("dock:" + bay)}, l, nil
}

// BayReport is the outcome of one offload pass over a bay.
type BayReport struct {
	Bay     string
	Profile string
	Device  Device
	Files   []FileReport
	Skipped []Skipped
}

// FileReport is the outcome for one camera file.
type FileReport struct {
	Path    string
	State   string // one of the File* states
	Item    evidence.Item
	New     bool // the vault had not held these bytes before
	Sidecar bool
	Err     error
}

// Complete reports whether every file reached a final state: offloaded,
// released, or kept by policy.
func (r BayReport) Complete() bool {
	for _, f := range r.Files {
		switch f.State {
		case FileOffloaded, FileReleased, FileKept:
		default:
			return false
		}
	}
	return true
}

// Offload runs one offload pass over the camera in bayDir, as the CLI does
// for a single bay: it records the docking, copies and verifies every
// recording, and releases what the profile allows. The error is for a bay
// that could not be offloaded at all; per-file failures are in the report.
func (d *Dock) Offload(ctx context.Context, bayDir string) (BayReport, error) {
	bay := filepath.Base(filepath.Clean(bayDir))
	root, err := os.OpenRoot(bayDir)
	if err != nil {
		return BayReport{Bay: bay}, fmt.Errorf("open bay: %w", err)
	}
	defer root.Close()
	s, l, err := d.inspect(root, bay)
	if err != nil {
		d.reportUnusable(bay, err)
		return BayReport{Bay: bay}, err
	}
	if err := d.docked(ctx, s); err != nil {
		return BayReport{Bay: bay}, err
	}
	return d.pass(ctx, s, l)
}

func (d *Dock) reportUnusable(bay string, err error) {
	state := BayError
	switch {
	case errors.Is(err, ErrNotCamera):
		state = BayNotCamera
	case errors.Is(err, ErrNotReady):
		state = BaySettling
	}
	d.setBay(bay, func(b *bayProgress) { b.State, b.Message = state, err.Error() })
}

func (d *Dock) docked(ctx context.Context, s *session) error {
	det := s.bayDetails(d.now())
	det["battery"] = s.dev.Battery
	det["model"] = s.dev.Model
	det["firmware"] = s.dev.Firmware
	_, err := d.vault.Append(ctx, evidence.CustodyEvent{Actor: s.actor, Action: evidence.ActionDocked, Details: det})
	if err != nil {
		return fmt.Errorf("bay %s: record docking: %w", s.bay, err)
	}
	d.log.Info("camera docked", "bay", s.bay, "serial", s.dev.Serial, "officer", s.dev.Officer, "profile", s.profile.Name)
	return nil
}

func (s *session) bayDetails(now time.Time) map[string]string {
	m := map[string]string{"bay": s.bay, "serial": s.dev.Serial, "profile": s.profile.Name,
		"appliance_time": now.UTC().Format(time.RFC3339Nano)}
	if s.dev.Officer != "" {
		m["officer"] = s.dev.Officer
	}
	if s.dev.Unidentified() {
		m["unidentified"] = "true"
		m["identified_by"] = s.dev.IdentifiedBy
	}
	return m
}

func (s *session) fileDetails(f camFile, now time.Time) map[string]string {
	m := s.bayDetails(now)
	m["camera_path"] = f.Rel
	m["camera_time"] = f.Mtime.UTC().Format(time.RFC3339Nano)
	m["size"] = fmt.Sprint(f.Size)
	if !f.RecStart.IsZero() {
		m["recorded_start"] = f.RecStart.UTC().Format(time.RFC3339Nano)
		m["recorded_duration"] = f.RecDur.String()
	}
	return m
}

// job is one unit's files with their progress entries.
type job struct {
	u        unit
	video    *fileProgress
	sidecars []*fileProgress
}

// pass offloads what a listing holds. Units run side by side up to the copy
// limit; the limit itself is shared by all bays.
func (d *Dock) pass(ctx context.Context, s *session, l listing) (BayReport, error) {
	rep := BayReport{Bay: s.bay, Profile: s.profile.Name, Device: s.dev, Skipped: l.skipped}
	d.recoverReleases(ctx, s)
	if err := d.recoverInterrupted(ctx, s); err != nil {
		return rep, err
	}
	jobs := d.showPass(s, l)
	todo := 0
	for _, j := range jobs {
		if d.needsWork(s, j.u) {
			todo++
		}
	}
	if todo > 0 {
		det := s.bayDetails(d.now())
		det["recordings"] = fmt.Sprint(todo)
		det["bytes"] = fmt.Sprint(l.total())
		if _, err := d.vault.Append(ctx, evidence.CustodyEvent{Actor: s.actor, Action: evidence.ActionOffloadStarted, Details: det}); err != nil {
			return rep, fmt.Errorf("bay %s: record offload start: %w", s.bay, err)
		}
		d.markOffloading(ctx, s, d.now())
	}
	results := make([][]FileReport, len(jobs))
	work := make(chan int)
	var wg sync.WaitGroup
	// Twice as many workers as copy slots: while one unit's file is read
	// back from the vault, another's can be copied.
	for range min(2*d.cfg.MaxConcurrentCopies, max(len(jobs), 1)) {
		wg.Go(func() {
			for i := range work {
				results[i] = d.offloadUnit(ctx, s, jobs[i])
			}
		})
	}
	for i := range jobs {
		work <- i
	}
	close(work)
	wg.Wait()
	for _, r := range results {
		rep.Files = append(rep.Files, r...)
	}
	return rep, d.finishPass(ctx, s, rep, todo)
}

func (d *Dock) finishPass(ctx context.Context, s *session, rep BayReport, todo int) error {
	state := BayDone
	if !rep.Complete() {
		state = BayIncomplete
	}
	if ctx.Err() != nil {
		state = BayInterrupted
		left := 0
		for _, f := range rep.Files {
			if f.State != FileOffloaded && f.State != FileReleased && f.State != FileKept {
				left++
			}
		}
		det := s.bayDetails(d.now())
		det["files_left"] = fmt.Sprint(left)
		det["reason"] = context.Cause(ctx).Error()
		if _, err := d.vault.Append(context.WithoutCancel(ctx), evidence.CustodyEvent{Actor: s.actor, Action: evidence.ActionOffloadInterrupted, Details: det}); err != nil {
			return fmt.Errorf("bay %s: record interruption: %w", s.bay, err)
		}
	}
	if todo > 0 {
		d.clearOffloading(ctx, s)
	}
	d.setBay(s.bay, func(b *bayProgress) { b.State = state })
	level := slog.LevelInfo
	if todo == 0 {
		level = slog.LevelDebug
	}
	d.log.Log(ctx, level, "offload pass ended", "bay", s.bay, "serial", s.dev.Serial, "state", state, "files", len(rep.Files), "worked_on", todo)
	return nil
}

// showPass publishes the bay's file list for Progress.
func (d *Dock) showPass(s *session, l listing) []job {
	jobs := make([]job, 0, len(l.units))
	var all []*fileProgress
	mk := func(f camFile) *fileProgress {
		fp := &fileProgress{FileProgress: FileProgress{Path: f.Rel, State: FilePending, Total: f.Size}}
		all = append(all, fp)
		return fp
	}
	for _, u := range l.units {
		j := job{u: u, video: mk(u.video)}
		for _, sc := range u.sidecars {
			j.sidecars = append(j.sidecars, mk(sc))
		}
		jobs = append(jobs, j)
	}
	d.setBay(s.bay, func(b *bayProgress) {
		b.State, b.Message, b.Profile, b.Device = BayOffloading, "", s.profile.Name, s.dev
		b.Started, b.files, b.Skipped = d.now(), all, l.skipped
	})
	return jobs
}

// offloadUnit offloads a video and then its sidecars, linked to it, and
// only when all of them are verified releases them, sidecars first: the
// video's presence on the camera is what lets a later dock link sidecars
// left behind by an interruption.
func (d *Dock) offloadUnit(ctx context.Context, s *session, j job) []FileReport {
	v := d.fetch(ctx, s, j.u.video, j.video, nil)
	all := []*fetched{v}
	for i, sc := range j.u.sidecars {
		if v.rep.Item.Digest.IsZero() {
			d.setFile(j.sidecars[i], FilePending, "waits for its video")
			all = append(all, &fetched{rep: FileReport{Path: sc.Rel, State: FilePending, Sidecar: true, Err: errors.New("its video was not offloaded")}})
			continue
		}
		all = append(all, d.fetch(ctx, s, sc, j.sidecars[i], &v.rep))
	}
	why := ""
	for _, f := range all {
		if f.rep.State != "" {
			why = "not every file of this recording was offloaded"
		} else if why == "" {
			why = f.keep
		}
	}
	out := make([]FileReport, 0, len(all))
	// Sidecars go first, the video last.
	for i := len(all) - 1; i >= 0; i-- {
		f := all[i]
		if f.rep.State == "" && f.changed {
			f.rep.State = FileChanged
			d.setFile(f.fp, FileChanged, f.keep)
		}
		if f.rep.State == "" && why != "" {
			f.rep.State = keptState(s)
			d.setFile(f.fp, f.rep.State, keptNote(s, why))
		}
		if f.rep.State == "" {
			f.rep = d.releaseFetched(ctx, s, f)
		}
	}
	for _, f := range all {
		out = append(out, f.rep)
	}
	return out
}

// fetched is a camera file whose bytes are in the vault and verified (its
// report's State still empty), or that failed (State set).
type fetched struct {
	rep     FileReport
	f       camFile
	fp      *fileProgress
	fresh   bool   // verified in this pass
	changed bool   // the file changed while it was read
	keep    string // why policy keeps it on the camera; "" to release
}

// fetch copies and verifies one camera file, or finds it already offloaded.
func (d *Dock) fetch(ctx context.Context, s *session, f camFile, fp *fileProgress, parent *FileReport) *fetched {
	out := &fetched{rep: FileReport{Path: f.Rel, Sidecar: f.Sidecar}, f: f, fp: fp}
	if ctx.Err() != nil {
		d.setFile(fp, FileInterrupted, "")
		out.rep.State, out.rep.Err = FileInterrupted, context.Cause(ctx)
		return out
	}
	if it, ok := d.resumed(s, f); ok {
		fp.bytes.Store(f.Size)
		d.setDigest(fp, it.Digest)
		out.rep.Item, out.keep = it, d.releasable(s, it)
		return out
	}
	copied, changed, err := d.copyFile(ctx, s, f, fp, parent)
	out.rep.Item, out.rep.New, out.fresh = copied.item, copied.isNew, true
	if err != nil {
		out.rep.State, out.rep.Err = d.copyFailed(ctx, s, f, fp, copied, err)
		return out
	}
	out.f.Size, out.f.Mtime = copied.size, copied.mtime
	if changed != "" {
		out.keep, out.changed = "changed while it was read: "+changed, true
		return out
	}
	if d.state != nil {
		rp, _ := json.Marshal(resumePoint{Size: copied.size, Mtime: copied.mtime, Digest: copied.item.Digest})
		if err := d.state.Put(context.WithoutCancel(ctx), resumeKey(s.dev.Serial, f.Rel), rp); err != nil {
			d.log.Warn("save resume point", "bay", s.bay, "path", f.Rel, "err", err)
		}
	}
	out.keep = d.releasable(s, copied.item)
	return out
}

// releaseFetched releases a file policy lets go; one verified in an
// earlier pass is verified again first.
func (d *Dock) releaseFetched(ctx context.Context, s *session, f *fetched) FileReport {
	if !f.fresh {
		if err := d.verifyForRelease(ctx, s, f.f, f.rep.Item); err != nil {
			d.setFile(f.fp, FileFailed, err.Error())
			f.rep.State, f.rep.Err = FileFailed, err
			return f.rep
		}
	}
	return d.release(ctx, s, f.f, f.fp, f.rep)
}

// keptState is the state of a verified file that stays on the camera.
func keptState(s *session) string {
	if s.profile.Release == ReleaseNever || s.profile.Release == "" {
		return FileOffloaded
	}
	return FileKept
}

func keptNote(s *session, why string) string {
	if keptState(s) == FileOffloaded {
		return ""
	}
	return why
}

// resumePoint is what the dock remembers of a file it has offloaded, so a
// re-docked camera is not copied again.
type resumePoint struct {
	Size   int64           `json:"size"`
	Mtime  time.Time       `json:"mtime"`
	Digest evidence.Digest `json:"digest"`
}

func resumeKey(serial, rel string) string { return "file/" + serial + "/" + rel }

func releasingKey(serial, rel string) string { return "releasing/" + serial + "/" + rel }

// resumed returns the item a camera file was already offloaded as, if the
// file has not changed since.
func (d *Dock) resumed(s *session, f camFile) (evidence.Item, bool) {
	if d.state == nil {
		return evidence.Item{}, false
	}
	raw, err := d.state.Get(resumeKey(s.dev.Serial, f.Rel))
	if err != nil || raw == nil {
		return evidence.Item{}, false
	}
	var rp resumePoint
	if json.Unmarshal(raw, &rp) != nil || rp.Size != f.Size || !rp.Mtime.Equal(f.Mtime) {
		return evidence.Item{}, false
	}
	it, err := d.vault.Item(rp.Digest)
	if err != nil || it.State != evidence.StateStored {
		return evidence.Item{}, false
	}
	return it, true
}

// needsWork says whether a unit will be copied or released in this pass.
func (d *Dock) needsWork(s *session, u unit) bool {
	release := true
	for _, f := range append([]camFile{u.video}, u.sidecars...) {
		it, ok := d.resumed(s, f)
		if !ok {
			return true
		}
		release = release && d.releasable(s, it) == ""
	}
	return release
}

// releasable returns "" when policy lets the camera copy of it go, or why
// it is kept.
func (d *Dock) releasable(s *session, it evidence.Item) string {
	switch {
	case s.profile.Release == ReleaseNever || s.profile.Release == "":
		return "release policy is never"
	case it.HasProblem(evidence.ProblemUndecodable) && !s.profile.ReleaseMarked:
		return "marked undecodable; the profile does not release marked files"
	case s.profile.Release == ReleaseAfterAck && (d.ack == nil || !d.ack.Acknowledged(it.Digest)):
		return "waiting for central acknowledgement"
	}
	return ""
}

func (d *Dock) setDigest(fp *fileProgress, dg evidence.Digest) {
	d.mu.Lock()
	fp.Digest = dg.String()
	d.mu.Unlock()
}

// copyResult is what a copy read and stored.
type copyResult struct {
	item    evidence.Item
	isNew   bool
	size    int64
	mtime   time.Time
	readErr error // the camera's own read error
}

// copyFile streams the camera file into the vault, hashing as it copies,
// then has the vault re-read its copy from the disk. The copy holds one of
// the dock's copy slots and the read-back one of its verify slots, so the
// next file can be copied during the read-back. changed is non-empty when
// the file changed while it was read: the bytes read are kept, the file is
// not released and is copied again on a later pass.
func (d *Dock) copyFile(ctx context.Context, s *session, f camFile, fp *fileProgress, parent *FileReport) (res copyResult, changed string, err error) {
	fh, before, res, err := d.stageCopy(ctx, s, &f, fp, parent)
	if fh != nil {
		defer fh.Close()
	}
	if err != nil {
		return res, "", err
	}
	read := fp.bytes.Load()
	if res.item.Size != read {
		return res, "", fmt.Errorf("copy %s: %d bytes read from the camera, the vault stored %d", f.Rel, read, res.item.Size)
	}
	d.setFile(fp, FileVerifying, "")
	d.setDigest(fp, res.item.Digest)
	if err := d.verify(ctx, res.item.Digest); err != nil {
		d.recordVerifyFailed(ctx, s, f, res.item, err)
		return res, "", fmt.Errorf("verify %s: %w", f.Rel, err)
	}
	changed = changedWhileRead(fh, before, read)
	return res, changed, d.recordCopy(ctx, s, f, parent, res, changed)
}

// stageCopy copies the camera file into the vault under a copy slot. f gets
// the size, camera time and recording times seen on open. The camera file
// stays open (returned even on error once opened) so the caller can check
// it did not change while it was read.
func (d *Dock) stageCopy(ctx context.Context, s *session, f *camFile, fp *fileProgress, parent *FileReport) (*os.File, fs.FileInfo, copyResult, error) {
	var res copyResult
	select {
	case d.copies <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, res, context.Cause(ctx)
	}
	defer func() { <-d.copies }()
	fh, before, err := openCamFile(s.root, f.Rel)
	if err != nil {
		res.readErr = err
		return nil, nil, res, err
	}
	res.size, res.mtime = before.Size(), before.ModTime()
	f.Size, f.Mtime = res.size, res.mtime
	if !f.Sidecar {
		// A few header reads at their own offsets; the copy below is still
		// the one read of the media.
		f.RecStart, f.RecDur, _ = mp4.MovieTimes(fh, res.size)
	}
	d.mu.Lock()
	fp.State, fp.Total, fp.started, fp.copied = FileCopying, f.Size, d.now(), true
	d.mu.Unlock()
	fp.bytes.Store(0)

	// Reading stops at the size seen on open, so a file still being written
	// yields a consistent prefix instead of a moving target.
	var src io.Reader = io.LimitReader(fh, res.size)
	if d.readHook != nil {
		src = d.readHook(f.Rel, src)
	}
	if d.throttle != nil {
		src = d.throttle(ctx, src)
	}
	cr := &countingReader{r: src, f: fp, total: &d.bytesRead}
	res.item, res.isNew, err = d.vault.IngestReader(ctx, cr, s.intake(*f, parent, d.now()))
	if err != nil {
		res.readErr = cr.err
		return fh, before, res, fmt.Errorf("copy %s: %w", f.Rel, err)
	}
	return fh, before, res, nil
}

// verify has the vault re-read the stored copy of dg from the disk and check
// it, under a verify slot.
func (d *Dock) verify(ctx context.Context, dg evidence.Digest) error {
	select {
	case d.verifies <- struct{}{}:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	defer func() { <-d.verifies }()
	return d.vault.VerifyItem(ctx, dg)
}

// openCamFile opens a camera file for reading without following a link in
// its last element; the os.Root keeps every other element inside the bay.
func openCamFile(root *os.Root, rel string) (*os.File, fs.FileInfo, error) {
	fh, err := root.OpenFile(rel, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", rel, err)
	}
	info, err := fh.Stat()
	if err == nil && !info.Mode().IsRegular() {
		err = fmt.Errorf("not a regular file (%s)", info.Mode().Type())
	}
	if err != nil {
		fh.Close()
		return nil, nil, fmt.Errorf("open %s: %w", rel, err)
	}
	return fh, info, nil
}

// recordCopy appends the file-offloaded and verified events of a copy in
// one durable write; only after it may the camera's file be released.
func (d *Dock) recordCopy(ctx context.Context, s *session, f camFile, parent *FileReport, res copyResult, changed string) error {
	det := s.fileDetails(f, d.now())
	if parent != nil {
		det["video"] = parent.Item.Digest.String()
	}
	det["new"] = fmt.Sprint(res.isNew)
	if changed != "" {
		det["changed_while_read"] = changed
	}
	for _, p := range res.item.Problems {
		det["problem:"+p.Code] = p.Detail
	}
	verDet := maps.Clone(det)
	verDet["verified_size"] = fmt.Sprint(res.item.Size)
	_, err := d.vault.Append(context.WithoutCancel(ctx),
		evidence.CustodyEvent{Actor: s.actor, Action: evidence.ActionFileOffloaded, Item: res.item.Digest, Details: det},
		evidence.CustodyEvent{Actor: s.actor, Action: evidence.ActionVerified, Item: res.item.Digest, Details: verDet})
	if err != nil {
		return fmt.Errorf("record offload of %s: %w", f.Rel, err)
	}
	return nil
}

func changedWhileRead(fh *os.File, before fs.FileInfo, read int64) string {
	after, err := fh.Stat()
	if err != nil {
		return fmt.Sprintf("could not re-check the file: %v", err)
	}
	return evidence.ChangedWhileRead(before, after, read)
}

func (s *session) intake(f camFile, parent *FileReport, now time.Time) evidence.Intake {
	in := evidence.Intake{
		Actor: s.actor, Source: s.dev.Serial, Officer: s.dev.Officer, OriginalName: f.Rel,
		CapturedStart: f.Mtime,
		Labels:        map[string]string{"bay": s.bay, "profile": s.profile.Name},
		Details:       s.fileDetails(f, now),
	}
	if s.dev.Model != "" {
		in.Labels["model"] = s.dev.Model
	}
	if s.dev.Firmware != "" {
		in.Labels["firmware"] = s.dev.Firmware
	}
	if s.dev.Unidentified() {
		in.Labels[LabelUnidentified] = s.dev.IdentifiedBy
	}
	if !f.RecStart.IsZero() {
		in.CapturedStart, in.CapturedEnd = f.RecStart, f.RecStart.Add(f.RecDur)
	}
	in.Kind = evidence.KindVideo
	if f.Sidecar {
		in.Kind = evidence.KindSidecar
	}
	if parent != nil {
		in.Parent, in.Relation = parent.Item.Digest, "sidecar"
		// Bytes the vault already holds keep their first record's parent;
		// the event still names the video this copy came with.
		in.Details["video"] = parent.Item.Digest.String()
	}
	return in
}

// recordVerifyFailed records a read-back that did not match. One cut short
// by an undock or shutdown (possibly while waiting for a verify slot) proved
// nothing either way: it is not recorded, the pass's interruption is.
func (d *Dock) recordVerifyFailed(ctx context.Context, s *session, f camFile, it evidence.Item, verr error) {
	if ctx.Err() != nil {
		return
	}
	det := s.fileDetails(f, d.now())
	det["error"] = verr.Error()
	if _, err := d.vault.Append(context.WithoutCancel(ctx), evidence.CustodyEvent{Actor: s.actor, Action: ActionVerifyFailed, Item: it.Digest, Details: det}); err != nil {
		d.log.Error("record failed verification", "bay", s.bay, "path", f.Rel, "err", err)
	}
}

// copyFailed records why a copy did not complete and returns the state.
func (d *Dock) copyFailed(ctx context.Context, s *session, f camFile, fp *fileProgress, res copyResult, err error) (string, error) {
	switch {
	case ctx.Err() != nil: // undocked or stopping: whatever failed, it was cut short
		d.setFile(fp, FileInterrupted, err.Error())
		return FileInterrupted, err
	case res.readErr != nil:
		det := s.fileDetails(f, d.now())
		det["error"] = res.readErr.Error()
		det["bytes_read"] = fmt.Sprint(fp.bytes.Load())
		if _, aerr := d.vault.Append(context.WithoutCancel(ctx), evidence.CustodyEvent{Actor: s.actor, Action: evidence.ActionFileUnreadable, Details: det}); aerr != nil {
			err = errors.Join(err, aerr)
		}
		d.log.Warn("camera file unreadable", "bay", s.bay, "serial", s.dev.Serial, "path", f.Rel, "err", res.readErr)
		d.setFile(fp, FileUnreadable, err.Error())
		return FileUnreadable, err
	}
	d.log.Error("offload file failed", "bay", s.bay, "path", f.Rel, "err", err)
	d.setFile(fp, FileFailed, err.Error())
	return FileFailed, err
}
