// Package central is the reference service that pulls a fleet of stations
// into central evidence storage: `edgetriage central serve`. Each worker
// leases a share of the fleet from PostgreSQL (central/store), follows each
// leased station's changes feed from its cursor (central/pull), streams the
// items the pull filter wants straight into central S3 under Object Lock
// COMPLIANCE (sync/s3, key layout <station>/<digest>), after checking the
// signed manifest against the station's pinned key and the bytes against
// their digest, acknowledges each item with a proof of possession and keeps
// the station's signed receipt beside it. It witnesses each station's
// custody log (witness.go): every checkpoint must extend the last one
// central co-signed, and a fork stops the pulling with the evidence on
// record. A fleet view (API, page, Prometheus metrics) shows each
// station's last contact, backlog, witnessed checkpoint and alarms.
//
// Dependencies: appliance/evidence (with its custody log proofs,
// appliance/evidence/custodylog) and the sync target code (sync/s3,
// sync/target) only, as for any leaf; the command lives in
// appliance/cmd/edgetriage (central.go), which only parses flags.
package central

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/evidence/custodylog"
	"github.com/edgetriage/edgetriage/central/pull"
	"github.com/edgetriage/edgetriage/central/store"
	"github.com/edgetriage/edgetriage/sync/s3"
	"github.com/edgetriage/edgetriage/sync/target"
)

// Service is one central worker with its fleet view.
type Service struct {
	cfg        Config
	witnessKey *custodylog.Witness
	store      *store.Store
	stations   map[string]*station
	metrics    *metrics
	limiter    *rate.Limiter
	log        *slog.Logger
}

// station is what a worker needs to follow one station.
type station struct {
	id     string
	client *pull.Client
	key    []byte
	filter evidence.PullFilter
	target *s3.Target
	push   *s3.Target // the station's own push bucket, if central can read it
}

// New connects to the database, migrates it, and prepares a client and a
// storage target for every station. It does not contact the stations.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Service, error) {
	wk, err := LoadWitness(cfg.Witness)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, cfg.Database.DSN)
	if err != nil {
		return nil, err
	}
	if _, err := st.Migrate(ctx, 0); err != nil {
		st.Close()
		return nil, err
	}
	s := &Service{cfg: cfg, witnessKey: wk, store: st, stations: map[string]*station{}, limiter: cfg.Storage.limiter(), log: log}
	urls := map[string]string{}
	for _, sc := range cfg.Stations {
		stn, err := s.newStation(sc)
		if err != nil {
			st.Close()
			return nil, err
		}
		s.stations[sc.ID] = stn
		urls[sc.ID] = sc.URL
	}
	if err := st.AddStations(ctx, urls); err != nil {
		st.Close()
		return nil, err
	}
	s.metrics = newMetrics(st)
	return s, nil
}

func (s *Service) newStation(sc Station) (*station, error) {
	token, err := sc.Token()
	if err != nil {
		return nil, err
	}
	client, err := pull.New(sc.URL, token, &http.Client{Transport: &http.Transport{
		ResponseHeaderTimeout: time.Minute, MaxIdleConnsPerHost: 4}})
	if err != nil {
		return nil, fmt.Errorf("station %s: %w", sc.ID, err)
	}
	key, _ := sc.Key()
	tg, err := s.cfg.Storage.target(target.Prefixed(sc.ID), s.limiter, s.log)
	if err != nil {
		return nil, err
	}
	stn := &station{id: sc.ID, client: client, key: key, filter: s.cfg.Filter(sc), target: tg}
	if sc.PushBucket != "" {
		push := s.cfg.Storage
		push.Bucket = sc.PushBucket
		if stn.push, err = push.target(target.Key, nil, s.log); err != nil {
			return nil, err
		}
	}
	return stn, nil
}

// target is central storage for one station's layout.
func (c Storage) target(layout target.Layout, limiter *rate.Limiter, log *slog.Logger) (*s3.Target, error) {
	return s3.New(s3.Config{Endpoint: c.Endpoint, Secure: c.Secure, Region: c.Region, Bucket: c.Bucket,
		AccessKey: c.AccessKey, SecretKey: c.SecretKey, Retention: c.Retention, PartSize: c.PartSizeMB << 20,
		MultipartThreshold: c.MultipartThresholdMB << 20, Limiter: limiter, Layout: layout, Logger: log})
}

// limiter is the worker's one cap on writes to central storage, shared by
// every station it follows; nil when there is none.
func (c Storage) limiter() *rate.Limiter {
	return target.NewLimiter(c.BandwidthMBps * (1 << 20))
}

// Close releases the database.
func (s *Service) Close() { s.store.Close() }

// Serve runs the worker and the fleet view until ctx ends, then gives the
// worker's leases back so the other workers take its stations at once.
func (s *Service) Serve(ctx context.Context) error {
	srv := &http.Server{Addr: s.cfg.HTTP.Addr, Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("fleet view on %s: %w", s.cfg.HTTP.Addr, err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(shut)
	})
	g.Go(func() error { return s.RunWorker(gctx) })
	return g.Wait()
}
