package appliance

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/edgetriage/edgetriage/appliance/backup"
	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/web"
)

// ConsoleSocket is the daemon's local admin socket under the data
// directory. The command line finds it there (`edgetriage user add --data
// DIR ...`) and administers the running daemon through it, so accounts,
// tokens, reloads and backups never need recording to stop.
//
// Who may use it: the socket is mode 0660 in the daemon's group (the
// edgetriage group of the package), inside the data directory (0750); and
// each connection's peer credentials (SO_PEERCRED) are checked again: root,
// the daemon's own user, or a member of its group. What they do is
// recorded as "console:<user name>".
const ConsoleSocket = "admin.sock"

// startConsole listens on the admin socket. A socket file left by a daemon
// that died is replaced: this daemon holds the index's lock, so no other
// daemon can be serving it.
func (d *Daemon) startConsole() (*http.Server, error) {
	path := filepath.Join(d.cfg.DataDir, ConsoleSocket)
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("console socket %s: %w", path, err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("console socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, fmt.Errorf("console socket %s: %w", path, err)
	}
	srv := &http.Server{Handler: d.web.ConsoleHandler(d.consoleRoutes), ConnContext: d.consolePeer, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("console socket stopped", "err", err)
		}
	}()
	return srv, nil
}

// consolePeer names the operating-system user at the other end of a
// console connection, when they may administer the appliance.
func (d *Daemon) consolePeer(ctx context.Context, c net.Conn) context.Context {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return ctx
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return ctx
	}
	var cred *unix.Ucred
	raw.Control(func(fd uintptr) { cred, err = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) })
	if err != nil || cred == nil {
		d.log.Warn("console: peer credentials unreadable; refusing", "err", err)
		return ctx
	}
	name := userName(cred.Uid)
	if !mayAdminister(cred) {
		d.log.Warn("console: refused a user who is neither root nor in the daemon's group", "user", name, "uid", cred.Uid, "pid", cred.Pid)
		return ctx
	}
	return web.WithConsoleUser(ctx, name)
}

// mayAdminister: root, the daemon's own user, or a member of its group.
func mayAdminister(cred *unix.Ucred) bool {
	if cred.Uid == 0 || int(cred.Uid) == os.Getuid() || int(cred.Gid) == os.Getgid() {
		return true
	}
	return inGroup(cred.Pid, os.Getgid())
}

// inGroup reads a process's supplementary groups from /proc.
func inGroup(pid int32, gid int) bool {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		groups, ok := strings.CutPrefix(sc.Text(), "Groups:")
		if !ok {
			continue
		}
		for _, g := range strings.Fields(groups) {
			if n, err := strconv.Atoi(g); err == nil && n == gid {
				return true
			}
		}
	}
	return false
}

func userName(uid uint32) string {
	if u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil {
		return u.Username
	}
	return fmt.Sprintf("uid-%d", uid)
}

// consoleRoutes are the daemon's own console routes, beside the admin API:
//
//	POST /console/v1/reload    read the configuration again and apply it (as SIGHUP)
//	GET  /console/v1/backup    a backup archive (tar): ?objects=1 adds the evidence files
func (d *Daemon) consoleRoutes(m *http.ServeMux) {
	m.HandleFunc("POST /console/v1/reload", web.ConsoleGuard(d.consoleReload))
	m.HandleFunc("GET /console/v1/backup", web.ConsoleGuard(d.consoleBackup))
}

func consoleActor(r *http.Request) evidence.Actor {
	p, _ := web.PrincipalFrom(r.Context())
	return p.Actor()
}

func (d *Daemon) consoleReload(w http.ResponseWriter, r *http.Request) {
	rep, err := d.ReloadConfig(r.Context(), consoleActor(r))
	w.Header().Set("Content-Type", "application/json")
	switch {
	case errors.Is(err, ErrNotRunning):
		w.WriteHeader(http.StatusServiceUnavailable)
	case err != nil:
		w.WriteHeader(http.StatusBadRequest)
	}
	if err != nil {
		json.NewEncoder(w).Encode(map[string]any{"error": err.Error(), "report": rep})
		return
	}
	json.NewEncoder(w).Encode(rep)
}

// consoleBackup streams a backup archive. A failure part way cuts the
// stream short before its manifest, which the receiving end reports.
func (d *Daemon) consoleBackup(w http.ResponseWriter, r *http.Request) {
	objects := r.URL.Query().Get("objects") == "1"
	w.Header().Set("Content-Type", "application/x-tar")
	m, err := backup.Write(r.Context(), w, d.vault, backup.Options{ConfigFile: d.ConfigFile, Objects: objects, By: consoleActor(r)})
	if err != nil {
		d.log.Error("backup failed", "err", err)
		return
	}
	d.log.Info("backup made", "by", consoleActor(r), "custody_head", m.Head, "items", m.Stored, "objects", m.Objects)
}
