package ims

import (
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Results of a token fetch, as the result label of the fetch counter.
const (
	ResultSuccess       = "success"
	ResultInvalidClient = "invalid_client"
	ResultInvalidScope  = "invalid_scope"
	// ResultRefused is any other refusal by IMS (a 4xx).
	ResultRefused = "refused"
	// ResultUnavailable is a network fault, a timeout, a 5xx or a 429.
	ResultUnavailable = "unavailable"
)

// Results of a cache lookup, as the result label of the cache counter.
const (
	// CacheHit means a usable token was found, in this process or in Redis.
	CacheHit = "hit"
	// CacheMiss means the caller waited for a token to be fetched.
	CacheMiss = "miss"
)

// Metrics counts token fetches and cache lookups by profile, and tells how
// long the tokens held have left. Profile labels are configured names, never
// secrets. A nil *Metrics records nothing.
type Metrics struct {
	fetches     *prometheus.CounterVec
	cache       *prometheus.CounterVec
	rotations   *prometheus.CounterVec
	redisErrors *prometheus.CounterVec
	expiry      *expiryCollector
}

// NewMetrics creates the IMS metrics and registers them with reg; a nil reg
// gives nil Metrics, which record nothing.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &Metrics{
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callback_dispatcher_ims_token_fetches_total",
			Help: "IMS token requests by profile and result (success, invalid_client, " +
				"invalid_scope, refused, unavailable).",
		}, []string{"profile", "result"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callback_dispatcher_ims_token_cache_total",
			Help: "Token lookups by profile: hit when a usable token was cached, miss when " +
				"the caller waited for a fetch.",
		}, []string{"profile", "result"}),
		rotations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callback_dispatcher_ims_secret_switches_total",
			Help: "Times IMS refused a profile's client secret with invalid_client and " +
				"accepted its other one.",
		}, []string{"profile"}),
		redisErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callback_dispatcher_ims_cache_errors_total",
			Help: "Failed operations on the shared token cache in Redis, by profile; " +
				"tokens are then fetched without it.",
		}, []string{"profile"}),
		expiry: &expiryCollector{
			desc: prometheus.NewDesc("callback_dispatcher_ims_token_expiry_seconds",
				"Seconds until the token this process holds for a profile expires.",
				[]string{"profile"}, nil),
			at: map[string]time.Time{},
		},
	}
	for _, c := range []prometheus.Collector{m.fetches, m.cache, m.rotations, m.redisErrors,
		m.expiry} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register IMS metrics: %w", err)
		}
	}
	return m, nil
}

// init makes a profile's series visible before anything happens.
func (m *Metrics) init(profile string) {
	if m == nil {
		return
	}
	m.fetches.WithLabelValues(profile, ResultSuccess)
	m.cache.WithLabelValues(profile, CacheHit)
	m.cache.WithLabelValues(profile, CacheMiss)
	m.rotations.WithLabelValues(profile)
	m.redisErrors.WithLabelValues(profile)
}

func (m *Metrics) fetched(profile, result string) {
	if m != nil {
		m.fetches.WithLabelValues(profile, result).Inc()
	}
}

func (m *Metrics) looked(profile, result string) {
	if m != nil {
		m.cache.WithLabelValues(profile, result).Inc()
	}
}

func (m *Metrics) rotated(profile string) {
	if m != nil {
		m.rotations.WithLabelValues(profile).Inc()
	}
}

func (m *Metrics) redisFailed(profile string) {
	if m != nil {
		m.redisErrors.WithLabelValues(profile).Inc()
	}
}

// holding records the expiry of the token a profile now holds; zero when
// it holds none.
func (m *Metrics) holding(profile string, expiry time.Time) {
	if m == nil {
		return
	}
	m.expiry.mu.Lock()
	defer m.expiry.mu.Unlock()
	if expiry.IsZero() {
		delete(m.expiry.at, profile)
		return
	}
	m.expiry.at[profile] = expiry
}

// resultOf is the fetch counter's result for a fetch error.
func resultOf(fe *FetchError) string {
	switch {
	case fe == nil:
		return ResultSuccess
	case fe.Temporary:
		return ResultUnavailable
	case fe.Code == ResultInvalidClient, fe.Code == ResultInvalidScope:
		return fe.Code
	}
	return ResultRefused
}

// expiryCollector reports seconds until expiry at scrape time, so the value
// falls between fetches as a gauge set once could not.
type expiryCollector struct {
	desc *prometheus.Desc
	mu   sync.Mutex
	at   map[string]time.Time
}

// Describe sends the collector's one description.
func (c *expiryCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect sends the time left for each profile's token.
func (c *expiryCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for profile, at := range c.at {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue,
			time.Until(at).Seconds(), profile)
	}
}
