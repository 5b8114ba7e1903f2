package metrics

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/capture/dock"
	"github.com/edgetriage/edgetriage/capture/rtsp"
	"github.com/edgetriage/edgetriage/firmware"
	"github.com/edgetriage/edgetriage/sync/outbox"
	"github.com/edgetriage/edgetriage/triage/motion"
)

var (
	descDockBytes    = prometheus.NewDesc("edgetriage_dock_offload_bytes", "Bytes offloaded in the current pass, per bay.", []string{"bay"}, nil)
	descDockRate     = prometheus.NewDesc("edgetriage_dock_offload_bytes_per_second", "Offload rate per bay.", []string{"bay"}, nil)
	descDockState    = prometheus.NewDesc("edgetriage_dock_bay_state", "1 for the state each bay is in.", []string{"bay", "state"}, nil)
	descCamFPS       = prometheus.NewDesc("edgetriage_camera_fps", "Frames per second recorded, per camera.", []string{"camera"}, nil)
	descCamBitrate   = prometheus.NewDesc("edgetriage_camera_bitrate_bits_per_second", "Recorded bitrate per camera.", []string{"camera"}, nil)
	descCamGaps      = prometheus.NewDesc("edgetriage_camera_gaps_24h", "Recording gaps in the last 24 hours, per camera.", []string{"camera"}, nil)
	descCamSegments  = prometheus.NewDesc("edgetriage_camera_segments_sealed", "Segments sealed since start, per camera.", []string{"camera"}, nil)
	descCamUp        = prometheus.NewDesc("edgetriage_camera_recording", "1 while a camera is being recorded.", []string{"camera"}, nil)
	descSyncItems    = prometheus.NewDesc("edgetriage_sync_items", "Outbox entries by state.", []string{"state"}, nil)
	descSyncRate     = prometheus.NewDesc("edgetriage_sync_upload_bytes_per_second", "Upload rate to central storage.", nil, nil)
	descSyncPending  = prometheus.NewDesc("edgetriage_sync_pending_bytes", "Bytes waiting to be sent to central storage.", nil, nil)
	descFirmware     = prometheus.NewDesc("edgetriage_firmware_cameras", "Cameras by firmware update state.", []string{"state"}, nil)
	descTriageQueue  = prometheus.NewDesc("edgetriage_stage_backlog_events", "Custody events a pipeline stage has yet to look at.", []string{"stage"}, nil)
	descLiveCPU      = prometheus.NewDesc("edgetriage_camera_analysis_cpu_seconds_total", "CPU time live analysis used, per camera: its decoder (part=decode) and the detector with thumbnails (part=detect).", []string{"camera", "part"}, nil)
	descLiveFrames   = prometheus.NewDesc("edgetriage_camera_analysis_frames_total", "Frames live analysis analysed, per camera.", []string{"camera"}, nil)
	partDescriptions = []*prometheus.Desc{descDockBytes, descDockRate, descDockState, descCamFPS, descCamBitrate, descCamGaps,
		descCamSegments, descCamUp, descSyncItems, descSyncRate, descSyncPending, descFirmware, descTriageQueue, descLiveCPU, descLiveFrames}
)

// Parts are the daemon's parts, read at scrape time from their own status
// snapshots.
type Parts struct {
	Dock     func() dock.Snapshot
	Cameras  func() []rtsp.Status
	Outbox   func(ctx context.Context) (outbox.Status, error)
	Firmware func() ([]firmware.Status, error)
	// Head is the custody chain's head; each stage's backlog is measured
	// from it.
	Head   func() (evidence.CustodyEvent, error)
	Stages []Stage
	// Analysis is each camera's live analysis counters, by camera id; nil
	// when no camera is analysed live.
	Analysis func() map[string]motion.LiveStats
}

// Stage is a pipeline stage that follows the custody chain.
type Stage interface {
	Name() string
	Cursor() (uint64, error)
}

func (p Parts) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range partDescriptions {
		ch <- d
	}
}

func (p Parts) Collect(ch chan<- prometheus.Metric) {
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	for _, b := range p.Dock().Bays {
		gauge(descDockBytes, float64(b.Bytes), b.Bay)
		gauge(descDockRate, b.Rate, b.Bay)
		gauge(descDockState, 1, b.Bay, b.State)
	}
	for _, s := range p.Cameras() {
		gauge(descCamFPS, s.FPS, s.Camera)
		gauge(descCamBitrate, s.BitrateBPS, s.Camera)
		gauge(descCamGaps, float64(len(s.Gaps24h)), s.Camera)
		gauge(descCamSegments, float64(s.SegmentsSealed), s.Camera)
		up := 0.0
		if s.OpenGap == nil && !s.LastFrame.IsZero() {
			up = 1
		}
		gauge(descCamUp, up, s.Camera)
	}
	if st, err := p.Outbox(context.Background()); err == nil {
		for state, n := range st.Counts {
			gauge(descSyncItems, float64(n), string(state))
		}
		gauge(descSyncRate, st.BytesPerSecond)
		var pending int64
		for _, e := range st.Items {
			if e.State != "verified" && e.State != "acknowledged" {
				pending += e.Size
			}
		}
		gauge(descSyncPending, float64(pending))
	}
	if sts, err := p.Firmware(); err == nil {
		counts := map[string]int{}
		for _, s := range sts {
			counts[string(s.State)]++
		}
		for state, n := range counts {
			gauge(descFirmware, float64(n), state)
		}
	}
	if p.Analysis != nil {
		counter := func(desc *prometheus.Desc, v float64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, v, labels...)
		}
		for cam, st := range p.Analysis() {
			counter(descLiveCPU, st.DecodeCPU.Seconds(), cam, "decode")
			counter(descLiveCPU, st.AnalysisCPU.Seconds(), cam, "detect")
			counter(descLiveFrames, float64(st.Frames), cam)
		}
	}
	if head, err := p.Head(); err == nil {
		for _, f := range p.Stages {
			if cur, err := f.Cursor(); err == nil {
				gauge(descTriageQueue, float64(head.Seq-min(cur, head.Seq)), f.Name())
			}
		}
	}
}
