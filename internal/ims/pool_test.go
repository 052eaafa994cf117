package ims_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/callback-dispatcher/dispatcher/internal/adobesim"
	"github.com/callback-dispatcher/dispatcher/internal/ims"
	"github.com/callback-dispatcher/dispatcher/internal/ims/imstest"
	"github.com/callback-dispatcher/dispatcher/internal/testenv"
)

const org = "ACME@AdobeOrg"

// bench is one test's IMS: a simulator behind a front, a Redis database of
// its own, and the logs of every pool it builds. When the test ends it
// checks that no token or secret reached the logs.
type bench struct {
	t        *testing.T
	sim      *adobesim.Simulator
	front    *imstest.Front
	tokenURL string
	rdb      redis.UniversalClient
	logs     *testenv.LogBuffer
	secrets  []ims.Secret
}

func newBench(t *testing.T, cfg adobesim.Config) *bench {
	t.Helper()
	sim, front, srv := imstest.Start(t, cfg)
	conn, _ := testenv.Redis(t)
	b := &bench{t: t, sim: sim, front: front, tokenURL: srv.URL + imstest.TokenPath,
		rdb: conn.Client, logs: &testenv.LogBuffer{}}
	t.Cleanup(b.checkLogs)
	return b
}

// profile is a profile for org with the given secrets, the simulator's
// one by default.
func (b *bench) profile(secrets ...ims.Secret) ims.Profile {
	if len(secrets) == 0 {
		secrets = []ims.Secret{adobesim.DefaultClientSecret}
	}
	b.secrets = append(b.secrets, secrets...)
	return ims.Profile{Name: "acme", OrgIDs: []string{org}, ClientID: adobesim.DefaultClientID,
		ClientSecrets: secrets, TokenURL: b.tokenURL}
}

// pool builds a pool, standing in for one worker process, over the bench's
// Redis unless opts names another.
func (b *bench) pool(opts ims.Options, profiles ...ims.Profile) *ims.Pool {
	b.t.Helper()
	if len(profiles) == 0 {
		profiles = []ims.Profile{b.profile()}
	}
	if opts.Redis == nil {
		opts.Redis = b.rdb
	}
	opts.Logger = slog.New(slog.NewJSONHandler(b.logs, &slog.HandlerOptions{
		Level: slog.LevelDebug}))
	p, err := ims.NewPool(profiles, opts)
	if err != nil {
		b.t.Fatal(err)
	}
	return p
}

func (b *bench) checkLogs() {
	logs := b.logs.String()
	for _, tok := range b.front.Tokens() {
		if strings.Contains(logs, tok) {
			b.t.Errorf("logs contain a token:\n%s", logs)
		}
	}
	for _, s := range b.secrets {
		if strings.Contains(logs, string(s)) {
			b.t.Errorf("logs contain a client secret:\n%s", logs)
		}
	}
}

func (b *bench) token(p *ims.Pool) string {
	b.t.Helper()
	tok, err := p.Token(context.Background(), org)
	if err != nil {
		b.t.Fatalf("token: %v", err)
	}
	return tok
}

// storm has workers×each goroutines call f at once, with the index of the
// pool (worker) they belong to, and waits for them.
func storm(workers, each int, f func(worker int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range workers {
		for range each {
			wg.Go(func() {
				<-start
				f(w)
			})
		}
	}
	close(start)
	wg.Wait()
}

func TestWorkersShareOneToken(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{7}, ims.TokenKeySize)
	tests := []struct {
		name      string
		key       []byte
		wantClear bool
	}{
		{name: "kept in clear without a key", wantClear: true},
		{name: "encrypted with a key", key: key},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newBench(t, adobesim.Config{})
			pools := make([]*ims.Pool, 4)
			for i := range pools {
				pools[i] = b.pool(ims.Options{TokenKey: tt.key})
			}
			var mu sync.Mutex
			seen := map[string]int{}
			storm(len(pools), 25, func(w int) {
				tok, err := pools[w].Token(context.Background(), org)
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				seen[tok]++
				mu.Unlock()
			})

			if got := b.sim.TokenFetches(); got != 1 || len(seen) != 1 {
				t.Fatalf("%d fetches and %d distinct tokens for 4×25 callers, want 1 and 1",
					got, len(seen))
			}
			keys, err := b.rdb.Keys(context.Background(),
				"callback-dispatcher:ims:token:*").Result()
			if err != nil || len(keys) != 1 {
				t.Fatalf("token keys %v (%v), want one", keys, err)
			}
			if !strings.HasPrefix(keys[0], "callback-dispatcher:ims:token:sim-client:") ||
				strings.Contains(keys[0], adobesim.DefaultClientSecret) {
				t.Errorf("key %q should hold the client id and a scope hash, never the secret",
					keys[0])
			}
			value, _ := b.rdb.Get(context.Background(), keys[0]).Result()
			if strings.Contains(value, b.front.Tokens()[0]) != tt.wantClear {
				t.Errorf("token in clear in Redis: %t, want %t", !tt.wantClear, tt.wantClear)
			}
		})
	}
}

func TestEncryptedTokenNeedsTheSameKey(t *testing.T) {
	t.Parallel()
	b := newBench(t, adobesim.Config{})
	first := b.token(b.pool(ims.Options{TokenKey: bytes.Repeat([]byte{1}, ims.TokenKeySize)}))
	tests := []struct {
		name        string
		key         []byte
		wantFetches int
	}{
		{name: "the same key reads the cached token",
			key: bytes.Repeat([]byte{1}, ims.TokenKeySize), wantFetches: 1},
		{name: "another key cannot, and fetches anew",
			key: bytes.Repeat([]byte{2}, ims.TokenKeySize), wantFetches: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := b.token(b.pool(ims.Options{TokenKey: tt.key}))
			if got := b.sim.TokenFetches(); got != tt.wantFetches {
				t.Errorf("%d fetches, want %d", got, tt.wantFetches)
			}
			if (tok == first) != (tt.wantFetches == 1) {
				t.Errorf("got the first token: %t", tok == first)
			}
		})
	}
	if !strings.Contains(b.logs.String(), "cached IMS token unreadable") {
		t.Errorf("no warning for the unreadable token:\n%s", b.logs)
	}
}

func TestRevokedTokenStormFetchesOnce(t *testing.T) {
	t.Parallel()
	b := newBench(t, adobesim.Config{})
	pools := make([]*ims.Pool, 4)
	for i := range pools {
		pools[i] = b.pool(ims.Options{})
	}
	old := b.token(pools[0])
	for _, p := range pools {
		if b.token(p) != old {
			t.Fatal("workers hold different tokens")
		}
	}
	b.sim.RevokeTokens()

	// Every callback in flight draws a 401, drops the token and asks again,
	// while IMS is slow to answer the first new request.
	release := b.front.Hold()
	defer release()
	var mu sync.Mutex
	seen := map[string]bool{}
	var asked atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		storm(len(pools), 25, func(w int) {
			pools[w].Invalidate(context.Background(), org, old)
			asked.Add(1)
			tok, err := pools[w].Token(context.Background(), org)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			seen[tok] = true
			mu.Unlock()
		})
	}()
	testenv.Eventually(t, 5*time.Second, func() bool {
		return asked.Load() == 100 && b.front.Requests() >= 2
	}, "the storm did not reach IMS")
	release()
	<-done
	if got := b.sim.TokenFetches(); got != 2 || len(seen) != 1 || seen[old] {
		t.Fatalf("%d fetches, tokens %d (old one among them: %t); want exactly one new fetch "+
			"shared by all", got, len(seen), seen[old])
	}

	// A 401 of the old token arriving late drops nothing.
	pools[1].Invalidate(context.Background(), org, old)
	for _, p := range pools {
		if seen[b.token(p)] != true {
			t.Error("a late 401 of the old token dropped the new one")
		}
	}
	if got := b.sim.TokenFetches(); got != 2 {
		t.Errorf("%d fetches after a late 401, want 2", got)
	}
}

func TestInvalidateDropsOnlyTheFailedToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		grace       time.Duration
		setup       func(b *bench, p *ims.Pool) (failed string)
		wantFetches int
	}{
		{name: "another token's 401 keeps the cached one", wantFetches: 1,
			setup: func(b *bench, p *ims.Pool) string { b.token(p); return "some-older-token" }},
		{name: "the cached token's 401 drops it", wantFetches: 2,
			setup: func(b *bench, p *ims.Pool) string { return b.token(p) }},
		{name: "a replacement that fails at once is kept within its grace", wantFetches: 2,
			grace: time.Hour, setup: func(b *bench, p *ims.Pool) string {
				p.Invalidate(context.Background(), org, b.token(p))
				return b.token(p)
			}},
		{name: "a replacement is dropped once its grace is over", wantFetches: 3,
			grace: time.Nanosecond, setup: func(b *bench, p *ims.Pool) string {
				p.Invalidate(context.Background(), org, b.token(p))
				return b.token(p)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newBench(t, adobesim.Config{})
			p := b.pool(ims.Options{ReplacementGrace: tt.grace})
			failed := tt.setup(b, p)
			p.Invalidate(context.Background(), org, failed)
			// Another worker, with no token of its own, reads the cache.
			b.token(b.pool(ims.Options{ReplacementGrace: tt.grace}))
			b.token(p)
			if got := b.sim.TokenFetches(); got != tt.wantFetches {
				t.Errorf("%d fetches, want %d", got, tt.wantFetches)
			}
		})
	}
}

func TestRefreshAheadKeepsServingTheOldToken(t *testing.T) {
	t.Parallel()
	// A 6 s token with a 3 s margin is due for refresh after 3 s and usable
	// until 4.5 s.
	b := newBench(t, adobesim.Config{TokenLifetime: 6 * time.Second})
	opts := ims.Options{RefreshMargin: 3 * time.Second}
	a, other := b.pool(opts), b.pool(opts)
	old := b.token(a)
	release := b.front.Hold()
	defer release()

	// Once the token is due, one worker asks IMS, which is slow to answer;
	// meanwhile every caller still gets the old token at once.
	testenv.Eventually(t, 10*time.Second, func() bool {
		if tok := b.token(a); tok != old {
			t.Fatalf("got a new token while IMS was held")
		}
		return b.front.Requests() == 2
	}, "no refresh started")
	storm(2, 25, func(w int) {
		tok, err := []*ims.Pool{a, other}[w].Token(context.Background(), org)
		if err != nil || tok != old {
			t.Errorf("a caller did not get the still-valid token during the refresh: %v", err)
		}
	})
	release()

	testenv.Eventually(t, 5*time.Second, func() bool { return b.token(a) != old },
		"the refreshed token never replaced the old one")
	testenv.Eventually(t, 5*time.Second, func() bool { return b.token(other) != old },
		"the other worker never took up the refreshed token")
	if got := b.sim.TokenFetches(); got != 2 {
		t.Errorf("%d fetches, want 2", got)
	}
}

func TestSecretRotation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		accepted     []string
		secrets      []ims.Secret
		wantErr      string
		wantRequests int
		wantSwitches float64
	}{
		{name: "the first secret refused, the second accepted", accepted: []string{"new-secret"},
			secrets: []ims.Secret{"old-secret", "new-secret"}, wantRequests: 3,
			wantSwitches: 1},
		{name: "the first secret accepted", accepted: []string{"new-secret"},
			secrets: []ims.Secret{"new-secret", "old-secret"}, wantRequests: 2},
		{name: "both accepted while IMS holds two", accepted: []string{"old-secret", "new-secret"},
			secrets: []ims.Secret{"old-secret", "new-secret"}, wantRequests: 2},
		{name: "the only secret refused", accepted: []string{"new-secret"},
			secrets: []ims.Secret{"old-secret"}, wantErr: "invalid_client", wantRequests: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newBench(t, adobesim.Config{ClientSecrets: tt.accepted})
			reg := prometheus.NewRegistry()
			metrics, err := ims.NewMetrics(reg)
			if err != nil {
				t.Fatal(err)
			}
			p := b.pool(ims.Options{Metrics: metrics}, b.profile(tt.secrets...))

			tok, err := p.Token(context.Background(), org)
			if tt.wantErr != "" {
				var fe *ims.FetchError
				if !errors.As(err, &fe) || fe.Temporary || fe.Profile != "acme" ||
					!strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want a permanent %s error of profile acme", err, tt.wantErr)
				}
				wantLog(t, b.logs, `"level":"ERROR","msg":"IMS refused the credentials"`,
					`"profile":"acme"`, `"ims_error":"invalid_client"`)
			} else {
				if err != nil {
					t.Fatal(err)
				}
				// A second fetch starts with the secret that worked.
				p.Invalidate(context.Background(), org, tok)
				b.token(p)
			}
			if got := b.front.Requests(); got != tt.wantRequests {
				t.Errorf("%d token requests, want %d", got, tt.wantRequests)
			}
			if got := sample(t, reg,
				"callback_dispatcher_ims_secret_switches_total", "acme",
				""); got != tt.wantSwitches {
				t.Errorf("%v secret switches counted, want %v", got, tt.wantSwitches)
			}
			if tt.wantSwitches > 0 {
				wantLog(t, b.logs, `"level":"WARN"`, `"profile":"acme"`,
					`"secret":"clientSecrets[1]"`)
			}
		})
	}
}

func TestIMSFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		status        int
		body          string
		wantTemporary bool
		wantResult    string
		wantLog       []string
	}{
		{name: "a 503 is temporary and a warning", status: 503,
			body: `{"error":"server_error"}`, wantTemporary: true, wantResult: "unavailable",
			wantLog: []string{`"level":"WARN","msg":"IMS token fetch failed"`,
				`"profile":"acme"`}},
		{name: "invalid_scope is our fault and an error", status: 400,
			body:       `{"error":"invalid_scope","error_description":"bad scope"}`,
			wantResult: "invalid_scope",
			wantLog: []string{`"level":"ERROR","msg":"IMS refused the credentials"`,
				`"profile":"acme"`, `"ims_error":"invalid_scope"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newBench(t, adobesim.Config{})
			b.front.FailNext(1, tt.status, tt.body)
			reg := prometheus.NewRegistry()
			metrics, err := ims.NewMetrics(reg)
			if err != nil {
				t.Fatal(err)
			}
			pools := make([]*ims.Pool, 4)
			for i := range pools {
				pools[i] = b.pool(ims.Options{Metrics: metrics})
			}
			// The first fetch fails; the other workers learn of it through
			// Redis instead of each asking IMS in turn.
			storm(len(pools), 25, func(w int) {
				_, err := pools[w].Token(context.Background(), org)
				var fe *ims.FetchError
				if !errors.As(err, &fe) || fe.Temporary != tt.wantTemporary {
					t.Errorf("got %v, want a FetchError with temporary=%t", err,
						tt.wantTemporary)
				}
			})
			if got := b.front.Requests(); got != 1 {
				t.Errorf("%d token requests for 100 callers, want 1", got)
			}
			if got := sample(t, reg,
				"callback_dispatcher_ims_token_fetches_total", "acme", tt.wantResult); got != 1 {
				t.Errorf("fetches{result=%q} = %v, want 1", tt.wantResult, got)
			}
			wantLog(t, b.logs, tt.wantLog...)
		})
	}
}

func TestFailureIsRetriedAfterTheHold(t *testing.T) {
	t.Parallel()
	b := newBench(t, adobesim.Config{})
	b.front.FailNext(1, 503, `{"error":"server_error"}`)
	p := b.pool(ims.Options{FailureHold: 50 * time.Millisecond})
	if _, err := p.Token(context.Background(), org); err == nil {
		t.Fatal("the first fetch should fail")
	}
	testenv.Eventually(t, 5*time.Second, func() bool {
		_, err := p.Token(context.Background(), org)
		return err == nil
	}, "IMS was not asked again after the hold")
	if got := b.front.Requests(); got != 2 {
		t.Errorf("%d token requests, want 2", got)
	}
}

// cutter is a Redis dialer that can be cut off: then it refuses new
// connections and closes the open ones, as a Redis that went away.
type cutter struct {
	mu    sync.Mutex
	down  bool
	conns []net.Conn
}

func (c *cutter) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down {
		return nil, errors.New("connection refused (Redis cut off by the test)")
	}
	conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err == nil {
		c.conns = append(c.conns, conn)
	}
	return conn, err
}

func (c *cutter) cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.down = true
	for _, conn := range c.conns {
		conn.Close()
	}
}

func TestRedisUnavailable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// lose cuts Redis off: before the first token or once it is held.
		cutFirst bool
	}{
		{name: "Redis unreachable from the start", cutFirst: true},
		{name: "Redis lost before a refresh"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newBench(t, adobesim.Config{TokenLifetime: 4 * time.Second})
			_, redisURL := testenv.Redis(t)
			opt, err := redis.ParseURL(redisURL)
			if err != nil {
				t.Fatal(err)
			}
			c := &cutter{}
			opt.Dialer, opt.MaxRetries = c.dial, -1
			rdb := redis.NewClient(opt)
			t.Cleanup(func() { rdb.Close() })
			reg := prometheus.NewRegistry()
			metrics, _ := ims.NewMetrics(reg)
			p := b.pool(ims.Options{Redis: rdb, RefreshMargin: 2 * time.Second,
				Metrics: metrics})
			if tt.cutFirst {
				c.cut()
			}

			old := b.token(p)
			c.cut()
			testenv.Eventually(t, 10*time.Second, func() bool { return b.token(p) != old },
				"the token was not refreshed without Redis")
			if got := b.sim.TokenFetches(); got != 2 {
				t.Errorf("%d fetches, want 2", got)
			}
			wantLog(t, b.logs, `"level":"WARN","msg":"IMS token cache unavailable; `+
				`fetching without it"`, `"profile":"acme"`)
			if got := sample(t, reg,
				"callback_dispatcher_ims_cache_errors_total", "acme", ""); got < 1 {
				t.Errorf("cache errors counted: %v, want at least 1", got)
			}
		})
	}
}

func TestProfileIsPickedByOrg(t *testing.T) {
	t.Parallel()
	b := newBench(t, adobesim.Config{})
	acme := b.profile()
	fallback := b.profile()
	fallback.Name, fallback.OrgIDs = "fallback", []string{ims.AnyOrg}
	tests := []struct {
		name     string
		profiles []ims.Profile
		org      string
		want     string
	}{
		{name: "an org named by a profile uses it", profiles: []ims.Profile{acme, fallback},
			org: org, want: "acme"},
		{name: "another org uses the catch-all profile", profiles: []ims.Profile{acme, fallback},
			org: "OTHER@AdobeOrg", want: "fallback"},
		{name: "another org without a catch-all is refused", profiles: []ims.Profile{acme},
			org: "OTHER@AdobeOrg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := b.pool(ims.Options{}, tt.profiles...)
			name, _, ok := p.ProfileFor(tt.org)
			_, err := p.Token(context.Background(), tt.org)
			if tt.want == "" {
				if ok || !errors.Is(err, ims.ErrUnknownOrg) {
					t.Fatalf("got profile %q, %v; want ErrUnknownOrg", name, err)
				}
				return
			}
			if name != tt.want || err != nil {
				t.Fatalf("got profile %q, %v; want %q", name, err, tt.want)
			}
		})
	}
	p := b.pool(ims.Options{}, acme)
	for range 3 {
		_, _ = p.Token(context.Background(), "NOPE@AdobeOrg")
	}
	if n := strings.Count(b.logs.String(), `"org_id":"NOPE@AdobeOrg"`); n != 1 {
		t.Errorf("unknown org logged %d times for 3 callbacks, want once", n)
	}
}

func TestMetricsCountHitsMissesAndExpiry(t *testing.T) {
	t.Parallel()
	b := newBench(t, adobesim.Config{TokenLifetime: time.Hour})
	reg := prometheus.NewRegistry()
	metrics, err := ims.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	p := b.pool(ims.Options{Metrics: metrics})
	for range 4 {
		b.token(p)
	}
	want := map[string]float64{"hit": 3, "miss": 1}
	for result, n := range want {
		if got := sample(t, reg,
			"callback_dispatcher_ims_token_cache_total", "acme", result); got != n {
			t.Errorf("cache{result=%q} = %v, want %v", result, got, n)
		}
	}
	if got := sample(t, reg,
		"callback_dispatcher_ims_token_fetches_total", "acme", "success"); got != 1 {
		t.Errorf("fetches{result=success} = %v, want 1", got)
	}
	expiry := gauge(t, reg, "callback_dispatcher_ims_token_expiry_seconds", "acme")
	if expiry < 3500 || expiry > 3600 {
		t.Errorf("expiry %v s, want about an hour", expiry)
	}
	if _, err := ims.NewMetrics(reg); err == nil {
		t.Error("registering the metrics twice should fail")
	}
	if m, err := ims.NewMetrics(nil); m != nil || err != nil {
		t.Errorf("nil registerer gave %v, %v; want no metrics", m, err)
	}
}

// sample returns the value of one series of a counter family in reg; an
// empty result matches a family without that label.
func sample(t *testing.T, reg *prometheus.Registry, name, profile, result string) float64 {
	t.Helper()
	labels := map[string]string{"profile": profile}
	if result != "" {
		labels["result"] = result
	}
	v, ok := testenv.CounterValue(t, reg, name, labels)
	if !ok {
		t.Fatalf("no series %s{profile=%q,result=%q}", name, profile, result)
	}
	return v
}

func gauge(t *testing.T, reg *prometheus.Registry, name, profile string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			if f.GetName() == name && len(m.GetLabel()) == 1 &&
				m.GetLabel()[0].GetValue() == profile {
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no gauge %s{profile=%q}", name, profile)
	return 0
}

// wantLog fails unless one log line holds every part.
func wantLog(t *testing.T, logs *testenv.LogBuffer, parts ...string) {
	t.Helper()
	for line := range strings.Lines(logs.String()) {
		found := true
		for _, part := range parts {
			found = found && strings.Contains(line, part)
		}
		if found {
			return
		}
	}
	t.Errorf("no log line holds %q:\n%s", parts, logs)
}

func TestProcessOnlyCacheServesEveryOrg(t *testing.T) {
	t.Parallel()
	sim, _, srv := imstest.Start(t, adobesim.Config{})
	cache := ims.NewCache(ims.NewFetcher(creds(srv.URL+imstest.TokenPath,
		adobesim.DefaultClientSecret), srv.Client()), 0)
	var mu sync.Mutex
	seen := map[string]bool{}
	storm(2, 25, func(w int) {
		tok, err := cache.Token(context.Background(), fmt.Sprintf("ORG%d@AdobeOrg", w))
		if err != nil {
			t.Error(err)
		}
		mu.Lock()
		seen[tok] = true
		mu.Unlock()
	})
	if len(seen) != 1 || sim.TokenFetches() != 1 {
		t.Errorf("%d tokens from %d fetches, want one", len(seen), sim.TokenFetches())
	}
}
