package appliance

import (
	"context"
	"fmt"
	"reflect"
	"slices"

	"github.com/edgetriage/edgetriage/appliance/pipeline"
	"github.com/edgetriage/edgetriage/appliance/supervisor"
	"github.com/edgetriage/edgetriage/capture/live"
	"github.com/edgetriage/edgetriage/capture/rtsp"
	"github.com/edgetriage/edgetriage/triage/motion"
)

// newCamera builds the recorder of one camera and, when triage runs or the
// camera records on motion only, its live analysis: triage takes sealed
// segments' events from it, a motion-only recorder asks it what to keep.
func (d *Daemon) newCamera(cam rtsp.Config, triage pipeline.TriageConfig) (*rtsp.Recorder, *motion.LiveSource, error) {
	opt := rtsp.Options{Logger: d.log}
	src, err := d.newLiveAnalysis(cam, triage)
	if err != nil {
		return nil, nil, err
	}
	if cam.Mode == rtsp.ModeMotion {
		opt.Motion = src
	}
	rec, err := rtsp.New(cam, pipeline.NewOriginVault(d.vault, "rtsp"), opt)
	if err != nil {
		return nil, nil, fmt.Errorf("camera %s: %w", cam.ID, err)
	}
	return rec, src, nil
}

// newLiveAnalysis is cam's live analysis, or nil when it needs none.
func (d *Daemon) newLiveAnalysis(cam rtsp.Config, triage pipeline.TriageConfig) (*motion.LiveSource, error) {
	if !analysedLive(cam, triage) {
		return nil, nil
	}
	src, err := pipeline.NewLiveAnalysis(cam, triage.For(cam.ID), d.vault, d.log)
	if err != nil {
		return nil, fmt.Errorf("camera %s: %w", cam.ID, err)
	}
	return src, nil
}

func analysedLive(cam rtsp.Config, triage pipeline.TriageConfig) bool {
	return triage.Enabled || cam.Mode == rtsp.ModeMotion
}

// liveWindower is the live analysis of camera id, for the triage stage;
// nil when the camera has none (now: a reload may have replaced it).
func (d *Daemon) liveWindower(id string) pipeline.LiveWindower {
	d.camMu.Lock()
	defer d.camMu.Unlock()
	for _, src := range d.live {
		if src.CameraID() == id {
			return src
		}
	}
	return nil
}

// liveCameras is what the live view needs of the cameras' configuration.
func liveCameras(cams []rtsp.Config) []live.Camera {
	out := make([]live.Camera, 0, len(cams))
	for _, c := range cams {
		out = append(out, live.Camera{ID: c.ID, URL: c.URL, SubStreamURL: c.SubStreamURL})
	}
	return out
}

func cameraPart(rec *rtsp.Recorder) named { return named{"camera:" + rec.Config().ID, rec} }

func motionPart(src *motion.LiveSource) named { return named{"motion:" + src.CameraID(), src} }

// cameraPlan is what a reload does to the cameras: each camera whose
// recording setup (or, for a motion-only one, its motion setup) changed is
// stopped and started again; a recording one whose live analysis alone
// changed (its motion setup, or triage turned on or off) has only that
// restarted, so its recording has no gap; the others are not touched.
type cameraPlan struct {
	added, removed, changed []string
	reanalysed              []string
}

func planCameras(old, next []rtsp.Config, oldTriage, nextTriage pipeline.TriageConfig) cameraPlan {
	var p cameraPlan
	before := map[string]rtsp.Config{}
	for _, c := range old {
		before[c.ID] = c
	}
	for _, c := range next {
		was, ok := before[c.ID]
		delete(before, c.ID)
		switch {
		case !ok:
			p.added = append(p.added, c.ID)
		case !reflect.DeepEqual(was, c),
			c.Mode == rtsp.ModeMotion && !reflect.DeepEqual(oldTriage.For(c.ID), nextTriage.For(c.ID)):
			p.changed = append(p.changed, c.ID)
		case analysedLive(c, oldTriage) != analysedLive(c, nextTriage),
			analysedLive(c, nextTriage) && !reflect.DeepEqual(oldTriage.For(c.ID), nextTriage.For(c.ID)):
			p.reanalysed = append(p.reanalysed, c.ID)
		}
	}
	for id := range before {
		p.removed = append(p.removed, id)
	}
	slices.Sort(p.removed)
	return p
}

func (p cameraPlan) empty() bool {
	return len(p.added)+len(p.removed)+len(p.changed)+len(p.reanalysed) == 0
}

// applyCameras stops the removed and changed cameras (each seals the
// segment in hand and hands over what it holds, as at shutdown) and starts
// the added and changed ones with their new setup. A changed camera starts
// as soon as its old recorder has returned; one still handing segments to
// a slow vault when stopBy ends starts later, by itself, rather than being
// left stopped.
func (d *Daemon) applyCameras(stopBy context.Context, intake *supervisor.Group, p cameraPlan, next []rtsp.Config, triage pipeline.TriageConfig) error {
	d.liveView.Set(liveCameras(next))
	for _, id := range append(slices.Clone(p.removed), p.changed...) {
		d.stopCamera(intake, id)
	}
	for _, cam := range next {
		var err error
		switch {
		case slices.Contains(p.added, cam.ID), slices.Contains(p.changed, cam.ID):
			err = d.startCameraAfter(stopBy, intake, cam, triage)
		case slices.Contains(p.reanalysed, cam.ID):
			err = d.restartLiveAnalysis(stopBy, intake, cam, triage)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// restartLiveAnalysis replaces a recording camera's live analysis; what
// the old one saw goes with it, so segments sealed meanwhile are decoded
// from their files.
func (d *Daemon) restartLiveAnalysis(ctx context.Context, intake *supervisor.Group, cam rtsp.Config, triage pipeline.TriageConfig) error {
	if err := intake.Remove(ctx, "motion:"+cam.ID); err != nil {
		return fmt.Errorf("stop live analysis of camera %s: %w", cam.ID, err)
	}
	d.camMu.Lock()
	d.live = slices.DeleteFunc(d.live, func(s *motion.LiveSource) bool { return s.CameraID() == cam.ID })
	d.camMu.Unlock()
	src, err := d.newLiveAnalysis(cam, triage)
	if err != nil || src == nil {
		return err
	}
	if err := intake.Add(motionPart(src)); err != nil {
		return err
	}
	d.camMu.Lock()
	defer d.camMu.Unlock()
	d.live = append(d.live, src)
	return nil
}

// stopCamera ends a camera's recorder and live motion source and notes when
// both have returned.
func (d *Daemon) stopCamera(intake *supervisor.Group, id string) {
	rec, live := intake.Cancel("camera:"+id), intake.Cancel("motion:"+id)
	d.camMu.Lock()
	defer d.camMu.Unlock()
	earlier := d.camLeaving[id]
	left := make(chan struct{})
	go func() {
		for _, done := range []<-chan struct{}{earlier, rec, live} {
			if done != nil {
				<-done
			}
		}
		close(left)
	}()
	if d.camLeaving == nil {
		d.camLeaving = map[string]<-chan struct{}{}
	}
	d.camLeaving[id] = left
	d.cameras = slices.DeleteFunc(d.cameras, func(r *rtsp.Recorder) bool { return r.Config().ID == id })
	d.live = slices.DeleteFunc(d.live, func(s *motion.LiveSource) bool { return s.CameraID() == id })
}

// startCameraAfter starts a camera once its earlier recorder, if any, has
// returned: at once when that happens before stopBy ends, else later, as
// the running configuration has it then.
func (d *Daemon) startCameraAfter(stopBy context.Context, intake *supervisor.Group, cam rtsp.Config, triage pipeline.TriageConfig) error {
	d.camMu.Lock()
	left := d.camLeaving[cam.ID]
	d.camMu.Unlock()
	if left != nil {
		select {
		case <-left:
		case <-stopBy.Done():
			d.log.Warn("camera's old recorder is still handing segments to the vault; it starts with its new setup once that is done", "camera", cam.ID)
			go func() {
				<-left
				// After this reload, before the next one.
				d.reloadMu.Lock()
				defer d.reloadMu.Unlock()
				d.startCurrent(intake, cam.ID)
			}()
			return nil
		}
	}
	return d.startCamera(intake, cam, triage)
}

// startCurrent starts a camera as the running configuration has it now (a
// later reload may have changed or removed it meanwhile); one already
// running is left alone.
func (d *Daemon) startCurrent(intake *supervisor.Group, id string) {
	d.cfgMu.Lock()
	cams, triage := d.cfg.Cameras, d.cfg.Triage
	d.cfgMu.Unlock()
	i := slices.IndexFunc(cams, func(c rtsp.Config) bool { return c.ID == id })
	if i < 0 || intake.Has("camera:"+id) {
		return
	}
	if err := d.startCamera(intake, cams[i], triage); err != nil {
		d.log.Error("camera not started after a reload", "camera", id, "err", err)
	}
}

func (d *Daemon) startCamera(intake *supervisor.Group, cam rtsp.Config, triage pipeline.TriageConfig) error {
	rec, src, err := d.newCamera(cam, triage)
	if err != nil {
		return err
	}
	if src != nil {
		if err := intake.Add(motionPart(src)); err != nil {
			return err
		}
	}
	if err := intake.Add(cameraPart(rec)); err != nil {
		return err
	}
	d.camMu.Lock()
	defer d.camMu.Unlock()
	d.cameras = append(d.cameras, rec)
	if src != nil {
		d.live = append(d.live, src)
	}
	return nil
}
