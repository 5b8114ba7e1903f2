package central

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/edgetriage/edgetriage/appliance/evidence/custodylog"
	"github.com/edgetriage/edgetriage/central/pull"
	"github.com/edgetriage/edgetriage/central/store"
)

// Central witnesses every station's custody log. Each round it fetches the
// station's newest signed checkpoint, checks with a consistency proof that
// it extends the last one central co-signed, co-signs it (C2SP
// tlog-cosignature) and posts the cosignature back. A station that shows a
// history that does not extend what central co-signed, or cannot prove that
// it does, has forked: the fork alarm records both signed checkpoints, and
// central pulls nothing more from the station until an admin clears it.
// Every item's manifest carries a checkpoint of its own, held to the
// co-signed one the same way before the item is stored.

// LoadWitness reads central's witness key from c.KeyFile, making it (a new
// Ed25519 key, mode 0600) when the file does not exist yet.
func LoadWitness(c WitnessConfig) (*custodylog.Witness, error) { return readWitness(c, true) }

// OpenWitness reads central's witness key; a missing file is an error.
func OpenWitness(c WitnessConfig) (*custodylog.Witness, error) { return readWitness(c, false) }

func readWitness(c WitnessConfig, create bool) (*custodylog.Witness, error) {
	raw, err := os.ReadFile(c.KeyFile)
	if create && errors.Is(err, os.ErrNotExist) {
		raw, err = makeWitnessKey(c.KeyFile)
	}
	if err != nil {
		return nil, fmt.Errorf("witness key: %w", err)
	}
	if fi, err := os.Stat(c.KeyFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("witness key %s: readable by others (mode %v); chmod 600 it", c.KeyFile, fi.Mode().Perm())
	}
	seed, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("witness key %s: want the %d-byte Ed25519 seed in hex", c.KeyFile, ed25519.SeedSize)
	}
	return custodylog.NewWitness(c.Name, ed25519.NewKeyFromSeed(seed))
}

// makeWitnessKey writes a new seed to path unless another worker made one
// first (the link fails then, and its key is read): workers started
// together end up with one key.
func makeWitnessKey(path string) ([]byte, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".witness-key-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(hex.EncodeToString(seed) + "\n"); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, err
	}
	return os.ReadFile(path)
}

// errForked stops the station's round: its log forked (the alarm is
// raised), and nothing more is pulled from it until an admin clears it.
var errForked = errors.New("the station's log forked; pulling stopped until an admin clears the fork alarm")

// seen is the checkpoint central last co-signed for a station, as the
// witness library holds it.
type seen struct {
	custodylog.Seen
	cosigned []byte // with central's cosignature line
}

func seenOf(c store.Checkpoint) (*seen, error) {
	root, err := base64.StdEncoding.DecodeString(c.RootHash)
	if err != nil || len(root) != tlog.HashSize {
		return nil, fmt.Errorf("stored checkpoint %d: root hash %q unreadable", c.Size, c.RootHash)
	}
	s := &seen{Seen: custodylog.Seen{Size: c.Size, Signed: []byte(c.Note)}, cosigned: []byte(c.CosignedNote)}
	copy(s.Root[:], root)
	return s, nil
}

// witness holds the station to its log and returns what central has
// co-signed of it now (nil when the station serves no checkpoint yet).
func (s *Service) witness(ctx context.Context, stn *station, l store.Lease) (*seen, error) {
	last, ok, err := s.store.Witnessed(ctx, stn.id)
	if err != nil {
		return nil, err
	}
	var prev *seen
	if ok {
		if prev, err = seenOf(last); err != nil {
			return nil, err
		}
	}
	signed, err := stn.client.Checkpoint(ctx, 0)
	if errors.Is(err, pull.ErrNoCheckpoint) {
		return prev, nil
	}
	if err != nil {
		return prev, err
	}
	c, _, err := custodylog.Open(signed, stn.key)
	if err != nil {
		return prev, &errRefused{alarm: store.AlarmSignature, err: fmt.Errorf("log checkpoint: %w", err)}
	}
	if prev != nil && c.Size == prev.Size && c.Root == prev.Root {
		return prev, nil
	}
	var proof []tlog.Hash
	if prev != nil && prev.Size < c.Size {
		if proof, err = s.consistency(ctx, stn, &prev.Seen, prev.Size, c.Size, signed); err != nil {
			return prev, err
		}
	}
	var before *custodylog.Seen
	if prev != nil {
		before = &prev.Seen
	}
	now, cosigned, err := s.witnessKey.Cosign(stn.key, before, signed, proof)
	var fe *custodylog.ForkError
	if errors.As(err, &fe) {
		return prev, s.fork(ctx, stn, fe)
	}
	if err != nil {
		return prev, fmt.Errorf("cosign checkpoint %d: %w", c.Size, err)
	}
	if err := s.store.SaveCosigned(ctx, l, store.Checkpoint{Size: now.Size, RootHash: base64.StdEncoding.EncodeToString(now.Root[:]),
		Note: string(signed), CosignedNote: string(cosigned)}); err != nil {
		return prev, err
	}
	s.log.Info("checkpoint co-signed", "station", stn.id, "size", now.Size)
	s.postCosignature(ctx, stn, cosigned)
	return &seen{Seen: now, cosigned: cosigned}, nil
}

// postCosignature gives the station central's cosignature. A station that
// refuses it (central's key not pinned there) is still witnessed, and an
// alarm says so; what central co-signed is in its own database either way.
func (s *Service) postCosignature(ctx context.Context, stn *station, cosigned []byte) {
	err := stn.client.PostCosignature(ctx, cosigned)
	var se *pull.StatusError
	switch {
	case err == nil:
		if _, err := s.store.Clear(ctx, stn.id, store.AlarmCosignature, s.cfg.WorkerID); err != nil {
			s.log.Warn("clear alarm", "station", stn.id, "err", err)
		}
	case errors.As(err, &se) && se.Status >= 400 && se.Status < 500:
		detail := err.Error()
		if se.Status == http.StatusBadRequest {
			detail = "the station does not take central's cosignature (pin `edgetriage central witness-key` in its 'witnesses'): " + detail
		}
		s.log.Warn("cosignature refused", "station", stn.id, "err", err)
		if _, err := s.store.Raise(ctx, stn.id, store.AlarmCosignature, detail); err != nil {
			s.log.Warn("raise alarm", "station", stn.id, "err", err)
		}
	default:
		s.log.Warn("post cosignature", "station", stn.id, "err", err)
	}
}

// consistency asks the station to prove its tree of newer events extends
// the one of older, and checks the proof between the trees of known (one
// side, co-signed) and signed (the other). A station that cannot give a
// proof it should hold, or gives one that does not verify, has forked.
func (s *Service) consistency(ctx context.Context, stn *station, known *custodylog.Seen, older, newer int64, signed []byte) ([]tlog.Hash, error) {
	proof, err := stn.client.Consistency(ctx, older, newer)
	var se *pull.StatusError
	if errors.As(err, &se) && se.Status >= 400 && se.Status < 500 {
		return nil, s.fork(ctx, stn, &custodylog.ForkError{Earlier: known.Signed, Later: signed,
			Why: fmt.Sprintf("it cannot prove its tree of %d events extends the one of %d: %v", newer, older, err)})
	}
	return proof, err
}

// fork raises the fork alarm with both signed checkpoints as its evidence.
func (s *Service) fork(ctx context.Context, stn *station, fe *custodylog.ForkError) error {
	s.log.Error("station log forked: pulling stopped", "station", stn.id, "why", fe.Why)
	s.metrics.failures.WithLabelValues(stn.id, store.AlarmFork).Inc()
	if _, err := s.store.RaiseFork(ctx, stn.id, fe.Error(), store.ForkEvidence{Earlier: string(fe.Earlier), Later: string(fe.Later)}); err != nil {
		return err
	}
	return errForked
}

// holdToWitnessed checks that the checkpoint an item's manifest carries
// (signed: its note; c: what it says) belongs to the history central
// co-signed: the same tree, a tree that extends it, or one it extends. It
// returns the consistency proof, which central keeps beside the item.
func (s *Service) holdToWitnessed(ctx context.Context, stn *station, w *seen, signed []byte, c custodylog.Checkpoint) ([]tlog.Hash, error) {
	fork := func(why string) error {
		return s.fork(ctx, stn, &custodylog.ForkError{Earlier: w.Signed, Later: signed, Why: why})
	}
	switch {
	case c.Size == w.Size:
		if c.Root != w.Root {
			return nil, fork(fmt.Sprintf("an item's manifest carries another tree of %d events than central co-signed", c.Size))
		}
		return nil, nil
	case c.Size > w.Size:
		proof, err := s.consistency(ctx, stn, &w.Seen, w.Size, c.Size, signed)
		if err != nil {
			return nil, err
		}
		if err := tlog.CheckTree(proof, c.Size, c.Root, w.Size, w.Root); err != nil {
			return nil, fork(fmt.Sprintf("an item's manifest carries a tree of %d events that does not extend the co-signed tree of %d: %v", c.Size, w.Size, err))
		}
		return proof, nil
	default:
		proof, err := s.consistency(ctx, stn, &w.Seen, c.Size, w.Size, signed)
		if err != nil {
			return nil, err
		}
		if err := tlog.CheckTree(proof, w.Size, w.Root, c.Size, c.Root); err != nil {
			return nil, fork(fmt.Sprintf("an item's manifest carries a tree of %d events that the co-signed tree of %d does not extend: %v", c.Size, w.Size, err))
		}
		return proof, nil
	}
}

// WitnessKey is the verifier key stations pin to take central's
// cosignatures.
func (s *Service) WitnessKey() string { return s.witnessKey.VerifierKey() }
