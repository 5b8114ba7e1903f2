package central

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/central/pull"
	"github.com/edgetriage/edgetriage/central/store"
	"github.com/edgetriage/edgetriage/sync/s3"
	"github.com/edgetriage/edgetriage/sync/target"
)

const feedPage = 500

// round reads the station's feed from the cursor, records what the filter
// wants, then pulls, stores and acknowledges every open item in feed order.
// It returns the cursor reached.
func (s *Service) round(ctx context.Context, stn *station, l store.Lease) (uint64, error) {
	cursor, err := s.readFeed(ctx, stn, l)
	s.contact(ctx, l, err)
	if err != nil {
		return cursor, err
	}
	open, err := s.store.Open(ctx, stn.id, 1000)
	if err != nil {
		return cursor, err
	}
	// Two items at a time: one streams while the other is acknowledged and
	// its receipt stored, so the round-trips of the second do not idle the
	// uplink. Each item's writes are its own, fenced by the lease.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(itemsInFlight)
	for _, it := range open {
		g.Go(func() error {
			err := s.pullItem(gctx, stn, l, it)
			if errors.Is(err, store.ErrFenced) || gctx.Err() != nil {
				return err
			}
			if err != nil {
				s.log.Warn("item not done", "station", stn.id, "digest", it.Digest.Short(), "err", err)
				return s.store.Failed(gctx, l, it.Digest, err, false)
			}
			return nil
		})
	}
	return cursor, g.Wait()
}

// itemsInFlight is how many items of one station a worker handles at once.
const itemsInFlight = 2

func (s *Service) contact(ctx context.Context, l store.Lease, err error) {
	if cerr := s.store.Contact(ctx, l, err); cerr != nil {
		s.log.Warn("record contact", "station", l.Station, "err", cerr)
	}
}

func (s *Service) readFeed(ctx context.Context, stn *station, l store.Lease) (uint64, error) {
	cursor := l.Cursor
	for {
		page, err := stn.client.Changes(ctx, cursor, feedPage, stn.filter)
		if err != nil {
			return cursor, err
		}
		var wanted []store.Wanted
		for _, c := range page.Changes {
			// A station from before the filter sends every change.
			if stn.filter.Match(c.Item) {
				wanted = append(wanted, store.Wanted{Seq: c.Seq, Item: c.Item, Flagged: c.Item.Labels[evidence.LabelFlagged] != ""})
			}
		}
		if page.Next == cursor {
			return cursor, nil
		}
		if err := s.store.Want(ctx, l, wanted, page.Next); err != nil {
			return cursor, err
		}
		cursor = page.Next
	}
}

// errRefused marks a failure that retrying cannot mend: the item is marked
// failed and an alarm says why.
type errRefused struct {
	alarm string
	err   error
}

func (e *errRefused) Error() string { return e.err.Error() }
func (e *errRefused) Unwrap() error { return e.err }

// pullItem takes one item as far as it can go: stored, then acknowledged.
func (s *Service) pullItem(ctx context.Context, stn *station, l store.Lease, it store.Item) error {
	err := s.advance(ctx, stn, l, it)
	var refused *errRefused
	if !errors.As(err, &refused) {
		return err
	}
	s.log.Error("item refused", "station", stn.id, "digest", it.Digest.Short(), "alarm", refused.alarm, "err", refused.err)
	s.metrics.failures.WithLabelValues(stn.id, refused.alarm).Inc()
	if _, aerr := s.store.Raise(ctx, stn.id, refused.alarm, it.Digest.Short()+": "+refused.err.Error()); aerr != nil {
		return aerr
	}
	return s.store.Failed(ctx, l, it.Digest, err, refused.alarm != store.AlarmReceipt)
}

func (s *Service) advance(ctx context.Context, stn *station, l store.Lease, it store.Item) error {
	var proof *possession
	if it.Status == store.StatusPending {
		var err error
		if proof, err = s.storeItem(ctx, stn, l, it); err != nil {
			return err
		}
	}
	return s.acknowledge(ctx, stn, l, it, proof)
}

// storeItem fetches and checks the manifest, then streams the bytes from the
// station into central storage. The bytes pass through the proof of
// possession on the way when the station offers ack challenges.
func (s *Service) storeItem(ctx context.Context, stn *station, l store.Lease, it store.Item) (*possession, error) {
	manifest, err := stn.client.Manifest(ctx, it.Digest)
	if err != nil {
		return nil, err
	}
	m, err := evidence.VerifyManifest(manifest, stn.key)
	if err != nil {
		return nil, &errRefused{alarm: store.AlarmSignature, err: err}
	}
	if m.Item.Digest != it.Digest || m.Item.Size != it.Size {
		return nil, &errRefused{alarm: store.AlarmSignature, err: fmt.Errorf("manifest is for item %s (%d bytes), the feed announced %s (%d bytes)",
			m.Item.Digest.Short(), m.Item.Size, it.Digest.Short(), it.Size)}
	}
	proof, err := s.challenge(ctx, stn, it.Digest)
	if err != nil {
		return nil, err
	}
	if done, err := s.copyPushed(ctx, stn, l, it, m.Item.Hold, manifest, proof); done || err != nil {
		return proof, err
	}
	var pulled atomic.Int64
	open := func(ctx context.Context, off int64) (io.ReadCloser, error) {
		r, err := stn.client.Content(ctx, it.Digest, off, it.Size)
		if err != nil {
			return nil, err
		}
		return countingReader{r: r, n: &pulled}, nil
	}
	stream := s3.Stream{Digest: it.Digest, Size: it.Size, Open: open, Manifest: manifest, Hold: m.Item.Hold}
	if proof != nil {
		stream.Observe = proof.h
	}
	rc, err := stn.target.PutStream(ctx, stream, s.store.Uploads(l))
	n := pulled.Load()
	s.metrics.pulled.WithLabelValues(stn.id).Add(float64(n))
	if perr := s.store.Pulled(ctx, l, it.Digest, n); perr != nil {
		return nil, perr
	}
	if err != nil {
		if s3.Classify(err) == target.ClassIntegrity {
			return nil, &errRefused{alarm: store.AlarmDigest, err: err}
		}
		return nil, err
	}
	msum := sha256.Sum256(manifest)
	if err := s.store.Stored(ctx, l, it.Digest, s.cfg.WorkerID, rc, false, !rc.Existing, hex.EncodeToString(msum[:])); err != nil {
		return nil, err
	}
	s.metrics.stored.WithLabelValues(stn.id).Inc()
	if proof != nil {
		proof.whole = rc.BytesSent == it.Size
		proof.manifest = msum[:]
	}
	return proof, nil
}

// copyPushed stores an item the station already pushed to its own bucket
// by a server-side copy, then reads the copy through the digest (and the
// proof of possession): verified in place, not fetched from the station.
// done is false when the push bucket does not hold the item.
func (s *Service) copyPushed(ctx context.Context, stn *station, l store.Lease, it store.Item, hold bool, manifest []byte, proof *possession) (done bool, err error) {
	if stn.push == nil {
		return false, nil
	}
	rc, found, err := stn.target.CopyIn(ctx, stn.push, target.Object{Digest: it.Digest, Size: it.Size, Manifest: manifest, Hold: hold})
	if err != nil && s3.Classify(err) == target.ClassIntegrity && !found {
		s.log.Warn("pushed copy does not match; fetching from the station", "station", stn.id, "digest", it.Digest.Short(), "err", err)
		return false, nil
	}
	if !found || err != nil {
		return false, err
	}
	r, size, err := stn.target.Open(ctx, it.Digest)
	if err != nil {
		return true, err
	}
	defer r.Close()
	h := sha256.New()
	w := io.Writer(h)
	if proof != nil {
		w = io.MultiWriter(h, proof.h)
	}
	if _, err := io.Copy(w, r); err != nil {
		return true, fmt.Errorf("read the copy of %s: %w", it.Digest.Short(), err)
	}
	if size != it.Size || evidence.Digest(h.Sum(nil)) != it.Digest {
		return true, &errRefused{alarm: store.AlarmDigest, err: fmt.Errorf("the copy of %s from the push bucket does not hash to its digest", it.Digest.Short())}
	}
	msum := sha256.Sum256(manifest)
	if err := s.store.Stored(ctx, l, it.Digest, s.cfg.WorkerID, rc, true, !rc.Existing, hex.EncodeToString(msum[:])); err != nil {
		return true, err
	}
	s.metrics.stored.WithLabelValues(stn.id).Inc()
	s.log.Info("item verified in place from the station's push", "station", stn.id, "digest", it.Digest.Short())
	if proof != nil {
		proof.whole, proof.manifest = true, msum[:]
	}
	return true, nil
}

type countingReader struct {
	r io.ReadCloser
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (c countingReader) Close() error { return c.r.Close() }

// possession is a proof of possession being computed: SHA-256 over the ack
// domain, the station's challenge and the whole content.
type possession struct {
	ch       pull.Challenge
	h        hash.Hash
	whole    bool // every byte passed through h
	manifest []byte
}

const ackDomain = "edgetriage-ack-v1\n"

// challenge asks the station for an ack challenge; nil when the station
// predates proof-of-possession acks.
func (s *Service) challenge(ctx context.Context, stn *station, d evidence.Digest) (*possession, error) {
	ch, err := stn.client.NewChallenge(ctx, d)
	if errors.Is(err, pull.ErrNotOffered) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	h.Write([]byte(ackDomain))
	h.Write(ch.Nonce)
	return &possession{ch: ch, h: h}, nil
}

// acknowledge acks the stored item and keeps the signed receipt, in the
// database and in central storage beside the item. When the proof could
// not be computed on the way in (resumed upload, item already stored, the
// challenge expired), it is computed from the stored copy in central S3.
func (s *Service) acknowledge(ctx context.Context, stn *station, l store.Lease, it store.Item, proof *possession) error {
	var sr evidence.SignedReceipt
	var err error
	if proof == nil || !proof.whole || time.Now().After(proof.ch.ExpiresAt) {
		if proof, err = s.proveFromStorage(ctx, stn, it); err != nil {
			return err
		}
	}
	if proof == nil {
		sr, err = stn.client.Ack(ctx, it.Digest)
	} else {
		sr, err = stn.client.AckWithProof(ctx, it.Digest, proof.ch, proof.h.Sum(nil), proof.manifest)
	}
	var se *pull.StatusError
	if errors.As(err, &se) && se.Status >= 400 && se.Status < 500 {
		return &errRefused{alarm: store.AlarmReceipt, err: err}
	}
	if err != nil {
		return err
	}
	r, err := evidence.VerifyReceipt(stn.key, sr)
	if err != nil {
		return &errRefused{alarm: store.AlarmSignature, err: err}
	}
	if r.Digest != it.Digest {
		return &errRefused{alarm: store.AlarmSignature, err: fmt.Errorf("receipt is for %s", r.Digest.Short())}
	}
	raw, err := json.Marshal(sr)
	if err != nil {
		return err
	}
	if err := stn.target.PutDocument(ctx, ReceiptKey(stn.target, it.Digest), raw, it.Digest); err != nil {
		return err
	}
	if err := s.store.Acked(ctx, l, it.Digest, raw, r.Seq); err != nil {
		return err
	}
	s.metrics.acked.WithLabelValues(stn.id).Inc()
	s.log.Info("item acknowledged", "station", stn.id, "digest", it.Digest.Short(), "receipt_seq", r.Seq)
	return nil
}

// ReceiptKey is where the station's signed receipt for d is kept.
func ReceiptKey(t *s3.Target, d evidence.Digest) string { return t.Key(d) + ".receipt.json" }

// proveFromStorage computes the proof of possession over the copy central
// storage holds: what central acknowledges is what it keeps. nil when the
// station takes plain acks.
func (s *Service) proveFromStorage(ctx context.Context, stn *station, it store.Item) (*possession, error) {
	proof, err := s.challenge(ctx, stn, it.Digest)
	if err != nil || proof == nil {
		return nil, err
	}
	r, size, err := stn.target.Open(ctx, it.Digest)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(h, proof.h), r); err != nil {
		return nil, fmt.Errorf("read stored copy of %s: %w", it.Digest.Short(), err)
	}
	if size != it.Size || evidence.Digest(h.Sum(nil)) != it.Digest {
		return nil, &errRefused{alarm: store.AlarmDigest, err: fmt.Errorf("stored copy of %s no longer hashes to its digest", it.Digest.Short())}
	}
	manifest, err := stn.target.GetDocument(ctx, stn.target.ManifestKey(it.Digest), 64<<20)
	if err != nil {
		return nil, err
	}
	msum := sha256.Sum256(manifest)
	proof.whole, proof.manifest = true, msum[:]
	return proof, nil
}
