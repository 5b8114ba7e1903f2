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

// Names follow Prometheus' conventions: counters end in _total and carry
// no rate (rate() in PromQL makes one over any window), units are in the
// name (_bytes, _seconds), and nothing node_exporter reports about the host
// is repeated here.
var (
	descDockRead     = prometheus.NewDesc("edgetriage_dock_read_bytes_total", "Bytes read off docked cameras since start.", nil, nil)
	descDockPending  = prometheus.NewDesc("edgetriage_dock_offload_remaining_bytes", "Bytes a bay's current pass has yet to copy.", []string{"bay"}, nil)
	descDockState    = prometheus.NewDesc("edgetriage_dock_bay_state", "1 for the state each bay is in.", []string{"bay", "state"}, nil)
	descCamFrames    = prometheus.NewDesc("edgetriage_camera_frames_total", "Video frames received since start, per camera.", []string{"camera"}, nil)
	descCamBytes     = prometheus.NewDesc("edgetriage_camera_received_bytes_total", "Video bytes received since start, per camera.", []string{"camera"}, nil)
	descCamGaps      = prometheus.NewDesc("edgetriage_camera_gaps_total", "Recording gaps opened since start, per camera.", []string{"camera"}, nil)
	descCamSegments  = prometheus.NewDesc("edgetriage_camera_segments_sealed_total", "Segments sealed since start, per camera.", []string{"camera"}, nil)
	descCamLost      = prometheus.NewDesc("edgetriage_camera_rtp_packets_lost_total", "RTP packets lost since start, per camera.", []string{"camera"}, nil)
	descCamLastSeg   = prometheus.NewDesc("edgetriage_camera_last_segment_timestamp_seconds", "When the last segment was sealed (Unix time), per camera.", []string{"camera"}, nil)
	descCamUp        = prometheus.NewDesc("edgetriage_camera_recording", "1 while a camera is being recorded.", []string{"camera"}, nil)
	descSyncItems    = prometheus.NewDesc("edgetriage_sync_items", "Outbox entries by state.", []string{"state"}, nil)
	descSyncSent     = prometheus.NewDesc("edgetriage_sync_uploaded_bytes_total", "Bytes sent to central storage since start, retries included.", nil, nil)
	descSyncPending  = prometheus.NewDesc("edgetriage_sync_pending_bytes", "Bytes waiting to be sent to central storage.", nil, nil)
	descSyncFailing  = prometheus.NewDesc("edgetriage_sync_failing_items", "Outbox entries whose last attempt failed.", nil, nil)
	descFirmware     = prometheus.NewDesc("edgetriage_firmware_cameras", "Cameras by firmware update state.", []string{"state"}, nil)
	descTriageQueue  = prometheus.NewDesc("edgetriage_stage_backlog_events", "Custody events a pipeline stage has yet to look at.", []string{"stage"}, nil)
	descLiveCPU      = prometheus.NewDesc("edgetriage_camera_analysis_cpu_seconds_total", "CPU time live analysis used, per camera: its decoder (part=decode) and the detector with thumbnails (part=detect).", []string{"camera", "part"}, nil)
	descLiveFrames   = prometheus.NewDesc("edgetriage_camera_analysis_frames_total", "Frames live analysis analysed, per camera.", []string{"camera"}, nil)
	partDescriptions = []*prometheus.Desc{descDockRead, descDockPending, descDockState, descCamFrames, descCamBytes, descCamGaps,
		descCamSegments, descCamLost, descCamLastSeg, descCamUp, descSyncItems, descSyncSent, descSyncPending, descSyncFailing,
		descFirmware, descTriageQueue, descLiveCPU, descLiveFrames}
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
	// Version is the running binary's, for edgetriage_build_info.
	Version string
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
	counter := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, v, labels...)
	}
	dock := p.Dock()
	counter(descDockRead, float64(dock.BytesRead))
	for _, b := range dock.Bays {
		gauge(descDockPending, float64(max(b.Total-b.Bytes, 0)), b.Bay)
		gauge(descDockState, 1, b.Bay, b.State)
	}
	for _, s := range p.Cameras() {
		counter(descCamFrames, float64(s.Frames), s.Camera)
		counter(descCamBytes, float64(s.Bytes), s.Camera)
		counter(descCamGaps, float64(s.GapsOpened), s.Camera)
		counter(descCamSegments, float64(s.SegmentsSealed), s.Camera)
		counter(descCamLost, float64(s.PacketsLost), s.Camera)
		if !s.LastSegmentAt.IsZero() {
			gauge(descCamLastSeg, float64(s.LastSegmentAt.UnixNano())/1e9, s.Camera)
		}
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
		counter(descSyncSent, float64(st.BytesSent))
		var pending int64
		failing := 0
		for _, e := range st.Items {
			if e.State != "verified" && e.State != "acknowledged" {
				pending += e.Size
			}
			if e.LastError != "" {
				failing++
			}
		}
		gauge(descSyncPending, float64(pending))
		gauge(descSyncFailing, float64(failing))
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
