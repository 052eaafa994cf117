package adobesim

import (
	"crypto/rand"
	"crypto/subtle"
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

// bearerStore remembers the access tokens minted and when each expires.
type bearerStore struct {
	mu     sync.RWMutex
	expiry map[string]time.Time
	// sweepAt is the size at which expired tokens are next swept out.
	sweepAt int
}

func newBearerStore() *bearerStore {
	return &bearerStore{expiry: map[string]time.Time{}, sweepAt: 1024}
}

// mint makes a new access token valid until now+lifetime. rand.Text gives
// 128 random bits, which nobody guesses.
func (b *bearerStore) mint(now time.Time, lifetime time.Duration) string {
	token := rand.Text()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.expiry) >= b.sweepAt {
		maps.DeleteFunc(b.expiry, func(_ string, exp time.Time) bool { return !now.Before(exp) })
		b.sweepAt = max(1024, 2*len(b.expiry))
	}
	b.expiry[token] = now.Add(lifetime)
	return token
}

// valid reports whether token was minted here, is unexpired and has not
// been revoked.
func (b *bearerStore) valid(token string, now time.Time) bool {
	if token == "" {
		return false
	}
	b.mu.RLock()
	exp, ok := b.expiry[token]
	b.mu.RUnlock()
	return ok && now.Before(exp)
}

// revoke forgets every token minted so far and says how many there were.
func (b *bearerStore) revoke() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(b.expiry)
	b.expiry = map[string]time.Time{}
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
	if refusal := s.checkGrant(w, r); refusal != nil {
		s.fetchFailures.Add(1)
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "token request refused",
			slog.String("error_code", refusal.Error),
			slog.String("client_id", r.PostForm.Get("client_id")))
		writeJSON(w, http.StatusBadRequest, refusal)
		return
	}

	now := time.Now()
	token := s.bearers.mint(now, s.cfg.TokenLifetime)
	s.fetches.Add(1)
	s.log.LogAttrs(r.Context(), slog.LevelDebug, "token minted",
		slog.String("client_id", s.cfg.ClientID),
		slog.Duration("lifetime", s.cfg.TokenLifetime))
	writeJSON(w, http.StatusOK, tokenGrant{
		AccessToken: token,
		TokenType:   "bearer",
		ExpiresIn:   int64((s.cfg.TokenLifetime + time.Second - 1) / time.Second),
	})
}

// checkGrant returns why a token request is refused, or nil.
func (s *Simulator) checkGrant(w http.ResponseWriter, r *http.Request) *tokenError {
	query := r.URL.Query()
	if query.Has("client_id") || query.Has("client_secret") {
		return &tokenError{"invalid_request",
			"client credentials belong in the form body, not in the query string"}
	}
	media, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if media != "application/x-www-form-urlencoded" {
		return &tokenError{"invalid_request",
			"the body must be application/x-www-form-urlencoded"}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return &tokenError{"invalid_request", "the form body could not be read"}
	}

	form := r.PostForm
	if form.Get("grant_type") != "client_credentials" {
		return &tokenError{"unsupported_grant_type", "grant_type must be client_credentials"}
	}
	id, secret := form.Get("client_id"), form.Get("client_secret")
	if id == "" || secret == "" {
		return &tokenError{"invalid_request", "client_id and client_secret are required"}
	}
	if !s.knownClient(id, secret) {
		return &tokenError{"invalid_client", "unknown client_id or wrong client_secret"}
	}
	return nil
}

// knownClient compares in constant time, and tries every secret so the
// time taken does not tell which one came close.
func (s *Simulator) knownClient(id, secret string) bool {
	ok := subtle.ConstantTimeCompare([]byte(id), []byte(s.cfg.ClientID)) == 1
	match := 0
	for _, want := range s.cfg.ClientSecrets {
		match |= subtle.ConstantTimeCompare([]byte(secret), []byte(want))
	}
	return ok && match == 1
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
