package fsdir_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/sync/fsdir"
	"github.com/edgetriage/edgetriage/sync/target"
)

func item(t *testing.T, size int64) target.Object {
	t.Helper()
	p := filepath.Join(t.TempDir(), "clip.mp4")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	h := evidence.NewHasher()
	if _, err := io.CopyN(io.MultiWriter(f, h), rand.Reader, size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return target.Object{Digest: h.Sum(), Size: size, Path: p, Manifest: []byte(`{"m":1}`)}
}

func newTarget(t *testing.T, root string) *fsdir.Target {
	t.Helper()
	tg, err := fsdir.New(fsdir.Config{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func TestPutStoresReadOnlyCopyAndManifest(t *testing.T) {
	root := t.TempDir()
	tg := newTarget(t, root)
	obj := item(t, 3<<20+5)
	ctx := context.Background()
	var progressed int64
	obj.Progress = func(n int64) { progressed += n }

	rc, err := tg.Put(ctx, obj, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rc.Existing || rc.BytesSent != obj.Size || progressed != obj.Size {
		t.Errorf("receipt %+v, progress %d: want a fresh copy of %d bytes", rc, progressed, obj.Size)
	}
	dst := filepath.Join(root, "evidence", obj.Digest.String()[:2], obj.Digest.String())
	if dst != tg.Path(obj.Digest) {
		t.Errorf("stored at %s, want %s", tg.Path(obj.Digest), dst)
	}
	st, err := os.Stat(dst)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm()&0o222 != 0 {
		t.Errorf("stored copy mode %v: want read-only", st.Mode())
	}
	if m, err := os.ReadFile(dst + ".manifest.json"); err != nil || !bytes.Equal(m, obj.Manifest) {
		t.Errorf("manifest %q, %v; want %q", m, err, obj.Manifest)
	}
	if _, err := tg.Verify(ctx, obj, rc); err != nil {
		t.Fatalf("verify: %v", err)
	}
	// No temp files left behind.
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(dst), ".*"))
	if len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}

	// Again: nothing rewritten.
	before := st.ModTime()
	rc2, err := tg.Put(ctx, obj, nil)
	if err != nil || !rc2.Existing || rc2.BytesSent != 0 {
		t.Errorf("second put %+v, %v: want existing, nothing written", rc2, err)
	}
	if st2, _ := os.Stat(dst); !st2.ModTime().Equal(before) {
		t.Errorf("the stored copy was rewritten")
	}
}

func TestVerifyFindsDamagedCopy(t *testing.T) {
	tg := newTarget(t, t.TempDir())
	obj := item(t, 100<<10)
	ctx := context.Background()
	if _, err := tg.Put(ctx, obj, nil); err != nil {
		t.Fatal(err)
	}
	p := tg.Path(obj.Digest)
	os.Chmod(p, 0o644)
	f, _ := os.OpenFile(p, os.O_WRONLY, 0)
	f.WriteAt([]byte{0xff, 0x00}, 5000)
	f.Close()
	if _, err := tg.Verify(ctx, obj, target.Receipt{}); target.ClassOf(err) != target.ClassIntegrity {
		t.Errorf("verify of a damaged copy: %v; want an integrity error", err)
	}
	// Put does not paper over it by replacing the copy.
	if _, err := tg.Put(ctx, obj, nil); target.ClassOf(err) != target.ClassIntegrity {
		t.Errorf("put over a damaged copy: %v; want an integrity error", err)
	}
	os.Remove(p)
	if _, err := tg.Verify(ctx, obj, target.Receipt{}); target.ClassOf(err) != target.ClassIntegrity {
		t.Errorf("verify of a missing copy: %v; want an integrity error", err)
	}
}

func TestPutRefusesCorruptVaultFile(t *testing.T) {
	tg := newTarget(t, t.TempDir())
	obj := item(t, 64<<10)
	f, _ := os.OpenFile(obj.Path, os.O_WRONLY, 0)
	f.WriteAt([]byte("x"), 10)
	f.Close()
	if _, err := tg.Put(context.Background(), obj, nil); target.ClassOf(err) != target.ClassIntegrity {
		t.Fatalf("put of a file not matching its digest: %v; want an integrity error", err)
	}
	if _, err := os.Stat(tg.Path(obj.Digest)); !os.IsNotExist(err) {
		t.Errorf("a corrupt copy was stored (stat: %v)", err)
	}
}

func TestMissingRootIsClassified(t *testing.T) {
	tg := newTarget(t, filepath.Join(t.TempDir(), "not-mounted"))
	_, err := tg.Put(context.Background(), item(t, 10), nil)
	if target.ClassOf(err) != target.ClassBucketMissing {
		t.Errorf("put to a missing root: %v; want bucket-missing", err)
	}
}
