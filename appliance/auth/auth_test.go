package auth_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/appliance/auth"
	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
)

func openVault(t *testing.T) *vault.Vault {
	t.Helper()
	v, err := vault.Open(context.Background(), t.TempDir(), vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

func loginEvents(t *testing.T, v *vault.Vault) []evidence.CustodyEvent {
	var out []evidence.CustodyEvent
	if err := v.Events(0, func(e evidence.CustodyEvent) bool {
		if e.Action == evidence.ActionLogin {
			out = append(out, e)
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLoginLockoutAndAudit(t *testing.T) {
	ctx := context.Background()
	v := openVault(t)
	var now atomic.Int64
	now.Store(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	svc := auth.New(v.State("auth"), v, auth.Options{Now: clock})
	if err := svc.AddUser(ctx, "alice", auth.RoleInvestigator, "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	if err := svc.AddUser(ctx, "alice", auth.RoleStaff, "another password"); !errors.Is(err, auth.ErrExists) {
		t.Fatalf("second alice: %v", err)
	}
	sess, err := svc.Login(ctx, "alice", "correct horse battery", "127.0.0.1:5000")
	if err != nil {
		t.Fatalf("good login: %v", err)
	}
	if p, _, ok := svc.Authenticate(reqWithCookie(sess.Token)); !ok || p.Name != "alice" || p.Role != auth.RoleInvestigator {
		t.Fatalf("session not recognised: %v %v", p, ok)
	}
	for i := range 10 {
		_, err := svc.Login(ctx, "alice", "wrong password", "127.0.0.1:5000")
		want := auth.ErrBadCredentials
		if i == 9 {
			want = auth.ErrLocked
		}
		if !errors.Is(err, want) {
			t.Fatalf("wrong password %d: %v, want %v", i+1, err, want)
		}
	}
	if _, err := svc.Login(ctx, "alice", "correct horse battery", "127.0.0.1:5000"); !errors.Is(err, auth.ErrLocked) {
		t.Fatalf("right password on a locked account: %v", err)
	}
	now.Add(int64(16 * time.Minute))
	if _, err := svc.Login(ctx, "alice", "correct horse battery", "127.0.0.1:5000"); err != nil {
		t.Fatalf("after the lock expired: %v", err)
	}
	evs := loginEvents(t, v)
	results := map[string]int{}
	for _, e := range evs {
		if e.Actor != "user:alice" {
			t.Errorf("login event actor %q", e.Actor)
		}
		results[e.Details["result"]]++
	}
	if results["success"] != 2 || results["failure"] != 9 || results["lockout"] != 1 || results["locked"] != 1 {
		t.Fatalf("audited login outcomes %v", results)
	}
}

func TestUnknownUserAndDisabled(t *testing.T) {
	ctx := context.Background()
	v := openVault(t)
	svc := auth.New(v.State("auth"), v, auth.Options{})
	if _, err := svc.Login(ctx, "nobody", "whatever-password", "10.0.0.1:1"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("unknown user: %v", err)
	}
	if err := svc.AddUser(ctx, "bob", auth.RoleStaff, "short"); err == nil {
		t.Fatal("short password accepted")
	}
	if err := svc.AddUser(ctx, "bob", auth.RoleStaff, "long enough password"); err != nil {
		t.Fatal(err)
	}
	sess, err := svc.Login(ctx, "bob", "long enough password", "10.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.SetDisabled(ctx, "bob", true); err != nil {
		t.Fatal(err)
	}
	if _, ok := svc.Session(sess.Token); ok {
		t.Fatal("disabling bob left his session open")
	}
	if _, err := svc.Login(ctx, "bob", "long enough password", "10.0.0.1:1"); !errors.Is(err, auth.ErrDisabled) {
		t.Fatalf("disabled login: %v", err)
	}
}

func TestLoginRateLimitPerAddress(t *testing.T) {
	ctx := context.Background()
	v := openVault(t)
	svc := auth.New(v.State("auth"), v, auth.Options{LoginRate: 0.01, LoginBurst: 3})
	for range 3 {
		if _, err := svc.Login(ctx, "x", "y-password", "10.0.0.9:1"); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("within burst: %v", err)
		}
	}
	if _, err := svc.Login(ctx, "x", "y-password", "10.0.0.9:2"); !errors.Is(err, auth.ErrRateLimited) {
		t.Fatalf("over the limit: %v", err)
	}
	if _, err := svc.Login(ctx, "x", "y-password", "10.0.0.10:1"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("another address throttled too: %v", err)
	}
}

func TestBearerTokensStoredHashed(t *testing.T) {
	ctx := context.Background()
	v := openVault(t)
	svc := auth.New(v.State("auth"), v, auth.Options{})
	secret, err := svc.AddToken(ctx, "central-hq")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	v.State("auth").Scan("", func(k string, val []byte) bool {
		if contains(k, secret) || contains(string(val), secret) {
			t.Errorf("token secret stored in clear under %s", k)
		}
		found = found || len(k) > 6 && k[:6] == "token/"
		return true
	})
	if !found {
		t.Fatal("no token stored")
	}
	r := httptest.NewRequest("GET", "/api/v1/items", nil)
	r.Header.Set("Authorization", "Bearer "+secret)
	p, sess, ok := svc.Authenticate(r)
	if !ok || p.Role != auth.RoleCentral || sess != nil {
		t.Fatalf("bearer: %v %v %v", p, sess, ok)
	}
	r.Header.Set("Authorization", "Bearer "+secret+"x")
	if _, _, ok := svc.Authenticate(r); ok {
		t.Fatal("wrong token accepted")
	}
	if err := svc.RevokeToken(ctx, secret); err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Authorization", "Bearer "+secret)
	if _, _, ok := svc.Authenticate(r); ok {
		t.Fatal("revoked token accepted")
	}
}

func reqWithCookie(token string) *http.Request {
	r := httptest.NewRequest("GET", "/api/v1/me", nil)
	r.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: token})
	return r
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
