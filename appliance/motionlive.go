package appliance

import (
	"context"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/capture/rtsp"
	"github.com/edgetriage/edgetriage/triage/motion"
)

// liveMotion is the motion signal of a motion-only camera: an RTSP client
// of its own on the camera's sub-stream (the main stream when it has
// none), so analysis never touches what is recorded. The recorder asks it
// when it seals a segment; it keeps motion history long enough for any
// segment plus its rolls.
func (d *Daemon) liveMotion(cam rtsp.Config) (*motion.LiveSource, error) {
	url := cam.SubStreamURL
	if url == "" {
		url = cam.URL
	}
	transport := "tcp"
	if cam.Transport == rtsp.TransportUDP {
		transport = "udp"
	}
	return motion.NewLiveSource(cam.ID, url, d.cfg.Triage.For(cam.ID), motion.LiveSourceOptions{
		Logger:     d.log,
		Transport:  transport,
		Timeout:    cam.Timeout,
		BackoffMin: cam.BackoffMin,
		BackoffMax: cam.BackoffMax,
		History:    max(time.Hour, 4*(cam.SegmentLength+cam.PreRoll+cam.PostRoll)),
		OnAlert:    d.recordLiveTamper,
	})
}

// recordLiveTamper puts a live camera's tamper alert (lens covered,
// defocus, camera moved) in the custody chain, as file triage does for a
// clip's, so the chain says when a camera stopped seeing its scene.
func (d *Daemon) recordLiveTamper(cameraID string, a motion.Alert) {
	det := a.Details()
	det["camera"] = cameraID
	if _, err := d.vault.Append(context.Background(), evidence.CustodyEvent{Actor: evidence.Actor("camera:" + cameraID),
		Action: evidence.ActionTamperAlert, Details: det}); err != nil {
		d.log.Error("record tamper alert", "camera", cameraID, "err", err)
		return
	}
	d.log.Warn("camera tamper alert", "camera", cameraID, "kind", a.Kind, "detail", a.Detail)
}
