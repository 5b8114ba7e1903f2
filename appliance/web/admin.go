package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/edgetriage/edgetriage/appliance/auth"
	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
)

// The admin API: accounts, central clients' tokens and live sessions for
// admins (A); holds and categories of items for investigators and admins
// (I). The same handlers serve the local console socket (ConsoleHandler),
// acting for the operating-system user at the console.
//
//	GET    /api/v1/admin/users                   A  accounts (no secrets)
//	POST   /api/v1/admin/users                   A  {name, role, password}
//	PATCH  /api/v1/admin/users/{name}            A  {password?, role?, disabled?}
//	DELETE /api/v1/admin/users/{name}/mfa        A  remove the account's second factors (lost phone)
//	GET    /api/v1/admin/tokens                  A  central clients' tokens (no secrets)
//	POST   /api/v1/admin/tokens                  A  {name, expires?} -> {token} shown once
//	DELETE /api/v1/admin/tokens/{name}           A  revoke
//	GET    /api/v1/admin/sessions                A  logged-in people
//	PUT    /api/v1/items/{digest}/hold           I  {hold, reason}
//	PUT    /api/v1/items/{digest}/category       I  {category, reason}; "" clears it
func (s *Server) adminRoutes(m *http.ServeMux) {
	s.adminRoutesWith(m, s.guard)
}

func (s *Server) adminRoutesWith(m *http.ServeMux, guard func(audience, http.HandlerFunc) http.HandlerFunc) {
	m.HandleFunc("GET /api/v1/admin/users", guard(admins, s.listUsers))
	m.HandleFunc("POST /api/v1/admin/users", guard(admins, s.addUser))
	m.HandleFunc("PATCH /api/v1/admin/users/{name}", guard(admins, s.changeUser))
	m.HandleFunc("DELETE /api/v1/admin/users/{name}/mfa", guard(admins, s.resetMFA))
	m.HandleFunc("GET /api/v1/admin/tokens", guard(admins, s.listTokens))
	m.HandleFunc("POST /api/v1/admin/tokens", guard(admins, s.addToken))
	m.HandleFunc("DELETE /api/v1/admin/tokens/{name}", guard(admins, s.revokeToken))
	m.HandleFunc("GET /api/v1/admin/sessions", guard(admins, s.listSessions))
	m.HandleFunc("PUT /api/v1/items/{digest}/hold", guard(investigators, s.setHold))
	m.HandleFunc("PUT /api/v1/items/{digest}/category", guard(investigators, s.setCategory))
}

// readBody decodes a small JSON body strictly: an unknown field is a typo
// that would otherwise be silently ignored.
func readBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 16<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("request body: %w", err)
	}
	return nil
}

// accountError answers an account operation's failure with the status
// that fits it.
func accountError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, auth.ErrNoUser):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, auth.ErrExists):
		writeError(w, http.StatusConflict, err.Error())
	default:
		writeError(w, http.StatusBadRequest, err.Error())
	}
}

func (s *Server) listUsers(w http.ResponseWriter, _ *http.Request) {
	users, err := s.auth.Users()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	out := make([]auth.UserInfo, 0, len(users))
	for _, u := range users {
		out = append(out, s.auth.Info(u))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) addUser(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	var req struct {
		Name     string `json:"name"`
		Role     string `json:"role"`
		Password string `json:"password"`
	}
	if err := readBody(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	role, err := auth.ParseRole(req.Role)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := s.auth.AddUser(r.Context(), p.Actor(), req.Name, role, req.Password); err != nil {
		accountError(w, err)
		return
	}
	u, err := s.auth.User(req.Name)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, s.auth.Info(u))
}

// changeUser applies each field given, each its own custody event.
func (s *Server) changeUser(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	name := r.PathValue("name")
	var req struct {
		Password *string `json:"password"`
		Role     *string `json:"role"`
		Disabled *bool   `json:"disabled"`
	}
	if err := readBody(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.Password == nil && req.Role == nil && req.Disabled == nil {
		writeError(w, http.StatusBadRequest, "say what to change: password, role or disabled")
		return
	}
	if _, err := s.auth.User(name); err != nil {
		accountError(w, err)
		return
	}
	if p.Role == auth.RoleAdmin && p.Name == name && (req.Role != nil || req.Disabled != nil) {
		writeError(w, http.StatusConflict, "you cannot change your own role or disable yourself; another admin or the console can")
		return
	}
	var steps []func() error
	if req.Role != nil {
		role, err := auth.ParseRole(*req.Role)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		steps = append(steps, func() error { return s.auth.SetRole(r.Context(), p.Actor(), name, role) })
	}
	if req.Password != nil {
		if len(*req.Password) < auth.MinPasswordLen {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("password for %s: at least %d characters", name, auth.MinPasswordLen))
			return
		}
		steps = append(steps, func() error { return s.auth.SetPassword(r.Context(), p.Actor(), name, *req.Password) })
	}
	if req.Disabled != nil {
		steps = append(steps, func() error { return s.auth.SetDisabled(r.Context(), p.Actor(), name, *req.Disabled) })
	}
	for _, step := range steps {
		if err := step(); err != nil {
			accountError(w, err)
			return
		}
	}
	u, err := s.auth.User(name)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, s.auth.Info(u))
}

func (s *Server) resetMFA(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	if err := s.auth.ResetMFA(r.Context(), p.Actor(), r.PathValue("name")); err != nil {
		accountError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listTokens(w http.ResponseWriter, _ *http.Request) {
	toks, err := s.auth.Tokens()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	type tokenInfo struct {
		Name    string    `json:"name"`
		Created time.Time `json:"created"`
		Expires time.Time `json:"expires"`
		Expired bool      `json:"expired"`
	}
	out := make([]tokenInfo, 0, len(toks))
	for _, t := range toks {
		out = append(out, tokenInfo{Name: t.Name, Created: t.Created, Expires: t.ExpiresAt(), Expired: !time.Now().Before(t.ExpiresAt())})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) addToken(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	var req struct {
		Name    string `json:"name"`
		Expires string `json:"expires"`
	}
	if err := readBody(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var ttl time.Duration
	if req.Expires != "" {
		d, err := time.ParseDuration(req.Expires)
		if err != nil || d <= 0 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("expires %q: want a positive duration such as 4320h", req.Expires))
			return
		}
		ttl = d
	}
	secret, tok, err := s.auth.AddToken(r.Context(), p.Actor(), req.Name, ttl)
	if err != nil {
		accountError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"name": tok.Name, "token": secret, "expires": tok.Expires})
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	if err := s.auth.RevokeToken(r.Context(), p.Actor(), r.PathValue("name")); err != nil {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listSessions(w http.ResponseWriter, _ *http.Request) {
	list, err := s.auth.Sessions()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	slices.SortFunc(list, func(a, b auth.SessionInfo) int { return b.LastSeen.Compare(a.LastSeen) })
	writeJSON(w, http.StatusOK, list)
}

// maxReason bounds the free text a hold or category change carries into
// the custody chain.
const maxReason = 500

func readReason(reason string) (string, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return "", errors.New("give a reason (case or incident reference); it is recorded in the custody chain")
	}
	return evidence.TruncateText(reason, maxReason), nil
}

// setHold puts an item on hold or lifts it: a held item's local copy is
// never removed by retention, whatever central says.
func (s *Server) setHold(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	var req struct {
		Hold   *bool  `json:"hold"`
		Reason string `json:"reason"`
	}
	if err := readBody(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.Hold == nil {
		writeError(w, http.StatusBadRequest, "say hold: true or false")
		return
	}
	reason, err := readReason(req.Reason)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	hold := *req.Hold
	s.changeItem(w, r, vault.Change{Actor: p.Actor(), Action: evidence.ActionRecordChanged,
		Details: map[string]string{"change": "hold", "hold": fmt.Sprint(hold), "reason": reason},
		Apply: func(it *evidence.Item) error {
			if it.Hold == hold {
				return errUnchanged
			}
			it.Hold = hold
			return nil
		}})
}

var categoryName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// setCategory files an item under a category, which decides how long its
// local copy stays once central holds it (retention.categories).
func (s *Server) setCategory(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	var req struct {
		Category *string `json:"category"`
		Reason   string  `json:"reason"`
	}
	if err := readBody(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.Category == nil {
		writeError(w, http.StatusBadRequest, `say category ("" clears it)`)
		return
	}
	cat := strings.TrimSpace(*req.Category)
	if err := s.checkCategory(cat); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	reason, err := readReason(req.Reason)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.changeItem(w, r, vault.Change{Actor: p.Actor(), Action: evidence.ActionRecordChanged,
		Details: map[string]string{"change": "category", "category": cat, "reason": reason},
		Apply: func(it *evidence.Item) error {
			if it.Labels[evidence.LabelCategory] == cat {
				return errUnchanged
			}
			if cat == "" {
				delete(it.Labels, evidence.LabelCategory)
				return nil
			}
			if it.Labels == nil {
				it.Labels = map[string]string{}
			}
			it.Labels[evidence.LabelCategory] = cat
			return nil
		}})
}

// checkCategory refuses a category the station's retention does not know,
// when it lists some: an item filed under a typo would silently keep the
// default retention.
func (s *Server) checkCategory(cat string) error {
	if cat == "" {
		return nil
	}
	if !categoryName.MatchString(cat) {
		return fmt.Errorf("category %q: use 1-64 lower-case letters, digits, '.', '_' or '-'", cat)
	}
	if s.deps.Categories == nil {
		return nil
	}
	known := s.deps.Categories()
	if len(known) > 0 && !slices.Contains(known, cat) {
		return fmt.Errorf("category %q is not one of this station's (%s: retention.categories)", cat, strings.Join(known, ", "))
	}
	return nil
}

var errUnchanged = errors.New("unchanged")

// changeItem applies a record change; a change to what the record already
// says is answered with the record and writes nothing.
func (s *Server) changeItem(w http.ResponseWriter, r *http.Request, ch vault.Change) {
	it, ok := s.lookup(w, r)
	if !ok {
		return
	}
	updated, err := s.deps.Vault.UpdateItem(r.Context(), it.Digest, ch)
	switch {
	case errors.Is(err, errUnchanged):
		writeJSON(w, http.StatusOK, it)
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
	default:
		writeJSON(w, http.StatusOK, updated)
	}
}
