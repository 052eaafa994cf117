package ims

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults for the Options fields left zero.
const (
	// DefaultLockTimeout is how long the refresh lock lives. It bounds a
	// fetch, so it must exceed one IMS request's timeout.
	DefaultLockTimeout = 10 * time.Second
	// DefaultWaitTimeout is how long a callback waits for a token when none
	// is cached.
	DefaultWaitTimeout = 8 * time.Second
	// DefaultPollInterval is how often a process waiting on another's fetch
	// looks at the cache.
	DefaultPollInterval = 25 * time.Millisecond
	// DefaultFailureHold is how long a failed fetch is remembered before IMS
	// is asked again.
	DefaultFailureHold = 5 * time.Second
	// DefaultReplacementGrace is how long a token fetched to replace one
	// that drew a 401 is kept even if it draws 401s too.
	DefaultReplacementGrace = 30 * time.Second
	// DefaultKeyPrefix starts every Redis key of the cache.
	DefaultKeyPrefix = "callback-dispatcher:ims:"
)

// defaultLifetime stands in for the lifetime of a token IMS gave without
// expires_in: Adobe's tokens last a day.
const defaultLifetime = 24 * time.Hour

// ErrUnknownOrg means that no profile serves a callback's org.
var ErrUnknownOrg = errors.New("no IMS profile serves the org")

// Options tune a Pool. Each zero field takes its default.
type Options struct {
	// Redis holds the cache shared by every worker process; nil keeps
	// tokens in this process only.
	Redis redis.UniversalClient
	// HTTPClient sends token requests; its Timeout bounds one request.
	HTTPClient *http.Client
	// RefreshMargin: a token with less than this left is refreshed ahead,
	// by one process, while the others keep using it. DefaultRefreshMargin
	// when zero; see RefreshAt for short-lived tokens.
	RefreshMargin time.Duration
	// LockTimeout is how long the Redis lock of a fetch lives, and so the
	// longest a fetch may take; DefaultLockTimeout when zero.
	LockTimeout time.Duration
	// WaitTimeout bounds how long Token waits when no usable token is
	// cached; DefaultWaitTimeout when zero.
	WaitTimeout time.Duration
	// PollInterval is how often a process waiting on another's fetch reads
	// the cache; DefaultPollInterval when zero.
	PollInterval time.Duration
	// FailureHold is how long a failed fetch is remembered, in this process
	// and in Redis, before IMS is asked again; DefaultFailureHold when zero.
	FailureHold time.Duration
	// ReplacementGrace: a token fetched because its predecessor drew a 401
	// is not dropped on a 401 of its own for this long. A token that fails
	// at once points at the credential or the API key, and fetching again
	// would only hammer IMS. DefaultReplacementGrace when zero.
	ReplacementGrace time.Duration
	// KeyPrefix starts the cache's Redis keys; DefaultKeyPrefix when empty.
	KeyPrefix string
	// TokenKey, when set, is the AES-256 key (TokenKeySize bytes) that
	// encrypts tokens in Redis.
	TokenKey []byte
	// Logger receives the cache's logs; none when nil. It is never given a
	// token or a secret.
	Logger *slog.Logger
	// Metrics records fetches and lookups; nil records nothing.
	Metrics *Metrics
}

func (o Options) withDefaults() Options {
	o.RefreshMargin = cmp.Or(o.RefreshMargin, DefaultRefreshMargin)
	o.LockTimeout = cmp.Or(o.LockTimeout, DefaultLockTimeout)
	o.WaitTimeout = cmp.Or(o.WaitTimeout, DefaultWaitTimeout)
	o.PollInterval = cmp.Or(o.PollInterval, DefaultPollInterval)
	o.FailureHold = cmp.Or(o.FailureHold, DefaultFailureHold)
	o.ReplacementGrace = cmp.Or(o.ReplacementGrace, DefaultReplacementGrace)
	o.KeyPrefix = cmp.Or(o.KeyPrefix, DefaultKeyPrefix)
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Pool is the Source of a worker: it picks a callback's profile by its org
// and hands out that profile's token from a cache shared through Redis. It
// is safe for concurrent use.
//
// Each profile uses three keys, named by its client id and a hash of its
// scopes, never its secret: KeyPrefix+"token:…" holds the token as JSON
// (sealed when a TokenKey is set) until it expires; KeyPrefix+"lock:…" is
// held by the process fetching; KeyPrefix+"failure:…" remembers a failed
// fetch for FailureHold.
type Pool struct {
	byOrg    map[string]*profileCache
	fallback *profileCache
	log      *slog.Logger

	mu sync.Mutex
	// unknownLogged is when each unknown org was last logged, so that a
	// flood of its callbacks gives one line a minute.
	unknownLogged map[string]time.Time
}

var _ Source = (*Pool)(nil)

// NewPool returns a pool over profiles, which must pass ValidateProfiles
// once their defaults are filled in.
func NewPool(profiles []Profile, opts Options) (*Pool, error) {
	profiles = slices.Clone(profiles)
	for i := range profiles {
		profiles[i] = profiles[i].withDefaults()
	}
	if err := ValidateProfiles(profiles); err != nil {
		return nil, fmt.Errorf("check IMS profiles: %w", err)
	}
	codec, err := newCodec(opts.TokenKey)
	if err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	p := &Pool{byOrg: map[string]*profileCache{}, log: opts.Logger,
		unknownLogged: map[string]time.Time{}}
	for _, prof := range profiles {
		c := newProfileCache(prof, opts, codec)
		opts.Metrics.init(prof.Name)
		for _, org := range prof.OrgIDs {
			if org == AnyOrg {
				p.fallback = c
			} else {
				p.byOrg[org] = c
			}
		}
	}
	return p, nil
}

// lookup returns the cache of the profile that serves orgID, or nil.
func (p *Pool) lookup(orgID string) *profileCache {
	if c, ok := p.byOrg[orgID]; ok {
		return c
	}
	return p.fallback
}

// logUnknown says, at most once a minute per org, that an org has no
// profile: the producer should have refused its callbacks.
func (p *Pool) logUnknown(orgID string) {
	now := time.Now()
	p.mu.Lock()
	last, seen := p.unknownLogged[orgID]
	if seen && now.Sub(last) < time.Minute {
		p.mu.Unlock()
		return
	}
	if len(p.unknownLogged) >= 1024 {
		clear(p.unknownLogged)
	}
	p.unknownLogged[orgID] = now
	p.mu.Unlock()
	p.log.Error("no IMS profile serves the callback's org", "org_id", orgID)
}

// Token returns a usable token of the profile serving orgID.
func (p *Pool) Token(ctx context.Context, orgID string) (string, error) {
	c := p.lookup(orgID)
	if c == nil {
		p.logUnknown(orgID)
		return "", fmt.Errorf("pick IMS profile for org %q: %w", orgID, ErrUnknownOrg)
	}
	return c.Token(ctx)
}

// Invalidate drops token, after it drew a 401, if it is still the one
// cached for orgID's profile.
func (p *Pool) Invalidate(ctx context.Context, orgID, token string) {
	if c := p.lookup(orgID); c != nil {
		c.Invalidate(ctx, token)
	}
}

// ProfileFor returns the name and client id of the profile serving orgID.
func (p *Pool) ProfileFor(orgID string) (name, clientID string, ok bool) {
	c := p.lookup(orgID)
	if c == nil {
		return "", "", false
	}
	return c.name, c.clientID, true
}

// NewCache returns a Pool that serves every org with f's credential and
// keeps its token in this process only, for tests and one-process tools;
// workers share tokens through Redis with NewPool. A zero margin means
// DefaultRefreshMargin.
func NewCache(f *Fetcher, margin time.Duration) *Pool {
	opts := Options{RefreshMargin: margin}.withDefaults()
	c := &profileCache{name: "default", clientID: f.cfg.ClientID, fetchers: []*Fetcher{f},
		opts: opts, log: opts.Logger}
	return &Pool{fallback: c, byOrg: map[string]*profileCache{}, log: opts.Logger,
		unknownLogged: map[string]time.Time{}}
}
