package adobesim

import (
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"
)

// maxFormBytes caps the body of a token request.
const maxFormBytes = 64 << 10

// bearerStore remembers the access tokens minted, the client each was
// minted for and when each expires.
type bearerStore struct {
	mu      sync.RWMutex
	bearers map[string]bearer
	// sweepAt is the size at which expired tokens are next swept out.
	sweepAt int
}

// bearer is what a minted token stands for.
type bearer struct {
	client *Client
	expiry time.Time
}

func newBearerStore() *bearerStore {
	return &bearerStore{bearers: map[string]bearer{}, sweepAt: 1024}
}

// mint makes a new access token of client's, valid until now+lifetime.
// rand.Text gives 128 random bits, which nobody guesses.
func (b *bearerStore) mint(client *Client, now time.Time, lifetime time.Duration) string {
	token := rand.Text()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.bearers) >= b.sweepAt {
		maps.DeleteFunc(b.bearers, func(_ string, v bearer) bool { return !now.Before(v.expiry) })
		b.sweepAt = max(1024, 2*len(b.bearers))
	}
	b.bearers[token] = bearer{client: client, expiry: now.Add(lifetime)}
	return token
}

// clientOf returns the client token was minted for, or nil unless token was
// minted here, is unexpired and has not been revoked.
func (b *bearerStore) clientOf(token string, now time.Time) *Client {
	if token == "" {
		return nil
	}
	b.mu.RLock()
	v, ok := b.bearers[token]
	b.mu.RUnlock()
	if !ok || !now.Before(v.expiry) {
		return nil
	}
	return v.client
}

// revoke forgets every token minted so far and says how many there were.
func (b *bearerStore) revoke() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(b.bearers)
	b.bearers = map[string]bearer{}
	b.sweepAt = 1024
	return n
}

// tokenGrant is the IMS answer to a good token request.
type tokenGrant struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

// tokenError is the IMS answer to a bad token request.
type tokenError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// serveToken plays IMS's POST /ims/token/v3 for the client credentials
// grant.
func (s *Simulator) serveToken(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	client, refusal := s.checkGrant(w, r)
	if refusal != nil {
		s.fetchFailures.Add(1)
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "token request refused",
			slog.String("error_code", refusal.Error),
			slog.String("client_id", r.PostForm.Get("client_id")))
		writeJSON(w, http.StatusBadRequest, refusal)
		return
	}

	now := time.Now()
	token := s.bearers.mint(client, now, s.cfg.TokenLifetime)
	s.fetches.Add(1)
	s.log.LogAttrs(r.Context(), slog.LevelDebug, "token minted",
		slog.String("client_id", client.ID),
		slog.Duration("lifetime", s.cfg.TokenLifetime))
	writeJSON(w, http.StatusOK, tokenGrant{
		AccessToken: token,
		TokenType:   "bearer",
		ExpiresIn:   int64((s.cfg.TokenLifetime + time.Second - 1) / time.Second),
	})
}

// checkGrant returns the client a token request comes from, or why it is
// refused.
func (s *Simulator) checkGrant(w http.ResponseWriter, r *http.Request) (*Client, *tokenError) {
	query := r.URL.Query()
	if query.Has("client_id") || query.Has("client_secret") {
		return nil, &tokenError{"invalid_request",
			"client credentials belong in the form body, not in the query string"}
	}
	media, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if media != "application/x-www-form-urlencoded" {
		return nil, &tokenError{"invalid_request",
			"the body must be application/x-www-form-urlencoded"}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return nil, &tokenError{"invalid_request", "the form body could not be read"}
	}

	form := r.PostForm
	if form.Get("grant_type") != "client_credentials" {
		return nil, &tokenError{"unsupported_grant_type", "grant_type must be client_credentials"}
	}
	id, secret := form.Get("client_id"), form.Get("client_secret")
	if id == "" || secret == "" {
		return nil, &tokenError{"invalid_request", "client_id and client_secret are required"}
	}
	client := s.clientFor(id, secret)
	if client == nil {
		return nil, &tokenError{"invalid_client", "unknown client_id or wrong client_secret"}
	}
	return client, nil
}

// bearerToken takes the token out of an Authorization header; the scheme
// name is case-insensitive.
func bearerToken(header string) string {
	const scheme = "bearer "
	if len(header) <= len(scheme) || !strings.EqualFold(header[:len(scheme)], scheme) {
		return ""
	}
	return strings.TrimSpace(header[len(scheme):])
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header()["Content-Type"] = jsonType
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
