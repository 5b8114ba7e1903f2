package auth

import (
	"errors"
	"fmt"
)

// Policy is the station's login policy: the configuration section "auth".
type Policy struct {
	// MFARequiredRoles log in with a password and a second factor (an
	// authenticator app's code or a security key); an account of such a
	// role without one enrols at its next login. CJIS (AAL2) asks it of
	// everyone who can see criminal justice information.
	MFARequiredRoles []Role `yaml:"mfa_required_roles"`
}

// DefaultPolicy asks a second factor of admins and investigators.
func DefaultPolicy() Policy {
	return Policy{MFARequiredRoles: []Role{RoleAdmin, RoleInvestigator}}
}

// Validate names a role that is not a person's.
func (p Policy) Validate() error {
	var errs []error
	for i, r := range p.MFARequiredRoles {
		if _, err := ParseRole(string(r)); err != nil {
			errs = append(errs, fmt.Errorf("'mfa_required_roles[%d]': %w", i, err))
		}
	}
	return errors.Join(errs...)
}
