package appliance

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"

	"github.com/edgetriage/edgetriage/appliance/auth"
)

// firstAdmin makes an "admin" account with a random password when the
// appliance has no accounts yet, so a fresh `make run` can be logged into.
// The password is shown once, in the log, and never stored in clear.
func (d *Daemon) firstAdmin(ctx context.Context) error {
	users, err := d.auth.Users()
	if err != nil || len(users) > 0 {
		return err
	}
	raw := make([]byte, 15)
	rand.Read(raw)
	password := base64.RawURLEncoding.EncodeToString(raw)
	if err := d.auth.AddUser(ctx, "admin", auth.RoleAdmin, password); err != nil {
		return fmt.Errorf("first admin: %w", err)
	}
	d.log.Warn("first start: created the admin account; this password is shown only now, change it with 'edgetriage user passwd'",
		"user", "admin", "password", password)
	return nil
}
