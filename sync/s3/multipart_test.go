package s3_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"golang.org/x/time/rate"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/sync/s3"
	"github.com/edgetriage/edgetriage/sync/target"
	"github.com/edgetriage/edgetriage/testkit"
)

// fileCheckpoints keeps checkpoints in a JSON file, written atomically, so
// they survive the process that wrote them being killed.
type fileCheckpoints struct{ path string }

func (f fileCheckpoints) load() (map[string]target.Checkpoint, error) {
	m := map[string]target.Checkpoint{}
	b, err := os.ReadFile(f.path)
	if os.IsNotExist(err) {
		return m, nil
	}
	if err != nil {
		return nil, err
	}
	return m, json.Unmarshal(b, &m)
}

func (f fileCheckpoints) store(m map[string]target.Checkpoint) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := os.WriteFile(f.path+".tmp", b, 0o600); err != nil {
		return err
	}
	return os.Rename(f.path+".tmp", f.path)
}

func (f fileCheckpoints) LoadCheckpoint(_ context.Context, d evidence.Digest) (target.Checkpoint, bool, error) {
	m, err := f.load()
	cp, ok := m[d.String()]
	return cp, ok, err
}

func (f fileCheckpoints) SaveCheckpoint(_ context.Context, d evidence.Digest, cp target.Checkpoint) error {
	m, err := f.load()
	if err != nil {
		return err
	}
	m[d.String()] = cp
	return f.store(m)
}

func (f fileCheckpoints) DeleteCheckpoint(_ context.Context, d evidence.Digest) error {
	m, err := f.load()
	if err != nil {
		return err
	}
	delete(m, d.String())
	return f.store(m)
}

// partCounter counts UploadPart requests that reach the server.
type partCounter struct {
	n    atomic.Int64
	next http.RoundTripper
}

func (p *partCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPut && r.URL.Query().Get("partNumber") != "" {
		p.n.Add(1)
	}
	return p.next.RoundTrip(r)
}

const childEnv = "EDGETRIAGE_TEST_S3_MULTIPART_CHILD"

// TestMultipartChild is the uploader that TestMultipartResumeAfterKill
// kills; it does nothing when run normally.
func TestMultipartChild(t *testing.T) {
	spec := os.Getenv(childEnv)
	if spec == "" {
		return
	}
	var job struct {
		Conn        testkit.S3Conn
		Bucket      string
		Obj         target.Object
		Checkpoints string
	}
	if err := json.Unmarshal([]byte(spec), &job); err != nil {
		t.Fatal(err)
	}
	tg := newTarget(t, job.Conn, job.Bucket, func(c *s3.Config) { c.Limiter = rate.NewLimiter(8<<20, 256<<10) })
	_, err := tg.Put(context.Background(), job.Obj, fileCheckpoints{job.Checkpoints})
	t.Fatalf("the child was not killed before the upload ended (err %v)", err)
}

func TestMultipartResumeAfterKill(t *testing.T) {
	for _, srv := range testkit.S3Servers(t) {
		t.Run(srv.Name, func(t *testing.T) {
			conn := srv.Conn
			bucket := testkit.NewBucket(t, conn, true)
			dir := t.TempDir()
			obj := randomFile(t, dir, 8*(5<<20)+12345) // 9 parts of 5 MiB, the last one short
			const parts = 9
			cps := fileCheckpoints{filepath.Join(dir, "checkpoints.json")}

			job, err := json.Marshal(map[string]any{"Conn": conn, "Bucket": bucket, "Obj": obj, "Checkpoints": cps.path})
			if err != nil {
				t.Fatal(err)
			}
			child := exec.Command(os.Args[0], "-test.run=^TestMultipartChild$", "-test.v")
			child.Env = append(os.Environ(), childEnv+"="+string(job))
			out, _ := os.Create(filepath.Join(dir, "child.log"))
			child.Stdout, child.Stderr = out, out
			if err := child.Start(); err != nil {
				t.Fatal(err)
			}
			// Kill it, as a power cut would, once three parts are checkpointed.
			deadline := time.Now().Add(60 * time.Second)
			for {
				cp, ok, err := cps.LoadCheckpoint(context.Background(), obj.Digest)
				if err == nil && ok && len(cp.Parts) >= 3 {
					break
				}
				if time.Now().After(deadline) {
					child.Process.Kill()
					b, _ := os.ReadFile(out.Name())
					t.Fatalf("child did not checkpoint 3 parts in 60 s; log:\n%s", b)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err := child.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			err = child.Wait()
			if ws, ok := child.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
				b, _ := os.ReadFile(out.Name())
				t.Fatalf("child ended on its own (%v); log:\n%s", err, b)
			}

			cp, ok, err := cps.LoadCheckpoint(context.Background(), obj.Digest)
			if err != nil || !ok {
				t.Fatalf("checkpoint after kill: %v, %v", ok, err)
			}
			client := testkit.S3Client(t, conn)
			listed, err := minio.Core{Client: client}.ListObjectParts(context.Background(), bucket, cp.Key, cp.UploadID, 0, 1000)
			if err != nil {
				t.Fatalf("list parts of the interrupted upload: %v", err)
			}
			stored := len(listed.ObjectParts)
			t.Logf("killed with %d parts checkpointed, %d stored on the server", len(cp.Parts), stored)
			if stored < 3 || stored >= parts {
				t.Fatalf("%d parts stored; the kill should leave some but not all", stored)
			}

			counter := &partCounter{next: http.DefaultTransport}
			tg := newTarget(t, conn, bucket, func(c *s3.Config) { c.Transport = counter })
			rc, err := tg.Put(context.Background(), obj, cps)
			if err != nil {
				t.Fatalf("resumed put: %v", err)
			}
			if sent := counter.n.Load(); sent != int64(parts-stored) || rc.PartsSent != parts-stored {
				t.Errorf("resume sent %d parts (receipt says %d); want only the %d not stored", sent, rc.PartsSent, parts-stored)
			}
			if _, ok, _ := cps.LoadCheckpoint(context.Background(), obj.Digest); ok {
				t.Errorf("checkpoint still there after the upload completed")
			}
			if _, err := tg.Verify(context.Background(), obj, rc); err != nil {
				t.Fatalf("verify: %v", err)
			}
			// Verify without the receipt still checks size and stored digest.
			if _, err := tg.Verify(context.Background(), obj, target.Receipt{}); err != nil {
				t.Fatalf("verify without receipt: %v", err)
			}
			// The object's bytes, read back, hash to the ingest digest.
			r, err := client.GetObject(context.Background(), bucket, target.Key(obj.Digest), minio.GetObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got, n, err := evidence.DigestOf(r)
			if err != nil || got != obj.Digest || n != obj.Size {
				t.Errorf("read back %d bytes hashing to %s (%v); want %d bytes, %s", n, got.Short(), err, obj.Size, obj.Digest.Short())
			}
			t.Logf("composite checksum %s", rc.Checksum)
			if want := fmt.Sprintf("-%d", parts); len(rc.Checksum) < 3 || rc.Checksum[len(rc.Checksum)-len(want):] != want {
				t.Errorf("checksum %q: want a composite of %d parts", rc.Checksum, parts)
			}
		})
	}
}
