// Package motion finds motion events in recorded or live video, raises camera
// tamper alerts from the same statistics, and decides which items to flag.
//
// # Using it
//
//   - Analyze(ctx, path, cfg) triages a file: events (start/end seconds from
//     the clip's start, peak score, zones, sampled boxes, a JPEG thumbnail of
//     the peak frame) and tamper alerts. Broken input returns a *DecodeError
//     (errors.Is(err, ErrUndecodable)) naming the file and the decoder's
//     complaint; DecodeError.Problem() is the evidence.Problem to record.
//   - Live is the per-frame motion signal: Feed(frame, at) reports whether
//     motion is active.
//   - LiveSource is the live analysis of one RTSP camera:
//     NewLiveSource(id, url, cfg, opt), Run(ctx) keeps an ffmpeg RTSP
//     client on the (sub-)stream that decodes it once, at
//     Config.LiveAnalysisFPS, for the detector and the thumbnails alike.
//     Window(from, to) is the triage of a stretch of the camera's time (a
//     sealed segment's): the events file triage would report, with peak
//     thumbnails, the tamper alerts (raised at once through OnAlert), and
//     which part was watched; a segment watched throughout need not be
//     decoded again, and LiveWindow.Merge folds the file triage of one that
//     was not into what live analysis saw, each alert once.
//     MotionBetween(id, from, to) answers a motion-only recorder
//     (capture/rtsp's MotionSignal), true for time it did not watch.
//   - FlagRules.Decide(item, events) is a pure decision with one readable
//     reason per matching rule, for an evidence.ActionFlagged custody event.
//   - Alert.Details() gives the details of an evidence.ActionTamperAlert event.
//
// The package needs nothing from the daemon: it reads a file and returns
// values. Storing thumbnails and writing custody events is the caller's.
//
// # Decoding
//
// Files are decoded by a single-threaded ffmpeg child process that delivers
// only the luma plane, already at the detector's working size (OpenCV's
// VideoCapture converts the full frame to BGR first, which costs more than
// decoding 1080p H.264); its showinfo filter times each frame and its error
// lines become the DecodeError's reason. Thumbnails are cut afterwards, one
// seek per event. With Config.AnalysisFPS set, at most that many frames a
// second reach the detector: the rest are dropped by time inside ffmpeg
// before they are shrunk, which at 5 on 10 fps CCTV halves the shrinking,
// the pipe and the detector. Without ffmpeg on PATH, gocv's VideoCapture is used
// instead. The detector itself is gocv either way.
//
// # The detector
//
// Each frame is shrunk to Config.WorkHeight lines of luma. Auto exposure is
// undone by matching the frame's median to the background's; contrast is
// normalised with slowly smoothed statistics; the frame is blurred. Motion
// is what differs both from a slowly learned background (10 s) and from the
// last second (so a person standing still, or the ghost a parked car
// leaves, stops counting). A per-block history absorbs motion that keeps
// recurring in the same place (foliage, flicker); a change of most of the
// frame at once recalibrates the background instead of counting. Contours
// below a minimum area are dropped. Time constants are in seconds, not
// frames, so the same settings work at 2 and at 30 frames a second.
//
// Contrast normalisation amplifies noise as well as detail: on a still,
// low-contrast scene the encoder's own noise (texture coded afresh after
// each keyframe) crosses the threshold in scattered blocks. So each block
// also learns its usual change against the last second, and an event (or
// live onset) needs a frame whose motion, averaged over a block, stands
// out from that by confirmRatio. People and cars do so by far; compression
// noise does not. Weak frames around a confirmed one still count, so
// events start where the motion did.
//
// # The prefilter
//
// With Config.Prefilter, H.264 in MP4 or fragmented MP4 is first judged in
// the compressed domain: the sample tables give every access unit's place,
// size, type and time without decoding; for each predicted frame the slice
// NAL units' bytes (not filler or SEI) and the QP in the slice header are
// read, which together say what the picture cost the encoder whatever its
// rate control did. GOPs whose cost matches their neighbours' closely are
// grouped into spans of up to PrefilterMaxSpan; only the keyframe that
// starts each span is decoded (as an Annex B elementary stream of IDR
// pictures), and a GOP is fully decoded only when its span's bounding
// keyframes differ, its cost stands out from its neighbours' in either
// direction, or a neighbouring GOP qualifies. Anything it cannot vouch for
// (other codecs or containers, open GOPs, GOPs longer than
// PrefilterMaxSpan, slice groups, a decoder that drops frames) falls back
// to a full decode. See prefilter.go for what it cannot see.
//
// Its cost is dominated by decoding keyframes (one decoder thread, no
// deblocking). In x264 CCTV footage at 10 fps a keyframe every 4 s
// carries about a third of the bits and a tenth of the decoding time, so
// decoding every keyframe would cap the prefilter at about ten times
// faster than a full decode; spans decode one in two there.
package motion
