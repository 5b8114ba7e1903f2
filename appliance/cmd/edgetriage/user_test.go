package main

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/edgetriage/edgetriage/appliance/auth"
	"github.com/edgetriage/edgetriage/appliance/vault"
)

func runStdin(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Stdin = strings.NewReader(stdin)
	return runCmd(t, cmd)
}

func TestUserAddPasswdDisable(t *testing.T) {
	data := t.TempDir()
	if r := runStdin(t, "first-admin-password\n", "user", "add", "--data", data, "--name", "admin", "--role", "admin"); r.code != 0 {
		t.Fatalf("add: %d %s", r.code, r.stderr)
	}
	r := runStdin(t, "whatever-password\n", "user", "add", "--data", data, "--name", "bob", "--role", "superuser")
	if r.code != 1 || !strings.Contains(r.stderr, "unknown role") {
		t.Fatalf("bad role: %d %s", r.code, r.stderr)
	}
	if r := runStdin(t, "", "user", "add", "--data", data, "--name", "bob", "--role", "staff"); r.code != 1 || !strings.Contains(r.stderr, "no password") {
		t.Fatalf("no password: %d %s", r.code, r.stderr)
	}
	if r := runStdin(t, "new-admin-password\n", "user", "passwd", "--data", data, "--name", "admin"); r.code != 0 {
		t.Fatalf("passwd: %d %s", r.code, r.stderr)
	}
	if r := run(t, "user", "disable", "--data", data, "--name", "admin"); r.code != 0 {
		t.Fatalf("disable: %d %s", r.code, r.stderr)
	}
	tok := run(t, "user", "token", "--data", data, "--name", "central-hq")
	if tok.code != 0 || !strings.HasPrefix(tok.stdout, "et_") {
		t.Fatalf("token: %d %q %s", tok.code, tok.stdout, tok.stderr)
	}
	if l := run(t, "user", "list", "--data", data); !strings.Contains(l.stdout, "admin") || !strings.Contains(l.stdout, "disabled") {
		t.Fatalf("list: %q", l.stdout)
	}

	ctx := context.Background()
	v, err := vault.Open(ctx, data, vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	svc := auth.New(v.State("auth"), v, auth.Options{})
	if _, err := svc.Login(ctx, "admin", "new-admin-password", "127.0.0.1:1"); err != auth.ErrDisabled {
		t.Fatalf("disabled admin logs in: %v", err)
	}
	if _, err := svc.Login(ctx, "admin", "first-admin-password", "127.0.0.1:1"); err != auth.ErrBadCredentials {
		t.Fatalf("old password: %v", err)
	}
	if p, ok := svc.Bearer(strings.TrimSpace(tok.stdout)); !ok || p.Role != auth.RoleCentral {
		t.Fatalf("printed token does not authenticate: %v %v", p, ok)
	}
}
