package testkit

// Tests reach the real S3 servers that the scripts run on 127.0.0.1:
// SeaweedFS (scripts/s3server.sh, and a multi-node cluster in
// scripts/seaweedcluster.sh) and, as a second, independent implementation,
// versitygw (scripts/versitygw.sh). When a server's endpoint variable is
// unset its script is run to start it, so `go test` works without any setup;
// `make test` may start them once and export the variables.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Conn is how to reach a server.
type S3Conn struct {
	Endpoint  string
	AccessKey string
	SecretKey string
	Region    string
}

// Env variable names, as `scripts/s3server.sh env` prints them.
const (
	EnvEndpoint  = "EDGETRIAGE_TEST_S3_ENDPOINT"
	EnvAccessKey = "EDGETRIAGE_TEST_S3_ACCESS_KEY"
	EnvSecretKey = "EDGETRIAGE_TEST_S3_SECRET_KEY"
	EnvRegion    = "EDGETRIAGE_TEST_S3_REGION"
)

// S3 returns the shared test server, starting it if the environment
// does not name one.
func S3(t testing.TB) S3Conn {
	t.Helper()
	if ep := os.Getenv(EnvEndpoint); ep != "" {
		return S3Conn{Endpoint: ep, AccessKey: os.Getenv(EnvAccessKey), SecretKey: os.Getenv(EnvSecretKey), Region: regionOr(os.Getenv(EnvRegion))}
	}
	return script(t, nil, "start")
}

// Versity environment variables, as `scripts/versitygw.sh env` prints them.
const (
	EnvVersityEndpoint  = "EDGETRIAGE_TEST_VGW_ENDPOINT"
	EnvVersityAccessKey = "EDGETRIAGE_TEST_VGW_ACCESS_KEY"
	EnvVersitySecretKey = "EDGETRIAGE_TEST_VGW_SECRET_KEY"
	EnvVersityRegion    = "EDGETRIAGE_TEST_VGW_REGION"
)

// Versity returns the shared versitygw server, starting it if the
// environment does not name one.
func Versity(t testing.TB) S3Conn {
	t.Helper()
	if ep := os.Getenv(EnvVersityEndpoint); ep != "" {
		return S3Conn{Endpoint: ep, AccessKey: os.Getenv(EnvVersityAccessKey), SecretKey: os.Getenv(EnvVersitySecretKey), Region: regionOr(os.Getenv(EnvVersityRegion))}
	}
	vars := runScript(t, "versitygw.sh", nil, "start")
	return S3Conn{Endpoint: vars[EnvVersityEndpoint], AccessKey: vars[EnvVersityAccessKey], SecretKey: vars[EnvVersitySecretKey], Region: regionOr(vars[EnvVersityRegion])}
}

// S3Cluster returns the multi-node SeaweedFS (master, two volume servers,
// filer, S3 gateway) of scripts/seaweedcluster.sh, starting it if the
// environment does not name one.
func S3Cluster(t testing.TB) S3Conn {
	t.Helper()
	if ep := os.Getenv("EDGETRIAGE_TEST_CLUSTER_ENDPOINT"); ep != "" {
		return S3Conn{Endpoint: ep, AccessKey: os.Getenv("EDGETRIAGE_TEST_CLUSTER_ACCESS_KEY"),
			SecretKey: os.Getenv("EDGETRIAGE_TEST_CLUSTER_SECRET_KEY"), Region: regionOr(os.Getenv("EDGETRIAGE_TEST_CLUSTER_REGION"))}
	}
	vars := runScript(t, "seaweedcluster.sh", nil, "start")
	return S3Conn{Endpoint: vars["EDGETRIAGE_TEST_CLUSTER_ENDPOINT"], AccessKey: vars["EDGETRIAGE_TEST_CLUSTER_ACCESS_KEY"],
		SecretKey: vars["EDGETRIAGE_TEST_CLUSTER_SECRET_KEY"], Region: regionOr(vars["EDGETRIAGE_TEST_CLUSTER_REGION"])}
}

// S3Server is one S3 implementation the tests run against.
type S3Server struct {
	Name string
	Conn S3Conn
}

// S3Servers are every S3 implementation the tests run against: a test that
// loops over them holds the code to S3's contract, not one server's habits.
func S3Servers(t testing.TB) []S3Server {
	t.Helper()
	return []S3Server{{Name: "seaweedfs", Conn: S3(t)}, {Name: "versitygw", Conn: Versity(t)}}
}

// PrivateS3 is a server of the test's own, with its own ports and data
// directory, for tests that stop and start it; it is stopped at cleanup.
type PrivateS3 struct {
	Conn S3Conn
	env  []string
}

// StartPrivateS3 starts a private server.
func StartPrivateS3(t testing.TB) *PrivateS3 {
	t.Helper()
	base, err := freePortBase()
	if err != nil {
		t.Fatalf("find free ports for a private S3 server: %v", err)
	}
	p := &PrivateS3{env: []string{
		fmt.Sprintf("EDGETRIAGE_TEST_S3_PORT_BASE=%d", base),
		"EDGETRIAGE_TEST_S3_STATE=" + t.TempDir(),
	}}
	p.Conn = script(t, p.env, "start")
	t.Cleanup(func() { p.Stop(t) })
	return p
}

// Stop stops the private server (its data is kept).
func (p *PrivateS3) Stop(t testing.TB) { script(t, p.env, "stop") }

// Start starts it again and waits until it answers.
func (p *PrivateS3) Start(t testing.TB) { script(t, p.env, "start") }

// script runs scripts/s3server.sh cmd, then reads its env output.
func script(t testing.TB, env []string, cmd string) S3Conn {
	t.Helper()
	vars := runScript(t, "s3server.sh", env, cmd)
	return S3Conn{Endpoint: vars[EnvEndpoint], AccessKey: vars[EnvAccessKey], SecretKey: vars[EnvSecretKey], Region: regionOr(vars[EnvRegion])}
}

// runScript runs scripts/<name> cmd, then returns what its env prints.
func runScript(t testing.TB, name string, env []string, cmd string) map[string]string {
	t.Helper()
	sh := filepath.Join(RepoRoot(t), "scripts", name)
	run := exec.Command("bash", sh, cmd)
	run.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	run.Stderr = &stderr
	if err := run.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", sh, cmd, err, stderr.String())
	}
	show := exec.Command("bash", sh, "env")
	show.Env = append(os.Environ(), env...)
	out, err := show.Output()
	if err != nil {
		t.Fatalf("%s env: %v", sh, err)
	}
	vars := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "=")
		if ok {
			vars[k] = strings.Trim(v, "'")
		}
	}
	return vars
}

func regionOr(r string) string {
	if r == "" {
		return "us-east-1"
	}
	return r
}

// freePortBase picks a random block of 13 ports that are all free now.
func freePortBase() (int, error) {
	for range 50 {
		var b [2]byte
		rand.Read(b[:])
		base := 29000 + (int(b[0])<<8|int(b[1]))%150*20
		if allFree(base, 13) {
			return base, nil
		}
	}
	return 0, fmt.Errorf("no free block of ports in 29000-32000")
}

func allFree(base, n int) bool {
	for p := base; p < base+n; p++ {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			return false
		}
		l.Close()
	}
	return true
}

// RepoRoot finds the repository root (the directory with scripts/s3server.sh).
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "scripts", "s3server.sh")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			t.Fatalf("no scripts/s3server.sh above %s", dir)
		}
	}
}

// S3Client makes a plain minio-go client for conn.
func S3Client(t testing.TB, conn S3Conn) *minio.Client {
	t.Helper()
	c, err := minio.New(conn.Endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(conn.AccessKey, conn.SecretKey, ""),
		Region:       conn.Region,
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatalf("s3 client: %v", err)
	}
	return c
}

// NewBucket makes a bucket with a unique name, with Object Lock if lock.
// Buckets are not removed: objects under COMPLIANCE retention cannot be.
func NewBucket(t testing.TB, conn S3Conn, lock bool) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	name := "et-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	if len(name) > 40 {
		name = name[:40]
	}
	// Bucket names are lower-case letters, digits and dashes; test names
	// may hold anything (sub-benchmarks: "workers=2").
	name = strings.Map(func(r rune) rune {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			return r
		}
		return '-'
	}, name)
	name = strings.Trim(name, "-") + "-" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := S3Client(t, conn).MakeBucket(ctx, name, minio.MakeBucketOptions{Region: conn.Region, ObjectLocking: lock}); err != nil {
		t.Fatalf("make bucket %s: %v", name, err)
	}
	return name
}
