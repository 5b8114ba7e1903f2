package firmware

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// Store is what firmware needs of the vault: a place to keep packages as
// items, a way to read them back, and the custody chain.
type Store interface {
	IngestReader(ctx context.Context, r io.Reader, in evidence.Intake) (evidence.Item, bool, error)
	OpenObject(d evidence.Digest) (*os.File, error)
	// Append fills in Seq, Time, Prev and Hash.
	Append(ctx context.Context, events ...evidence.CustodyEvent) ([]evidence.CustodyEvent, error)
}

// State is a durable key-value space of firmware's own (the vault's
// *vault.KV satisfies it): staged packages, per-camera status, rollout days.
type State interface {
	Get(key string) ([]byte, error)
	Put(ctx context.Context, key string, val []byte) error
	Scan(prefix string, fn func(key string, val []byte) bool) error
}

// Key prefixes in State.
const (
	keyPackage = "pkg/"
	keyCamera  = "cam/"
	keyForce   = "force/"
	keyRollout = "rollout/"
)

// ActorAppliance is the actor of the events Apply records.
const ActorAppliance evidence.Actor = "appliance"

// Staged is a package kept in the vault and ready for cameras.
type Staged struct {
	Package    evidence.Digest `json:"package"` // the vault item holding the archive
	Name       string          `json:"name"`    // the archive's file name at import
	Manifest   Manifest        `json:"manifest"`
	KeyID      string          `json:"key_id"`
	ImportedAt time.Time       `json:"imported_at"`
	ImportedBy evidence.Actor  `json:"imported_by"`
}

// Options tune a Manager; the zero value is right for the daemon.
type Options struct {
	Logger *slog.Logger
	// Now is the appliance clock; tests pin it to cross rollout days.
	Now func() time.Time
	// Progress, when set, is told how much of an image has been written to
	// a camera, for the dashboard.
	Progress func(serial string, written, total int64)
}

// Manager stages packages and applies them at the dock. It is safe for
// concurrent use; each camera is expected in one bay at a time.
type Manager struct {
	cfg      Config
	trust    *TrustStore
	store    Store
	state    State
	log      *slog.Logger
	now      func() time.Time
	progress func(serial string, written, total int64)

	rollout sync.Mutex // makes the daily quota check-and-take atomic
}

// New makes a Manager from a validated configuration.
func New(cfg Config, store Store, state State, opts Options) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	trust, err := NewTrustStore(cfg.Vendors)
	if err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Manager{cfg: cfg, trust: trust, store: store, state: state, log: opts.Logger, now: opts.Now, progress: opts.Progress}, nil
}

// Trust is the manager's trust store.
func (m *Manager) Trust() *TrustStore { return m.trust }

// ImportFile verifies the package at path and stages it. A refused package
// is not stored; the refusal is recorded in the custody chain all the same,
// so an attempt to load bad firmware leaves a trace.
func (m *Manager) ImportFile(ctx context.Context, path string, by evidence.Actor) (Staged, error) {
	f, err := os.Open(path)
	if err != nil {
		return Staged{}, fmt.Errorf("import firmware %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Staged{}, fmt.Errorf("import firmware %s: %w", path, err)
	}
	name := filepath.Base(path)
	v, err := m.trust.VerifyPackage(f, fi.Size())
	if err != nil {
		return Staged{}, m.importRefused(ctx, by, name, evidence.Digest{}, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return Staged{}, fmt.Errorf("import firmware %s: %w", path, err)
	}
	man := v.Manifest
	item, _, err := m.store.IngestReader(ctx, f, evidence.Intake{
		Actor: by, Kind: evidence.KindFirmware, Source: "firmware:" + man.Vendor, OriginalName: name,
		Labels:  map[string]string{"firmware_vendor": man.Vendor, "firmware_version": man.Version, "firmware_models": strings.Join(man.Models, ",")},
		Details: map[string]string{"firmware_version": man.Version},
	})
	if err != nil {
		return Staged{}, fmt.Errorf("import firmware %s: %w", path, err)
	}
	// Check what the vault holds, not the file it came from, which could
	// have changed since it was verified.
	v, err = m.verifyStored(item.Digest)
	if err != nil {
		return Staged{}, m.importRefused(ctx, by, name, item.Digest, err)
	}
	st := Staged{Package: item.Digest, Name: name, Manifest: v.Manifest, KeyID: v.KeyID, ImportedAt: m.now().UTC(), ImportedBy: by}
	if err := m.putJSON(ctx, keyPackage+item.Digest.String(), st); err != nil {
		return Staged{}, fmt.Errorf("import firmware %s: %w", path, err)
	}
	err = m.record(ctx, by, item.Digest, map[string]string{"step": "import", "result": "staged", "vendor": man.Vendor,
		"to": man.Version, "models": strings.Join(man.Models, ","), "key_id": v.KeyID, "name": name})
	if err != nil {
		return Staged{}, fmt.Errorf("import firmware %s: %w", path, err)
	}
	return st, nil
}

func (m *Manager) importRefused(ctx context.Context, by evidence.Actor, name string, item evidence.Digest, refusal error) error {
	details := map[string]string{"step": "import", "result": "refused", "reason": string(ReasonOf(refusal)), "detail": refusal.Error(), "name": name}
	if err := m.record(ctx, by, item, details); err != nil {
		return fmt.Errorf("import firmware %s: %w (and recording the refusal failed: %v)", name, refusal, err)
	}
	return fmt.Errorf("import firmware %s: %w", name, refusal)
}

// verifyStored checks the package bytes the vault holds under d.
func (m *Manager) verifyStored(d evidence.Digest) (Verified, error) {
	f, err := m.store.OpenObject(d)
	if err != nil {
		return Verified{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Verified{}, fmt.Errorf("package %s: %w", d.Short(), err)
	}
	return m.trust.VerifyPackage(f, fi.Size())
}

// VerifyStaged re-checks a staged package against the current trust store.
func (m *Manager) VerifyStaged(d evidence.Digest) (Verified, error) {
	if _, err := m.staged(d); err != nil {
		return Verified{}, err
	}
	return m.verifyStored(d)
}

// List returns the staged packages, newest version first per vendor.
func (m *Manager) List() ([]Staged, error) {
	var out []Staged
	var decodeErr error
	err := m.state.Scan(keyPackage, func(key string, val []byte) bool {
		var st Staged
		if err := json.Unmarshal(val, &st); err != nil {
			decodeErr = fmt.Errorf("staged package %s: %w", key, err)
			return false
		}
		out = append(out, st)
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("list firmware: %w", err)
	}
	if decodeErr != nil {
		return nil, decodeErr
	}
	slices.SortFunc(out, func(a, b Staged) int {
		if c := strings.Compare(a.Manifest.Vendor, b.Manifest.Vendor); c != 0 {
			return c
		}
		c, _ := CompareVersions(b.Manifest.Version, a.Manifest.Version)
		return c
	})
	return out, nil
}

// ErrNotStaged is returned for a digest that names no staged package.
var ErrNotStaged = fmt.Errorf("no such staged firmware package")

func (m *Manager) staged(d evidence.Digest) (Staged, error) {
	var st Staged
	found, err := m.getJSON(keyPackage+d.String(), &st)
	if err != nil {
		return Staged{}, err
	}
	if !found {
		return Staged{}, fmt.Errorf("package %s: %w", d.Short(), ErrNotStaged)
	}
	return st, nil
}

// forceRecord is an admin's order to write one package to one camera even
// if it is older than what the camera runs.
type forceRecord struct {
	Package evidence.Digest `json:"package"`
	Admin   string          `json:"admin"`
	At      time.Time       `json:"at"`
}

// Force lets the next dock of camera serial take package d even when it is
// a downgrade. The admin's name goes into the custody chain now and into
// every event of the update it allows.
func (m *Manager) Force(ctx context.Context, serial string, d evidence.Digest, admin string) error {
	if admin == "" || serial == "" {
		return fmt.Errorf("force firmware: both the camera serial and the admin's name are required")
	}
	st, err := m.staged(d)
	if err != nil {
		return fmt.Errorf("force firmware: %w", err)
	}
	if err := m.putJSON(ctx, keyForce+serial, forceRecord{Package: d, Admin: admin, At: m.now().UTC()}); err != nil {
		return fmt.Errorf("force firmware: %w", err)
	}
	return m.record(ctx, evidence.Actor("user:"+admin), d, map[string]string{"step": "force", "serial": serial,
		"to": st.Manifest.Version, "forced_by": admin, "result": "allowed"})
}

func (m *Manager) record(ctx context.Context, actor evidence.Actor, item evidence.Digest, details map[string]string) error {
	for k, v := range details {
		if v == "" {
			delete(details, k)
		}
	}
	_, err := m.store.Append(ctx, evidence.CustodyEvent{Actor: actor, Action: evidence.ActionFirmware, Item: item, Details: details})
	return err
}

func (m *Manager) putJSON(ctx context.Context, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return m.state.Put(ctx, key, b)
}

func (m *Manager) getJSON(key string, v any) (bool, error) {
	b, err := m.state.Get(key)
	if err != nil || len(b) == 0 {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("decode %s: %w", key, err)
	}
	return true, nil
}

// Check answers whether staged package d could be written to cam now,
// without writing anything or counting toward the rollout quota: the
// package checks, then model, version order and battery.
func (m *Manager) Check(d evidence.Digest, cam Camera, forcedBy string) (Verified, error) {
	v, err := m.VerifyStaged(d)
	if err != nil {
		return Verified{}, err
	}
	return v, CheckCamera(v.Manifest, cam, m.cfg.MinBattery, forcedBy)
}
