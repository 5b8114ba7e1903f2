package appliance

import (
	"context"
	"fmt"
	"reflect"
	"slices"

	"github.com/edgetriage/edgetriage/appliance/pipeline"
	"github.com/edgetriage/edgetriage/appliance/supervisor"
	"github.com/edgetriage/edgetriage/capture/rtsp"
	"github.com/edgetriage/edgetriage/triage/motion"
)

// newCamera builds the recorder of one camera and, for a motion-only
// camera, the live motion source that tells it what to keep.
func (d *Daemon) newCamera(cam rtsp.Config, triage pipeline.TriageConfig) (*rtsp.Recorder, *motion.LiveSource, error) {
	opt := rtsp.Options{Logger: d.log}
	var src *motion.LiveSource
	if cam.Mode == rtsp.ModeMotion {
		var err error
		if src, err = pipeline.NewLiveMotion(cam, triage.For(cam.ID), d.vault, d.log); err != nil {
			return nil, nil, fmt.Errorf("camera %s: %w", cam.ID, err)
		}
		opt.Motion = src
	}
	rec, err := rtsp.New(cam, pipeline.NewOriginVault(d.vault, "rtsp"), opt)
	if err != nil {
		return nil, nil, fmt.Errorf("camera %s: %w", cam.ID, err)
	}
	return rec, src, nil
}

func cameraPart(rec *rtsp.Recorder) named { return named{"camera:" + rec.Config().ID, rec} }

func motionPart(src *motion.LiveSource) named { return named{"motion:" + src.CameraID(), src} }

// cameraPlan is what a reload does to the cameras: each camera whose
// recording setup (or, for a motion-only one, its motion setup) changed is
// stopped and started again; the others are not touched.
type cameraPlan struct {
	added, removed, changed []string
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
		}
	}
	for id := range before {
		p.removed = append(p.removed, id)
	}
	slices.Sort(p.removed)
	return p
}

func (p cameraPlan) empty() bool { return len(p.added)+len(p.removed)+len(p.changed) == 0 }

// applyCameras stops the removed and changed cameras (each seals the
// segment in hand and records its gap, as at shutdown) and starts the added
// and changed ones with their new setup.
func (d *Daemon) applyCameras(ctx context.Context, intake *supervisor.Group, p cameraPlan, next []rtsp.Config, triage pipeline.TriageConfig) error {
	for _, id := range append(slices.Clone(p.removed), p.changed...) {
		if err := d.stopCamera(ctx, intake, id); err != nil {
			return err
		}
	}
	for _, cam := range next {
		if !slices.Contains(p.added, cam.ID) && !slices.Contains(p.changed, cam.ID) {
			continue
		}
		if err := d.startCamera(intake, cam, triage); err != nil {
			return err
		}
	}
	return nil
}

func (d *Daemon) stopCamera(ctx context.Context, intake *supervisor.Group, id string) error {
	for _, name := range []string{"camera:" + id, "motion:" + id} {
		if err := intake.Remove(ctx, name); err != nil {
			return fmt.Errorf("stop camera %s: %w", id, err)
		}
	}
	d.camMu.Lock()
	defer d.camMu.Unlock()
	d.cameras = slices.DeleteFunc(d.cameras, func(r *rtsp.Recorder) bool { return r.Config().ID == id })
	d.motionLive = slices.DeleteFunc(d.motionLive, func(s *motion.LiveSource) bool { return s.CameraID() == id })
	return nil
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
		d.motionLive = append(d.motionLive, src)
	}
	return nil
}
