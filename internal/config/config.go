// Package config reads the worker's and the producer's settings from the
// environment, once, into structs validated at start.
package config

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/callback-dispatcher/dispatcher/internal/envconfig"
	"github.com/callback-dispatcher/dispatcher/internal/ims"
	"github.com/callback-dispatcher/dispatcher/internal/job"
	"github.com/callback-dispatcher/dispatcher/internal/urlguard"
)

// Common holds the settings both programs share.
type Common struct {
	RedisURL string
	Queue    string
	// DefaultOrgID is used when a request has no context.subscription.imsOrgId.
	DefaultOrgID string
	Guard        urlguard.Config
	// TaskTimeout is asynq's limit on one task run; whole seconds.
	TaskTimeout time.Duration
	MaxAttempts int
	LogLevel    slog.Level
}

func readCommon(r *envconfig.Reader) Common {
	c := Common{
		RedisURL: r.String("REDIS_URL", "redis://127.0.0.1:6379/0",
			"Redis holding the queue: redis://, rediss:// or redis-sentinel://"),
		Queue:        r.String("QUEUE", job.DefaultQueue, "asynq queue of callback jobs"),
		DefaultOrgID: r.String("IMS_ORG_ID", "", "IMS org id for requests that carry none"),
		Guard: urlguard.Config{
			AllowedHosts: r.List("CALLBACK_ALLOWED_HOSTS", urlguard.DefaultAllowedHosts,
				"domain suffixes a callbackUrl may point to (comma-separated)"),
			AllowHTTP: r.Bool("CALLBACK_ALLOW_HTTP", false,
				"allow http:// callback URLs (local simulator only)"),
			AllowPrivate: r.Bool("CALLBACK_ALLOW_PRIVATE", false,
				"allow loopback, private and link-local callback addresses (local only)"),
		},
		TaskTimeout: r.Duration("TASK_TIMEOUT", 40*time.Second,
			"limit on one attempt, token fetches and a 401 resend included (whole seconds)"),
		MaxAttempts: r.Int("MAX_ATTEMPTS", 5, 1, "sends a callback gets before it is dead-lettered"),
	}
	if c.MaxAttempts > 5 {
		r.Fail("MAX_ATTEMPTS", "%d is above 5, the most the callback contract allows", c.MaxAttempts)
	}
	if c.TaskTimeout < time.Second || c.TaskTimeout%time.Second != 0 {
		r.Fail("TASK_TIMEOUT", "%s must be whole seconds, at least 1s (asynq's resolution)",
			c.TaskTimeout)
	}
	level := r.String("LOG_LEVEL", "info", "debug, info, warn or error")
	if err := c.LogLevel.UnmarshalText([]byte(level)); err != nil {
		r.Fail("LOG_LEVEL", "%q is not debug, info, warn or error", level)
	}
	return c
}

// Worker is the worker's configuration.
type Worker struct {
	Common
	IMS           ims.Credentials
	IMSTimeout    time.Duration
	RefreshMargin time.Duration
	// APIKey is sent as X-Api-Key; Adobe's gateways expect the client id.
	APIKey           string
	Concurrency      int
	HTTPTimeout      time.Duration
	DialTimeout      time.Duration
	TLSTimeout       time.Duration
	HeaderTimeout    time.Duration
	ShutdownTimeout  time.Duration
	RetryBase        time.Duration
	RetryCap         time.Duration
	RateLimitMaxWait time.Duration
	RateLimitWaits   int
	TaskCheck        time.Duration
	DelayedTaskCheck time.Duration
	OpsListen        string
}

// LoadWorker reads the worker's configuration; nil lookup means the
// process environment. The Reader lists every variable for --help.
func LoadWorker(lookup func(string) (string, bool)) (Worker, *envconfig.Reader, error) {
	r := envconfig.New(lookup)
	w := Worker{Common: readCommon(r)}
	w.IMS = ims.Credentials{
		ClientID:     r.String("IMS_CLIENT_ID", "", "OAuth Server-to-Server client id (required)"),
		ClientSecret: r.Secret("IMS_CLIENT_SECRET", "OAuth Server-to-Server client secret (required)"),
		Scopes: r.List("IMS_SCOPES", []string{"openid", "AdobeID"},
			"IMS scopes, comma-separated; Adobe does not document which callbacks need"),
		TokenURL: r.String("IMS_TOKEN_URL", ims.DefaultTokenURL, "IMS token endpoint"),
	}
	w.IMSTimeout = r.Duration("IMS_TIMEOUT", 5*time.Second, "limit on one IMS token request")
	w.RefreshMargin = r.Duration("IMS_REFRESH_MARGIN", ims.DefaultRefreshMargin,
		"refresh a token when less than this is left")
	w.APIKey = r.String("CALLBACK_API_KEY", "", "X-Api-Key header (default: IMS_CLIENT_ID)")
	w.Concurrency = r.Int("CONCURRENCY", 50, 1, "callbacks sent at once by this process")
	w.HTTPTimeout = r.Duration("HTTP_TIMEOUT", 10*time.Second, "limit on one callback POST")
	w.DialTimeout = r.Duration("HTTP_DIAL_TIMEOUT", 3*time.Second, "limit on a TCP connect")
	w.TLSTimeout = r.Duration("HTTP_TLS_TIMEOUT", 5*time.Second, "limit on a TLS handshake")
	w.HeaderTimeout = r.Duration("HTTP_RESPONSE_HEADER_TIMEOUT", 8*time.Second,
		"limit on waiting for Adobe's answer")
	w.ShutdownTimeout = r.Duration("SHUTDOWN_TIMEOUT", 45*time.Second,
		"on SIGTERM, how long in-flight callbacks may finish (above TASK_TIMEOUT)")
	w.RetryBase = r.Duration("RETRY_BASE", 5*time.Second, "first retry's backoff ceiling")
	w.RetryCap = r.Duration("RETRY_CAP", 2*time.Minute, "largest backoff between attempts")
	w.RateLimitMaxWait = r.Duration("RATE_LIMIT_MAX_WAIT", 5*time.Minute,
		"longest wait a 429's Retry-After may impose")
	w.RateLimitWaits = r.Int("RATE_LIMIT_MAX_WAITS", 10, 0,
		"429 waits per callback that use no attempt")
	w.TaskCheck = r.Duration("TASK_CHECK_INTERVAL", 100*time.Millisecond,
		"poll interval when the queue is empty")
	w.DelayedTaskCheck = r.Duration("DELAYED_TASK_CHECK_INTERVAL", time.Second,
		"how often due retries are moved back to the queue")
	w.OpsListen = r.String("OPS_LISTEN", ":9090", "address of /healthz, /readyz and /metrics")
	if w.APIKey == "" {
		w.APIKey = w.IMS.ClientID
	}
	w.validate(r)
	return w, r, r.Err()
}

func (w Worker) validate(r *envconfig.Reader) {
	if w.IMS.ClientID == "" {
		r.Fail("IMS_CLIENT_ID", "is required")
	}
	if w.IMS.ClientSecret == "" {
		r.Fail("IMS_CLIENT_SECRET", "is required")
	}
	// One attempt may fetch a token, send, fetch again after a 401 and resend.
	budget := 2 * (w.IMSTimeout + w.HTTPTimeout)
	if w.TaskTimeout <= budget {
		r.Fail("TASK_TIMEOUT", "%s must exceed 2×(IMS_TIMEOUT+HTTP_TIMEOUT) = %s", w.TaskTimeout,
			budget)
	}
	if w.ShutdownTimeout <= w.TaskTimeout {
		r.Fail("SHUTDOWN_TIMEOUT", "%s must exceed TASK_TIMEOUT (%s) so in-flight callbacks "+
			"finish", w.ShutdownTimeout, w.TaskTimeout)
	}
	if w.RetryCap < w.RetryBase {
		r.Fail("RETRY_CAP", "%s is below RETRY_BASE (%s)", w.RetryCap, w.RetryBase)
	}
}

// Producer is the producer API's and CLI's configuration.
type Producer struct {
	Common
	Listen string
	// APITokens are the bearer tokens the API accepts.
	APITokens       []string
	MaxBodyBytes    int
	ResultRetention time.Duration
}

// LoadProducer reads the producer's configuration. needTokens is false for
// CLI commands, which do not serve the API.
func LoadProducer(lookup func(string) (string, bool), needTokens bool) (Producer, *envconfig.Reader,
	error) {
	r := envconfig.New(lookup)
	p := Producer{Common: readCommon(r)}
	p.Listen = r.String("LISTEN", ":8080", "address of the producer API")
	tokens := r.Secret("API_TOKENS", "bearer tokens the API accepts, comma-separated (required)")
	for _, t := range strings.Split(tokens, ",") {
		if t = strings.TrimSpace(t); t != "" {
			p.APITokens = append(p.APITokens, t)
		}
	}
	p.MaxBodyBytes = r.Int("MAX_BODY_BYTES", 1<<20, 1024, "largest request body the API reads")
	p.ResultRetention = r.Duration("RESULT_RETENTION", 24*time.Hour,
		"how long a delivered callback's status stays readable")
	if needTokens && len(p.APITokens) == 0 {
		r.Fail("API_TOKENS", "is required: at least one bearer token for the API")
	}
	for _, t := range p.APITokens {
		if len(t) < 16 {
			r.Fail("API_TOKENS", "a token is shorter than 16 characters; use long random tokens")
			break
		}
	}
	return p, r, r.Err()
}

// Summary describes a configuration for the start-up log line, without
// secrets.
func (c Common) Summary() []any {
	return []any{"queue", c.Queue, "allowed_hosts", strings.Join(c.Guard.AllowedHosts, ","),
		"allow_http", c.Guard.AllowHTTP, "allow_private", c.Guard.AllowPrivate,
		"max_attempts", c.MaxAttempts, "task_timeout", c.TaskTimeout.String()}
}

// ErrHelp is returned by Help when the arguments ask for help.
var ErrHelp = fmt.Errorf("help requested")
