package web

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/edgetriage/edgetriage/appliance/auth"
	"github.com/edgetriage/edgetriage/appliance/vault"
)

// The console is the station's own administrator at the machine: root or a
// member of the edgetriage group, reaching the daemon over its local unix
// socket (or, with the daemon stopped, the vault directly). The operating
// system vouches for them, so there is no cookie, password or CSRF token;
// what they do is recorded as "console:<user>".

type consoleKey struct{}

// WithConsoleUser marks a request as coming from the console, acting as
// the operating-system user osUser. Only the daemon's socket listener
// (after checking the peer's credentials) and the CLI acting on a stopped
// vault call it.
func WithConsoleUser(ctx context.Context, osUser string) context.Context {
	return context.WithValue(ctx, consoleKey{}, osUser)
}

func consoleUser(ctx context.Context) (string, bool) {
	u, ok := ctx.Value(consoleKey{}).(string)
	return u, ok && u != ""
}

// ConsoleGuard admits console requests only, acting for the console user.
func ConsoleGuard(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		user, ok := consoleUser(r.Context())
		if !ok {
			writeError(w, http.StatusForbidden, "the console is for root and the edgetriage group only")
			return
		}
		p := auth.Principal{Name: user, Role: auth.RoleConsole}
		h(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, p)))
	}
}

func consoleGuard(_ audience, h http.HandlerFunc) http.HandlerFunc { return ConsoleGuard(h) }

// ConsoleHandler serves the admin API (the dashboard's admin routes, same
// paths and answers) for the console. extra, when set, adds the daemon's
// own console routes (reload, backup) to the same mux.
func (s *Server) ConsoleHandler(extra func(*http.ServeMux)) http.Handler {
	return consoleMux(s, extra)
}

// AdminHandler serves the console's admin API over a vault opened by the
// command line while the daemon is stopped: the same handlers as the
// running daemon's socket.
func AdminHandler(v *vault.Vault, a *auth.Service, categories func() []string) http.Handler {
	s := &Server{deps: Deps{Vault: v, Categories: categories}, auth: a, log: slog.New(slog.DiscardHandler)}
	return consoleMux(s, nil)
}

func consoleMux(s *Server, extra func(*http.ServeMux)) http.Handler {
	m := http.NewServeMux()
	s.adminRoutesWith(m, consoleGuard)
	if extra != nil {
		extra(m)
	}
	m.HandleFunc("/", ConsoleGuard(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "no such console route")
	}))
	return m
}
