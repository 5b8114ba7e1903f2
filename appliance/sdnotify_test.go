package appliance

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/appliance/config"
)

// listenNotify is systemd's end of the notify socket: every datagram the
// daemon sends arrives on the returned channel.
func listenNotify(t *testing.T) (string, <-chan string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	got := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			got <- string(buf[:n])
		}
	}()
	return path, got
}

func waitNotify(t *testing.T, got <-chan string, want string, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case msg := <-got:
			if strings.Contains(msg, want) {
				return
			}
		case <-deadline:
			t.Fatalf("systemd was not told %q within %s", want, within)
		}
	}
}

// Under systemd (Type=notify, WatchdogSec) the daemon says READY=1 only
// once /healthz answers, pings the watchdog while it runs, and says
// STOPPING=1 when it is asked to stop.
func TestSystemdNotifyReadyWatchdogStopping(t *testing.T) {
	socket, got := listenNotify(t)
	t.Setenv("NOTIFY_SOCKET", socket)
	t.Setenv("WATCHDOG_USEC", "400000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	cfg := config.Default()
	cfg.DataDir, cfg.Sync.Filesystem.Root, cfg.Dock.Root = t.TempDir(), t.TempDir(), t.TempDir()
	cfg.HTTP.Addr, cfg.WebRTC.UDPAddr = "127.0.0.1:0", "127.0.0.1:0"
	d := New(cfg, slog.New(slog.DiscardHandler))
	addr := make(chan string, 1)
	d.Listening = func(a string) { addr <- a }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer cancel()

	waitNotify(t, got, "READY=1", 60*time.Second)
	resp, err := http.Get("http://" + <-addr + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("READY=1 sent before /healthz answers: %v", err)
	}
	resp.Body.Close()
	for range 3 {
		waitNotify(t, got, "WATCHDOG=1", 2*time.Second)
	}
	cancel()
	waitNotify(t, got, "STOPPING=1", 10*time.Second)
	if err := <-done; err != nil {
		t.Fatalf("daemon stopped with %v", err)
	}
}

// The watchdog is fed only while the daemon answers its own /healthz:
// a daemon whose listener is gone lets systemd restart it.
func TestWatchdogWithheldWhenTheDaemonDoesNotAnswer(t *testing.T) {
	socket, got := listenNotify(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := ln.Addr()
	ln.Close()
	n := notifier{socket: socket, watchdog: 200 * time.Millisecond, log: slog.New(slog.DiscardHandler)}
	w := &watchdogPart{n: n, vault: func() error { return nil }, health: "http://" + gone.String() + "/healthz",
		client: &http.Client{Timeout: 50 * time.Millisecond}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	w.Run(ctx)
	select {
	case msg := <-got:
		t.Fatalf("watchdog fed while /healthz was unreachable: %q", msg)
	default:
	}
}
