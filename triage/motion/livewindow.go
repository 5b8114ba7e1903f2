package motion

import (
	"bytes"
	"slices"
	"time"

	"gocv.io/x/gocv"
)

// LiveWindow is the live triage of a stretch of one camera's time: what
// file triage of a segment recorded over that stretch would report, from
// frames that were decoded once, as they arrived.
type LiveWindow struct {
	// Result holds the events and tamper alerts of the stretch, in
	// seconds from its start, each event with the JPEG of its peak; Frames
	// and Decoded count the frames analysed, Width and Height their size.
	// Path is empty.
	Result Result
	// Watched lists the parts of the stretch covered by analysed frames;
	// Unwatched the rest, in seconds from the stretch's start.
	Watched   []Interval
	Unwatched []Span
	// Complete is set when every moment of the stretch was watched: its
	// recording need not be decoded again.
	Complete bool
}

// Span is a stretch of a clip, in seconds from its start.
type Span struct {
	Start float64 `json:"start"`
	End   float64 `json:"end"`
}

func (s Span) contains(t float64) bool { return t >= s.Start && t <= s.End }

// Window returns the live triage of [from, to] on the appliance clock: a
// sealed segment's wall-clock span. It waits up to Settle for the frames of
// to to be analysed. Motion is segmented into events by the same rules as
// in files (merge gap, minimum length, a frame that stands out from the
// noise), over the stretch alone, so the flag rules see the events file
// triage of the segment would report. Tamper alerts in the stretch are
// listed; they were raised through OnAlert when they happened.
func (s *LiveSource) Window(from, to time.Time) LiveWindow {
	s.waitWatched(to)
	s.mu.Lock()
	defer s.mu.Unlock()
	w := LiveWindow{Result: Result{Events: []Event{}, Alerts: []Alert{}, Duration: round3(to.Sub(from).Seconds())}}
	w.Result.Width, w.Result.Height = s.hist.size.X, s.hist.size.Y
	w.Result.Frames = s.hist.analysed(from, to)
	w.Result.Decoded = w.Result.Frames
	seg := segmenter{minLen: s.cfg.MinEventLength.D().Seconds(), gap: s.cfg.MergeGap.D().Seconds()}
	for _, f := range s.hist.moving {
		if f.at.Before(from) || f.at.After(to) {
			continue
		}
		seg.add(f.at.Sub(from).Seconds(), FrameStats{Boxes: f.boxes, Score: f.score, Zones: f.zones, Strong: f.strong})
	}
	if ev := seg.finish(); ev != nil {
		w.Result.Events = ev
	}
	for i := range w.Result.Events {
		e := &w.Result.Events[i]
		e.Thumbnail = s.hist.thumbnail(from.Add(secs(e.Start)), from.Add(secs(e.End)))
	}
	for _, a := range s.hist.alerts {
		if !a.at.Before(from) && !a.at.After(to) {
			al := a.alert
			al.At = round3(a.at.Sub(from).Seconds())
			w.Result.Alerts = append(w.Result.Alerts, al)
		}
	}
	w.Watched, w.Unwatched = clip(s.watched, from, to)
	w.Complete = covers(s.watched, from, to)
	return w
}

func secs(v float64) time.Duration { return time.Duration(v * float64(time.Second)) }

// clip returns the parts of the intervals inside [from, to], and the
// parts of [from, to] outside them in seconds from from.
func clip(iv []Interval, from, to time.Time) (in []Interval, out []Span) {
	cursor := from
	for _, w := range iv {
		if w.To.Before(from) || w.From.After(to) {
			continue
		}
		c := Interval{From: later(w.From, from), To: earlier(w.To, to)}
		if c.From.After(cursor) {
			out = append(out, Span{Start: round3(cursor.Sub(from).Seconds()), End: round3(c.From.Sub(from).Seconds())})
		}
		in = append(in, c)
		cursor = later(cursor, c.To)
	}
	if to.After(cursor) {
		out = append(out, Span{Start: round3(cursor.Sub(from).Seconds()), End: round3(to.Sub(from).Seconds())})
	}
	return in, out
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// Merge combines the file triage of a stretch that was only partly
// watched live with what live analysis saw of it. The events are the
// file's: it decoded the whole stretch, so the flag rules see one
// consistent set. The alerts are live's where it watched and the file's
// where it did not; fresh lists the file's, the only ones not yet raised.
func (w LiveWindow) Merge(file Result) (merged Result, fresh []Alert) {
	merged = file
	merged.Alerts = slices.Clone(w.Result.Alerts)
	for _, a := range file.Alerts {
		for _, u := range w.Unwatched {
			if u.contains(a.At) {
				fresh = append(fresh, a)
				merged.Alerts = append(merged.Alerts, a)
				break
			}
		}
	}
	slices.SortStableFunc(merged.Alerts, func(a, b Alert) int {
		switch {
		case a.At < b.At:
			return -1
		case a.At > b.At:
			return 1
		}
		return 0
	})
	return merged, fresh
}

// history is what a LiveSource keeps for Window: when each frame was
// analysed, the statistics of every frame with motion, tamper alerts, and
// the JPEG of each second's strongest motion. Its owner's mutex guards it.
type history struct {
	seen   []int64 // arrival of every analysed frame, Unix nanoseconds
	moving []motionFrame
	alerts []timedAlert
	thumbs []thumb
	size   struct{ X, Y int }

	maxThumbs int
	// The second being filled: a copy of its strongest frame so far. Only
	// a second with motion gets a JPEG, and only once it has passed (or
	// Window needs it), so a busy second costs one encoding.
	second    int64
	haveBest  bool
	best      gocv.Mat // I420
	bestAt    time.Time
	bestScore float64
	bgr       gocv.Mat
}

type motionFrame struct {
	at     time.Time
	score  float64
	boxes  []Box
	zones  []string
	strong bool
}

type timedAlert struct {
	at    time.Time
	alert Alert
}

type thumb struct {
	at    time.Time
	score float64
	jpeg  []byte
}

const maxHistoryFrames = 50000 // per list, whatever History says

// open makes the frame buffers, which exist while Run does.
func (h *history) open() {
	h.best, h.bgr = gocv.NewMat(), gocv.NewMat()
}

// close frees the frame buffers; the second being filled must have been
// closed first (haveBest false), so encode is never called on them again.
func (h *history) close() {
	h.best.Close()
	h.bgr.Close()
}

func (h *history) alert(at time.Time, a Alert) {
	h.alerts = append(h.alerts, timedAlert{at: at, alert: a})
}

// frame records an analysed frame; picture is its I420 picture.
func (h *history) frame(at time.Time, st FrameStats, picture gocv.Mat) {
	h.seen = append(h.seen, at.UnixNano())
	h.size.X, h.size.Y = picture.Cols(), picture.Rows()*2/3
	if sec := at.Unix(); sec != h.second {
		h.closeSecond()
		h.second = sec
	}
	if len(st.Boxes) == 0 {
		return
	}
	h.moving = append(h.moving, motionFrame{at: at, score: st.Score, boxes: st.Boxes, zones: st.Zones, strong: st.Strong})
	if !h.haveBest || st.Score > h.bestScore {
		picture.CopyTo(&h.best)
		h.haveBest, h.bestAt, h.bestScore = true, at, st.Score
	}
}

// closeSecond turns the second's strongest frame into a thumbnail.
func (h *history) closeSecond() {
	if !h.haveBest {
		return
	}
	if jpeg := h.encode(); jpeg != nil {
		h.thumbs = append(h.thumbs, thumb{at: h.bestAt, score: h.bestScore, jpeg: jpeg})
		if len(h.thumbs) > h.maxThumbs {
			h.thumbs = slices.Delete(h.thumbs, 0, len(h.thumbs)-h.maxThumbs)
		}
	}
	h.haveBest = false
}

func (h *history) encode() []byte {
	gocv.CvtColor(h.best, &h.bgr, gocv.ColorYUVToBGRIYUV)
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, h.bgr, []int{gocv.IMWriteJpegQuality, 85})
	if err != nil {
		return nil
	}
	defer buf.Close()
	return bytes.Clone(buf.GetBytes())
}

// thumbnail returns the JPEG of the strongest motion in [from, to], or nil.
func (h *history) thumbnail(from, to time.Time) []byte {
	best := h.bestThumb(from, to)
	if h.haveBest && !h.bestAt.Before(from) && !h.bestAt.After(to) && (best == nil || best.score < h.bestScore) {
		// The second still being filled holds the peak; encode it now
		// rather than wait for it to pass.
		return h.encode()
	}
	if best == nil {
		return nil
	}
	return best.jpeg
}

func (h *history) bestThumb(from, to time.Time) *thumb {
	var best *thumb
	for i := range h.thumbs {
		t := &h.thumbs[i]
		if !t.at.Before(from) && !t.at.After(to) && (best == nil || t.score > best.score) {
			best = t
		}
	}
	return best
}

// analysed counts the frames analysed in [from, to].
func (h *history) analysed(from, to time.Time) int {
	lo, _ := slices.BinarySearch(h.seen, from.UnixNano())
	hi, found := slices.BinarySearch(h.seen, to.UnixNano())
	if found {
		hi++
	}
	return hi - lo
}

// prune forgets what happened before before.
func (h *history) prune(before time.Time) {
	cut, _ := slices.BinarySearch(h.seen, before.UnixNano())
	cut = max(cut, len(h.seen)-maxHistoryFrames)
	if cut > 0 {
		h.seen = slices.Delete(h.seen, 0, cut)
	}
	h.moving = dropBefore(h.moving, before, func(f motionFrame) time.Time { return f.at })
	h.alerts = dropBefore(h.alerts, before, func(a timedAlert) time.Time { return a.at })
	h.thumbs = dropBefore(h.thumbs, before, func(t thumb) time.Time { return t.at })
}

func dropBefore[T any](s []T, before time.Time, at func(T) time.Time) []T {
	i := 0
	for i < len(s) && at(s[i]).Before(before) {
		i++
	}
	i = max(i, len(s)-maxHistoryFrames)
	if i == 0 {
		return s
	}
	return slices.Delete(s, 0, i)
}
