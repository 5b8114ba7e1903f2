package appliance

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"

	"github.com/edgetriage/edgetriage/appliance/auth"
	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// FirstAdminPasswordFile is where, under the data directory, the first
// admin's password is left for whoever installed the appliance.
const FirstAdminPasswordFile = "first-admin-password"

// firstAdmin makes an "admin" account with a random password when the
// appliance has no accounts yet, so a fresh `make run` can be logged into.
// The password goes to a file only root and the daemon can read
// (DATA/first-admin-password, 0600) and to the terminal when there is one;
// never to the log, which is shipped and kept.
func (d *Daemon) firstAdmin(ctx context.Context) error {
	users, err := d.auth.Users()
	if err != nil || len(users) > 0 {
		return err
	}
	raw := make([]byte, 15)
	rand.Read(raw)
	password := base64.RawURLEncoding.EncodeToString(raw)
	path := filepath.Join(d.cfg.DataDir, FirstAdminPasswordFile)
	if err := os.WriteFile(path, []byte(password+"\n"), 0o600); err != nil {
		return fmt.Errorf("first admin: %w", err)
	}
	if err := d.auth.AddUser(ctx, "appliance", "admin", auth.RoleAdmin, password); err != nil {
		return fmt.Errorf("first admin: %w", err)
	}
	d.log.Warn("first start: created the admin account; its password is in a file only root can read: log in, change it, delete the file",
		"user", "admin", "password_file", path)
	if d.Terminal != nil {
		fmt.Fprintf(d.Terminal, "\nfirst start: the admin account's password is %s (also in %s)\n\n", password, path)
	}
	return nil
}

// checkKey refuses to run with a signing key other than the one pinned in
// the configuration, and shows the key's fingerprint: on first start
// prominently, so that an admin writes it down outside the appliance.
func (d *Daemon) checkKey() error {
	fp := evidence.Fingerprint(d.vault.PublicKey())
	if d.cfg.KeyFingerprint != "" {
		if pinned, err := evidence.ParseFingerprint(d.cfg.KeyFingerprint); err != nil || pinned != fp {
			return fmt.Errorf("key_fingerprint: the vault in %s signs with key %s, not the pinned %s: refusing to start", d.cfg.DataDir, fp, d.cfg.KeyFingerprint)
		}
	}
	if !d.vault.KeyCreated() {
		d.log.Info("appliance signing key", "fingerprint", fp)
		return nil
	}
	d.log.Warn("first start: made the appliance's signing key; write its fingerprint down outside the appliance (verify --fingerprint, central's fleet list, key_fingerprint)", "fingerprint", fp)
	if d.Terminal != nil {
		fmt.Fprintf(d.Terminal, "\nfirst start: the appliance's signing key fingerprint is\n  %s\nwrite it down outside the appliance: verify and central pin it.\n", fp)
	}
	return nil
}
