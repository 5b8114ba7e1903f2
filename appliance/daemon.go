// Package appliance is the edgetriage daemon's wiring and lifecycle: it
// opens the vault, builds the capture, pipeline, sync and web parts over it,
// and runs them in supervised groups that stop in order (intake, pipeline
// stages, background parts, then the vault). What decides lives in
// appliance/pipeline; docs/architecture.md draws the whole layout.
package appliance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgetriage/edgetriage/appliance/auth"
	"github.com/edgetriage/edgetriage/appliance/config"
	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/media"
	"github.com/edgetriage/edgetriage/appliance/metrics"
	"github.com/edgetriage/edgetriage/appliance/pipeline"
	"github.com/edgetriage/edgetriage/appliance/status"
	"github.com/edgetriage/edgetriage/appliance/supervisor"
	"github.com/edgetriage/edgetriage/appliance/vault"
	"github.com/edgetriage/edgetriage/appliance/web"
	"github.com/edgetriage/edgetriage/capture/dock"
	"github.com/edgetriage/edgetriage/capture/live"
	"github.com/edgetriage/edgetriage/capture/rtsp"
	"github.com/edgetriage/edgetriage/firmware"
	"github.com/edgetriage/edgetriage/hardware"
	"github.com/edgetriage/edgetriage/sync/outbox"
	"github.com/edgetriage/edgetriage/sync/target"
	"github.com/edgetriage/edgetriage/triage/motion"
)

// OpenVault opens the vault in dir the way the daemon and the CLI use it:
// with media probing of every media file.
func OpenVault(ctx context.Context, dir string, log *slog.Logger) (*vault.Vault, error) {
	return vault.Open(ctx, dir, vault.Options{Logger: log, Prober: media.Probe})
}

// Daemon is one running appliance.
type Daemon struct {
	cfg   config.Config
	log   *slog.Logger
	vault *vault.Vault
	ready atomic.Bool
	// Listening, when set, is told the HTTP address once it accepts
	// connections (tests use it to find a port chosen by the kernel).
	Listening func(addr string)
	// RestartBackoff is the first wait before a failed part is restarted;
	// it doubles up to 60 times that. Zero means one second.
	RestartBackoff time.Duration
	// Version is the running binary's (edgetriage_build_info).
	Version string
	// Terminal, when set, is an interactive terminal to show first-start
	// secrets on (never the log).
	Terminal io.Writer
	// ConfigSource reads the configuration again for a reload (SIGHUP, the
	// console); nil: the daemon cannot be reloaded. ConfigFile is the file
	// it reads, which backups include ("" for none).
	ConfigSource func() (config.Config, error)
	ConfigFile   string

	outbox      *outbox.Worker
	outboxStore *pipeline.OutboxStore
	syncPolicy  *pipeline.SyncPolicy
	health      *hardware.Sampler
	camMu       sync.Mutex
	cameras     []*rtsp.Recorder
	live        []*motion.LiveSource // each camera's live analysis
	liveView    *live.Hubs           // each camera's live view: one RTSP session however many watch
	// camLeaving holds, per camera a reload stopped, a channel closed once
	// its old recorder has handed its last segments over: two recorders of
	// one camera must never share its spool.
	camLeaving map[string]<-chan struct{}
	dock       *dock.Dock
	firmware   *firmware.Manager
	stages     []*pipeline.Follower // pipeline stages that follow the custody chain
	auth       *auth.Service
	web        *web.Server
	clock      *pipeline.ClockWatch
	stamper    *pipeline.Stamper // nil without a TSA
	webhooks   []*pipeline.Webhook

	// cfgMu guards cfg once the daemon runs: a reload replaces sections.
	cfgMu    sync.Mutex
	reloadMu sync.Mutex // one reload at a time
	groups   *running   // set once the parts are started
}

// New prepares a daemon; nothing is opened until Run.
func New(cfg config.Config, log *slog.Logger) *Daemon {
	return &Daemon{cfg: cfg, log: log}
}

// Run starts the daemon and blocks until ctx ends or a part says the
// daemon must stop. Shutdown goes in order, bounded by shutdown_timeout:
// intake stops first, the pipeline's stages finish the work in hand, then
// the background parts stop, previews end, and the vault (which signs the
// chain head) is closed last.
func (d *Daemon) Run(ctx context.Context) error {
	v, err := OpenVault(ctx, d.cfg.DataDir, d.log)
	if err != nil {
		return err
	}
	d.vault = v
	if err := d.checkKey(); err != nil {
		v.Close()
		return err
	}
	if err := d.wire(ctx); err != nil {
		v.Close()
		return err
	}
	srv, ln, err := d.listen()
	if err != nil {
		d.web.Close()
		v.Close()
		return err
	}
	console, err := d.startConsole()
	if err != nil {
		srv.Close()
		d.web.Close()
		v.Close()
		return err
	}
	fatal := make(chan error, 1)
	sup := supervisor.New(supervisor.Options{Backoff: d.RestartBackoff, Logger: d.log, StopEverything: func(err error) {
		select {
		case fatal <- err:
		default:
		}
	}})
	notify := notifierFromEnv(d.log)
	groups := running{
		background: sup.Start("background parts", append(d.backgroundParts(), d.watchdog(notify, ln.Addr(), srv.TLSConfig != nil))...),
		stages:     sup.Start("pipeline stages", d.stageParts()...),
		intake:     sup.Start("intake", d.intakeParts()...),
	}
	d.cfgMu.Lock()
	d.groups = &groups
	d.cfgMu.Unlock()
	serveErr := make(chan error, 1)
	scheme := "http"
	if srv.TLSConfig != nil {
		scheme = "https"
		go func() { serveErr <- srv.ServeTLS(ln, "", "") }()
	} else {
		go func() { serveErr <- srv.Serve(ln) }()
	}
	d.ready.Store(true)
	notify.send(fmt.Sprintf("READY=1\nSTATUS=serving on %s", ln.Addr()))
	d.log.Info("edgetriage serving", "http", scheme+"://"+ln.Addr().String(), "data", d.cfg.DataDir)
	if d.Listening != nil {
		d.Listening(ln.Addr().String())
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-fatal:
	case err := <-serveErr:
		runErr = fmt.Errorf("http server: %w", err)
	}
	notify.send("STOPPING=1\nSTATUS=stopping")
	return errors.Join(runErr, d.shutdown(srv, console, groups))
}

// running is the daemon's parts, in the groups they stop in.
type running struct {
	intake, stages, background *supervisor.Group
}

func (d *Daemon) shutdown(srv, console *http.Server, groups running) error {
	d.ready.Store(false)
	// No reload may start parts once stopping has begun; one under way
	// finishes first.
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	d.log.Info("shutting down", "timeout", d.cfg.ShutdownTimeout)
	deadline, cancel := context.WithTimeout(context.Background(), d.cfg.ShutdownTimeout)
	defer cancel()
	// Stages get half the time to finish what they hold; work cut off after
	// that is done again after the restart (their cursors stay before it).
	drainBy, cancelDrain := context.WithTimeout(deadline, d.cfg.ShutdownTimeout/2)
	defer cancelDrain()
	errs := []error{groups.intake.Stop(deadline), groups.stages.Drain(drainBy, deadline), groups.background.Stop(deadline)}
	// Previews end (and record their stop events) and live streams close
	// before the server waits for connections, and before the vault closes.
	if err := d.web.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close web: %w", err))
	}
	d.liveView.Close()
	if err := srv.Shutdown(deadline); err != nil {
		errs = append(errs, fmt.Errorf("shutdown http: %w", err))
	}
	if err := console.Shutdown(deadline); err != nil {
		errs = append(errs, fmt.Errorf("shutdown console: %w", err))
	}
	if err := d.vault.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close vault: %w", err))
	}
	d.log.Info("stopped")
	return errors.Join(errs...)
}

// listen opens the HTTP listener, with TLS unless it is off, and refuses
// plain HTTP anywhere but loopback.
func (d *Daemon) listen() (*http.Server, net.Listener, error) {
	tlsOn := d.cfg.HTTP.TLS == "auto"
	if err := web.CheckListen(d.cfg.HTTP.Addr, tlsOn); err != nil {
		return nil, nil, fmt.Errorf("http.addr: %w", err)
	}
	srv := &http.Server{Handler: d.web.Handler(), ReadHeaderTimeout: 10 * time.Second}
	if tlsOn {
		tc, err := web.TLSConfig(d.cfg.DataDir, d.cfg.HTTP.TLSCert, d.cfg.HTTP.TLSKey, nil)
		if err != nil {
			return nil, nil, fmt.Errorf("http.tls: %w", err)
		}
		srv.TLSConfig = tc
	}
	ln, err := net.Listen("tcp", d.cfg.HTTP.Addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen on %s (http.addr): %w", d.cfg.HTTP.Addr, err)
	}
	return srv, ln, nil
}

// wire builds the parts that need the open vault.
func (d *Daemon) wire(ctx context.Context) error {
	d.outboxStore = pipeline.NewOutboxStore(d.vault)
	d.auth = auth.New(d.vault.State("auth"), d.vault, auth.Options{Logger: d.log.With("part", "auth"), MFARequired: d.cfg.Auth.MFARequiredRoles})
	if err := d.firstAdmin(ctx); err != nil {
		return err
	}
	tgt, err := pipeline.NewSyncTarget(d.cfg.Sync, d.log)
	if err != nil {
		return fmt.Errorf("sync target: %w", err)
	}
	windows, err := outbox.ParseWindows(d.cfg.Sync.Windows)
	if err != nil {
		return fmt.Errorf("sync.windows: %w", err)
	}
	d.health, err = hardware.NewSampler(d.cfg.Health, d.cfg.DataDir, pipeline.NewAlarmRecorder(d.vault, d.log),
		hardware.Options{Logger: d.log})
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	if err := d.wireCustodyTime(); err != nil {
		return err
	}
	d.dock, err = dock.New(dock.Options{Config: d.cfg.Dock, Vault: pipeline.NewOriginVault(d.vault, "dock"), State: d.vault.State("dock"),
		Ack: d.outboxStore, Logger: d.log.With("part", "dock"), Throttle: readThrottle(d.cfg.Dock.ReadBytesPerSecond)})
	if err != nil {
		return fmt.Errorf("dock: %w", err)
	}
	d.firmware, err = firmware.New(d.cfg.Firmware, d.vault, d.vault.State("firmware"), firmware.Options{Logger: d.log.With("part", "firmware")})
	if err != nil {
		return fmt.Errorf("firmware: %w", err)
	}
	for _, cam := range d.cfg.Cameras {
		rec, src, err := d.newCamera(cam, d.cfg.Triage)
		if err != nil {
			return err
		}
		d.cameras = append(d.cameras, rec)
		if src != nil {
			d.live = append(d.live, src)
		}
	}
	if d.webhooks, err = d.newWebhooks(ctx); err != nil {
		return err
	}
	d.outbox, err = outbox.New(outbox.Config{Store: d.outboxStore, Source: pipeline.NewOutboxSource(d.vault), Custody: d.vault,
		Target: tgt, Actor: "appliance:sync", Windows: windows, Logger: d.log})
	if err != nil {
		return err
	}
	d.syncPolicy = pipeline.NewSyncPolicy(d.vault, d.outboxStore, d.cfg.Sync.SendAllFrom, d.outbox.Kick, d.log)
	d.stages = []*pipeline.Follower{d.syncPolicy.Follower()}
	if d.cfg.Triage.Enabled {
		triage, err := d.newTriageStage(ctx, d.cfg.Triage)
		if err != nil {
			return err
		}
		d.stages = append(d.stages, triage...)
	}
	if d.cfg.Redaction.OnFlag {
		d.stages = append(d.stages, pipeline.NewRedactStage(d.vault, d.cfg.Redaction, d.log))
	}
	d.liveView = live.New(liveCameras(d.cfg.Cameras), live.Options{Logger: d.log})
	d.web, err = d.newWeb()
	return err
}

// newWeb builds the dashboard, the APIs, previews and /metrics over the
// daemon's parts.
func (d *Daemon) newWeb() (*web.Server, error) {
	deps := web.Deps{Vault: d.vault, Auth: d.auth, Dock: dockPanel{d}, Cameras: cameraPanel{d}, Sync: syncPanel{d},
		Health: healthPanel{d}, Export: web.BundleExporter(d.vault), Edits: pipeline.NewRedactionEdits(d.vault), Ready: d.ready.Load,
		Categories: d.categories, Live: d.liveView}
	if d.cfg.Metrics.Enabled {
		stages := make([]metrics.Stage, 0, len(d.stages))
		for _, s := range d.stages {
			stages = append(stages, s)
		}
		deps.Metrics = metrics.Handler(d.vault, d.health, metrics.Parts{Dock: d.dock.Progress,
			Cameras: d.CameraStatus, Outbox: d.outbox.Status, Firmware: d.firmware.Statuses, Head: d.vault.Head, Stages: stages,
			Version: d.Version, Analysis: d.analysisStats},
			d.cfg.Metrics.BearerToken)
	}
	return web.New(web.Config{ICEAddr: d.cfg.WebRTC.UDPAddr, PublicIPs: d.cfg.WebRTC.PublicIPs, Witnesses: d.cfg.Witnesses,
		WatermarkOriginals: d.cfg.WebRTC.WatermarkOriginals, Logger: d.log.With("part", "web")}, deps)
}

// The dashboard's panels read the daemon's parts through these.
type (
	dockPanel   struct{ d *Daemon }
	cameraPanel struct{ d *Daemon }
	syncPanel   struct{ d *Daemon }
	healthPanel struct{ d *Daemon }
)

func (p dockPanel) DockStatus() []status.DockBay    { return status.DockBays(p.d.dock.Progress()) }
func (p cameraPanel) CameraStatus() []status.Camera { return status.Cameras(p.d.CameraStatus()) }
func (p syncPanel) SyncStatus() *status.Sync {
	return status.SyncOf(p.d.outbox.Status(context.Background()))
}
func (p healthPanel) Alarms() []status.Alarm {
	return status.Alarms(append(p.d.health.Alarms(), p.d.custodyTimeAlarms()...), p.d.vault.IntakeStopped())
}

// wireCustodyTime builds the clock watch and, with a TSA configured, the
// checkpoint timestamper; their alarms are recorded like the health ones.
func (d *Daemon) wireCustodyTime() error {
	alarms := pipeline.NewAlarmRecorder(d.vault, d.log)
	d.clock = pipeline.NewClockWatch(d.cfg.Custody.Clock, pipeline.NewSystemClock(), d.vault, alarms, d.log)
	if !d.cfg.Custody.Timestamp.Enabled() {
		return nil
	}
	var err error
	d.stamper, err = pipeline.NewStamper(d.cfg.Custody.Timestamp, d.vault, alarms, d.log)
	return err
}

func (d *Daemon) custodyTimeAlarms() []hardware.Alarm {
	out := d.clock.Alarms()
	if d.stamper != nil {
		out = append(out, d.stamper.Alarms()...)
	}
	return out
}

// intakeParts bring evidence in: docked cameras and RTSP cameras (and the
// firmware writes that follow a dock's offload).
func (d *Daemon) intakeParts() []supervisor.Part {
	parts := []supervisor.Part{
		named{"dock", d.dock},
		pipeline.NewFirmwareAtDock(d.dock, d.firmware, d.cfg.Dock.Root, time.Second, d.log),
	}
	d.camMu.Lock()
	defer d.camMu.Unlock()
	for _, src := range d.live {
		parts = append(parts, motionPart(src))
	}
	for _, rec := range d.cameras {
		parts = append(parts, cameraPart(rec))
	}
	return parts
}

// stageParts follow the custody chain: sync policy, triage, redaction.
func (d *Daemon) stageParts() []supervisor.Part {
	parts := make([]supervisor.Part, 0, len(d.stages))
	for _, f := range d.stages {
		parts = append(parts, f)
	}
	return parts
}

// backgroundParts keep the station in shape and send what is queued; they
// stop after the stages, which may still queue uploads or raise alarms.
func (d *Daemon) backgroundParts() []supervisor.Part {
	parts := []supervisor.Part{
		&checkpointer{vault: d.vault, every: d.cfg.CheckpointInterval, log: d.log},
		d.newRetention(d.cfg.Retention),
		named{"sync", d.outbox},
		named{"health", d.health},
		heapTrimmer{every: 10 * time.Second},
		named{"auth", d.auth}, // writes the failed-login summaries, the last at shutdown
		d.clock,
	}
	for _, w := range d.webhooks {
		parts = append(parts, w)
	}
	if d.stamper != nil {
		parts = append(parts, d.stamper)
	}
	return parts
}

// analysisStats is each camera's live analysis counters.
func (d *Daemon) analysisStats() map[string]motion.LiveStats {
	d.camMu.Lock()
	defer d.camMu.Unlock()
	out := make(map[string]motion.LiveStats, len(d.live))
	for _, src := range d.live {
		out[src.CameraID()] = src.Stats()
	}
	return out
}

// DockStatus is every bay's offload progress, for the API and dashboard.
func (d *Daemon) DockStatus() dock.Snapshot { return d.dock.Progress() }

// FirmwareStatus is the update state of every camera seen at the dock.
func (d *Daemon) FirmwareStatus() ([]firmware.Status, error) { return d.firmware.Statuses() }

// CameraStatus is every recorder's state, for the API and dashboard.
func (d *Daemon) CameraStatus() []rtsp.Status {
	d.camMu.Lock()
	defer d.camMu.Unlock()
	out := make([]rtsp.Status, 0, len(d.cameras))
	for _, rec := range d.cameras {
		out = append(out, rec.Status())
	}
	return out
}

// named gives a Run-only part the name the supervisor logs it under.
type named struct {
	name string
	part interface {
		Run(ctx context.Context) error
	}
}

func (n named) Name() string                  { return n.name }
func (n named) Run(ctx context.Context) error { return n.part.Run(ctx) }

// SendNow queues an item for central storage ahead of upload windows.
func (d *Daemon) SendNow(ctx context.Context, dg evidence.Digest, actor evidence.Actor) error {
	return d.syncPolicy.SendNow(ctx, dg, actor)
}

// checkpointer signs the chain head on a timer so that a crash loses at
// most one interval of signed history (the events themselves are durable).
type checkpointer struct {
	vault *vault.Vault
	every time.Duration
	log   *slog.Logger
}

func (c *checkpointer) Name() string { return "checkpointer" }

func (c *checkpointer) Run(ctx context.Context) error {
	return supervisor.Every(ctx, c.every, func() error {
		if _, err := c.vault.Checkpoint(ctx); err != nil && ctx.Err() == nil {
			return err
		}
		return nil
	})
}

// readThrottle holds every bay's camera reads to one shared rate; nil
// when the configuration sets no cap.
func readThrottle(bytesPerSecond int64) func(context.Context, io.Reader) io.Reader {
	lim := target.NewLimiter(float64(bytesPerSecond))
	if lim == nil {
		return nil
	}
	return func(ctx context.Context, r io.Reader) io.Reader { return target.LimitReader(ctx, r, lim) }
}
