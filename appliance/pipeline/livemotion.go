package pipeline

import (
	"context"
	"log/slog"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
	"github.com/edgetriage/edgetriage/capture/rtsp"
	"github.com/edgetriage/edgetriage/triage/motion"
)

// NewLiveAnalysis is a camera's live analysis: an RTSP client of its own
// on the camera's sub-stream (the main stream when it has none), so
// analysis never touches what is recorded, decoded once at the live
// analysis rate. Triage asks it for each sealed segment; a motion-only
// recorder asks it whether to keep one. It keeps its history long enough
// for any segment plus its rolls and a triage backlog. Its tamper alerts
// go into v's custody chain as they are raised.
func NewLiveAnalysis(cam rtsp.Config, cfg motion.Config, v *vault.Vault, log *slog.Logger) (*motion.LiveSource, error) {
	url := cam.SubStreamURL
	if url == "" {
		url = cam.URL
	}
	transport := "tcp"
	if cam.Transport == rtsp.TransportUDP {
		transport = "udp"
	}
	return motion.NewLiveSource(cam.ID, url, cfg, motion.LiveSourceOptions{
		Logger:     log,
		Transport:  transport,
		Timeout:    cam.Timeout,
		BackoffMin: cam.BackoffMin,
		BackoffMax: cam.BackoffMax,
		History:    max(time.Hour, 4*(cam.SegmentLength+cam.PreRoll+cam.PostRoll)),
		OnAlert:    TamperRecorder(v, log),
	})
}

// TamperRecorder puts a live camera's tamper alert (lens covered, defocus,
// camera moved) in the custody chain, as file triage does for a clip's, so
// the chain says when a camera stopped seeing its scene.
func TamperRecorder(v *vault.Vault, log *slog.Logger) func(cameraID string, a motion.Alert) {
	return func(cameraID string, a motion.Alert) {
		det := a.Details()
		det["camera"] = cameraID
		if _, err := v.Append(context.Background(), evidence.CustodyEvent{Actor: evidence.Actor("camera:" + cameraID),
			Action: evidence.ActionTamperAlert, Details: det}); err != nil {
			log.Error("record tamper alert", "camera", cameraID, "err", err)
			return
		}
		log.Warn("camera tamper alert", "camera", cameraID, "kind", a.Kind, "detail", a.Detail)
	}
}
