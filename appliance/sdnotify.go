package appliance

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/edgetriage/edgetriage/appliance/supervisor"
)

// systemd tells a Type=notify service where to report its state in
// NOTIFY_SOCKET, and how often it must prove it is alive in WATCHDOG_USEC
// (sd_notify(3), sd_watchdog_enabled(3)). The protocol is one datagram of
// KEY=VALUE lines, so it is spoken here directly rather than through a
// library. Outside systemd both variables are unset and nothing is sent.
type notifier struct {
	socket   string
	watchdog time.Duration // zero: no watchdog asked for
	log      *slog.Logger
}

func notifierFromEnv(log *slog.Logger) notifier {
	n := notifier{socket: os.Getenv("NOTIFY_SOCKET"), log: log}
	usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	// WATCHDOG_PID names the process the watchdog is meant for; a child
	// that inherited the variables (ffmpeg, say) must not answer for us.
	pid := os.Getenv("WATCHDOG_PID")
	if err == nil && usec > 0 && (pid == "" || pid == strconv.Itoa(os.Getpid())) {
		n.watchdog = time.Duration(usec) * time.Microsecond
	}
	return n
}

// send reports state to systemd; a failure is logged, never fatal: the
// daemon is as good without a service manager listening.
func (n notifier) send(state string) {
	if n.socket == "" {
		return
	}
	addr := &net.UnixAddr{Name: n.socket, Net: "unixgram"}
	if n.socket[0] == '@' {
		addr.Name = "\x00" + n.socket[1:] // an abstract socket
	}
	conn, err := net.DialUnix("unixgram", nil, addr)
	if err == nil {
		_, err = conn.Write([]byte(state))
		conn.Close()
	}
	if err != nil {
		n.log.Warn("could not notify systemd", "state", state, "socket", n.socket, "err", err)
	}
}

// watchdogPart pings systemd's watchdog while the core of the daemon
// answers: a read of the vault's index and a request to the daemon's own
// /healthz through its listener. A camera or a sync target that keeps
// failing is not checked: the supervisor restarts those alone, and a restart
// of the whole daemon would cut every other camera's recording.
type watchdogPart struct {
	n      notifier
	vault  func() error // a read of the vault's index
	health string       // URL of the daemon's own /healthz
	client *http.Client
}

func (d *Daemon) watchdog(n notifier, addr net.Addr, tlsOn bool) *watchdogPart {
	scheme := "http"
	transport := &http.Transport{DisableKeepAlives: true}
	if tlsOn {
		scheme = "https"
		// Its own listener, on its own certificate: who answers is known.
		transport.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	return &watchdogPart{n: n, vault: func() error { _, err := d.vault.Head(); return err }, health: scheme + "://" + addr.String() + "/healthz",
		client: &http.Client{Transport: transport, Timeout: n.watchdog / 4}}
}

func (w *watchdogPart) Name() string { return "watchdog" }

// Run pings at half the interval systemd asked for, as sd_watchdog_enabled(3)
// advises, so one slow check does not cost the daemon its life.
func (w *watchdogPart) Run(ctx context.Context) error {
	if w.n.watchdog == 0 {
		<-ctx.Done()
		return nil
	}
	return supervisor.Every(ctx, w.n.watchdog/2, func() error {
		if err := w.check(ctx); err != nil {
			w.n.log.Error("watchdog: not telling systemd all is well", "err", err)
			return nil
		}
		w.n.send("WATCHDOG=1")
		return nil
	})
}

func (w *watchdogPart) check(ctx context.Context) error {
	if err := w.vault(); err != nil {
		return fmt.Errorf("vault index: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.health, nil)
	if err != nil {
		return err
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("own /healthz: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("own /healthz: %s", resp.Status)
	}
	return nil
}
