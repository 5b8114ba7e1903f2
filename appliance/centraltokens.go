package appliance

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
)

// Central clients authenticate with a bearer token made once by an admin
// (`edgetriage central add NAME`). Only its SHA-256 is stored, so the index
// never holds a usable token.
const centralState = "central-clients"

type centralClient struct {
	Name      string    `json:"name"`
	TokenHash string    `json:"token_sha256"`
	Created   time.Time `json:"created"`
	Disabled  bool      `json:"disabled,omitempty"`
}

var clientName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// AddCentralClient registers a central client and returns its token, which
// is shown once and never stored.
func AddCentralClient(ctx context.Context, v *vault.Vault, name string, actor evidence.Actor) (string, error) {
	if !clientName.MatchString(name) {
		return "", fmt.Errorf("central client name %q: use 1-63 lowercase letters, digits, '.', '_' or '-'", name)
	}
	kv := v.State(centralState)
	if existing, err := kv.Get(name); err != nil || existing != nil {
		return "", errors.Join(err, fmt.Errorf("central client %q already exists", name))
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	token := "etc_" + name + "_" + hex.EncodeToString(secret)
	sum := evidence.DigestBytes([]byte(token))
	rec, _ := json.Marshal(centralClient{Name: name, TokenHash: sum.String(), Created: time.Now().UTC()})
	if err := kv.Put(ctx, name, rec); err != nil {
		return "", err
	}
	_, err := v.Append(ctx, evidence.CustodyEvent{Actor: actor, Action: evidence.ActionRecordChanged,
		Details: map[string]string{"central_client": name, "change": "added"}})
	return token, err
}

// CentralTokenAuth checks bearer tokens against the registered clients.
func CentralTokenAuth(v *vault.Vault) CentralAuth {
	return func(r *http.Request) (string, bool) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !strings.HasPrefix(token, "etc_") {
			return "", false
		}
		name := strings.TrimPrefix(token, "etc_")
		if i := strings.LastIndexByte(name, '_'); i > 0 {
			name = name[:i]
		}
		raw, err := v.State(centralState).Get(name)
		if err != nil || raw == nil {
			return "", false
		}
		var c centralClient
		if json.Unmarshal(raw, &c) != nil || c.Disabled {
			return "", false
		}
		sum := evidence.DigestBytes([]byte(token)).String()
		if subtle.ConstantTimeCompare([]byte(sum), []byte(c.TokenHash)) != 1 {
			return "", false
		}
		return c.Name, true
	}
}
