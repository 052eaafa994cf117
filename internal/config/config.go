// Package config reads the worker's and the producer's settings from the
// environment, once, into structs validated at start.
package config

import (
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/callback-dispatcher/dispatcher/internal/envconfig"
	"github.com/callback-dispatcher/dispatcher/internal/ims"
	"github.com/callback-dispatcher/dispatcher/internal/job"
	"github.com/callback-dispatcher/dispatcher/internal/redisconn"
	"github.com/callback-dispatcher/dispatcher/internal/urlguard"
)

// Common holds the settings both programs share.
type Common struct {
	RedisURL string
	Queue    string
	// DefaultOrgID is used when a request has no context.subscription.imsOrgId.
	DefaultOrgID string
	// ProfilesFile is a JSON or YAML list of IMS credential profiles.
	ProfilesFile string
	// OrgIDs are the orgs the credential of the environment serves (the
	// worker) or that have a credential (the producer); nil when unset.
	OrgIDs []string
	Guard  urlguard.Config
	// TaskTimeout is asynq's limit on one task run; whole seconds.
	TaskTimeout time.Duration
	MaxAttempts int
	LogLevel    slog.Level
	Store       Store
}

func readCommon(r *envconfig.Reader) Common {
	c := Common{
		RedisURL: r.String("REDIS_URL", "redis://127.0.0.1:6379/0",
			"Redis holding the queue: redis://, rediss:// or redis-sentinel://"),
		Queue:        r.String("QUEUE", job.DefaultQueue, "asynq queue of callback jobs"),
		DefaultOrgID: r.String("IMS_ORG_ID", "", "IMS org id for requests that carry none"),
		ProfilesFile: r.String("IMS_PROFILES_FILE", "",
			"JSON or YAML list of IMS credential profiles, keyed by org (see README)"),
		OrgIDs: r.List("IMS_ORG_IDS", nil,
			"orgs the IMS_CLIENT_ID credential serves (worker) or that have a credential "+
				"(producer), comma-separated; unset or *: any"),
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
		MaxAttempts: r.Int("MAX_ATTEMPTS", 5, 1,
			"sends a callback gets before it is dead-lettered"),
	}
	if c.MaxAttempts > 5 {
		r.Fail("MAX_ATTEMPTS", "%d is above 5, the most the callback contract allows",
			c.MaxAttempts)
	}
	if c.TaskTimeout < time.Second || c.TaskTimeout%time.Second != 0 {
		r.Fail("TASK_TIMEOUT", "%s must be whole seconds, at least 1s (asynq's resolution)",
			c.TaskTimeout)
	}
	for _, name := range []string{"REDIS_URL", "QUEUE"} {
		if r.SetButBlank(name) {
			r.Fail(name, "is set but blank; unset it to use the default, or give a value")
		}
	}
	checkAllowedHosts(r, c.Guard.AllowedHosts)
	c.Store = readStore(r)
	level := r.String("LOG_LEVEL", "info", "debug, info, warn or error")
	if err := c.LogLevel.UnmarshalText([]byte(level)); err != nil {
		r.Fail("LOG_LEVEL", "%q is not debug, info, warn or error", level)
	}
	return c
}

// Worker is the worker's configuration.
type Worker struct {
	Common
	// IMSProfiles are the credential profiles, from the environment and
	// IMS_PROFILES_FILE, with their defaults filled in.
	IMSProfiles   []ims.Profile
	IMSTimeout    time.Duration
	RefreshMargin time.Duration
	// IMSLockTimeout is how long the shared cache's fetch lock lives.
	IMSLockTimeout time.Duration
	// IMSWaitTimeout bounds a callback's wait for a token.
	IMSWaitTimeout time.Duration
	// IMSTokenKey encrypts cached tokens in Redis when set (AES-256).
	IMSTokenKey []byte
	// APIKey, when set, is the X-Api-Key of every callback. Empty sends
	// the client id of the profile serving the callback's org, the
	// credential of its bearer token, as Adobe's gateways expect.
	APIKey      string
	Concurrency int
	// Servers is how many asynq servers, each with its own dequeue loop,
	// share Concurrency in this process.
	Servers          int
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

// envProfileName names the profile built from IMS_CLIENT_ID and friends.
const envProfileName = "default"

// LoadWorker reads the worker's configuration; nil lookup means the
// process environment. The Reader lists every variable for --help.
func LoadWorker(lookup func(string) (string, bool)) (Worker, *envconfig.Reader, error) {
	r := envconfig.New(lookup)
	w := Worker{Common: readCommon(r)}
	w.IMSProfiles = readProfiles(r, w.Common)
	orgs, anyOrg := ims.OrgIDsOf(w.IMSProfiles)
	checkDefaultOrg(r, w.DefaultOrgID, orgs, anyOrg)
	w.IMSTimeout = r.Duration("IMS_TIMEOUT", 5*time.Second, "limit on one IMS token request")
	w.RefreshMargin = r.Duration("IMS_REFRESH_MARGIN", ims.DefaultRefreshMargin,
		"refresh a token when less than this is left")
	w.IMSLockTimeout = r.Duration("IMS_LOCK_TIMEOUT", ims.DefaultLockTimeout,
		"lifetime of the Redis lock held while one worker fetches a token")
	w.IMSWaitTimeout = r.Duration("IMS_WAIT_TIMEOUT", ims.DefaultWaitTimeout,
		"longest a callback waits for a token when none is cached")
	if key := r.Secret("IMS_TOKEN_KEY",
		"base64 AES-256 key encrypting cached tokens in Redis (optional)"); key != "" {
		parsed, err := ims.ParseTokenKey(key)
		if err != nil {
			r.Fail("IMS_TOKEN_KEY", "%v", err)
		}
		w.IMSTokenKey = parsed
	}
	w.APIKey = r.String("CALLBACK_API_KEY", "",
		"X-Api-Key for every callback when set; unset, each callback carries the client id "+
			"of the IMS profile serving its org")
	if strings.ContainsFunc(w.APIKey, unicode.IsControl) {
		r.Fail("CALLBACK_API_KEY", "holds a control character, which no HTTP header may carry")
	}
	w.Concurrency = r.Int("CONCURRENCY", 50, 1, "callbacks sent at once by this process")
	w.Servers = r.Int("WORKER_SERVERS", DefaultServers, 1,
		"asynq servers (dequeue loops) in this process, sharing CONCURRENCY; at most "+
			"one per CONCURRENCY slot")
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
	// Each server needs a callback slot of its own.
	w.Servers = min(w.Servers, w.Concurrency)
	w.validate(r)
	return w, r, r.Err()
}

func (w Worker) validate(r *envconfig.Reader) {
	if w.IMSWaitTimeout < w.IMSTimeout {
		r.Fail("IMS_WAIT_TIMEOUT", "%s is below IMS_TIMEOUT (%s): callbacks would give up "+
			"on a fetch still allowed to run", w.IMSWaitTimeout, w.IMSTimeout)
	}
	if w.IMSLockTimeout <= w.IMSTimeout {
		r.Fail("IMS_LOCK_TIMEOUT", "%s must exceed IMS_TIMEOUT (%s) so a fetch ends before "+
			"its lock", w.IMSLockTimeout, w.IMSTimeout)
	}
	// One attempt may wait for a token, send, wait again after a 401 and
	// resend.
	budget := 2 * (w.IMSWaitTimeout + w.HTTPTimeout)
	if w.TaskTimeout <= budget {
		r.Fail("TASK_TIMEOUT", "%s must exceed 2×(IMS_WAIT_TIMEOUT+HTTP_TIMEOUT) = %s",
			w.TaskTimeout, budget)
	}
	if w.ShutdownTimeout <= w.TaskTimeout {
		r.Fail("SHUTDOWN_TIMEOUT", "%s must exceed TASK_TIMEOUT (%s) so in-flight callbacks "+
			"finish", w.ShutdownTimeout, w.TaskTimeout)
	}
	if w.RetryCap < w.RetryBase {
		r.Fail("RETRY_CAP", "%s is below RETRY_BASE (%s)", w.RetryCap, w.RetryBase)
	}
	if w.Servers > MaxServers {
		r.Fail("WORKER_SERVERS", "%d is above %d", w.Servers, MaxServers)
	}
}

// DefaultServers and MaxServers bound WORKER_SERVERS. One asynq server
// dequeues one task per Redis round trip, which caps a process near 6k
// callbacks a second on two cores whatever its concurrency; four lift that
// cap, and poll an idle queue four times as often (docs/benchmarks.md).
const (
	DefaultServers = 4
	MaxServers     = 16
)

// readProfiles builds the credential profiles: the one of IMS_CLIENT_ID and
// its companions, when set, and those listed in IMS_PROFILES_FILE.
func readProfiles(r *envconfig.Reader, c Common) []ims.Profile {
	env := ims.Profile{
		Name: envProfileName,
		ClientID: r.String("IMS_CLIENT_ID", "",
			"OAuth Server-to-Server client id (required unless IMS_PROFILES_FILE is set)"),
	}
	secret := r.Secret("IMS_CLIENT_SECRET", "client secret of IMS_CLIENT_ID")
	second := r.Secret("IMS_CLIENT_SECRET_2",
		"second client secret, tried when IMS refuses the first (rotation)")
	env.Scopes = r.List("IMS_SCOPES", ims.DefaultScopes,
		"IMS scopes, comma-separated; Adobe does not document which callbacks need")
	env.TokenURL = r.String("IMS_TOKEN_URL", ims.DefaultTokenURL, "IMS token endpoint")

	var file []ims.Profile
	if c.ProfilesFile != "" {
		var err error
		if file, err = ims.ReadProfilesFile(c.ProfilesFile); err != nil {
			r.Fail("IMS_PROFILES_FILE", "%v", err)
		} else if err := ims.ValidateProfiles(file); len(file) > 0 && err != nil {
			r.Fail("IMS_PROFILES_FILE", "%v", err)
		}
	}
	switch {
	case env.ClientID == "" && (secret != "" || second != ""):
		r.Fail("IMS_CLIENT_ID", "is required with IMS_CLIENT_SECRET")
	case env.ClientID == "" && len(file) == 0 && c.ProfilesFile == "":
		r.Fail("IMS_CLIENT_ID", "is required unless IMS_PROFILES_FILE lists profiles")
	case env.ClientID != "" && secret == "":
		r.Fail("IMS_CLIENT_SECRET", "is required with IMS_CLIENT_ID")
	}
	if env.ClientID == "" || secret == "" {
		return file
	}
	env.ClientSecrets = []ims.Secret{ims.Secret(secret)}
	if second != "" {
		env.ClientSecrets = append(env.ClientSecrets, ims.Secret(second))
	}
	env.OrgIDs = c.OrgIDs
	if len(env.OrgIDs) == 0 {
		env.OrgIDs = []string{ims.AnyOrg}
	}
	checkEnvProfile(r, env, file)
	return append(file, env)
}

// checkEnvProfile reports what in the profile of the environment clashes
// with the file's profiles, naming the variable to change.
func checkEnvProfile(r *envconfig.Reader, env ims.Profile, file []ims.Profile) {
	if err := ims.CheckTokenURL(env.TokenURL); err != nil {
		r.Fail("IMS_TOKEN_URL", "%v", err)
	}
	if strings.ContainsFunc(env.ClientID, unicode.IsControl) {
		r.Fail("IMS_CLIENT_ID", "holds a control character, which no HTTP header may carry")
	}
	for _, p := range file {
		if p.Name == env.Name {
			r.Fail("IMS_PROFILES_FILE", "profile name %q is taken by the profile of "+
				"IMS_CLIENT_ID", p.Name)
		}
		for _, org := range p.OrgIDs {
			if slices.Contains(env.OrgIDs, org) {
				r.Fail("IMS_ORG_IDS", "%q is also served by profile %q of IMS_PROFILES_FILE; "+
					"list the orgs of IMS_CLIENT_ID", org, p.Name)
			}
		}
	}
}

// checkDefaultOrg refuses a default org that no profile serves: every
// request without an org would be refused.
func checkDefaultOrg(r *envconfig.Reader, defaultOrg string, orgs []string, anyOrg bool) {
	if defaultOrg != "" && !anyOrg && !slices.Contains(orgs, defaultOrg) {
		r.Fail("IMS_ORG_ID", "%q has no IMS profile (IMS_PROFILES_FILE, IMS_ORG_IDS)",
			defaultOrg)
	}
}

// knownOrgs lists the orgs that have an IMS profile, for the producer to
// refuse the others; nil means any org, as when neither IMS_PROFILES_FILE
// nor IMS_ORG_IDS is set. Secrets in the file are not kept.
func knownOrgs(r *envconfig.Reader, c Common) []string {
	if c.ProfilesFile == "" && c.OrgIDs == nil {
		return nil
	}
	orgs := slices.Clone(c.OrgIDs)
	if c.ProfilesFile != "" {
		file, err := ims.ReadProfilesFile(c.ProfilesFile)
		if err != nil {
			r.Fail("IMS_PROFILES_FILE", "%v", err)
			return nil
		}
		fileOrgs, anyOrg := ims.OrgIDsOf(file)
		if anyOrg {
			return nil
		}
		orgs = append(orgs, fileOrgs...)
	}
	if slices.Contains(orgs, ims.AnyOrg) {
		return nil
	}
	return orgs
}

// Producer is the producer API's and CLI's configuration.
type Producer struct {
	Common
	Listen string
	// OpsListen is the address of /metrics, /healthz and /readyz.
	OpsListen string
	// APITokens are the bearer tokens the API accepts.
	APITokens    []string
	MaxBodyBytes int
	// MaxBatchBytes and MaxBatchItems bound POST /v1/callbacks/batch.
	MaxBatchBytes   int
	MaxBatchItems   int
	ResultRetention time.Duration
	// KnownOrgIDs are the orgs that have an IMS profile; callbacks of
	// other orgs are refused. Nil accepts any org.
	KnownOrgIDs []string
	// ServiceDefinitionsDir holds the service definitions results are
	// checked against; empty checks only the envelope and the IDs.
	ServiceDefinitionsDir string
	// DefaultService is the apiName used when a request names none.
	DefaultService string
}

// maxBatchBytes bounds MAX_BATCH_BYTES, since a batch is read whole.
const maxBatchBytes = 256 << 20

// LoadProducer reads the producer's configuration. needTokens is false for
// CLI commands, which do not serve the API.
func LoadProducer(lookup func(string) (string, bool), needTokens bool) (Producer, *envconfig.Reader,
	error) {
	r := envconfig.New(lookup)
	p := Producer{Common: readCommon(r)}
	p.KnownOrgIDs = knownOrgs(r, p.Common)
	if p.KnownOrgIDs != nil {
		checkDefaultOrg(r, p.DefaultOrgID, p.KnownOrgIDs, false)
	}
	p.Listen = r.String("LISTEN", ":8080", "address of the producer API")
	p.OpsListen = r.String("OPS_LISTEN", ":9090", "address of /metrics, /healthz and /readyz")
	tokens := r.Secret("API_TOKENS", "bearer tokens the API accepts, comma-separated (required)")
	for _, t := range strings.Split(tokens, ",") {
		if t = strings.TrimSpace(t); t != "" {
			p.APITokens = append(p.APITokens, t)
		}
	}
	p.MaxBodyBytes = r.Int("MAX_BODY_BYTES", 1<<20, 1024,
		"largest request body the API reads, and largest line of a batch")
	p.MaxBatchBytes = r.Int("MAX_BATCH_BYTES", 4<<20, 1024,
		"largest body of POST /v1/callbacks/batch")
	p.MaxBatchItems = r.Int("MAX_BATCH_ITEMS", 1000, 1,
		"most callback requests in one POST /v1/callbacks/batch")
	if p.MaxBatchBytes > maxBatchBytes {
		r.Fail("MAX_BATCH_BYTES", "%d is above %d (256 MiB): a batch is read whole into "+
			"memory", p.MaxBatchBytes, maxBatchBytes)
	}
	p.ResultRetention = r.Duration("RESULT_RETENTION", 24*time.Hour,
		"how long a delivered callback's status stays readable")
	p.ServiceDefinitionsDir = r.String("SERVICE_DEFINITIONS_DIR", "",
		"directory of service definitions (JSON or YAML) results are checked against")
	p.DefaultService = r.String("SERVICE_DEFAULT", "",
		"apiName of the definition used when a request names none (default: the only one)")
	if needTokens && len(p.APITokens) == 0 {
		r.Fail("API_TOKENS", "is required: at least one bearer token for the API")
	}
	if p.ResultRetention < maxDeadline {
		// The job id is what makes a second enqueue of one token the same
		// job; it must outlive every callback's deadline.
		r.Fail("RESULT_RETENTION", "%s is shorter than the longest callback deadline (%s): a "+
			"repeated enqueue after it would send the callback again", p.ResultRetention,
			maxDeadline)
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
	return []any{"redis", redisconn.Redacted(c.RedisURL), "queue", c.Queue,
		"allowed_hosts", strings.Join(c.Guard.AllowedHosts, ","),
		"allow_http", c.Guard.AllowHTTP, "allow_private", c.Guard.AllowPrivate,
		"max_attempts", c.MaxAttempts, "task_timeout", c.TaskTimeout.String()}
}

// maxDeadline is the longest a callback may wait: actionConfig.timeout is at
// most 240 minutes.
const maxDeadline = 4 * time.Hour

// checkAllowedHosts refuses allowlist entries that cannot mean what the
// operator wants: a scheme, a path, a wildcard, or a bare top-level domain
// that would admit half the internet.
func checkAllowedHosts(r *envconfig.Reader, hosts []string) {
	if len(hosts) == 0 {
		r.Fail("CALLBACK_ALLOWED_HOSTS", "is empty, so every callback would be refused")
	}
	for _, h := range hosts {
		h = strings.Trim(strings.ToLower(h), ".")
		switch {
		case strings.ContainsAny(h, "/:*@ "):
			if _, err := netip.ParseAddr(h); err == nil {
				continue
			}
			r.Fail("CALLBACK_ALLOWED_HOSTS", "%q is not a domain suffix such as adobe.com "+
				"(no scheme, port, path or wildcard)", h)
		case !strings.Contains(h, ".") && h != "localhost":
			r.Fail("CALLBACK_ALLOWED_HOSTS", "%q is a top-level domain; name the domain, such "+
				"as adobe.com", h)
		}
	}
}
