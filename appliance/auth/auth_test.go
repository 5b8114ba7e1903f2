package auth_test

import (
	"context"
	"errors"
	"fmt"
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
	if err := svc.AddUser(ctx, "appliance:test", "alice", auth.RoleInvestigator, "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	if err := svc.AddUser(ctx, "appliance:test", "alice", auth.RoleStaff, "another password"); !errors.Is(err, auth.ErrExists) {
		t.Fatalf("second alice: %v", err)
	}
	sess, err := svc.Login(ctx, "alice", "correct horse battery", "127.0.0.1:5000")
	if err != nil {
		t.Fatalf("good login: %v", err)
	}
	if p, _, ok := svc.Authenticate(reqWithCookie(sess.Token)); !ok || p.Name != "alice" || p.Role != auth.RoleInvestigator {
		t.Fatalf("session not recognised: %v %v", p, ok)
	}
	// Guessing from one desk: progressive delays, then that desk is locked
	// out of that name - for a name that exists or not alike.
	guess := func(name, password string) error {
		now.Add(int64(31 * time.Second))
		_, err := svc.Login(ctx, name, password, "10.9.9.9:5000")
		return err
	}
	for _, name := range []string{"alice", "nobody"} {
		for i := range 10 {
			if err := guess(name, "wrong password"); !errors.Is(err, auth.ErrBadCredentials) {
				t.Fatalf("%s: wrong password %d: %v", name, i+1, err)
			}
		}
		if err := guess(name, "correct horse battery"); !errors.Is(err, auth.ErrLocked) {
			t.Fatalf("%s: after ten wrong guesses: %v, want the same lockout whether the name exists or not", name, err)
		}
	}
	now.Add(int64(time.Second))
	if _, err := svc.Login(ctx, "alice", "wrong password", "10.8.8.8:1"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("a typo from another desk: %v", err)
	}
	_, err = svc.Login(ctx, "alice", "correct horse battery", "10.8.8.8:1")
	if err != nil {
		t.Fatalf("alice at her own desk while another address is locked out of her name: %v", err)
	}
	now.Add(int64(16 * time.Minute))
	if err := guess("alice", "correct horse battery"); err != nil {
		t.Fatalf("after the lock expired: %v", err)
	}
	if err := svc.FlushFailures(ctx, true); err != nil {
		t.Fatal(err)
	}
	results, failures := map[string]int{}, map[string]string{}
	for _, e := range loginEvents(t, v) {
		results[e.Details["result"]]++
		if e.Details["result"] == "failures" {
			failures[e.Details["remote"]] = e.Details["count"]
			continue
		}
		if e.Actor != "user:alice" {
			t.Errorf("login event actor %q", e.Actor)
		}
	}
	if results["success"] != 3 || failures["10.9.9.9"] == "" || failures["10.8.8.8"] != "1" {
		t.Fatalf("audited logins %v, failures per address %v", results, failures)
	}
}

// A flood of failed logins from one address costs the chain one event a
// minute, not one per attempt.
func TestFailedLoginFloodHasBoundedCustodyCost(t *testing.T) {
	ctx := context.Background()
	v := openVault(t)
	svc := auth.New(v.State("auth"), v, auth.Options{})
	if err := svc.AddUser(ctx, "appliance:test", "admin", auth.RoleAdmin, "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	before, _ := v.Head()
	for i := range 100000 {
		if _, err := svc.Login(ctx, "admin", fmt.Sprintf("guess %d", i), "10.6.6.6:4444"); err == nil {
			t.Fatal("a guess logged in")
		}
	}
	if err := svc.FlushFailures(ctx, true); err != nil {
		t.Fatal(err)
	}
	after, _ := v.Head()
	if grown := after.Seq - before.Seq; grown > 3 {
		t.Fatalf("100000 failed logins grew the chain by %d events", grown)
	}
	evs := loginEvents(t, v)
	if last := evs[len(evs)-1]; last.Details["count"] != "100000" || last.Details["remote"] != "10.6.6.6" {
		t.Fatalf("summary event %v", last.Details)
	}
	if _, err := svc.Login(ctx, "admin", "correct horse battery", "10.1.1.1:1"); err != nil {
		t.Fatalf("the admin from another address after the flood: %v", err)
	}
}

func TestUnknownUserAndDisabled(t *testing.T) {
	ctx := context.Background()
	v := openVault(t)
	svc := auth.New(v.State("auth"), v, auth.Options{})
	if _, err := svc.Login(ctx, "nobody", "whatever-password", "10.0.0.1:1"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("unknown user: %v", err)
	}
	if err := svc.AddUser(ctx, "appliance:test", "bob", auth.RoleStaff, "short"); err == nil {
		t.Fatal("short password accepted")
	}
	if err := svc.AddUser(ctx, "appliance:test", "bob", auth.RoleStaff, "long enough password"); err != nil {
		t.Fatal(err)
	}
	sess, err := svc.Login(ctx, "bob", "long enough password", "10.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.SetDisabled(ctx, "appliance:test", "bob", true); err != nil {
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
	secret, _, err := svc.AddToken(ctx, "user:admin", "central-hq", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.AddToken(ctx, "user:admin", "central-hq", 0); !errors.Is(err, auth.ErrExists) {
		t.Fatalf("a second token of the same name: %v", err)
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
	if toks, err := svc.Tokens(); err != nil || len(toks) != 1 || toks[0].Name != "central-hq" || toks[0].Expires.IsZero() {
		t.Fatalf("token list %+v %v", toks, err)
	}
	if err := svc.RevokeToken(ctx, "user:admin", "central-hq"); err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Authorization", "Bearer "+secret)
	if _, _, ok := svc.Authenticate(r); ok {
		t.Fatal("revoked token accepted")
	}
	var actions []evidence.Action
	v.Events(1, func(e evidence.CustodyEvent) bool {
		if e.Actor == "user:admin" {
			actions = append(actions, e.Action)
		}
		return true
	})
	if len(actions) != 2 || actions[0] != evidence.ActionTokenIssued || actions[1] != evidence.ActionTokenRevoked {
		t.Fatalf("token custody events %v", actions)
	}
}

func TestTokensExpire(t *testing.T) {
	ctx := context.Background()
	v := openVault(t)
	var now atomic.Int64
	now.Store(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC).UnixNano())
	svc := auth.New(v.State("auth"), v, auth.Options{Now: func() time.Time { return time.Unix(0, now.Load()) }})
	secret, _, err := svc.AddToken(ctx, "user:admin", "hq", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := svc.Bearer(secret); !ok {
		t.Fatal("fresh token refused")
	}
	now.Add(int64(time.Hour))
	if _, ok := svc.Bearer(secret); ok {
		t.Fatal("expired token accepted")
	}
}

func reqWithCookie(token string) *http.Request {
	r := httptest.NewRequest("GET", "/api/v1/me", nil)
	r.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: token})
	return r
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
