package auth

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// storedSession is a session as kept in the store: its cookie and CSRF
// token only as hashes, so the index gives nobody a way in.
type storedSession struct {
	Name     string    `json:"name"`
	Role     Role      `json:"role"`
	Stage    Stage     `json:"stage,omitempty"`
	CSRF     string    `json:"csrf_sha256"`
	Created  time.Time `json:"created"`
	Expires  time.Time `json:"expires"`
	LastSeen time.Time `json:"last_seen"`
}

const sessionPrefix = "session/"

func (s *Service) storeSession(ctx context.Context, sess *Session) error {
	s.mu.Lock()
	rec := storedSession{Name: sess.Name, Role: sess.Role, Stage: sess.Stage, CSRF: hex.EncodeToString(sess.csrfHash[:]),
		Created: sess.Created.UTC(), Expires: sess.Expires.UTC(), LastSeen: sess.lastSeen.UTC()}
	s.mu.Unlock()
	raw, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode session of %s: %w", sess.Name, err)
	}
	if err := s.store.Put(ctx, sessionPrefix+sess.id, raw); err != nil {
		return fmt.Errorf("store session of %s: %w", sess.Name, err)
	}
	return nil
}

// loadSession reads a stored session back; nil when there is none.
func (s *Service) loadSession(id string) (*Session, error) {
	raw, err := s.store.Get(sessionPrefix + id)
	if err != nil || raw == nil {
		return nil, err
	}
	var rec storedSession
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, fmt.Errorf("decode session: %w", err)
	}
	sess := &Session{Principal: Principal{Name: rec.Name, Role: rec.Role}, Stage: rec.Stage, Created: rec.Created,
		Expires: rec.Expires, id: id, lastSeen: rec.LastSeen, savedAt: rec.LastSeen, done: make(chan struct{})}
	csrf, err := hex.DecodeString(rec.CSRF)
	if err != nil || len(csrf) != len(sess.csrfHash) {
		return nil, fmt.Errorf("session of %s: bad CSRF hash", rec.Name)
	}
	copy(sess.csrfHash[:], csrf)
	return sess, nil
}

func (s *Service) forgetStored(ctx context.Context, ids []string) {
	for _, id := range ids {
		if err := s.store.Delete(context.WithoutCancel(ctx), sessionPrefix+id); err != nil {
			s.opt.Logger.Error("forget ended session", "err", err)
		}
	}
}

// storedSessionsOf lists the ids of an account's stored sessions.
func (s *Service) storedSessionsOf(name string) ([]string, error) {
	var ids []string
	err := s.store.Scan(sessionPrefix, func(key string, val []byte) bool {
		var rec storedSession
		if json.Unmarshal(val, &rec) == nil && rec.Name == name {
			ids = append(ids, strings.TrimPrefix(key, sessionPrefix))
		}
		return true
	})
	return ids, err
}

// sweepStored deletes stored sessions past their lifetimes, which a
// restart left behind with nobody to end them.
func (s *Service) sweepStored(ctx context.Context) error {
	now := s.opt.Now()
	var ended []string
	err := s.store.Scan(sessionPrefix, func(key string, val []byte) bool {
		var rec storedSession
		if json.Unmarshal(val, &rec) != nil || now.After(rec.Expires) || now.Sub(rec.LastSeen) > s.opt.IdleTTL {
			ended = append(ended, strings.TrimPrefix(key, sessionPrefix))
		}
		return true
	})
	s.end(ctx, ended...)
	return err
}

// SessionInfo is a live session as an admin sees it (never its secrets).
type SessionInfo struct {
	Name     string    `json:"user"`
	Role     Role      `json:"role"`
	Stage    Stage     `json:"stage,omitempty"`
	Created  time.Time `json:"created"`
	Expires  time.Time `json:"expires"`
	LastSeen time.Time `json:"last_seen"`
}

// Sessions lists the stored sessions that have not ended.
func (s *Service) Sessions() ([]SessionInfo, error) {
	now := s.opt.Now()
	var out []SessionInfo
	err := s.store.Scan(sessionPrefix, func(_ string, val []byte) bool {
		var rec storedSession
		if json.Unmarshal(val, &rec) == nil && !now.After(rec.Expires) && now.Sub(rec.LastSeen) <= s.opt.IdleTTL {
			out = append(out, SessionInfo{Name: rec.Name, Role: rec.Role, Stage: rec.Stage, Created: rec.Created, Expires: rec.Expires, LastSeen: rec.LastSeen})
		}
		return true
	})
	return out, err
}
