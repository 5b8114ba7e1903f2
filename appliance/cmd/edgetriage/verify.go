package main

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/edgetriage/edgetriage/appliance/bundle"
	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/evidence/custodylog"
	"github.com/edgetriage/edgetriage/appliance/vault"
)

func verifyCommand() command {
	c := command{name: "verify", summary: "check every stored byte, the custody chain and its signatures", usage: `Usage: edgetriage verify --data DIR (--pubkey KEY | --fingerprint FP) [--checkpoint-interval D] [--tsa-cert FILE]
       edgetriage verify --bundle FILE (--pubkey KEY | --fingerprint FP) [--tsa-cert FILE]

The appliance's key is pinned from outside what is checked: --pubkey takes
the public key (hex, or a file holding it, such as a copy of
DATA/keys/appliance.pub taken at first start), --fingerprint the 64 hex
characters the daemon printed at first start and the dashboard shows.
Nothing read from the vault or the bundle is trusted to say who signed it.
Without a pin, verify still checks everything, prints the signer's
fingerprint, and exits 1: "signature valid but signer not pinned".

With --data: re-hashes every file in the vault, walks the whole custody
chain, rebuilds the log's Merkle tree from the events, checks every signed
checkpoint against the pinned key and the tree, that checkpoints cover the
chain (events older than twice the checkpoint interval, or a minute more,
that no checkpoint signs are reported), every checkpoint a witness
co-signed (kept in the vault, or given with --cosigned), and every item
record. Changes nothing. Exit status 0 with a one-line summary
when all is intact; 1 with one line per problem, naming the item digest or
event number, otherwise.

With --bundle: checks an export bundle offline, without the appliance's
data: the manifest signature, the custody history up to the signed
checkpoint, and the item's bytes.

What a local verify cannot prove on its own: someone who holds the
appliance's private key can rewrite history and sign it again. A
checkpoint central co-signed catches that: "history rewritten after
checkpoint N cosigned by central-hq at T". Give central's copy with
--cosigned when the vault's own may have been removed.

Trusted time: with custody.timestamp set, a time-stamp authority (RFC 3161)
stamps checkpoints. --tsa-cert takes the TSA's CA certificate (PEM); each
token is checked against it (chain, signature, and that it stamps exactly
that checkpoint) and verify prints "checkpoint N existed by T (TSA ...)".
A token for another checkpoint is refused, naming both.

Examples:
  edgetriage verify --data ./data --fingerprint 3f1c...e9a2
  edgetriage verify --data /srv/evidence --pubkey /etc/edgetriage/station.pub || alert-admin
  edgetriage verify --data ./data --fingerprint 3f1c...e9a2 --witness "central-hq+1a2b3c4d+BA..." --cosigned hq-latest.checkpoint
  edgetriage verify --bundle case-1234.bundle --pubkey station-7.pub
  edgetriage verify --bundle case-1234.bundle --pubkey station-7.pub --tsa-cert tsa-ca.pem`}
	c.run = func(ctx context.Context, env *cliEnv, args []string) int {
		fs := newFlags(env, c)
		data := fs.String("data", "./data", "vault data `directory`")
		bundle := fs.String("bundle", "", "export bundle `file` to verify instead of a vault")
		pubkey := fs.String("pubkey", "", "the appliance's public `key` (hex, or a file holding it)")
		fingerprint := fs.String("fingerprint", "", "the appliance key's `fingerprint` as printed at first start")
		interval := fs.Duration("checkpoint-interval", time.Minute, "the daemon's checkpoint_interval (how often it signs the chain head)")
		tsaCert := fs.String("tsa-cert", "", "the time-stamp authority's CA certificate `file` (PEM) to check checkpoint timestamps with")
		var witnesses, cosigned stringList
		fs.Var(&witnesses, "witness", "a witness's `key` (as in the config's witnesses) whose cosignatures to check; repeatable")
		fs.Var(&cosigned, "cosigned", "a co-signed checkpoint `file` from central the vault's history must extend; repeatable")
		if stop, code := parseFlags(fs, args); stop {
			return code
		}
		pin, err := parsePin(*pubkey, *fingerprint)
		if err != nil {
			fmt.Fprintf(env.stderr, "edgetriage verify: %v\n", err)
			return 2
		}
		roots, err := tsaRoots(*tsaCert)
		if err != nil {
			fmt.Fprintf(env.stderr, "edgetriage verify: --tsa-cert: %v\n", err)
			return 2
		}
		if *bundle != "" {
			return verifyBundle(env, *bundle, pin, roots)
		}
		opts, err := logOptions(witnesses, cosigned)
		if err != nil {
			fmt.Fprintf(env.stderr, "edgetriage verify: %v\n", err)
			return 2
		}
		opts.TSARoots = roots
		opts.CheckpointInterval = *interval
		return verifyVault(ctx, env, *data, pin, opts)
	}
	return c
}

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

// logOptions reads the witnesses' keys and central's co-signed checkpoints.
func logOptions(witnesses, cosigned []string) (vault.VerifyOptions, error) {
	var opts vault.VerifyOptions
	for _, w := range witnesses {
		v, err := custodylog.WitnessVerifier(w)
		if err != nil {
			return opts, fmt.Errorf("--witness: %w", err)
		}
		opts.Witnesses = append(opts.Witnesses, v)
	}
	for _, f := range cosigned {
		raw, err := os.ReadFile(f)
		if err != nil {
			return opts, fmt.Errorf("--cosigned: %w", err)
		}
		opts.Cosigned = append(opts.Cosigned, raw)
	}
	return opts, nil
}

// parsePin reads the pin from --pubkey (hex, or a file holding it) and
// --fingerprint.
func parsePin(pubkey, fingerprint string) (evidence.KeyPin, error) {
	if pubkey != "" {
		// A file that is there but cannot be read is reported as such,
		// not parsed as if its name were the key.
		raw, err := os.ReadFile(pubkey)
		switch {
		case err == nil:
			pubkey = string(raw)
		case !errors.Is(err, fs.ErrNotExist):
			return evidence.KeyPin{}, fmt.Errorf("--pubkey: %w", err)
		}
	}
	pin, err := evidence.ParseKeyPin(pubkey, fingerprint)
	if err != nil {
		return pin, fmt.Errorf("--pubkey/--fingerprint: %w", err)
	}
	return pin, nil
}

func verifyVault(ctx context.Context, env *cliEnv, data string, pin evidence.KeyPin, opts vault.VerifyOptions) int {
	v, err := vault.Open(ctx, data, vault.Options{VerifyOnly: true})
	if err != nil {
		fmt.Fprintf(env.stderr, "edgetriage verify: %v\n", err)
		return 1
	}
	defer v.Close()
	opts.Pinned = pin.Key
	if pin.Key == nil && pin.Fingerprint != "" {
		// A fingerprint pins the key the chain names once they agree;
		// any other key then fails every checkpoint.
		if key := v.ChainKey(); key != nil && evidence.Fingerprint(key) == pin.Fingerprint {
			opts.Pinned = key
		} else {
			fmt.Fprintf(env.stdout, "the chain's signing key is not the pinned fingerprint %s (the chain names %s)\n", pin.Fingerprint, fingerprintOf(key))
			fmt.Fprintln(env.stderr, "edgetriage verify: 1 problem(s) found")
			return 1
		}
	}
	r, err := v.Verify(ctx, opts)
	if err != nil {
		fmt.Fprintf(env.stderr, "edgetriage verify: %v\n", err)
		return 1
	}
	printTrustedTimes(env, r)
	for _, n := range r.Notes {
		fmt.Fprintln(env.stdout, "note: "+n)
	}
	if !r.OK() {
		for _, f := range r.Findings {
			fmt.Fprintln(env.stdout, f)
		}
		fmt.Fprintf(env.stderr, "edgetriage verify: %d problem(s) found\n", len(r.Findings))
		return 1
	}
	summary := fmt.Sprintf("%d items (%d removed), %d bytes re-hashed, %d custody events, %d signed checkpoints (%d co-signed by witnesses), signed by key %s",
		r.Items, r.Removed, r.Bytes, r.Events, r.Checkpoints, r.Cosigned, r.Fingerprint)
	if !r.Pinned {
		fmt.Fprintf(env.stdout, "%v: %s\n", evidence.ErrNotPinned, summary)
		fmt.Fprintln(env.stderr, "edgetriage verify: the key was read from the vault itself; pass --pubkey or --fingerprint with the one recorded at first start")
		return 1
	}
	fmt.Fprintln(env.stdout, "intact: "+strings.Replace(summary, "signed by key", "signed by the pinned key", 1))
	return 0
}

func fingerprintOf(key ed25519.PublicKey) string {
	if key == nil {
		return "no key"
	}
	return evidence.Fingerprint(key)
}

func verifyBundle(env *cliEnv, path string, pin evidence.KeyPin, roots *x509.CertPool) int {
	r, err := bundle.Verify(path, pin.Key)
	if err != nil {
		fmt.Fprintln(env.stdout, err)
		return 1
	}
	if err := bundleTime(env, r, roots); err != nil {
		fmt.Fprintf(env.stdout, "bundle %s: %v\n", path, err)
		return 1
	}
	if err := pin.Check(r.Key); err != nil {
		fmt.Fprintf(env.stdout, "%v: %s\n", err, r.Summary())
		if errors.Is(err, evidence.ErrNotPinned) {
			fmt.Fprintln(env.stderr, "edgetriage verify: pass --pubkey or --fingerprint with the station's key as recorded outside the bundle")
		}
		return 1
	}
	fmt.Fprintln(env.stdout, "intact: "+r.PinnedSummary())
	if r.Provenance != nil {
		for _, l := range r.Provenance.Lines() {
			fmt.Fprintln(env.stdout, "  "+l)
		}
	}
	return 0
}

// tsaRoots reads the TSA CA certificate(s) verify checks tokens with; nil
// when none is given.
func tsaRoots(path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, nil
	}
	return custodylog.ReadCertPool(path)
}

func printTrustedTimes(env *cliEnv, r vault.Report) {
	for _, t := range r.TrustedTimes {
		fmt.Fprintln(env.stdout, t)
	}
	if r.Timestamps > 0 && len(r.TrustedTimes) == 0 && r.OK() {
		fmt.Fprintf(env.stdout, "%d checkpoint(s) carry a TSA timestamp, not checked: pass --tsa-cert with the TSA's CA certificate\n", r.Timestamps)
	}
}

// bundleTime checks the TSA timestamp a bundle's manifest carries and
// says what it proves; an invalid or misplaced token is an error.
func bundleTime(env *cliEnv, r bundle.Report, roots *x509.CertPool) error {
	if roots == nil {
		if r.Timestamp != nil {
			fmt.Fprintln(env.stdout, "the bundle carries a TSA timestamp, not checked: pass --tsa-cert with the TSA's CA certificate")
		}
		return nil
	}
	t, err := r.CheckTime(roots)
	switch {
	case errors.Is(err, bundle.ErrNoTimestamp):
		fmt.Fprintln(env.stdout, err)
		return nil
	case err != nil:
		return err
	}
	fmt.Fprintln(env.stdout, t)
	return nil
}
