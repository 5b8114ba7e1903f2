package dock

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// Vault is what the dock needs of the evidence store. The daemon's
// *vault.Vault satisfies it.
type Vault interface {
	// IngestReader stores what r yields as one item, hashing while it
	// copies so the source is read once; the bool says the bytes were new.
	IngestReader(ctx context.Context, r io.Reader, in evidence.Intake) (evidence.Item, bool, error)
	// VerifyItem re-reads the stored copy and checks its size and digest.
	VerifyItem(ctx context.Context, d evidence.Digest) error
	// Item returns the record of d, or an error when d is unknown.
	Item(d evidence.Digest) (evidence.Item, error)
	// Append adds events to the custody chain durably; the vault fills in
	// Seq, Time, Prev and Hash.
	Append(ctx context.Context, events ...evidence.CustodyEvent) ([]evidence.CustodyEvent, error)
}

// StateStore is the dock's durable key-value space for resume points; the
// daemon passes (*vault.Vault).State("dock").
type StateStore interface {
	Get(key string) ([]byte, error)
	Put(ctx context.Context, key string, val []byte) error
	Delete(ctx context.Context, key string) error
	Scan(prefix string, fn func(key string, val []byte) bool) error
}

// AckSource says whether central storage has acknowledged an item; the sync
// part supplies it. Without one, the after-ack policy never releases.
type AckSource interface {
	Acknowledged(d evidence.Digest) bool
}

// ActionVerifyFailed records that the vault copy of an offloaded file did
// not re-read as what was copied; the camera file is then kept. It is not
// (yet) one of evidence's actions.
const ActionVerifyFailed evidence.Action = "verify-failed"

// Config is the dock section of the appliance configuration.
type Config struct {
	// Root holds one directory per bay (a mount point per docked camera).
	Root string `yaml:"root"`
	// RescanInterval is how often bays are listed again, besides file
	// system notifications; a bay is read only once two listings agree.
	RescanInterval time.Duration `yaml:"rescan_interval"`
	// RetryInterval is how long a bay whose pass left files waiting (an
	// unreadable file, a release waiting for central acknowledgement) waits
	// before it is tried again with nothing in it changed.
	RetryInterval time.Duration `yaml:"retry_interval"`
	// MaxConcurrentCopies bounds file copies across all bays, so the vault
	// disk is kept busy without seeking between many streams. Read-backs of
	// copied files have a bound of the same size of their own.
	MaxConcurrentCopies int `yaml:"max_concurrent_copies"`
	// ReadBytesPerSecond caps how fast cameras are read, all bays
	// together, so a rack of cameras docked at the end of a shift leaves
	// the vault disk to the CCTV cameras recording onto it. 0: no cap.
	ReadBytesPerSecond int64 `yaml:"read_bytes_per_second"`
	// Profiles are tried in order; the first whose identity matches a bay
	// is used. Empty means the generic mass-storage profile alone.
	Profiles []Profile `yaml:"profiles"`
	// Bays names the USB ports of the dock rack: udev port path
	// ("pci-0000:00:14.0-usb-0:3.2") -> bay name ("3"). A port not listed
	// gets a name made from its path. Read by `edgetriage dock mount`.
	Bays map[string]string `yaml:"bays"`
	// VolumeDir holds what udev reported of each bay's device
	// (<bay>.json: label, UUID, USB serial), written by `edgetriage dock
	// mount`. Empty: bays are directories made by hand, and a bay's name
	// stands for its volume label.
	VolumeDir string `yaml:"volume_dir"`
}

// Defaults fills in what the configuration left unset.
func (c *Config) Defaults() {
	if c.Root == "" {
		c.Root = "./dock"
	}
	if c.RescanInterval == 0 {
		c.RescanInterval = 2 * time.Second
	}
	if c.RetryInterval == 0 {
		c.RetryInterval = time.Minute
	}
	if c.MaxConcurrentCopies == 0 {
		c.MaxConcurrentCopies = 2
	}
	if len(c.Profiles) == 0 {
		c.Profiles = []Profile{GenericMassStorage()}
	}
}

// Validate reports the first thing wrong with the configuration, naming
// the key.
func (c Config) Validate() error {
	if c.RescanInterval < 0 {
		return errors.New("'rescan_interval' must be greater than zero")
	}
	if c.RetryInterval < 0 {
		return errors.New("'retry_interval' must be greater than zero")
	}
	if c.MaxConcurrentCopies < 0 {
		return errors.New("'max_concurrent_copies' must be greater than zero")
	}
	if c.ReadBytesPerSecond < 0 {
		return errors.New("'read_bytes_per_second' must be zero (no cap) or more")
	}
	for port, name := range c.Bays {
		if _, err := PortPath(port); err != nil || port != mustPort(port) {
			return fmt.Errorf("'bays': %q is not a USB port path such as pci-0000:00:14.0-usb-0:3.2", port)
		}
		if !bayNameOK.MatchString(name) {
			return fmt.Errorf("'bays': the name %q of port %s must be letters, digits, '.', '_' or '-'", name, port)
		}
	}
	seen := map[string]bool{}
	for i, p := range c.Profiles {
		if err := p.Validate(); err != nil {
			return fmt.Errorf("profiles[%d]: %w", i, err)
		}
		if seen[p.Name] {
			return fmt.Errorf("profiles[%d]: 'name' %q is used twice", i, p.Name)
		}
		seen[p.Name] = true
	}
	return nil
}

// Options wire a Dock to the daemon.
type Options struct {
	Config Config
	Vault  Vault
	// State keeps resume points across re-docks and restarts; nil means
	// every dock copies everything again (the vault still stores it once).
	State  StateStore
	Ack    AckSource
	Logger *slog.Logger
	// Now is the appliance clock; tests may pin it.
	Now func() time.Time
	// Throttle wraps every camera reader to hold reads to
	// Config.ReadBytesPerSecond; nil: no cap is applied.
	Throttle func(ctx context.Context, r io.Reader) io.Reader
}

// Dock watches the bays under its root and offloads every docked camera.
// It is safe for concurrent use.
type Dock struct {
	cfg   Config
	vault Vault
	state StateStore
	ack   AckSource
	log   *slog.Logger
	now   func() time.Time
	// copies is the semaphore every file copy of every bay holds while it
	// reads the camera and writes the vault; verifies bounds the vault
	// read-backs the same way. They are separate so a camera is read while
	// the file before is read back: with a camera on its own (slower) device
	// the read-back then costs next to nothing.
	copies, verifies chan struct{}

	mu       sync.Mutex
	progress map[string]*bayProgress // by bay name
	// bytesRead counts every byte read off cameras since start, all bays
	// and passes together, for the metrics' counter.
	bytesRead atomic.Int64

	throttle func(ctx context.Context, r io.Reader) io.Reader

	// readHook, set only by tests, wraps each source reader so a read
	// failure a real disk cannot produce on demand can be injected.
	readHook func(rel string, r io.Reader) io.Reader
}

// New makes a Dock; nothing is watched until Run.
func New(opts Options) (*Dock, error) {
	cfg := opts.Config
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("dock config: %w", err)
	}
	if opts.Vault == nil {
		return nil, errors.New("dock: no vault")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Dock{
		cfg: cfg, vault: opts.Vault, state: opts.State, ack: opts.Ack, log: opts.Logger, now: opts.Now, throttle: opts.Throttle,
		copies:   make(chan struct{}, cfg.MaxConcurrentCopies),
		verifies: make(chan struct{}, cfg.MaxConcurrentCopies),
		progress: map[string]*bayProgress{},
	}, nil
}

// Name is the component's name for the daemon's supervisor.
func (d *Dock) Name() string { return "dock" }
