package custodylog

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	cosig "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Witness checks an appliance's checkpoints and co-signs the ones that
// extend what it saw before. Central runs one per fleet; its key is pinned
// in each station's configuration so the station can check what it posts.
type Witness struct {
	name   string
	signer note.Signer
	vkey   string
}

// NewWitness makes a witness named name (e.g. "central-hq") signing with key.
func NewWitness(name string, key ed25519.PrivateKey) (*Witness, error) {
	vkey, err := note.NewEd25519VerifierKey(name, key.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, fmt.Errorf("witness %s: %w", name, err)
	}
	hash := strings.Split(vkey, "+")[1]
	skey := "PRIVATE+KEY+" + name + "+" + hash + "+" + base64.StdEncoding.EncodeToString(append([]byte{1}, key.Seed()...))
	s, err := cosig.NewSignerForCosignatureV1(skey)
	if err != nil {
		return nil, fmt.Errorf("witness %s: %w", name, err)
	}
	cvkey, err := cosig.VKeyToCosignatureV1(vkey)
	if err != nil {
		return nil, fmt.Errorf("witness %s: %w", name, err)
	}
	return &Witness{name: name, signer: s, vkey: cvkey}, nil
}

// Name is the witness's name as it appears on its cosignatures.
func (w *Witness) Name() string { return w.name }

// VerifierKey is the text a station's configuration pins to accept this
// witness's cosignatures (C2SP tlog-cosignature/v1, Ed25519).
func (w *Witness) VerifierKey() string { return w.vkey }

// WitnessVerifier reads a pinned witness key (VerifierKey's text).
func WitnessVerifier(vkey string) (note.Verifier, error) {
	v, err := cosig.NewVerifierForCosignatureV1(vkey)
	if err != nil {
		return nil, fmt.Errorf("witness key %q: %w", vkey, err)
	}
	return v, nil
}

// Seen is what a witness keeps of an appliance: the last checkpoint it
// co-signed, as the appliance signed it.
type Seen struct {
	Size   int64
	Root   tlog.Hash
	Signed []byte
}

// ErrFork is wrapped when an appliance shows a history that does not
// extend the one the witness co-signed: a rewrite, or a second history
// shown to someone else. ForkError carries the two signed checkpoints.
var ErrFork = errors.New("the appliance's log forked")

// ForkError is the evidence of a fork: two checkpoints signed by the same
// appliance key that no single append-only history can explain.
type ForkError struct {
	Earlier, Later []byte // signed notes
	Why            string
}

func (e *ForkError) Error() string { return "the appliance's log forked: " + e.Why }

// Unwrap lets errors.Is find ErrFork.
func (e *ForkError) Unwrap() error { return ErrFork }

// Cosign checks a new signed checkpoint from the appliance with key pub:
// its signature, then that it extends seen (nil on first contact) as the
// consistency proof shows. It returns what the witness now holds and the
// checkpoint with the witness's cosignature added, to post back.
func (w *Witness) Cosign(pub ed25519.PublicKey, seen *Seen, signed []byte, consistency []tlog.Hash) (Seen, []byte, error) {
	c, _, err := Open(signed, pub)
	if err != nil {
		return Seen{}, nil, err
	}
	if err := extends(seen, c, signed, consistency); err != nil {
		return Seen{}, nil, err
	}
	n, err := note.Open(signed, note.VerifierList(mustVerifier(pub)))
	if err != nil {
		return Seen{}, nil, fmt.Errorf("%v: %w", err, ErrCheckpoint)
	}
	cosigned, err := note.Sign(&note.Note{Text: n.Text, Sigs: n.Sigs}, w.signer)
	if err != nil {
		return Seen{}, nil, fmt.Errorf("cosign: %w", err)
	}
	return Seen{Size: c.Size, Root: c.Root, Signed: signed}, cosigned, nil
}

// extends checks c against what was seen before.
func extends(seen *Seen, c Checkpoint, signed []byte, consistency []tlog.Hash) error {
	if seen == nil {
		return nil
	}
	fork := func(why string) error { return &ForkError{Earlier: seen.Signed, Later: signed, Why: why} }
	switch {
	case c.Size < seen.Size:
		return fork(fmt.Sprintf("it now shows %d events, fewer than the %d already co-signed", c.Size, seen.Size))
	case c.Size == seen.Size && c.Root != seen.Root:
		return fork(fmt.Sprintf("two different trees of %d events, both signed", c.Size))
	case c.Size == seen.Size:
		return nil
	}
	if err := tlog.CheckTree(consistency, c.Size, c.Root, seen.Size, seen.Root); err != nil {
		return fork(fmt.Sprintf("the tree of %d events does not extend the co-signed tree of %d: %v", c.Size, seen.Size, err))
	}
	return nil
}

func mustVerifier(pub ed25519.PublicKey) note.Verifier {
	v, err := Verifier(pub)
	if err != nil {
		panic("custodylog: an Ed25519 key makes no verifier: " + err.Error())
	}
	return v
}

// Cosignature is one witness's cosignature of a checkpoint, as checked.
type Cosignature struct {
	Witness string
	Time    time.Time
}

// Cosignatures opens a co-signed checkpoint and returns the checkpoint and
// the cosignatures among witnesses that verify.
func Cosignatures(signed []byte, pub ed25519.PublicKey, witnesses ...note.Verifier) (Checkpoint, []Cosignature, error) {
	c, sigs, err := Open(signed, pub, witnesses...)
	if err != nil {
		return c, nil, err
	}
	var out []Cosignature
	for _, s := range sigs {
		t, err := cosignatureTime(s)
		if err != nil {
			return c, nil, err
		}
		out = append(out, Cosignature{Witness: s.Name, Time: t})
	}
	return c, out, nil
}
