package firmware_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/firmware"
)

// appliance is the daemon's data dir as a docked device would aim at it:
// the bbolt index and the signing key, with contents to compare.
type appliance struct {
	index, key string
	before     map[string][]byte
}

func newAppliance(t *testing.T) *appliance {
	t.Helper()
	dir := t.TempDir()
	a := &appliance{index: filepath.Join(dir, "index.db"), key: filepath.Join(dir, "keys", "appliance.key"), before: map[string][]byte{}}
	os.MkdirAll(filepath.Dir(a.key), 0o700)
	for _, p := range []string{a.index, a.key} {
		b := []byte("original contents of " + filepath.Base(p))
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		a.before[p] = b
	}
	return a
}

func (a *appliance) assertUnchanged(t *testing.T) {
	t.Helper()
	for p, want := range a.before {
		got, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s changed (%d bytes, %v): the firmware writer followed a link off the camera", p, len(got), err)
		}
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// A device whose identity asks for a staged update and whose update path
// holds a symbolic link (to the appliance's index or key, to a folder
// outside the bay, or to somewhere inside the bay, which os.Root alone
// would follow) gets no firmware: the write is refused with the reason
// and the link's target is untouched.
func TestLinksOnTheCameraRefuseTheUpdate(t *testing.T) {
	ctx := context.Background()
	outside := t.TempDir()
	cases := map[string]func(cam *camera, a *appliance){
		"part to index.db": func(cam *camera, a *appliance) {
			symlink(t, a.index, filepath.Join(cam.root, "UPDATE", ".FW.BIN.part"))
		},
		"part to appliance.key": func(cam *camera, a *appliance) {
			symlink(t, a.key, filepath.Join(cam.root, "UPDATE", ".FW.BIN.part"))
		},
		"final name to index.db": func(cam *camera, a *appliance) {
			symlink(t, a.index, filepath.Join(cam.root, "UPDATE", "FW.BIN"))
		},
		"update folder outside the bay": func(cam *camera, _ *appliance) {
			symlink(t, outside, filepath.Join(cam.root, "UPDATE"))
		},
		"update folder inside the bay": func(cam *camera, _ *appliance) {
			symlink(t, "DCIM", filepath.Join(cam.root, "UPDATE"))
		},
		"part inside the bay": func(cam *camera, _ *appliance) {
			symlink(t, "../DCIM/100BWC/CLIP0001.MP4", filepath.Join(cam.root, "UPDATE", ".FW.BIN.part"))
		},
	}
	for name, plant := range cases {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.stage("2.10.0", 1<<20)
			a := newAppliance(t)
			cam := newCamera(t, "BWC-0666", model, "2.0.0", 90)
			plant(cam, a)
			st, err := e.m.Apply(ctx, cam.identity(), cam.root)
			if !errors.Is(err, firmware.ErrUnsafePath) || st.State != firmware.StateRefused || st.Reason != firmware.ReasonUnsafePath {
				t.Fatalf("status %+v, err %v", st, err)
			}
			if ev := e.lastEvent(); ev.Details["result"] != "refused" || ev.Details["reason"] != "unsafe-path" {
				t.Fatalf("custody event %v", ev.Details)
			}
			a.assertUnchanged(t)
			if got, _ := os.ReadFile(filepath.Join(cam.root, "DCIM", "100BWC", "CLIP0001.MP4")); string(got) != "footage" {
				t.Fatalf("footage on the camera changed: %q", got)
			}
			if ents, _ := os.ReadDir(outside); len(ents) != 0 {
				t.Fatalf("files created outside the bay: %v", ents)
			}
			if ents, _ := os.ReadDir(filepath.Join(cam.root, "DCIM")); len(ents) != 1 {
				t.Fatalf("files created in DCIM through a link: %v", ents)
			}
		})
	}
}

// A temp file left by a camera pulled mid-write is a regular file: it is
// removed before the retry, which then writes the whole image.
func TestPartialImageFromAnEarlierDockIsReplaced(t *testing.T) {
	e := newEnv(t, nil)
	e.stage("2.10.0", 1<<20)
	cam := newCamera(t, "BWC-0667", model, "2.0.0", 90)
	os.MkdirAll(filepath.Join(cam.root, "UPDATE"), 0o755)
	writeFile(t, filepath.Join(cam.root, "UPDATE"), ".FW.BIN.part", []byte("half an image"))
	st, err := e.m.Apply(context.Background(), cam.identity(), cam.root)
	if err != nil || st.State != firmware.StateWritten {
		t.Fatalf("status %+v, err %v", st, err)
	}
	if !cam.bootAndInstall(image("2.10.0", 1<<20), "2.10.0") {
		t.Fatal("no image under the final name")
	}
	if left := cam.leftovers(); len(left) != 0 {
		t.Fatalf("left on the camera: %v", left)
	}
}

// Each vendor key signs only for the models the trust store lists for it:
// a package signed by a trusted key for a model outside its list is
// refused at import, and a key's list shrinking later refuses the staged
// package at the camera.
func TestVendorKeysAreTiedToModels(t *testing.T) {
	pubA, keyA, _ := ed25519.GenerateKey(rand.Reader)
	pubB, keyB, _ := ed25519.GenerateKey(rand.Reader)
	e := newEnv(t, func(c *firmware.Config, _ *firmware.Options) {
		c.Vendors = []firmware.VendorKey{
			{Vendor: "Acme", PublicKey: hex.EncodeToString(pubA), Models: []string{model, "BWC-210"}},
			{Vendor: "Acme", PublicKey: hex.EncodeToString(pubB), Models: []string{"DASHCAM-1"}},
		}
	})
	ctx := context.Background()
	if _, err := e.m.ImportFile(ctx, e.pkg("ok.tar", firmware.FormatTar, manifest("2.10.0"), image("2.10.0", 4096), keyA), "user:admin"); err != nil {
		t.Fatalf("key A for its own models: %v", err)
	}
	_, err := e.m.ImportFile(ctx, e.pkg("b.tar", firmware.FormatTar, manifest("2.11.0"), image("2.11.0", 4096), keyB), "user:admin")
	if !errors.Is(err, firmware.ErrKeyNotForModel) {
		t.Fatalf("key B (dashcams only) signing for %s: %v", model, err)
	}
	dash := manifest("1.0.0")
	dash.Models = []string{"DASHCAM-1"}
	if _, err := e.m.ImportFile(ctx, e.pkg("d.tar", firmware.FormatTar, dash, image("1.0.0", 4096), keyB), "user:admin"); err != nil {
		t.Fatalf("key B for its own model: %v", err)
	}

	// The admin narrows key A to BWC-210 only: the staged BWC-200 package
	// is refused when a BWC-200 docks.
	narrowed := newEnvSharing(t, e, func(c *firmware.Config) {
		c.Vendors = []firmware.VendorKey{{Vendor: "Acme", PublicKey: hex.EncodeToString(pubA), Models: []string{"BWC-210"}}}
	})
	cam := newCamera(t, "BWC-0668", model, "2.0.0", 90)
	st, err := narrowed.Apply(ctx, cam.identity(), cam.root)
	if !errors.Is(err, firmware.ErrKeyNotForModel) || st.State != firmware.StateRefused {
		t.Fatalf("status %+v, err %v", st, err)
	}
	assertNoImage(t, cam)

	bad := firmware.DefaultConfig()
	bad.Vendors = []firmware.VendorKey{{Vendor: "Acme", PublicKey: hex.EncodeToString(pubA)}}
	if err := bad.Validate(); err == nil {
		t.Fatal("a vendor key without models was accepted")
	}
}

// newEnvSharing is a second manager over e's vault and state, as after a
// restart with a changed configuration.
func newEnvSharing(t *testing.T, e *env, adjust func(*firmware.Config)) *firmware.Manager {
	t.Helper()
	cfg := firmware.DefaultConfig()
	cfg.Profiles = []firmware.Profile{{Model: model, UpdateDir: "UPDATE", ImageName: "FW.BIN"}}
	adjust(&cfg)
	m, err := firmware.New(cfg, e.v, e.v.State("firmware"), firmware.Options{Now: func() time.Time { return e.clock }})
	if err != nil {
		t.Fatal(err)
	}
	return m
}
