package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/edgetriage/edgetriage/appliance"
	"github.com/edgetriage/edgetriage/appliance/auth"
	"github.com/edgetriage/edgetriage/appliance/vault"
	"github.com/edgetriage/edgetriage/appliance/web"
)

// console is a station's admin API as the command line reaches it: the
// running daemon's socket under the data directory, or, with the daemon
// stopped, the same handlers over the vault opened here. Either way the
// command line is the same and so are the answers.
type console struct {
	hc    *http.Client
	live  bool         // through the running daemon
	vault *vault.Vault // opened here when the daemon is stopped
}

// openConsole finds the daemon's socket in dataDir, or opens the vault
// when no daemon serves it.
func openConsole(ctx context.Context, dataDir string) (*console, error) {
	con, err := dialConsole(dataDir)
	if err == nil || !errors.Is(err, errNoDaemon) {
		return con, err
	}
	// The vault itself says whether a daemon holds it after all (one whose
	// socket is gone): its index is locked then.
	v, err := appliance.OpenVault(ctx, dataDir, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	h := web.AdminHandler(v, auth.New(v.State("auth"), v, auth.Options{}), nil)
	return &console{hc: &http.Client{Transport: inProcess{h: h, user: osUser()}}, vault: v}, nil
}

// errNoDaemon: no daemon answers on the data directory's socket.
var errNoDaemon = errors.New("no daemon is running on this data directory")

// dialConsole reaches the running daemon's socket only.
func dialConsole(dataDir string) (*console, error) {
	sock := filepath.Join(dataDir, appliance.ConsoleSocket)
	conn, err := net.DialTimeout("unix", sock, 2*time.Second)
	switch {
	case err == nil:
		conn.Close()
	case errors.Is(err, syscall.EACCES) || errors.Is(err, os.ErrPermission):
		return nil, fmt.Errorf("the running daemon's console %s: permission denied: run as root or as a member of the daemon's group (edgetriage)", sock)
	default:
		// No socket, or one left by a daemon that died (refused).
		return nil, fmt.Errorf("%s: %w", dataDir, errNoDaemon)
	}
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}
	return &console{hc: &http.Client{Transport: &http.Transport{DialContext: dial}}, live: true}, nil
}

// Close closes the vault when it was opened here.
func (c *console) Close() error {
	if c.vault != nil {
		return c.vault.Close()
	}
	return nil
}

func osUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return fmt.Sprintf("uid-%d", os.Getuid())
}

// call sends a JSON request and decodes a JSON answer into out (when not
// nil); an answer other than 2xx is an error with the server's message.
func (c *console) call(ctx context.Context, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://console"+path, r)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("the daemon's console: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return answerError(resp)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// answerError is the server's own message of a refused request.
func answerError(resp *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(raw, &e) == nil && e.Error != "" {
		return errors.New(e.Error)
	}
	return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(raw)))
}

// stream makes a request whose answer is read as a stream by the caller.
func (c *console) stream(ctx context.Context, method, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://console"+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("the daemon's console: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, answerError(resp)
	}
	return resp, nil
}

// inProcess serves requests with the console's handlers in this process,
// as the operating-system user running the command.
type inProcess struct {
	h    http.Handler
	user string
}

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	w := &bufferedResponse{header: http.Header{}, code: http.StatusOK}
	t.h.ServeHTTP(w, req.WithContext(web.WithConsoleUser(req.Context(), t.user)))
	return &http.Response{StatusCode: w.code, Status: fmt.Sprintf("%d %s", w.code, http.StatusText(w.code)), Header: w.header,
		Body: io.NopCloser(&w.body), Request: req, ProtoMajor: 1, ProtoMinor: 1}, nil
}

type bufferedResponse struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header         { return b.header }
func (b *bufferedResponse) Write(p []byte) (int, error) { return b.body.Write(p) }
func (b *bufferedResponse) WriteHeader(code int)        { b.code = code }
