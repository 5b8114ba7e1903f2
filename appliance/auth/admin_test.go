package auth_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/edgetriage/edgetriage/appliance/auth"
	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
)

// clock is a settable time for the service.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *clock) add(d time.Duration) { c.ns.Add(int64(d)) }
func eventsBy(t *testing.T, v *vault.Vault, actor evidence.Actor) []evidence.CustodyEvent {
	t.Helper()
	var out []evidence.CustodyEvent
	if err := v.Events(1, func(e evidence.CustodyEvent) bool {
		if e.Actor == actor {
			out = append(out, e)
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// Every change of an account is on the record, with who made it.
func TestAccountChangesAreCustodyEvents(t *testing.T) {
	ctx := context.Background()
	v := openVault(t)
	svc := auth.New(v.State("auth"), v, auth.Options{})
	const by = evidence.Actor("user:ada")
	steps := []func() error{
		func() error { return svc.AddUser(ctx, by, "bob", auth.RoleStaff, "long enough password") },
		func() error { return svc.SetPassword(ctx, by, "bob", "another long password") },
		func() error { return svc.SetRole(ctx, by, "bob", auth.RoleInvestigator) },
		func() error { return svc.SetDisabled(ctx, by, "bob", true) },
		func() error { return svc.SetDisabled(ctx, by, "bob", false) },
		func() error { return svc.ResetMFA(ctx, by, "bob") },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i+1, err)
		}
	}
	var got []string
	for _, e := range eventsBy(t, v, by) {
		got = append(got, string(e.Action)+":"+e.Details["user"]+":"+e.Details["change"])
	}
	want := []string{"account-created:bob:", "account-changed:bob:password", "account-changed:bob:role",
		"account-changed:bob:disabled", "account-changed:bob:enabled", "mfa-reset:bob:"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("custody events\n got %v\nwant %v", got, want)
	}
	if err := svc.SetRole(ctx, by, "bob", auth.RoleCentral); err == nil {
		t.Fatal("a person given the central role")
	}
	if err := svc.SetPassword(ctx, by, "nobody", "long enough password"); !errors.Is(err, auth.ErrNoUser) {
		t.Fatalf("password of an unknown account: %v", err)
	}
}

// A restart of the daemon keeps people logged in; the store holds nothing
// that logs anyone in, and ended sessions stay ended.
func TestSessionsSurviveRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	clk := newClock()
	open := func() (*vault.Vault, *auth.Service) {
		v, err := vault.Open(ctx, dir, vault.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return v, auth.New(v.State("auth"), v, auth.Options{Now: clk.now})
	}
	v, svc := open()
	if err := svc.AddUser(ctx, "appliance:test", "sam", auth.RoleStaff, "long enough password"); err != nil {
		t.Fatal(err)
	}
	kept, err := svc.Login(ctx, "sam", "long enough password", "10.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	ended, _ := svc.Login(ctx, "sam", "long enough password", "10.0.0.1:2")
	svc.Logout(ctx, ended.Token)
	v.State("auth").Scan("session/", func(k string, val []byte) bool {
		for _, secret := range []string{kept.Token, kept.CSRF} {
			if strings.Contains(k+string(val), secret) {
				t.Errorf("a session secret stored in clear under %s", k)
			}
		}
		return true
	})
	v.Close()

	clk.add(10 * time.Minute)
	v, svc = open()
	defer v.Close()
	r := reqWithCookie(kept.Token)
	p, sess, ok := svc.Authenticate(r)
	if !ok || p.Name != "sam" || sess.Stage != auth.StageFull {
		t.Fatalf("session after restart: %v %v", p, ok)
	}
	r.Header.Set(auth.CSRFHeader, kept.CSRF)
	if err := auth.CheckCSRF(r, sess); err != nil {
		t.Fatalf("CSRF token after restart: %v", err)
	}
	r.Header.Set(auth.CSRFHeader, kept.CSRF+"x")
	if err := auth.CheckCSRF(r, sess); err == nil {
		t.Fatal("a wrong CSRF token accepted after restart")
	}
	if _, ok := svc.Session(ended.Token); ok {
		t.Fatal("a logged-out session came back after restart")
	}
	clk.add(31 * time.Minute)
	if _, ok := svc.Session(kept.Token); ok {
		t.Fatal("a session idle for 31 minutes still works")
	}
	if list, _ := svc.Sessions(); len(list) != 0 {
		t.Fatalf("ended sessions listed: %+v", list)
	}
}

// Disabling an account ends its sessions everywhere: the one in memory
// (its Done closes) and one only in the store.
func TestDisableEndsStoredSessions(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	v, err := vault.Open(ctx, dir, vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	first := auth.New(v.State("auth"), v, auth.Options{})
	if err := first.AddUser(ctx, "appliance:test", "sam", auth.RoleStaff, "long enough password"); err != nil {
		t.Fatal(err)
	}
	old, _ := first.Login(ctx, "sam", "long enough password", "10.0.0.1:1")
	// A second service over the same store stands in for the daemon after
	// a restart: it knows the old session only from the store.
	svc := auth.New(v.State("auth"), v, auth.Options{})
	live, _ := svc.Login(ctx, "sam", "long enough password", "10.0.0.1:1")
	if err := svc.SetDisabled(ctx, "user:ada", "sam", true); err != nil {
		t.Fatal(err)
	}
	select {
	case <-live.Done():
	default:
		t.Fatal("disabling sam did not end his live session")
	}
	if _, ok := svc.Session(old.Token); ok {
		t.Fatal("sam's stored session survived his account being disabled")
	}
}

// TOTP: enrolment proves the authenticator holds the secret; a login then
// needs a code, each code works once, recovery codes work once each.
func TestTOTPLogin(t *testing.T) {
	ctx := context.Background()
	v := openVault(t)
	clk := newClock()
	svc := auth.New(v.State("auth"), v, auth.Options{Now: clk.now, MFARequired: []auth.Role{auth.RoleInvestigator}})
	if err := svc.AddUser(ctx, "appliance:test", "ivy", auth.RoleInvestigator, "long enough password"); err != nil {
		t.Fatal(err)
	}
	pending, err := svc.Login(ctx, "ivy", "long enough password", "10.0.0.1:1")
	if err != nil || pending.Stage != auth.StageEnrol {
		t.Fatalf("first login of an investigator without a second factor: stage %q, %v", pending.Stage, err)
	}
	if _, err := svc.ConfirmTOTP(ctx, "user:ivy", "ivy", "123456"); !errors.Is(err, auth.ErrNoPendingTOTP) {
		t.Fatalf("confirm before begin: %v", err)
	}
	enr, err := svc.BeginTOTP(ctx, "ivy")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enr.URL, "otpauth://totp/") || len(enr.QRPNG) == 0 {
		t.Fatalf("enrolment %q, %d bytes of QR", enr.URL, len(enr.QRPNG))
	}
	code := func() string {
		c, err := totp.GenerateCode(enr.Secret, clk.now())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if _, err := svc.ConfirmTOTP(ctx, "user:ivy", "ivy", "000000"); !errors.Is(err, auth.ErrBadCode) {
		t.Fatalf("confirm with a wrong code: %v", err)
	}
	recovery, err := svc.ConfirmTOTP(ctx, "user:ivy", "ivy", code())
	if err != nil || len(recovery) != 10 {
		t.Fatalf("confirm: %d recovery codes, %v", len(recovery), err)
	}
	full, err := svc.CompleteEnrolment(ctx, pending, "10.0.0.1:1")
	if err != nil || full.Stage != auth.StageFull {
		t.Fatalf("complete enrolment: %v", err)
	}
	if _, ok := svc.Session(pending.Token); ok {
		t.Fatal("the enrolling session outlived the enrolment")
	}

	// The code that confirmed the enrolment cannot log in.
	login := func() *auth.Session {
		s, err := svc.Login(ctx, "ivy", "long enough password", "10.0.0.1:1")
		if err != nil || s.Stage != auth.StageSecondFactor {
			t.Fatalf("password step: stage %q, %v", s.Stage, err)
		}
		return s
	}
	p := login()
	if _, err := svc.SecondFactor(ctx, p, code(), "10.0.0.1:1"); !errors.Is(err, auth.ErrBadCode) {
		t.Fatalf("the enrolment's code reused: %v", err)
	}
	clk.add(30 * time.Second)
	used := code()
	if _, err := svc.SecondFactor(ctx, p, used, "10.0.0.1:1"); err != nil {
		t.Fatalf("a fresh code: %v", err)
	}
	if _, err := svc.SecondFactor(ctx, login(), used, "10.0.0.1:1"); !errors.Is(err, auth.ErrBadCode) {
		t.Fatalf("a used code again: %v", err)
	}
	if _, err := svc.SecondFactor(ctx, login(), recovery[3], "10.0.0.1:1"); err != nil {
		t.Fatalf("a recovery code: %v", err)
	}
	if _, err := svc.SecondFactor(ctx, login(), strings.ToUpper(recovery[3]), "10.0.0.1:1"); !errors.Is(err, auth.ErrBadCode) {
		t.Fatalf("a recovery code twice: %v", err)
	}

	// Five wrong codes end the pending login.
	p = login()
	for range 5 {
		clk.add(20 * time.Second) // past the throttle's delays
		svc.SecondFactor(ctx, p, "999999", "10.0.0.1:1")
	}
	clk.add(20 * time.Second)
	if _, err := svc.SecondFactor(ctx, p, code(), "10.0.0.1:1"); !errors.Is(err, auth.ErrLoginEnded) {
		t.Fatalf("a pending login given a right code after five wrong ones: %v", err)
	}

	var factors []string
	for _, e := range eventsBy(t, v, "user:ivy") {
		if e.Action == evidence.ActionLogin {
			factors = append(factors, e.Details["factors"])
		}
		if e.Action == evidence.ActionMFAEnrolled && e.Details["factor"] != "totp" {
			t.Errorf("enrolment event %v", e.Details)
		}
	}
	if got := strings.Join(factors, " "); got != "password+totp password+totp password+recovery-code" {
		t.Fatalf("login events' factors: %s", got)
	}
}
