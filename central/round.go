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
	"net/http"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/evidence/custodylog"
	"github.com/edgetriage/edgetriage/central/pull"
	"github.com/edgetriage/edgetriage/central/store"
	"github.com/edgetriage/edgetriage/sync/s3"
	"github.com/edgetriage/edgetriage/sync/target"
)

const feedPage = 500

// round holds the station to its custody log (witness), reads its feed from
// the cursor, records what the filter wants, then pulls, stores and
// acknowledges every open item in feed order. It returns the cursor
// reached. A station whose log forked is only asked for its checkpoint
// (so the fleet view knows it is alive) until an admin clears the alarm.
func (s *Service) round(ctx context.Context, stn *station, l store.Lease) (uint64, error) {
	forked, err := s.store.IsOpen(ctx, stn.id, store.AlarmFork)
	if err != nil {
		return l.Cursor, err
	}
	if forked {
		_, err := stn.client.Checkpoint(ctx, 0)
		s.contact(ctx, l, err)
		return l.Cursor, nil
	}
	start := time.Now()
	w, err := s.witness(ctx, stn, l)
	s.metrics.time(stepWitness, start)
	if err := s.refused(ctx, stn, err); err != nil {
		s.contact(ctx, l, err)
		return l.Cursor, err
	}
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
			err := s.pullItem(gctx, stn, l, w, it)
			if errors.Is(err, store.ErrFenced) || errors.Is(err, errForked) || gctx.Err() != nil {
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

// refused raises the alarm a station-level refusal names; other errors
// pass through.
func (s *Service) refused(ctx context.Context, stn *station, err error) error {
	var refused *errRefused
	if !errors.As(err, &refused) {
		return err
	}
	s.log.Error("station refused", "station", stn.id, "alarm", refused.alarm, "err", refused.err)
	if _, aerr := s.store.Raise(ctx, stn.id, refused.alarm, refused.err.Error()); aerr != nil {
		return aerr
	}
	return err
}

// itemsInFlight is how many items of one station a worker handles at once.
const itemsInFlight = 2

// ackCommitTimeout bounds the records of a store or an acknowledgement
// that happened, which no longer end with the round.
const ackCommitTimeout = 30 * time.Second

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
func (s *Service) pullItem(ctx context.Context, stn *station, l store.Lease, w *seen, it store.Item) error {
	err := s.advance(ctx, stn, l, w, it)
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

func (s *Service) advance(ctx context.Context, stn *station, l store.Lease, w *seen, it store.Item) error {
	var proof *possession
	if it.Status == store.StatusPending {
		var err error
		if proof, err = s.storeItem(ctx, stn, l, w, it); err != nil {
			return err
		}
	}
	return s.acknowledge(ctx, stn, l, it, proof)
}

// checked is an item's manifest once it verified: what it says, and the
// record of the check against what central witnessed of the station's log.
type checked struct {
	raw     []byte
	item    evidence.Item
	witness []byte // the WitnessRecord kept beside the item; nil for a v1 manifest
}

// checkManifest verifies the manifest against the station's pinned key
// (signature, the item record, every custody event proven in the log
// checkpoint it carries) and holds that checkpoint to the one central
// co-signed. A manifest without a log checkpoint (v1) is taken only from a
// station whose log central has never witnessed: once a station has a log,
// leaving it out is not an option.
func (s *Service) checkManifest(ctx context.Context, stn *station, w *seen, it store.Item, raw []byte) (checked, error) {
	rep, err := custodylog.VerifyManifest(raw, stn.key)
	if err != nil {
		return checked{}, &errRefused{alarm: store.AlarmSignature, err: err}
	}
	if rep.Item.Digest != it.Digest || rep.Item.Size != it.Size {
		return checked{}, &errRefused{alarm: store.AlarmSignature, err: fmt.Errorf("manifest is for item %s (%d bytes), the feed announced %s (%d bytes)",
			rep.Item.Digest.Short(), rep.Item.Size, it.Digest.Short(), it.Size)}
	}
	c := checked{raw: raw, item: rep.Item}
	if rep.Format != evidence.TypeManifest {
		if w != nil {
			return c, &errRefused{alarm: store.AlarmSignature, err: fmt.Errorf("manifest of %s has no log checkpoint (format %s), and central witnesses this station's log", it.Digest.Short(), rep.Format)}
		}
		return c, nil
	}
	if w == nil {
		return c, fmt.Errorf("manifest of %s: central has not co-signed a checkpoint of the station's log yet", it.Digest.Short())
	}
	signed, err := manifestCheckpoint(raw)
	if err != nil {
		return c, &errRefused{alarm: store.AlarmSignature, err: err}
	}
	proof, err := s.holdToWitnessed(ctx, stn, w, signed, rep.Checkpoint)
	if err != nil {
		return c, err
	}
	c.witness, err = json.Marshal(WitnessRecord{Type: WitnessRecordType, ManifestSize: rep.Checkpoint.Size,
		Cosigned: string(w.cosigned), Consistency: custodylog.EncodeHashes(proof)})
	return c, err
}

// manifestCheckpoint is the signed note a v2 manifest carries, byte for
// byte (the fork evidence, should it contradict central's).
func manifestCheckpoint(raw []byte) ([]byte, error) {
	env, err := evidence.ReadEnvelope(raw)
	if err != nil {
		return nil, err
	}
	var m evidence.ManifestV2
	if err := json.Unmarshal(env.Payload, &m); err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	return []byte(m.Checkpoint), nil
}

// storeItem fetches and checks the manifest, then streams the bytes from the
// station into central storage (or copies the station's own push in
// place), through the digest and the proof of possession, and keeps the
// witness record beside them.
func (s *Service) storeItem(ctx context.Context, stn *station, l store.Lease, w *seen, it store.Item) (*possession, error) {
	start := time.Now()
	raw, err := stn.client.Manifest(ctx, it.Digest)
	if err != nil {
		return nil, err
	}
	m, err := s.checkManifest(ctx, stn, w, it, raw)
	if err != nil {
		return nil, err
	}
	proof, err := s.challenge(ctx, stn, it.Digest)
	if err != nil {
		return nil, err
	}
	s.metrics.time(stepManifest, start)
	start = time.Now()
	rc, inPlace, err := s.copyPushed(ctx, stn, it, m, proof)
	if err == nil && !inPlace {
		rc, err = s.stream(ctx, stn, l, it, m, proof)
	}
	if err != nil {
		return nil, err
	}
	// Stored is stored: what records it is not cut short by a rebalance.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ackCommitTimeout)
	defer cancel()
	if m.witness != nil {
		if err := stn.target.PutDocument(cctx, WitnessKey(stn.target, it.Digest), m.witness, it.Digest); err != nil {
			return nil, err
		}
	}
	msum := sha256.Sum256(raw)
	if err := s.store.Stored(cctx, l, it.Digest, s.cfg.WorkerID, rc, inPlace, !rc.Existing, hex.EncodeToString(msum[:])); err != nil {
		return nil, err
	}
	s.metrics.stored.WithLabelValues(stn.id).Inc()
	s.metrics.time(stepTransfer, start)
	proof.whole = inPlace || rc.BytesSent == it.Size
	proof.manifest = msum[:]
	return proof, nil
}

// stream pulls the bytes from the station straight into central storage.
func (s *Service) stream(ctx context.Context, stn *station, l store.Lease, it store.Item, m checked, proof *possession) (target.Receipt, error) {
	var pulled atomic.Int64
	rc, err := stn.target.PutStream(ctx, s3.Stream{Digest: it.Digest, Size: it.Size, Open: s.source(stn, it, &pulled), Manifest: m.raw,
		Hold: m.item.Hold, Observe: proof.h}, s.store.Uploads(l))
	n := pulled.Load()
	s.metrics.pulled.WithLabelValues(stn.id).Add(float64(n))
	if perr := s.store.Pulled(ctx, l, it.Digest, n); perr != nil {
		return rc, perr
	}
	if err != nil && s3.Classify(err) == target.ClassIntegrity {
		return rc, &errRefused{alarm: store.AlarmDigest, err: err}
	}
	return rc, err
}

// source reads the item from the station, from off to its end, counting
// the bytes into pulled. An item that goes in parts is read part by part,
// one closed range each: every stored part is then a range the station
// served whole, which it requires before it takes an acknowledgement, so a
// worker that dies mid-item leaves no stored byte the station did not
// count, and the next worker resumes without fetching any of them again.
func (s *Service) source(stn *station, it store.Item, pulled *atomic.Int64) s3.Source {
	part := stn.target.PartSize(it.Size)
	return func(ctx context.Context, off int64) (io.ReadCloser, error) {
		if part == 0 {
			r, err := stn.client.Content(ctx, it.Digest, off, it.Size, it.Size)
			if err != nil {
				return nil, err
			}
			return countingReader{r: r, n: pulled}, nil
		}
		open := func(start, end int64) (io.ReadCloser, error) {
			r, err := stn.client.Content(ctx, it.Digest, start, end, it.Size)
			if err != nil {
				return nil, err
			}
			return countingReader{r: r, n: pulled}, nil
		}
		return &partReader{open: open, off: off, size: it.Size, part: part}, nil
	}
}

// partReader reads [off, size) as consecutive ranges of part bytes.
type partReader struct {
	open            func(start, end int64) (io.ReadCloser, error)
	off, size, part int64
	cur             io.ReadCloser
	end             int64 // of the range cur reads
}

func (p *partReader) Read(b []byte) (int, error) {
	for {
		if p.cur == nil {
			if p.off >= p.size {
				return 0, io.EOF
			}
			end := min(p.off+p.part, p.size)
			r, err := p.open(p.off, end)
			if err != nil {
				return 0, err
			}
			p.cur, p.end = r, end
		}
		n, err := p.cur.Read(b[:min(int64(len(b)), p.end-p.off)])
		p.off += int64(n)
		if p.off == p.end || err == io.EOF {
			p.cur.Close()
			p.cur = nil
			if p.off != p.end {
				return n, fmt.Errorf("range ending at %d: %w", p.end, io.ErrUnexpectedEOF)
			}
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (p *partReader) Close() error {
	if p.cur != nil {
		return p.cur.Close()
	}
	return nil
}

// copyPushed stores an item the station already pushed to its own bucket
// by a server-side copy, then reads the copy through the digest (and the
// proof of possession): verified in place, not fetched from the station.
// inPlace is false when the push bucket does not hold the item.
func (s *Service) copyPushed(ctx context.Context, stn *station, it store.Item, m checked, proof *possession) (rc target.Receipt, inPlace bool, err error) {
	if stn.push == nil {
		return rc, false, nil
	}
	rc, found, err := stn.target.CopyIn(ctx, stn.push, target.Object{Digest: it.Digest, Size: it.Size, Manifest: m.raw, Hold: m.item.Hold})
	if err != nil && s3.Classify(err) == target.ClassIntegrity && !found {
		s.log.Warn("pushed copy does not match; fetching from the station", "station", stn.id, "digest", it.Digest.Short(), "err", err)
		return rc, false, nil
	}
	if !found || err != nil {
		return rc, false, err
	}
	r, size, err := stn.target.Open(ctx, it.Digest)
	if err != nil {
		return rc, true, err
	}
	defer r.Close()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(h, proof.h), r); err != nil {
		return rc, true, fmt.Errorf("read the copy of %s: %w", it.Digest.Short(), err)
	}
	if size != it.Size || evidence.Digest(h.Sum(nil)) != it.Digest {
		return rc, true, &errRefused{alarm: store.AlarmDigest, err: fmt.Errorf("the copy of %s from the push bucket does not hash to its digest", it.Digest.Short())}
	}
	s.log.Info("item verified in place from the station's push", "station", stn.id, "digest", it.Digest.Short())
	return rc, true, nil
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
// domain, the station's challenge and the whole content (evidence.AckProof,
// fed as the bytes pass instead of from a reader).
type possession struct {
	ch       pull.Challenge
	h        hash.Hash
	whole    bool // every byte passed through h
	manifest []byte
}

const ackDomain = "edgetriage-ack-v1\n"

// challenge asks the station for an ack challenge.
func (s *Service) challenge(ctx context.Context, stn *station, d evidence.Digest) (*possession, error) {
	ch, err := stn.client.NewChallenge(ctx, d)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	h.Write([]byte(ackDomain))
	h.Write(ch.Nonce)
	return &possession{ch: ch, h: h}, nil
}

// acknowledge acks the stored item with its proof of possession and keeps
// the station's signed receipt, byte for byte, in the database and in
// central storage beside the item, once it verified against the pinned key
// and names the digest, the manifest and the proof central sent. When the
// proof could not be computed on the way in (item already stored, the
// challenge expired), it is computed from the stored copy; should the
// station refuse that (it takes an ack only from a client it served every
// byte to, and the copy may have come in by another way), central reads
// the item from the station once more, through the digest, and acks that.
func (s *Service) acknowledge(ctx context.Context, stn *station, l store.Lease, it store.Item, proof *possession) error {
	start := time.Now()
	fromStorage := proof == nil || !proof.whole || time.Now().After(proof.ch.ExpiresAt)
	if fromStorage {
		var err error
		if proof, err = s.prove(ctx, stn, it, stn.target.Open); err != nil {
			return err
		}
	}
	// The station may record an ack the moment it is asked. From then on
	// the receipt is stored and the ack recorded even when this worker is
	// told to let the station go (a rebalance, a shutdown): a successor
	// that found the item unrecorded would acknowledge it a second time.
	// The fence still refuses the record if the lease was lost.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ackCommitTimeout)
	defer cancel()
	asked := time.Now()
	raw, err := stn.client.Ack(cctx, it.Digest, proof.ch, proof.h.Sum(nil), proof.manifest)
	s.metrics.time(stepStation, asked)
	if fromStorage && pull.IsStatus(err, http.StatusConflict) {
		s.log.Info("ack over the stored copy refused; reading the item from the station again", "station", stn.id, "digest", it.Digest.Short(), "err", err)
		if proof, err = s.prove(ctx, stn, it, func(ctx context.Context, d evidence.Digest) (io.ReadCloser, int64, error) {
			r, err := stn.client.Content(ctx, d, 0, it.Size, it.Size)
			return r, it.Size, err
		}); err != nil {
			return err
		}
		raw, err = stn.client.Ack(cctx, it.Digest, proof.ch, proof.h.Sum(nil), proof.manifest)
	}
	var se *pull.StatusError
	if errors.As(err, &se) && se.Status >= 400 && se.Status < 500 {
		return &errRefused{alarm: store.AlarmReceipt, err: err}
	}
	if err != nil {
		return err
	}
	sum := proof.h.Sum(nil)
	r, err := evidence.VerifyReceipt(stn.key, raw)
	if err != nil {
		return &errRefused{alarm: store.AlarmSignature, err: err}
	}
	if r.Digest != it.Digest || r.Manifest != evidence.Digest(proof.manifest) || r.Proof != evidence.Digest(sum) {
		return &errRefused{alarm: store.AlarmSignature, err: fmt.Errorf("receipt is for %s, manifest %s, proof %s; central acknowledged %s, manifest %s, proof %s",
			r.Digest.Short(), r.Manifest.Short(), r.Proof.Short(), it.Digest.Short(), evidence.Digest(proof.manifest).Short(), evidence.Digest(sum).Short())}
	}
	if err := stn.target.PutDocument(cctx, ReceiptKey(stn.target, it.Digest), raw, it.Digest); err != nil {
		return err
	}
	if err := s.store.Acked(cctx, l, it.Digest, raw, r.Seq); err != nil {
		return err
	}
	s.metrics.acked.WithLabelValues(stn.id).Inc()
	s.metrics.time(stepAck, start)
	s.log.Info("item acknowledged", "station", stn.id, "digest", it.Digest.Short(), "receipt_seq", r.Seq)
	return nil
}

// ReceiptKey is where the station's signed receipt for d is kept.
func ReceiptKey(t *s3.Target, d evidence.Digest) string { return t.Key(d) + ".receipt.json" }

// prove computes the proof of possession over the item as open reads it
// (central's stored copy, or the station's bytes), checked against the
// digest, naming the manifest kept beside the item.
func (s *Service) prove(ctx context.Context, stn *station, it store.Item, open func(context.Context, evidence.Digest) (io.ReadCloser, int64, error)) (*possession, error) {
	proof, err := s.challenge(ctx, stn, it.Digest)
	if err != nil {
		return nil, err
	}
	r, size, err := open(ctx, it.Digest)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(h, proof.h), r); err != nil {
		return nil, fmt.Errorf("read %s for its proof of possession: %w", it.Digest.Short(), err)
	}
	if size != it.Size || evidence.Digest(h.Sum(nil)) != it.Digest {
		return nil, &errRefused{alarm: store.AlarmDigest, err: fmt.Errorf("the bytes of %s read for the proof of possession do not hash to its digest", it.Digest.Short())}
	}
	manifest, err := stn.target.GetDocument(ctx, stn.target.ManifestKey(it.Digest), 64<<20)
	if err != nil {
		return nil, err
	}
	msum := sha256.Sum256(manifest)
	proof.whole, proof.manifest = true, msum[:]
	return proof, nil
}
