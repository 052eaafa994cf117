package metrics

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// leaseKeyPrefix names the Redis keys of the exporter leases.
const leaseKeyPrefix = "callback-dispatcher:metrics:lease:"

// takeLease sets the lease to the caller when it is free or already the
// caller's, for ARGV[2] milliseconds, and says whether the caller holds it.
var takeLease = redis.NewScript(`
local holder = redis.call("GET", KEYS[1])
if holder and holder ~= ARGV[1] then
  return 0
end
redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
return 1`)

// dropLease deletes the lease only if the caller still holds it.
var dropLease = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1])
end
return 0`)

// Lease elects one holder among the processes that share a Redis, so that
// deployment-wide gauges are exported once however many processes run.
// Each contender renews or tries to take the lease every third of its
// time to live; the holder keeps it while it renews, and another takes it
// at most one time to live after the holder stops.
type Lease struct {
	rdb   redis.UniversalClient
	key   string
	owner string
	ttl   time.Duration

	mu sync.Mutex
	// until is when this process's hold ends by its own clock, counted from
	// before the request that took or renewed it: never later than Redis'.
	until time.Time
}

// NewLease returns a lease named name on rdb, not yet contended for.
func NewLease(rdb redis.UniversalClient, name string, ttl time.Duration) *Lease {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return &Lease{rdb: rdb, key: leaseKeyPrefix + name, owner: hex.EncodeToString(b), ttl: ttl}
}

// Held reports whether this process holds the lease now.
func (l *Lease) Held() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return time.Now().Before(l.until)
}

// Try takes or renews the lease once and reports whether it is held. A
// Redis error leaves a current hold to run out on its own.
func (l *Lease) Try(ctx context.Context) (bool, error) {
	asked := time.Now()
	n, err := takeLease.Run(ctx, l.rdb, []string{l.key}, l.owner, l.ttl.Milliseconds()).Int()
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case err != nil:
		return time.Now().Before(l.until), fmt.Errorf("take metrics lease: %w", err)
	case n == 1:
		l.until = asked.Add(l.ttl)
	default:
		l.until = time.Time{}
	}
	return n == 1, nil
}

// Release gives the lease up, if held, so that another process takes it
// without waiting for it to expire.
func (l *Lease) Release(ctx context.Context) error {
	l.mu.Lock()
	l.until = time.Time{}
	l.mu.Unlock()
	if err := dropLease.Run(ctx, l.rdb, []string{l.key}, l.owner).Err(); err != nil {
		return fmt.Errorf("release metrics lease: %w", err)
	}
	return nil
}

// Run contends for the lease until ctx is done, then releases it. onError
// is told of each failed attempt.
func (l *Lease) Run(ctx context.Context, onError func(error)) {
	tick := time.NewTicker(l.ttl / 3)
	defer tick.Stop()
	for {
		if _, err := l.Try(ctx); err != nil && ctx.Err() == nil {
			onError(err)
		}
		select {
		case <-ctx.Done():
			releaseCtx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = l.Release(releaseCtx)
			return
		case <-tick.C:
		}
	}
}
