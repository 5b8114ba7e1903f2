// Package pgtest gives tests a fresh database on the real PostgreSQL that
// scripts/pgserver.sh runs on 127.0.0.1. When EDGETRIAGE_TEST_PG_DSN is unset
// the script is run to start it, so `go test` works without any setup.
package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvDSN names the server, as `scripts/pgserver.sh env` prints it.
const EnvDSN = "EDGETRIAGE_TEST_PG_DSN"

// Server returns the DSN of the shared server, starting it if needed.
func Server(t testing.TB) string {
	t.Helper()
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		return dsn
	}
	sh := filepath.Join(repoRoot(t), "scripts", "pgserver.sh")
	start := exec.Command("bash", sh, "start")
	var stderr bytes.Buffer
	start.Stderr = &stderr
	if err := start.Run(); err != nil {
		t.Fatalf("%s start: %v\n%s", sh, err, stderr.String())
	}
	out, err := exec.Command("bash", sh, "env").Output()
	if err != nil {
		t.Fatalf("%s env: %v", sh, err)
	}
	_, v, _ := strings.Cut(strings.TrimSpace(string(out)), "=")
	return strings.Trim(v, "'")
}

// NewDatabase creates an empty database of the test's own and returns its
// DSN; it is dropped at cleanup.
func NewDatabase(t testing.TB) string {
	t.Helper()
	admin := Server(t)
	var b [6]byte
	rand.Read(b[:])
	name := "et_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect to the test PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, admin); err == nil {
			c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(ctx)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

func repoRoot(t testing.TB) string {
	t.Helper()
	dir, _ := os.Getwd()
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "scripts", "pgserver.sh")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			t.Fatalf("no scripts/pgserver.sh above %s", dir)
		}
	}
}
