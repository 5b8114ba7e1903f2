package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edgetriage/edgetriage/appliance/auth"
	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/status"
	"github.com/edgetriage/edgetriage/appliance/vault"
	"github.com/edgetriage/edgetriage/triage/redact"
)

func isJSON(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/json"
}

// login takes JSON only: a cross-site form cannot send that without a CORS
// preflight, which this server never grants, so login needs no CSRF token.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if !isJSON(r) {
		writeError(w, http.StatusUnsupportedMediaType, "send {\"user\":..., \"password\":...} as application/json")
		return
	}
	if err := checkOrigin(r); err != nil {
		writeError(w, http.StatusForbidden, err.Error())
		return
	}
	var req struct {
		User     string `json:"user"`
		Password string `json:"password"`
		// Code, when the account has a second factor, finishes the login
		// in one request (else POST /api/v1/login/code follows).
		Code string `json:"code"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "login: "+err.Error())
		return
	}
	sess, err := s.auth.Login(r.Context(), req.User, req.Password, r.RemoteAddr)
	switch {
	case errors.Is(err, auth.ErrRateLimited), errors.Is(err, auth.ErrLocked):
		// One answer whether or not the name exists: lockouts are per
		// address and name, so they reveal nothing about accounts.
		w.Header().Set("Retry-After", "30")
		writeError(w, http.StatusTooManyRequests, err.Error())
		return
	case errors.Is(err, auth.ErrBadCredentials), errors.Is(err, auth.ErrDisabled):
		writeError(w, http.StatusUnauthorized, err.Error())
		return
	case err != nil:
		s.log.Error("login", "err", err)
		writeError(w, http.StatusInternalServerError, "login failed on the appliance; see its log")
		return
	}
	if sess.Stage == auth.StageSecondFactor && req.Code != "" {
		s.secondFactor(w, r, sess, req.Code)
		return
	}
	auth.SetCookies(w, r, sess)
	writeJSON(w, http.StatusOK, s.meBody(r, sess.Principal, sess))
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(auth.SessionCookie); err == nil {
		s.auth.Logout(r.Context(), c.Value)
	}
	auth.ClearCookies(w, r)
	writeJSON(w, http.StatusOK, map[string]string{"status": "logged out"})
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	writeJSON(w, http.StatusOK, s.meBody(r, p, sessionFrom(r.Context())))
}

// meBody is who the caller is and what the dashboard should offer them;
// stage says what a login still lacks (empty once it is complete).
func (s *Server) meBody(r *http.Request, p auth.Principal, sess *auth.Session) map[string]any {
	body := map[string]any{"name": p.Name, "role": p.Role,
		"can_view_original": p.Role == auth.RoleInvestigator,
		"export_available":  s.deps.Export != nil,
		"can_export":        s.deps.Export != nil && p.Role == auth.RoleInvestigator,
		"can_sign_off":      investigators.admits(p.Role),
		"can_hold":          investigators.admits(p.Role),
		"can_assign":        people.admits(p.Role),
		"can_administer":    admins.admits(p.Role),
		"stage":             "",
	}
	if sess != nil {
		body["stage"] = sess.Stage
	}
	if u, err := s.auth.User(p.Name); err == nil && p.Role != auth.RoleCentral {
		body["second_factors"] = u.MFA.Factors()
		body["second_factor_required"] = s.auth.MFARequired(u.Role)
		body["recovery_codes_left"] = len(u.MFA.Recovery)
		_, err := auth.RelyingParty(requestOrigin(r))
		body["webauthn_available"] = err == nil
	}
	return body
}

// ItemSummary is an item in the list, with what the dashboard shows next
// to it.
type ItemSummary struct {
	evidence.Item
	Thumbnail   evidence.Digest `json:"thumbnail,omitzero"`
	RedactedBy  evidence.Digest `json:"redacted_copy,omitzero"`
	Derived     int             `json:"derived"`
	Flags       []string        `json:"flags,omitempty"`
	SortingTime time.Time       `json:"time"`
}

// filter is an item search. Empty fields match everything.
type filter struct {
	text, source, officer, flag string
	from, to                    time.Time
	hold                        *bool
	derived                     bool
}

func parseFilter(q map[string][]string) (filter, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return strings.TrimSpace(v[0])
		}
		return ""
	}
	f := filter{text: strings.ToLower(get("q")), source: strings.ToLower(get("source")),
		officer: strings.ToLower(get("officer")), flag: strings.ToLower(get("flag")), derived: get("derived") == "1"}
	var err error
	if f.from, err = parseTime(get("from")); err != nil {
		return f, errors.New("from: " + err.Error())
	}
	if f.to, err = parseTime(get("to")); err != nil {
		return f, errors.New("to: " + err.Error())
	}
	switch get("hold") {
	case "":
	case "1", "true", "yes":
		t := true
		f.hold = &t
	case "0", "false", "no":
		t := false
		f.hold = &t
	default:
		return f, errors.New("hold: want true or false")
	}
	return f, nil
}

// parseTime accepts RFC 3339 and the browser's datetime-local form (read as
// UTC, which is what the dashboard shows).
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, errors.New("want a time like 2026-03-01T08:00 (UTC) or RFC 3339")
}

// itemTime is when the footage was shot, or when it arrived if unknown.
func itemTime(it evidence.Item) time.Time {
	if !it.CapturedStart.IsZero() {
		return it.CapturedStart
	}
	return it.IngestedAt
}

// flagsOf reads the names of the flags on an item: one label
// "flag.<name>" per rule that flagged it. An item flagged before flags had
// names carries only the reason ("flagged") and is shown as "flagged".
func flagsOf(it evidence.Item) []string {
	var out []string
	for k := range it.Labels {
		if name, ok := strings.CutPrefix(k, evidence.LabelFlagPrefix); ok && name != "" {
			out = append(out, name)
		}
	}
	if len(out) == 0 && it.Labels[evidence.LabelFlagged] != "" {
		out = append(out, evidence.LabelFlagged)
	}
	slices.Sort(out)
	return out
}

func (f filter) match(it evidence.Item) bool {
	t := itemTime(it)
	switch {
	case !f.derived && !it.Parent.IsZero():
		return false
	case f.source != "" && !strings.Contains(strings.ToLower(it.Source), f.source):
		return false
	case f.officer != "" && !strings.Contains(strings.ToLower(it.Officer), f.officer):
		return false
	case !f.from.IsZero() && t.Before(f.from):
		return false
	case !f.to.IsZero() && t.After(f.to):
		return false
	case f.hold != nil && it.Hold != *f.hold:
		return false
	}
	if f.flag != "" && !slices.ContainsFunc(flagsOf(it), func(x string) bool { return strings.Contains(strings.ToLower(x), f.flag) }) {
		return false
	}
	if f.text != "" {
		hay := strings.ToLower(strings.Join([]string{it.Digest.String(), it.Source, it.Officer, it.OriginalName}, " "))
		if !strings.Contains(hay, f.text) {
			return false
		}
	}
	return true
}

func (s *Server) listItems(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 1000 {
			writeError(w, http.StatusBadRequest, "limit: want 1..1000")
			return
		}
	}
	var matched []evidence.Item
	children := map[evidence.Digest][]evidence.Item{}
	err = s.deps.Vault.Items(func(it evidence.Item) bool {
		if !it.Parent.IsZero() {
			children[it.Parent] = append(children[it.Parent], it)
		}
		if f.match(it) {
			matched = append(matched, it)
		}
		return true
	})
	if err != nil {
		writeError(w, http.StatusInternalServerError, "read items: "+err.Error())
		return
	}
	slices.SortFunc(matched, func(a, b evidence.Item) int { return itemTime(b).Compare(itemTime(a)) })
	flags := map[string]int{}
	for _, it := range matched {
		for _, fl := range flagsOf(it) {
			flags[fl]++
		}
	}
	total := len(matched)
	matched = matched[:min(limit, len(matched))]
	viewer, _ := PrincipalFrom(r.Context())
	out := make([]ItemSummary, 0, len(matched))
	for _, it := range matched {
		out = append(out, summarise(it, children[it.Digest], viewer))
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": out, "total": total, "flags": flags})
}

// summarise is an item's line in a list. A thumbnail of original footage
// is only offered to an investigator, who alone may see it.
func summarise(it evidence.Item, kids []evidence.Item, viewer auth.Principal) ItemSummary {
	sum := ItemSummary{Item: it, Derived: len(kids), Flags: flagsOf(it), SortingTime: itemTime(it)}
	mayView := viewer.Role == auth.RoleInvestigator || it.Relation == VariantRedacted
	for _, k := range kids {
		switch {
		case k.Relation == "thumbnail" && k.Kind == evidence.KindImage && sum.Thumbnail.IsZero() && mayView:
			sum.Thumbnail = k.Digest
		case k.Relation == VariantRedacted && sum.RedactedBy.IsZero():
			sum.RedactedBy = k.Digest
		}
	}
	return sum
}

func (s *Server) lookup(w http.ResponseWriter, r *http.Request) (evidence.Item, bool) {
	return LookupItem(w, r, s.deps.Vault)
}

// LookupItem resolves the {digest} of a request to its record, answering
// the error (400 bad digest, 404 unknown, 500) itself when it cannot.
func LookupItem(w http.ResponseWriter, r *http.Request, v *vault.Vault) (evidence.Item, bool) {
	d, err := evidence.ParseDigest(r.PathValue("digest"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return evidence.Item{}, false
	}
	it, err := v.Item(d)
	if errors.Is(err, vault.ErrNotFound) {
		writeError(w, http.StatusNotFound, "no item "+d.String())
		return it, false
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return it, false
	}
	return it, true
}

// derived lists the items made from d (redacted copies, thumbnails,
// redaction logs), oldest first.
func (s *Server) derived(d evidence.Digest) ([]evidence.Item, error) {
	var out []evidence.Item
	err := s.deps.Vault.Items(func(it evidence.Item) bool {
		if it.Parent == d {
			out = append(out, it)
		}
		return true
	})
	slices.SortFunc(out, func(a, b evidence.Item) int { return a.IngestedAt.Compare(b.IngestedAt) })
	return out, err
}

func (s *Server) itemDetail(w http.ResponseWriter, r *http.Request) {
	it, ok := s.lookup(w, r)
	if !ok {
		return
	}
	events, err := s.deps.Vault.ItemEvents(it.Digest)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	kids, err := s.derived(it.Digest)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	reviews, err := s.reviews(it, kids)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	viewer, _ := PrincipalFrom(r.Context())
	body := map[string]any{"item": summarise(it, kids, viewer), "events": events, "derived": kids, "reviews": reviews}
	if !it.Parent.IsZero() {
		if parent, err := s.deps.Vault.Item(it.Parent); err == nil {
			body["parent"] = parent
		}
	}
	writeJSON(w, http.StatusOK, body)
}

// thumbnail serves the bytes of a thumbnail item only: full evidence is
// seen through previews, which are on the record. A thumbnail is a frame of
// the footage, so it follows the preview's rules: one cut from an original
// is for investigators only (a staff member sees the redacted copy, not the
// faces), and every viewer's first look at each thumbnail is a custody event.
func (s *Server) thumbnail(w http.ResponseWriter, r *http.Request) {
	it, ok := s.lookup(w, r)
	if !ok {
		return
	}
	if it.Kind != evidence.KindImage || it.Relation != "thumbnail" {
		writeError(w, http.StatusNotFound, "item is not a thumbnail")
		return
	}
	p, _ := PrincipalFrom(r.Context())
	ofOriginal, err := s.cutFromOriginal(it)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if ofOriginal && p.Role != auth.RoleInvestigator {
		writeError(w, http.StatusForbidden, "this thumbnail is a frame of original footage: only investigators may see it")
		return
	}
	f, err := s.deps.Vault.OpenObject(it.Digest)
	if err != nil {
		writeError(w, http.StatusNotFound, "thumbnail bytes are not on this appliance")
		return
	}
	defer f.Close()
	if err := s.thumbnailsSeen.record(r.Context(), s.deps.Vault, p, it); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Cache-Control", "private, max-age=86400, immutable")
	http.ServeContent(w, r, "", it.IngestedAt, f)
}

// cutFromOriginal reports whether a thumbnail shows unredacted footage:
// anything but a frame of a redacted copy.
func (s *Server) cutFromOriginal(thumb evidence.Item) (bool, error) {
	if thumb.Parent.IsZero() {
		return true, nil
	}
	parent, err := s.deps.Vault.Item(thumb.Parent)
	if err != nil {
		return true, err
	}
	return parent.Relation != VariantRedacted, nil
}

// export hands a bundle of original evidence to an investigator who gives
// a reason, as viewing an original needs: admins run the appliance, they do
// not take evidence off it.
func (s *Server) export(w http.ResponseWriter, r *http.Request) {
	if s.deps.Export == nil {
		writeError(w, http.StatusNotImplemented, "export bundles are not available on this appliance yet")
		return
	}
	if p, _ := PrincipalFrom(r.Context()); p.Role != auth.RoleInvestigator {
		writeError(w, http.StatusForbidden, "only investigators may export evidence")
		return
	}
	var req struct {
		Reason string `json:"reason"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil || strings.TrimSpace(req.Reason) == "" {
		writeError(w, http.StatusBadRequest, "send {\"reason\": \"<case or incident reference>\"}: an export needs a reason; it is recorded in the custody chain")
		return
	}
	if _, ok := s.lookup(w, r); !ok {
		return
	}
	s.deps.Export.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), exportReasonKey{}, req.Reason)))
}

type exportReasonKey struct{}

// exportReason is the reason the investigator gave for an export.
func exportReason(ctx context.Context) string {
	reason, _ := ctx.Value(exportReasonKey{}).(string)
	return reason
}

func (s *Server) snapshot() status.Snapshot {
	st := status.Snapshot{Time: time.Now().UTC(), KeyFingerprint: evidence.Fingerprint(s.deps.Vault.PublicKey())}
	if s.deps.Dock != nil {
		st.Dock = s.deps.Dock.DockStatus()
	}
	if s.deps.Cameras != nil {
		st.Cameras = s.deps.Cameras.CameraStatus()
	}
	if s.deps.Sync != nil {
		st.Sync = s.deps.Sync.SyncStatus()
	}
	if s.deps.Health != nil {
		st.Alarms = s.deps.Health.Alarms()
	}
	return st
}

func (s *Server) status(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.snapshot())
}

// reviews collects the reviewer sign-offs of the redacted copies among
// it and its derived items, by digest of the copy.
func (s *Server) reviews(it evidence.Item, kids []evidence.Item) (map[string][]evidence.CustodyEvent, error) {
	out := map[string][]evidence.CustodyEvent{}
	for _, c := range append([]evidence.Item{it}, kids...) {
		if c.Relation != VariantRedacted {
			continue
		}
		evs, err := s.deps.Vault.ItemEvents(c.Digest)
		if err != nil {
			return nil, err
		}
		out[c.Digest.String()] = []evidence.CustodyEvent{}
		for _, e := range evs {
			if e.Action == evidence.ActionReviewSignedOff {
				out[c.Digest.String()] = append(out[c.Digest.String()], e)
			}
		}
	}
	return out, nil
}

// signOff records that a reviewer checked a redacted copy and found it
// fit to show: a custody event on the copy, naming its master.
// reviewOf answers the review queue and speech map of a redacted copy,
// asked for by the copy or by its master (its latest copy), with what is
// still to resolve.
func (s *Server) reviewOf(w http.ResponseWriter, r *http.Request) {
	it, ok := s.lookup(w, r)
	if !ok {
		return
	}
	if it.Relation != VariantRedacted {
		kids, err := s.derived(it.Digest)
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		found := false
		for _, k := range kids {
			if k.Relation == VariantRedacted {
				it, found = k, true
			}
		}
		if !found {
			writeError(w, http.StatusNotFound, "no redacted copy of this item yet")
			return
		}
	}
	lg, err := s.redactionLog(it)
	if err != nil {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	var edits []redact.ManualEdit
	if s.deps.Edits != nil {
		if edits, err = s.deps.Edits.Get(it.Parent); err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"copy": it.Digest, "master": it.Parent, "duration_s": float64(lg.Frames) / max(lg.FPS, 1),
		"review": lg.QA.Review, "speech": lg.Speech, "pending": lg.QA.Review.Unresolved(edits), "edits": edits,
	})
}

// redactionLog reads the redaction log of redacted copy it.
func (s *Server) redactionLog(it evidence.Item) (redact.Log, error) {
	var lg redact.Log
	kids, err := s.derived(it.Digest)
	if err != nil {
		return lg, err
	}
	var logItem *evidence.Item
	for i := range kids {
		if kids[i].Relation == redact.RelationRedactionLog {
			logItem = &kids[i]
		}
	}
	if logItem == nil {
		return lg, errors.New("this copy has no redaction log, so its review queue is unknown; render it again")
	}
	raw, err := os.ReadFile(s.deps.Vault.ObjectPath(logItem.Digest))
	if err != nil {
		return lg, fmt.Errorf("read the redaction log: %w", err)
	}
	if err := json.Unmarshal(raw, &lg); err != nil {
		return lg, fmt.Errorf("read the redaction log %s: %w", logItem.Digest.Short(), err)
	}
	return lg, nil
}

// pendingReview lists the entries of redacted copy it's review queue that
// no manual edit of its master resolves. A copy without a redaction log has
// no queue to check, and cannot be signed off.
func (s *Server) pendingReview(it evidence.Item) ([]string, error) {
	lg, err := s.redactionLog(it)
	if err != nil {
		return nil, err
	}
	var edits []redact.ManualEdit
	if s.deps.Edits != nil {
		if edits, err = s.deps.Edits.Get(it.Parent); err != nil {
			return nil, err
		}
	}
	return lg.QA.Review.Unresolved(edits), nil
}

func (s *Server) signOff(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	it, ok := s.lookup(w, r)
	if !ok {
		return
	}
	if it.Relation != VariantRedacted {
		writeError(w, http.StatusUnprocessableEntity, "only a redacted copy can be signed off; open the redacted copy of this item")
		return
	}
	var req struct {
		Note string `json:"note"`
	}
	if r.ContentLength != 0 {
		if err := json.NewDecoder(io.LimitReader(r.Body, 8192)).Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, "sign-off: "+err.Error())
			return
		}
	}
	pending, err := s.pendingReview(it)
	if err != nil {
		writeError(w, http.StatusConflict, "sign-off: "+err.Error())
		return
	}
	if len(pending) > 0 {
		writeJSON(w, http.StatusConflict, map[string]any{
			"error":   fmt.Sprintf("sign-off: %d review entries are not resolved yet; accept each, or fix it with an edit naming it", len(pending)),
			"pending": pending,
		})
		return
	}
	details := map[string]string{"master": it.Parent.String()}
	if note := strings.TrimSpace(req.Note); note != "" {
		details["note"] = note
	}
	evs, err := s.deps.Vault.Append(r.Context(), evidence.CustodyEvent{Actor: p.Actor(), Action: evidence.ActionReviewSignedOff, Item: it.Digest, Details: details})
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, evs[0])
}
