package appliance

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/edgetriage/edgetriage/appliance/auth"
	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/web"
)

// centralAuth admits bearer tokens of central clients only: a staff or
// investigator session, or their tokens, cannot use the pull API.
func centralAuth(svc *auth.Service) CentralAuth {
	return func(r *http.Request) (string, bool) {
		p, session, ok := svc.Authenticate(r)
		if !ok || session != nil || p.Role != auth.RoleCentral {
			return "", false
		}
		return p.Name, true
	}
}

// firstAdmin makes an "admin" account with a random password when the
// appliance has no accounts yet, so a fresh `make run` can be logged into.
// The password goes to a file only root and the daemon can read
// (DATA/first-admin-password, 0600) and to the terminal when there is one;
// never to the log, which is shipped and kept.
func (d *Daemon) firstAdmin(ctx context.Context) error {
	users, err := d.auth.Users()
	if err != nil || len(users) > 0 {
		return err
	}
	raw := make([]byte, 15)
	rand.Read(raw)
	password := base64.RawURLEncoding.EncodeToString(raw)
	path := filepath.Join(d.cfg.DataDir, FirstAdminPasswordFile)
	if err := os.WriteFile(path, []byte(password+"\n"), 0o600); err != nil {
		return fmt.Errorf("first admin: %w", err)
	}
	if err := d.auth.AddUser(ctx, "admin", auth.RoleAdmin, password); err != nil {
		return fmt.Errorf("first admin: %w", err)
	}
	d.log.Warn("first start: created the admin account; its password is in a file only root can read: log in, change it, delete the file",
		"user", "admin", "password_file", path)
	if d.Terminal != nil {
		fmt.Fprintf(d.Terminal, "\nfirst start: the admin account's password is %s (also in %s)\n\n", password, path)
	}
	return nil
}

// FirstAdminPasswordFile is where, under the data directory, the first
// admin's password is left for whoever installed the appliance.
const FirstAdminPasswordFile = "first-admin-password"

// newWeb builds the dashboard, API and previews over the daemon's parts.
func (d *Daemon) newWeb() (*web.Server, error) {
	return web.New(web.Config{ICEAddr: d.cfg.WebRTC.UDPAddr, PublicIPs: d.cfg.WebRTC.PublicIPs,
		WatermarkOriginals: d.cfg.WebRTC.WatermarkOriginals, Logger: d.log.With("part", "web")},
		web.Deps{Vault: d.vault, Auth: d.auth, Dock: dockPanel{d}, Cameras: cameraPanel{d}, Sync: syncPanel{d},
			Health: healthPanel{d}, Export: http.HandlerFunc(d.exportHandler)})
}

// exportHandler streams an export bundle of the item to the investigator;
// the export is in the custody chain before the first byte leaves.
func (d *Daemon) exportHandler(w http.ResponseWriter, r *http.Request) {
	p, _ := web.PrincipalFrom(r.Context())
	dg, err := evidence.ParseDigest(r.PathValue("digest"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	dir, err := os.MkdirTemp(filepath.Join(d.cfg.DataDir, "tmp"), "export-")
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, dg.String()+".bundle")
	if err := Export(r.Context(), d.vault, dg, out, p.Actor()); err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, errNotStored) {
			status = http.StatusGone
		}
		writeError(w, status, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.Header().Set("Content-Disposition", `attachment; filename="`+dg.String()[:16]+`.bundle"`)
	http.ServeFile(w, r, out)
}
