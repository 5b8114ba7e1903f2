package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
	"github.com/edgetriage/edgetriage/triage/motion"
)

// TriageStage runs motion triage once on every new video master (an
// offloaded clip, a sealed RTSP segment): events and thumbnails are stored
// as items linked to the clip, tamper alerts and the flag decision go into
// the custody chain. A clip the decoder refuses is marked with its error
// and the stage moves on; triage never blocks ingest or sync.
//
// An RTSP segment is triaged from what its camera's live analysis saw
// while it was recorded (LiveWindower): watched throughout, it is not
// decoded again. With time live analysis did not watch (the sub-stream was
// down, analysis was restarting), it is decoded from the file, with the
// prefilter when cctv_prefilter says so, and the two are merged so that
// every tamper alert reaches the chain once: live alerts were appended when
// they were raised.
type TriageStage struct {
	vault *vault.Vault
	cfg   TriageConfig
	live  func(cameraID string) LiveWindower
	log   *slog.Logger
}

// LiveWindower is a camera's live analysis as triage asks it: what it saw
// over a stretch of the appliance clock.
type LiveWindower interface {
	Window(from, to time.Time) motion.LiveWindow
}

const actorTriage evidence.Actor = "appliance:triage"

// How a result was reached, in the triaged event's details.
const (
	analysisFile     = "file"
	analysisLive     = "live"
	analysisLiveFile = "live+file" // partly watched: decoded again, merged
)

// The triage stage follows the chain twice, each follower with its own
// cursor: cameras' segments, which live analysis has mostly triaged
// already, and everything else (docked clips, imports), decoded whole.
// With one follower a dock's ten body-camera clips, minutes of decoding,
// kept every camera's segments waiting behind them (make capacity saw
// segments triaged 80 s after they were sealed); with two, a camera's
// segment waits only for the segments before it.
const (
	TriageFiles   = "triage"
	TriageCameras = "triage-cameras"
)

// NewTriageStage is the triage stage as followers of v's custody chain
// (TriageFiles, TriageCameras); live returns an RTSP camera's live
// analysis (nil when it has none). It is asked for each segment: cameras
// come and go with reloads. The cameras' follower of a vault triaged by
// one follower before starts where that one was.
func NewTriageStage(ctx context.Context, v *vault.Vault, cfg TriageConfig, live func(cameraID string) LiveWindower, log *slog.Logger) ([]*Follower, error) {
	s := &TriageStage{vault: v, cfg: cfg, live: live, log: log}
	if err := inheritCursor(ctx, v, TriageCameras, TriageFiles); err != nil {
		return nil, fmt.Errorf("triage: %w", err)
	}
	cameras := newFollower(TriageCameras, s.vault, s.log, func(e evidence.CustodyEvent) bool { return wantsTriage(e) && fromCamera(e) }, s.handle)
	cameras.workers = cameraTriageWorkers
	return []*Follower{
		newFollower(TriageFiles, s.vault, s.log, func(e evidence.CustodyEvent) bool { return wantsTriage(e) && !fromCamera(e) }, s.handle),
		cameras,
	}, nil
}

// cameraTriageWorkers is how many camera segments are triaged at once. A
// segment watched live throughout takes milliseconds; one with time live
// analysis missed (every camera's first after a start) is decoded, which
// on a loaded machine takes a decoder many seconds of wall time for
// little CPU: 32 cameras starting together left every later segment
// waiting minutes behind those decodes one at a time.
const cameraTriageWorkers = 4

func wantsTriage(e evidence.CustodyEvent) bool {
	return e.Action == evidence.ActionIngested && !e.Item.IsZero()
}

// fromCamera says an ingest was an RTSP camera's recorder sealing a
// segment (capture/rtsp ingests as camera:ID).
func fromCamera(e evidence.CustodyEvent) bool {
	return strings.HasPrefix(string(e.Actor), "camera:")
}

func (s *TriageStage) handle(ctx context.Context, e evidence.CustodyEvent) error {
	it, err := s.vault.Item(e.Item)
	if err != nil {
		return err
	}
	if it.Kind != evidence.KindVideo || !it.Parent.IsZero() || it.State != evidence.StateStored {
		return nil
	}
	cfg := withRecord(s.cfg.For(it.Source), it.Media)
	src, segment := s.liveSource(it)
	if !segment {
		return s.triageFile(ctx, it, cfg, nil)
	}
	w := src.Window(it.CapturedStart, it.CapturedEnd)
	if w.Complete {
		// Its alerts reached the chain when they were raised.
		return s.record(ctx, it, w.Result, nil, nil, analysisLive)
	}
	cfg.Prefilter = cfg.Prefilter || s.cfg.CCTVPrefilter
	return s.triageFile(ctx, it, cfg, &w)
}

// liveSource is the live analysis of the camera that recorded it, when it
// is an RTSP segment and the camera has one.
func (s *TriageStage) liveSource(it evidence.Item) (LiveWindower, bool) {
	if it.Labels["origin"] != "rtsp" || it.CapturedStart.IsZero() || !it.CapturedEnd.After(it.CapturedStart) {
		return nil, false
	}
	if s.live == nil {
		return nil, false
	}
	src := s.live(it.Source)
	return src, src != nil
}

// triageFile decodes the clip; live, when set, is what live analysis saw
// of it, merged in.
func (s *TriageStage) triageFile(ctx context.Context, it evidence.Item, cfg motion.Config, live *motion.LiveWindow) error {
	res, err := motion.Analyze(ctx, s.vault.ObjectPath(it.Digest), cfg)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var decodeErr *motion.DecodeError
	if errors.As(err, &decodeErr) && len(res.Events) == 0 {
		return s.markUndecodable(ctx, it, decodeErr)
	}
	if err != nil && decodeErr == nil {
		return err
	}
	if live == nil {
		return s.record(ctx, it, res, decodeErr, res.Alerts, analysisFile)
	}
	merged, fresh := live.Merge(res)
	return s.record(ctx, it, merged, decodeErr, fresh, analysisLiveFile)
}

// markUndecodable keeps the clip, marked with the decoder's own words.
func (s *TriageStage) markUndecodable(ctx context.Context, it evidence.Item, de *motion.DecodeError) error {
	s.log.Warn("triage: clip cannot be decoded; kept and marked", "digest", it.Digest.String(), "reason", de.Reason)
	_, err := s.vault.UpdateItem(ctx, it.Digest, vault.Change{Actor: actorTriage, Action: evidence.ActionTriaged,
		Details: map[string]string{"result": "undecodable", "error": de.Reason},
		Apply: func(i *evidence.Item) error {
			if !i.HasProblem(evidence.ProblemUndecodable) {
				i.Problems = append(i.Problems, de.Problem())
			}
			return nil
		}})
	return err
}

// record stores the result and appends the flag decision and the alerts
// in raise (those not in the chain yet).
func (s *TriageStage) record(ctx context.Context, it evidence.Item, res motion.Result, partial *motion.DecodeError, raise []motion.Alert, analysis string) error {
	for i, ev := range res.Events {
		if len(ev.Thumbnail) == 0 {
			continue
		}
		_, _, err := s.vault.IngestReader(ctx, bytes.NewReader(ev.Thumbnail), evidence.Intake{Actor: actorTriage,
			Kind: evidence.KindImage, Source: it.Source, Parent: it.Digest, Relation: "thumbnail",
			OriginalName: fmt.Sprintf("%s-event%02d-peak.jpg", it.Digest.Short(), i+1),
			Labels:       map[string]string{"at_s": strconv.FormatFloat(ev.PeakAt, 'f', 2, 64)}})
		if err != nil {
			return err
		}
	}
	report, err := json.Marshal(res)
	if err != nil {
		return err
	}
	if _, _, err := s.vault.IngestReader(ctx, bytes.NewReader(report), evidence.Intake{Actor: actorTriage,
		Kind: evidence.KindOther, Source: it.Source, Parent: it.Digest, Relation: "motion",
		OriginalName: it.Digest.Short() + "-motion.json"}); err != nil {
		return err
	}
	details := map[string]string{"result": "ok", "events": strconv.Itoa(len(res.Events)),
		"frames": strconv.Itoa(res.Frames), "decoded": strconv.Itoa(res.Decoded), "analysis": analysis}
	if partial != nil {
		details["result"], details["error"] = "partial", partial.Reason
	}
	if _, err := s.vault.UpdateItem(ctx, it.Digest, vault.Change{Actor: actorTriage, Action: evidence.ActionTriaged, Details: details,
		Apply: func(i *evidence.Item) error {
			if i.Labels == nil {
				i.Labels = map[string]string{}
			}
			i.Labels["motion.segments"] = segments(res.Events)
			i.Labels["motion.events"] = strconv.Itoa(len(res.Events))
			return nil
		}}); err != nil {
		return err
	}
	for _, a := range raise {
		if _, err := s.vault.Append(ctx, evidence.CustodyEvent{Actor: actorTriage, Action: evidence.ActionTamperAlert,
			Item: it.Digest, Details: a.Details()}); err != nil {
			return err
		}
	}
	if dec := s.cfg.Flag.Decide(it, res.Events); dec.Flag {
		_, err := Flag(ctx, s.vault, it.Digest, actorTriage, dec.Reason(), dec.Names...)
		return err
	}
	return nil
}

// segments writes events as "start-end" seconds, comma separated, the form
// the dashboard's motion timeline reads.
func segments(events []motion.Event) string {
	parts := make([]string, 0, len(events))
	for _, e := range events {
		parts = append(parts, strconv.FormatFloat(e.Start, 'f', 1, 64)+"-"+strconv.FormatFloat(e.End, 'f', 1, 64))
	}
	return strings.Join(parts, ",")
}

// withRecord hands motion what ingest recorded of a healthy clip's video,
// so it is not probed again; a clip whose probe found fault is left to
// motion to probe, for the decoder's own message.
func withRecord(cfg motion.Config, m evidence.Media) motion.Config {
	if m.Error == "" && m.VideoCodec != "" {
		cfg.Stream = motion.Stream{Width: m.Width, Height: m.Height, Duration: m.Duration}
	}
	return cfg
}
