package adobesim

import (
	"cmp"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/callback-dispatcher/dispatcher/pkg/callback"
)

// Defaults for the Config fields left empty.
const (
	// DefaultClientID is the client_id accepted when Config.ClientID is empty.
	DefaultClientID = "sim-client"
	// DefaultClientSecret is the secret accepted when Config.ClientSecrets
	// is empty.
	DefaultClientSecret = "sim-secret"
	// DefaultTokenLifetime is Adobe's: about a day.
	DefaultTokenLifetime = 24 * time.Hour
	// DefaultKeepBodies is how many recent records keep their body.
	DefaultKeepBodies = 10000
)

// MaxBodyBytes caps a callback body; Adobe documents no limit.
const MaxBodyBytes = 1 << 20

// Config sets up a Simulator. The zero Config is ready to use.
type Config struct {
	// ClientID is the client_id of the default client; DefaultClientID
	// when empty. When Clients is set, the default client exists only if
	// ClientID or ClientSecrets is given.
	ClientID string
	// ClientSecrets are the secrets accepted with ClientID. More than one
	// models a secret being rotated; DefaultClientSecret when empty.
	ClientSecrets []string
	// Clients are more credentials, besides the default client, each with
	// its own secrets and, optionally, orgs: several IMS profiles of a
	// worker. A token remembers the client it was minted for.
	Clients []Client
	// TokenLifetime is how long a minted token works, and its expires_in;
	// DefaultTokenLifetime when zero.
	TokenLifetime time.Duration
	// APIKey, when set, is the only X-Api-Key a callback may carry,
	// whatever client its bearer token was minted for. When empty, as on
	// Adobe's gateways, it must be the client id of the bearer token's
	// client.
	APIKey string
	// OrgID, when set, is the only x-gw-ims-org-id accepted; others get 403.
	OrgID string
	// Rules are the fault rules in force at the start and after Reset.
	Rules []Rule
	// KeepBodies is how many of the most recent records keep their body;
	// DefaultKeepBodies when zero, none when negative. Records themselves
	// (about 200 bytes each without the body) and the counts are kept until
	// Reset.
	KeepBodies int
	// Definitions, when set, are the service definitions callbacks are
	// checked against with the producer's own code: a callback is checked
	// against the one definition of its entity type, if exactly one exists.
	Definitions *callback.Registry
	// Logger receives the simulator's logs; nothing is logged when nil. It
	// is never given a bearer token, a client secret or a body.
	Logger *slog.Logger
}

// withDefaults fills in the empty fields and checks the others.
func (c Config) withDefaults() (Config, error) {
	c.ClientSecrets = nonEmpty(c.ClientSecrets)
	if len(c.Clients) == 0 || c.ClientID != "" || len(c.ClientSecrets) > 0 {
		c.ClientID = cmp.Or(c.ClientID, DefaultClientID)
		if len(c.ClientSecrets) == 0 {
			c.ClientSecrets = []string{DefaultClientSecret}
		}
	}
	if c.TokenLifetime < 0 {
		return c, errors.New("token lifetime is negative")
	}
	c.TokenLifetime = cmp.Or(c.TokenLifetime, DefaultTokenLifetime)
	switch {
	case c.KeepBodies == 0:
		c.KeepBodies = DefaultKeepBodies
	case c.KeepBodies < 0:
		c.KeepBodies = 0
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// Record is one request to the callback endpoint, accepted or not.
type Record struct {
	// Token is the X-Callback-Token header.
	Token string `json:"token"`
	// RequestID is the X-Request-Id header.
	RequestID string `json:"requestId"`
	// OrgID is the x-gw-ims-org-id header.
	OrgID string `json:"orgId"`
	// APIKey is the X-Api-Key header.
	APIKey string `json:"apiKey"`
	// ContentType is the Content-Type header.
	ContentType string `json:"contentType"`
	// Body is the body as received, when it was read and the record is one
	// of the most recent Config.KeepBodies.
	Body json.RawMessage `json:"body,omitempty"`
	// Status is the HTTP status answered, or 0 when the connection was
	// dropped without an answer.
	Status int `json:"status"`
	// Accepted reports whether Adobe took the callback. It is true even
	// when the client gave up during a scripted delay and never saw the
	// answer: that is how a resend becomes a duplicate.
	Accepted bool `json:"accepted"`
	// Attempt counts the requests seen with this token, this one included.
	Attempt int `json:"attempt"`
	// At is when the request arrived.
	At time.Time `json:"at"`
	// Problem says why the callback was refused.
	Problem string `json:"problem,omitempty"`
}

// Stats counts what the simulator has seen since it started or was reset.
// Received is always Accepted plus Rejected.
type Stats struct {
	// TokenFetches counts the tokens minted.
	TokenFetches int `json:"tokenFetches"`
	// TokenFailures counts the token requests refused.
	TokenFailures int `json:"tokenFailures"`
	// Received counts requests to the callback endpoint.
	Received int `json:"received"`
	// Accepted counts the callbacks taken, duplicates included.
	Accepted int `json:"accepted"`
	// Duplicates counts the callbacks taken for a token that already had
	// one taken.
	Duplicates int `json:"duplicates"`
	// Rejected counts the requests refused or left without an answer.
	Rejected int `json:"rejected"`
}

// Simulator plays Adobe's token and callback endpoints. It is safe for
// concurrent use.
type Simulator struct {
	cfg           Config
	clients       []*Client
	log           *slog.Logger
	handler       http.Handler
	bearers       *bearerStore
	rules         ruleStore
	calls         *callStore
	fetches       atomic.Int64
	fetchFailures atomic.Int64
}

// New returns a Simulator with cfg's defaults filled in. It fails when a
// rule or a client is bad, naming it and the problem.
func New(cfg Config) (*Simulator, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	clients, err := clientsOf(cfg)
	if err != nil {
		return nil, err
	}
	s := &Simulator{
		cfg:     cfg,
		clients: clients,
		log:     cfg.Logger,
		bearers: newBearerStore(),
		calls:   newCallStore(cfg.KeepBodies),
	}
	if err := s.rules.replace(cfg.Rules); err != nil {
		return nil, err
	}
	s.handler = s.routes()
	return s, nil
}

// Handler returns the HTTP handler that serves every endpoint: the token
// endpoint, the callback endpoint and the /sim/ control endpoints. A close
// step, or a delay cut short by the request's context, takes over and
// closes the connection; where that cannot be done, as under an
// httptest.ResponseRecorder, the handler panics with http.ErrAbortHandler.
func (s *Simulator) Handler() http.Handler { return s.handler }

// SetRule adds a fault rule, or replaces the one with the same Match; the
// tokens it matches start its script from the first step. It fails, and
// changes nothing, when the rule is bad.
func (s *Simulator) SetRule(r Rule) error {
	if err := s.rules.put(r); err != nil {
		return err
	}
	// An exact match is a callback token, which is never logged.
	if isPattern(r.Match) {
		s.log.Info("fault rule set", "pattern", r.Match, "script", r.Script)
	} else {
		s.log.Info("fault rule set", "script", r.Script)
	}
	return nil
}

// ClearRules removes every fault rule, so valid callbacks are accepted.
func (s *Simulator) ClearRules() {
	_ = s.rules.replace(nil)
	s.log.Info("fault rules cleared")
}

// Rules returns the fault rules in force: exact tokens sorted, then
// patterns in the order they were set.
func (s *Simulator) Rules() []Rule { return s.rules.set.Load().list() }

// TokenFetches returns how many tokens have been minted.
func (s *Simulator) TokenFetches() int { return int(s.fetches.Load()) }

// Received returns the records of one token's requests, or of all
// requests when token is empty, in arrival order.
func (s *Simulator) Received(token string) []Record {
	if token == "" {
		return s.calls.all()
	}
	return s.calls.forToken(token)
}

// Stats returns the counts. Callbacks in flight are counted once they have
// been checked, before any delay of their answer.
func (s *Simulator) Stats() Stats {
	st := s.calls.stats()
	st.TokenFetches = int(s.fetches.Load())
	st.TokenFailures = int(s.fetchFailures.Load())
	return st
}

// RevokeTokens makes every token minted so far fail with 401, as if it had
// expired; tokens minted afterwards work.
func (s *Simulator) RevokeTokens() {
	n := s.bearers.revoke()
	s.log.Info("tokens revoked", "count", n)
}

// Reset forgets every record, count and script progress, and puts back
// the rules of the Config. Minted tokens keep working: RevokeTokens ends
// them.
func (s *Simulator) Reset() {
	s.calls.reset()
	s.fetches.Store(0)
	s.fetchFailures.Store(0)
	_ = s.rules.replace(s.cfg.Rules)
	s.log.Info("simulator reset")
}
