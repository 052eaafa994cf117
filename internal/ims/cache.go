package ims

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/oauth2"
)

// redisTimeout bounds one Redis command of the cache: a slow Redis must not
// hold callbacks up longer than fetching without it would.
const redisTimeout = time.Second

// errWaitTimeout is the cause given when no token came within WaitTimeout.
var errWaitTimeout = errors.New("no token within the wait timeout")

// unlockScript releases the lock only if this process still owns it.
var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('DEL', KEYS[1])
end
return 0`)

// dropScript deletes the cached token only if it is still the one that drew
// the 401 (ARGV[1] is its fingerprint), and not if it is a replacement still
// within its grace (ARGV[2] is the time now): then it answers -1.
var dropScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local ok, e = pcall(cjson.decode, v)
if not ok or type(e) ~= 'table' or e.fp ~= ARGV[1] then return 0 end
if e.shield and tonumber(e.shield) > tonumber(ARGV[2]) then return -1 end
return redis.call('DEL', KEYS[1])`)

// profileCache holds one profile's token: a copy in this process, the
// shared one in Redis, and the machinery that fetches a new one, once.
type profileCache struct {
	name     string
	clientID string
	fetchers []*Fetcher
	// active is the index of the client secret IMS last accepted.
	active atomic.Int32

	rdb      redis.UniversalClient
	codec    *codec
	tokenKey string
	lockKey  string
	failKey  string

	opts    Options
	log     *slog.Logger
	metrics *Metrics

	// obtainMu lets one goroutine of this process at a time read, lock and
	// fetch: the in-process half of the single flight.
	obtainMu sync.Mutex

	mu  sync.Mutex
	cur *token
	// flight is the search for a token that callers without one wait on.
	flight *flight
	// refreshing is set while a background refresh runs; nextRefresh is
	// the earliest time for the next one.
	refreshing  bool
	nextRefresh time.Time
	// failed is the last fetch failure, returned at once until failedUntil.
	failed      *FetchError
	failedUntil time.Time
	// renew marks the next fetch as replacing a token that drew a 401.
	renew bool
	// bad holds the fingerprints of the last tokens that drew a 401, so
	// that a stale read of Redis cannot bring one back.
	bad     [8]string
	badNext int
}

// flight is one search for a token; done is closed once tok or err is set.
type flight struct {
	done chan struct{}
	tok  *token
	// miss is true when no usable token was cached and one was fetched,
	// by this process or another.
	miss bool
	err  error
}

func newProfileCache(p Profile, opts Options, codec *codec) *profileCache {
	c := &profileCache{
		name:     p.Name,
		clientID: p.ClientID,
		rdb:      opts.Redis,
		codec:    codec,
		tokenKey: opts.KeyPrefix + "token:" + p.cacheID(),
		lockKey:  opts.KeyPrefix + "lock:" + p.cacheID(),
		failKey:  opts.KeyPrefix + "failure:" + p.cacheID(),
		opts:     opts,
		log:      opts.Logger.With("profile", p.Name),
		metrics:  opts.Metrics,
	}
	for i := range p.ClientSecrets {
		c.fetchers = append(c.fetchers, NewFetcher(p.credentials(i), opts.HTTPClient))
	}
	return c
}

// Token returns a usable token. A token due for refresh is still handed
// out while one process fetches its successor in the background; callers
// wait only when no usable token is cached at all.
func (c *profileCache) Token(ctx context.Context) (string, error) {
	now := time.Now()
	c.mu.Lock()
	if t := c.cur; t != nil && t.usable(now) {
		if !t.fresh(now) {
			c.startRefreshLocked(now)
		}
		c.mu.Unlock()
		c.metrics.looked(c.name, CacheHit)
		return t.value, nil
	}
	if c.failed != nil && now.Before(c.failedUntil) {
		err := c.failed
		c.mu.Unlock()
		return "", err
	}
	f := c.flight
	if f == nil {
		f = &flight{done: make(chan struct{})}
		c.flight = f
		go c.fill(f)
	}
	c.mu.Unlock()
	return c.await(ctx, f)
}

// await waits for a flight, at most WaitTimeout.
func (c *profileCache) await(ctx context.Context, f *flight) (string, error) {
	timer := time.NewTimer(c.opts.WaitTimeout)
	defer timer.Stop()
	select {
	case <-f.done:
	case <-ctx.Done():
		return "", fmt.Errorf("wait for IMS token: %w", ctx.Err())
	case <-timer.C:
		return "", &FetchError{Profile: c.name, Temporary: true, Err: errWaitTimeout}
	}
	if f.err != nil {
		return "", f.err
	}
	if f.miss {
		c.metrics.looked(c.name, CacheMiss)
	} else {
		c.metrics.looked(c.name, CacheHit)
	}
	return f.tok.value, nil
}

// fill runs a flight. It is detached from the callers' contexts: a caller
// that gives up does not cancel the fetch the others wait on.
func (c *profileCache) fill(f *flight) {
	ctx, cancel := context.WithTimeout(context.Background(),
		c.opts.WaitTimeout+c.opts.LockTimeout)
	defer cancel()
	f.tok, f.miss, f.err = c.obtain(ctx, false)

	c.mu.Lock()
	c.flight = nil
	if f.err == nil {
		c.adoptLocked(f.tok)
	} else {
		c.rememberFailureLocked(f.err)
	}
	c.mu.Unlock()
	close(f.done)
}

// startRefreshLocked starts a background refresh unless one runs or one
// ended moments ago.
func (c *profileCache) startRefreshLocked(now time.Time) {
	if c.refreshing || now.Before(c.nextRefresh) {
		return
	}
	c.refreshing = true
	go c.refresh()
}

// refresh replaces a token due for refresh: with a fresher one from Redis,
// or, if this process wins the lock, with a new one from IMS.
func (c *profileCache) refresh() {
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.LockTimeout+redisTimeout)
	defer cancel()
	tok, _, _ := c.obtain(ctx, true)

	c.mu.Lock()
	defer c.mu.Unlock()
	c.refreshing = false
	if tok != nil {
		c.adoptLocked(tok)
	}
	if tok == nil || !tok.fresh(time.Now()) {
		// Another process is fetching, or IMS failed: look again shortly.
		c.nextRefresh = time.Now().Add(10 * c.opts.PollInterval)
	}
}

// adoptLocked makes t the token this process hands out, unless t drew a
// 401 here or the token held lasts longer.
func (c *profileCache) adoptLocked(t *token) {
	if c.isBadLocked(t.fp) {
		return
	}
	if cur := c.cur; cur != nil && cur.fp != t.fp && cur.usable(time.Now()) &&
		cur.expiry.After(t.expiry) {
		return
	}
	c.cur = t
	c.renew = false
	c.failed = nil
	c.metrics.holding(c.name, t.expiry)
}

// rememberFailureLocked keeps a fetch failure for FailureHold, so that the
// callers of the next moments fail at once instead of asking IMS again.
func (c *profileCache) rememberFailureLocked(err error) {
	var fe *FetchError
	if !errors.As(err, &fe) || errors.Is(err, errWaitTimeout) {
		return
	}
	c.failed = fe
	c.failedUntil = time.Now().Add(c.opts.FailureHold)
}

// obtain finds a token for this process. Without refresh it wants any
// usable token and waits, up to WaitTimeout, while another process fetches
// one. With refresh it wants one not yet due for refresh, and gives up at
// once when another process holds the lock. A nil token and nil error means
// it gave up.
func (c *profileCache) obtain(ctx context.Context, refresh bool) (*token, bool, error) {
	c.obtainMu.Lock()
	defer c.obtainMu.Unlock()
	if c.rdb == nil {
		tok, err := c.fetch(ctx)
		return tok, true, err
	}
	deadline := time.Now().Add(c.opts.WaitTimeout)
	miss := false
	for {
		tok, failed, err := c.load(ctx)
		if err != nil {
			return c.bypass(ctx, "read", err)
		}
		now := time.Now()
		if tok != nil && (tok.fresh(now) || (!refresh && tok.usable(now))) {
			return tok, miss, nil
		}
		miss = true
		if failed != nil {
			return nil, miss, failed
		}

		owner, err := c.lock(ctx)
		if err != nil {
			return c.bypass(ctx, "lock", err)
		}
		if owner != "" {
			tok, err := c.fetchLocked(ctx, owner)
			return tok, miss, err
		}
		if refresh {
			return nil, miss, nil
		}
		if !now.Before(deadline) {
			return nil, miss, &FetchError{Profile: c.name, Temporary: true, Err: errWaitTimeout}
		}
		if err := pause(ctx, c.opts.PollInterval); err != nil {
			return nil, miss, fmt.Errorf("wait for IMS token: %w", err)
		}
	}
}

// pause waits d or until ctx is done.
func pause(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// bypass fetches without the shared cache when Redis fails. Only this
// process's single flight guards IMS then, which bounds the fetches to one
// per process.
func (c *profileCache) bypass(ctx context.Context, op string, err error) (*token, bool, error) {
	c.metrics.redisFailed(c.name)
	c.log.Warn("IMS token cache unavailable; fetching without it", "op", op, "err", err)
	tok, err := c.fetch(ctx)
	return tok, true, err
}

// load reads the shared token and any remembered failure. A token that
// cannot be read, or that drew a 401 here, counts as none.
func (c *profileCache) load(ctx context.Context) (*token, *FetchError, error) {
	rctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	vals, err := c.rdb.MGet(rctx, c.tokenKey, c.failKey).Result()
	if err != nil {
		return nil, nil, fmt.Errorf("read cached IMS token: %w", err)
	}
	var tok *token
	if s, ok := vals[0].(string); ok {
		t, err := c.codec.decode(c.tokenKey, []byte(s))
		if err != nil {
			c.log.Warn("cached IMS token unreadable; fetching a new one", "err", err)
		} else if !c.isBad(t.fp) {
			tok = t
		}
	}
	var failed *FetchError
	if s, ok := vals[1].(string); ok {
		failed = decodeFailure(c.name, []byte(s))
	}
	return tok, failed, nil
}

// lock takes the Redis lock of a fetch, returning its owner value, or ""
// when another process holds it.
func (c *profileCache) lock(ctx context.Context) (string, error) {
	rctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	owner := rand.Text()
	ok, err := c.rdb.SetNX(rctx, c.lockKey, owner, c.opts.LockTimeout).Result()
	if err != nil {
		return "", fmt.Errorf("lock IMS token fetch: %w", err)
	}
	if !ok {
		return "", nil
	}
	return owner, nil
}

// unlock releases the lock if owner still holds it; a lock that outlived
// its holder expires by itself.
func (c *profileCache) unlock(owner string) {
	ctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
	defer cancel()
	if err := unlockScript.Run(ctx, c.rdb, []string{c.lockKey}, owner).Err(); err != nil {
		c.metrics.redisFailed(c.name)
		c.log.Warn("IMS token lock not released", "err", err)
	}
}

// fetchLocked fetches a token while holding the lock, and shares it.
func (c *profileCache) fetchLocked(ctx context.Context, owner string) (*token, error) {
	defer c.unlock(owner)
	// Another process may have stored a token, or failed to fetch one,
	// between our read and our lock: then there is nothing to fetch.
	if tok, failed, err := c.load(ctx); err == nil {
		if tok != nil && tok.fresh(time.Now()) {
			return tok, nil
		}
		if failed != nil {
			return nil, failed
		}
	}
	// The fetch ends before the lock expires, so no other process can
	// take the lock and fetch at the same time.
	fctx, cancel := context.WithTimeout(ctx, c.opts.LockTimeout*9/10)
	defer cancel()
	tok, err := c.fetch(fctx)
	if err != nil {
		var fe *FetchError
		if errors.As(err, &fe) {
			c.share(ctx, c.failKey, encodeFailure(fe), c.opts.FailureHold)
		}
		return nil, err
	}
	data, err := c.codec.encode(c.tokenKey, tok)
	if err != nil {
		c.log.Warn("IMS token not shared", "err", err)
		return tok, nil
	}
	c.share(ctx, c.tokenKey, string(data), time.Until(tok.expiry))
	return tok, nil
}

// share stores a value in Redis for ttl; a failure only costs the other
// processes a fetch of their own.
func (c *profileCache) share(ctx context.Context, key, value string, ttl time.Duration) {
	if ttl <= 0 {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), redisTimeout)
	defer cancel()
	if err := c.rdb.Set(rctx, key, value, ttl).Err(); err != nil {
		c.metrics.redisFailed(c.name)
		c.log.Warn("IMS token cache not updated", "err", err)
	}
}

// fetch asks IMS for a token, with the secret IMS last accepted first and
// the other one when IMS answers invalid_client.
func (c *profileCache) fetch(ctx context.Context) (*token, error) {
	c.mu.Lock()
	renew := c.renew
	c.mu.Unlock()
	first := int(c.active.Load())
	var last *FetchError
	for i := range c.fetchers {
		n := (first + i) % len(c.fetchers)
		started := time.Now()
		ot, err := c.fetchers[n].Fetch(ctx)
		if err == nil {
			c.metrics.fetched(c.name, ResultSuccess)
			if n != first {
				c.switchSecret(n)
			}
			return c.newToken(ot, started, renew), nil
		}
		if !errors.As(err, &last) {
			last = &FetchError{Temporary: true, Err: err}
		}
		last.Profile = c.name
		c.metrics.fetched(c.name, resultOf(last))
		if last.Code != ResultInvalidClient {
			break
		}
	}
	c.logFailure(last)
	return nil, last
}

// switchSecret makes secret n the one tried first from now on.
func (c *profileCache) switchSecret(n int) {
	c.active.Store(int32(n))
	c.metrics.rotated(c.name)
	c.log.Warn("IMS refused a client secret; switched to the profile's other one",
		"client_id", c.clientID, "secret", fmt.Sprintf("clientSecrets[%d]", n))
}

// newToken wraps what IMS gave, fixing when it is refreshed.
func (c *profileCache) newToken(ot *oauth2.Token, started time.Time, renew bool) *token {
	expiry := ot.Expiry
	if expiry.IsZero() {
		expiry = started.Add(defaultLifetime)
	}
	t := &token{value: ot.AccessToken, fp: fingerprint(ot.AccessToken), expiry: expiry,
		refreshAt: RefreshAt(started, expiry, c.opts.RefreshMargin)}
	if renew {
		t.shield = started.Add(c.opts.ReplacementGrace)
	}
	c.log.Info("IMS token fetched", "client_id", c.clientID,
		"expires_in_s", int(time.Until(expiry).Seconds()), "replaces_rejected", renew)
	return t
}

// logFailure reports a failed fetch: our own fault (a refused credential)
// is an Error, a fault of IMS or the network a Warn.
func (c *profileCache) logFailure(fe *FetchError) {
	if fe.Temporary {
		c.log.Warn("IMS token fetch failed", "status", fe.Status, "err", fe.Err)
		return
	}
	c.log.Error("IMS refused the credentials", "client_id", c.clientID, "ims_error", fe.Code,
		"status", fe.Status)
}

// Invalidate drops token after it drew a 401: here if it is the one held,
// and in Redis if it is still the one cached there.
func (c *profileCache) Invalidate(ctx context.Context, value string) {
	fp := fingerprint(value)
	now := time.Now()
	c.mu.Lock()
	if cur := c.cur; cur != nil && cur.fp == fp {
		if now.Before(cur.shield) {
			c.mu.Unlock()
			c.log.Debug("token kept after a 401: it replaced a rejected one moments ago")
			return
		}
		c.cur = nil
		c.renew = true
		c.metrics.holding(c.name, time.Time{})
	}
	c.bad[c.badNext] = fp
	c.badNext = (c.badNext + 1) % len(c.bad)
	c.mu.Unlock()
	if c.rdb == nil {
		return
	}

	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), redisTimeout)
	defer cancel()
	err := dropScript.Run(rctx, c.rdb, []string{c.tokenKey}, fp, unixMillis(now)).Err()
	if err != nil {
		c.metrics.redisFailed(c.name)
		c.log.Warn("rejected IMS token not dropped from the cache", "err", err)
	}
}

func (c *profileCache) isBad(fp string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.isBadLocked(fp)
}

func (c *profileCache) isBadLocked(fp string) bool {
	for _, b := range c.bad {
		if b == fp {
			return true
		}
	}
	return false
}
