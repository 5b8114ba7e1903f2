package appliance

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/edgetriage/edgetriage/appliance/auth"
	"github.com/edgetriage/edgetriage/appliance/config"
	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/pipeline"
	"github.com/edgetriage/edgetriage/sync/outbox"
)

// ReloadReport says what a reload changed in the running daemon.
type ReloadReport struct {
	// Applied are the sections now in force: cameras, triage, sync.windows,
	// retention, auth.
	Applied []string `json:"applied"`
	// Cameras added, removed and changed (restarted with the new setup);
	// every other camera recorded on untouched.
	CamerasAdded   []string `json:"cameras_added,omitempty"`
	CamerasRemoved []string `json:"cameras_removed,omitempty"`
	CamerasChanged []string `json:"cameras_changed,omitempty"`
	// NeedsRestart are keys that changed in the file but take a restart
	// (listener, data directory, sync target, dock, ...); the running values
	// stay until then.
	NeedsRestart []string `json:"needs_restart,omitempty"`
}

func (r ReloadReport) String() string {
	parts := []string{"applied: " + orNone(r.Applied)}
	for _, c := range []struct {
		what string
		ids  []string
	}{{"cameras added", r.CamerasAdded}, {"removed", r.CamerasRemoved}, {"restarted", r.CamerasChanged}} {
		if len(c.ids) > 0 {
			parts = append(parts, c.what+": "+strings.Join(c.ids, " "))
		}
	}
	if len(r.NeedsRestart) > 0 {
		parts = append(parts, "changed but not applied until a restart: "+strings.Join(r.NeedsRestart, " "))
	}
	return strings.Join(parts, "; ")
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "nothing (no change)"
	}
	return strings.Join(s, " ")
}

// ErrNotRunning is a reload asked of a daemon that is starting or
// stopping.
var ErrNotRunning = errors.New("the daemon is not running (starting or stopping); try again")

// ReloadConfig reads the configuration again (ConfigSource) and applies it.
// A file with errors is refused with the same messages as at start, and
// the running configuration is kept.
func (d *Daemon) ReloadConfig(ctx context.Context, by evidence.Actor) (ReloadReport, error) {
	if d.ConfigSource == nil {
		return ReloadReport{}, errors.New("this daemon was started without a configuration source to reload from")
	}
	next, err := d.ConfigSource()
	if err != nil {
		d.log.Error("reload refused; the running configuration stays", "err", err)
		return ReloadReport{}, err
	}
	return d.Reload(ctx, next, by)
}

// Reload applies next to the running daemon without stopping what did not
// change: cameras are added, removed, or restarted only when their own
// setup changed; the triage stage and retention restart with their new
// sections (a clip in triage is triaged again under the new rules); upload
// windows change in place; the login policy applies to the next login.
// Keys that need a restart are reported and left as they run. The reload
// is a custody event by actor.
func (d *Daemon) Reload(ctx context.Context, next config.Config, by evidence.Actor) (ReloadReport, error) {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	d.cfgMu.Lock()
	cur, groups := d.cfg, d.groups
	d.cfgMu.Unlock()
	if groups == nil || !d.ready.Load() {
		return ReloadReport{}, ErrNotRunning
	}
	rep := ReloadReport{NeedsRestart: restartOnly(cur, next)}
	stopBy, cancel := context.WithTimeout(ctx, cur.ShutdownTimeout)
	defer cancel()
	plan := planCameras(cur.Cameras, next.Cameras, cur.Triage, next.Triage)
	steps := []struct {
		name    string
		changed bool
		apply   func() error
	}{
		{"cameras", !plan.empty(), func() error { return d.applyCameras(stopBy, groups.intake, plan, next.Cameras, next.Triage) }},
		{"triage", !reflect.DeepEqual(cur.Triage, next.Triage), func() error { return d.replaceTriage(stopBy, groups, next.Triage) }},
		{"sync.windows", !slices.Equal(cur.Sync.Windows, next.Sync.Windows), func() error { return d.setWindows(next.Sync.Windows) }},
		{"retention", !reflect.DeepEqual(cur.Retention, next.Retention), func() error { return d.replaceRetention(stopBy, groups, next.Retention) }},
		{"auth", !reflect.DeepEqual(cur.Auth, next.Auth), func() error { d.auth.SetMFARequired(next.Auth.MFARequiredRoles); return nil }},
	}
	for _, st := range steps {
		if !st.changed {
			continue
		}
		if err := st.apply(); err != nil {
			d.log.Error("reload stopped part way", "section", st.name, "err", err, "applied", rep.Applied)
			return rep, fmt.Errorf("reload %s: %w", st.name, err)
		}
		rep.Applied = append(rep.Applied, st.name)
		d.adopt(st.name, next)
	}
	rep.CamerasAdded, rep.CamerasRemoved, rep.CamerasChanged = plan.added, plan.removed, plan.changed
	d.log.Info("configuration reloaded", "report", rep.String())
	return rep, d.recordReload(ctx, by, rep)
}

// adopt makes a section applied from next part of the running config.
func (d *Daemon) adopt(section string, next config.Config) {
	d.cfgMu.Lock()
	defer d.cfgMu.Unlock()
	switch section {
	case "cameras":
		d.cfg.Cameras = next.Cameras
	case "triage":
		d.cfg.Triage = next.Triage
	case "sync.windows":
		d.cfg.Sync.Windows = next.Sync.Windows
	case "retention":
		d.cfg.Retention = next.Retention
	case "auth":
		d.cfg.Auth = next.Auth
	}
}

func (d *Daemon) recordReload(ctx context.Context, by evidence.Actor, rep ReloadReport) error {
	details := map[string]string{"applied": strings.Join(rep.Applied, " ")}
	for k, v := range map[string][]string{"cameras_added": rep.CamerasAdded, "cameras_removed": rep.CamerasRemoved,
		"cameras_changed": rep.CamerasChanged, "needs_restart": rep.NeedsRestart} {
		if len(v) > 0 {
			details[k] = strings.Join(v, " ")
		}
	}
	if _, err := d.vault.Append(context.WithoutCancel(ctx), evidence.CustodyEvent{Actor: by, Action: evidence.ActionConfigReloaded, Details: details}); err != nil {
		return fmt.Errorf("record reload: %w", err)
	}
	return nil
}

// restartOnly names the top-level keys (and sync's, but windows) that
// differ between old and next among those a reload does not apply.
func restartOnly(old, next config.Config) []string {
	strip := func(c config.Config) config.Config {
		c.Cameras, c.Triage, c.Retention, c.Auth = nil, pipeline.TriageConfig{}, pipeline.RetentionConfig{}, auth.Policy{}
		c.Sync.Windows = nil
		return c
	}
	a, b := reflect.ValueOf(strip(old)), reflect.ValueOf(strip(next))
	var keys []string
	for i := range a.NumField() {
		if !reflect.DeepEqual(a.Field(i).Interface(), b.Field(i).Interface()) {
			tag, _, _ := strings.Cut(a.Type().Field(i).Tag.Get("yaml"), ",")
			keys = append(keys, tag)
		}
	}
	return keys
}

func (d *Daemon) newTriageStage(ctx context.Context, cfg pipeline.TriageConfig) ([]*pipeline.Follower, error) {
	return pipeline.NewTriageStage(ctx, d.vault, cfg, d.liveWindower, d.log)
}

func (d *Daemon) newRetention(cfg pipeline.RetentionConfig) *pipeline.Retention {
	return &pipeline.Retention{Vault: d.vault, Cfg: cfg, Usage: pipeline.StatfsUsage, Acks: d.outboxStore, Log: d.log}
}

// replaceTriage restarts the triage stage with the new rules; its cursor
// stays in the vault, so a clip it was working on is triaged again.
func (d *Daemon) replaceTriage(ctx context.Context, groups *running, cfg pipeline.TriageConfig) error {
	for _, name := range []string{pipeline.TriageFiles, pipeline.TriageCameras} {
		if err := groups.stages.Remove(ctx, name); err != nil {
			return err
		}
	}
	if !cfg.Enabled {
		return nil
	}
	stages, err := d.newTriageStage(ctx, cfg)
	if err != nil {
		return err
	}
	for _, s := range stages {
		if err := groups.stages.Add(s); err != nil {
			return err
		}
	}
	return nil
}

func (d *Daemon) replaceRetention(ctx context.Context, groups *running, cfg pipeline.RetentionConfig) error {
	if err := groups.background.Remove(ctx, "retention"); err != nil {
		return err
	}
	return groups.background.Add(d.newRetention(cfg))
}

func (d *Daemon) setWindows(specs []string) error {
	ws, err := outbox.ParseWindows(specs)
	if err != nil {
		return err
	}
	d.outbox.SetWindows(ws)
	return nil
}

// categories are the item categories the running retention knows.
func (d *Daemon) categories() []string {
	d.cfgMu.Lock()
	defer d.cfgMu.Unlock()
	var out []string
	for c := range d.cfg.Retention.Categories {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// newWebhooks prepares one alert receiver per configured webhook.
func (d *Daemon) newWebhooks(ctx context.Context) ([]*pipeline.Webhook, error) {
	var out []*pipeline.Webhook
	for _, wc := range d.cfg.Alerts.Webhooks {
		w, err := pipeline.NewWebhook(ctx, d.vault, wc, d.log)
		if err != nil {
			return nil, fmt.Errorf("alerts: %w", err)
		}
		out = append(out, w)
	}
	return out, nil
}
