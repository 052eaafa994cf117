package config

import (
	"strings"
	"testing"
	"time"

	"github.com/callback-dispatcher/dispatcher/internal/envconfig"
)

func TestWorkerDefaults(t *testing.T) {
	t.Parallel()
	w, _, err := LoadWorker(envconfig.MapLookup(map[string]string{
		"IMS_CLIENT_ID": "client", "IMS_CLIENT_SECRET": "secret"}))
	if err != nil {
		t.Fatal(err)
	}
	if w.APIKey != "" || w.MaxAttempts != 5 || w.Queue != "callbacks" ||
		w.TaskTimeout != 40*time.Second || w.ShutdownTimeout <= w.TaskTimeout {
		t.Errorf("unexpected defaults: %+v", w)
	}
	if len(w.IMSProfiles) != 1 || strings.Join(w.IMSProfiles[0].Scopes, ",") != "openid,AdobeID" {
		t.Errorf("profiles %+v", w.IMSProfiles)
	}
}

func TestWorkerRefusesBadSettings(t *testing.T) {
	t.Parallel()
	_, _, err := LoadWorker(envconfig.MapLookup(map[string]string{
		"IMS_CLIENT_SECRET":   "super-secret-value",
		"CONCURRENCY":         "lots",
		"MAX_ATTEMPTS":        "9",
		"TASK_TIMEOUT":        "1500ms",
		"SHUTDOWN_TIMEOUT":    "1s",
		"RETRY_BASE":          "-1s",
		"CALLBACK_ALLOW_HTTP": "maybe",
		"LOG_LEVEL":           "loud",
	}))
	if err == nil {
		t.Fatal("bad settings were accepted")
	}
	msg := err.Error()
	for _, name := range []string{"IMS_CLIENT_ID", "CONCURRENCY", "MAX_ATTEMPTS", "TASK_TIMEOUT",
		"SHUTDOWN_TIMEOUT", "RETRY_BASE", "CALLBACK_ALLOW_HTTP", "LOG_LEVEL"} {
		if !strings.Contains(msg, name+":") {
			t.Errorf("error does not name %s:\n%s", name, msg)
		}
	}
	if strings.Contains(msg, "super-secret-value") {
		t.Errorf("error repeats a secret:\n%s", msg)
	}
}

func TestProducerNeedsLongAPITokens(t *testing.T) {
	t.Parallel()
	if _, _, err := LoadProducer(envconfig.MapLookup(nil), true); err == nil ||
		!strings.Contains(err.Error(), "API_TOKENS: is required") {
		t.Errorf("missing tokens: %v", err)
	}
	if _, _, err := LoadProducer(envconfig.MapLookup(map[string]string{"API_TOKENS": "tiny-tok"}),
		true); err == nil || strings.Contains(err.Error(), "tiny-tok") {
		t.Errorf("short token: %v", err)
	}
	p, _, err := LoadProducer(envconfig.MapLookup(map[string]string{
		"API_TOKENS": " 0123456789abcdef , fedcba9876543210 "}), true)
	if err != nil || len(p.APITokens) != 2 || p.MaxBodyBytes != 1<<20 {
		t.Errorf("got %+v, %v", p, err)
	}
	if _, _, err := LoadProducer(envconfig.MapLookup(nil), false); err != nil {
		t.Errorf("the CLI needs no API token: %v", err)
	}
}

func TestHelpListsEveryVariable(t *testing.T) {
	t.Parallel()
	_, r, _ := LoadWorker(envconfig.MapLookup(nil))
	var b strings.Builder
	r.Usage(&b, "worker")
	for _, name := range []string{"REDIS_URL", "IMS_CLIENT_SECRET", "RETRY_CAP", "OPS_LISTEN"} {
		if !strings.Contains(b.String(), name) {
			t.Errorf("help lacks %s", name)
		}
	}
}

func TestWorkerServersAreBoundedByConcurrency(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		servers     string
		concurrency string
		// want is the number of servers, or 0 when the settings are refused.
		want int
	}{
		{name: "four servers share fifty slots", servers: "4", concurrency: "50", want: 4},
		{name: "the default is four", concurrency: "50", want: DefaultServers},
		{name: "one server per slot is the most", servers: "4", concurrency: "3", want: 3},
		{name: "the default with one slot is one", concurrency: "1", want: 1},
		{name: "more than the maximum is refused", servers: "17", concurrency: "100"},
		{name: "zero servers is refused", servers: "0", concurrency: "50"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"IMS_CLIENT_ID": "client", "IMS_CLIENT_SECRET": "secret",
				"CONCURRENCY": c.concurrency}
			if c.servers != "" {
				env["WORKER_SERVERS"] = c.servers
			}
			w, _, err := LoadWorker(envconfig.MapLookup(env))
			if c.want > 0 && (err != nil || w.Servers != c.want) {
				t.Errorf("WORKER_SERVERS=%q: %d servers, want %d (%v)", c.servers, w.Servers,
					c.want, err)
			}
			if c.want == 0 && (err == nil || !strings.Contains(err.Error(), "WORKER_SERVERS:")) {
				t.Errorf("WORKER_SERVERS=%s with CONCURRENCY=%s accepted: %v", c.servers,
					c.concurrency, err)
			}
		})
	}
}

func TestRiskyValuesAreRefused(t *testing.T) {
	t.Parallel()
	base := map[string]string{"IMS_CLIENT_ID": "c", "IMS_CLIENT_SECRET": "s"}
	tests := []struct {
		name, variable, value string
	}{
		{"a blank Redis URL is not the default", "REDIS_URL", " "},
		{"a blank queue is not the default", "QUEUE", ""},
		{"a bare top-level domain is refused", "CALLBACK_ALLOWED_HOSTS", "com"},
		{"a scheme is refused", "CALLBACK_ALLOWED_HOSTS", "https://adobe.com"},
		{"a wildcard is refused", "CALLBACK_ALLOWED_HOSTS", "*.adobe.com"},
		{"an empty list is refused", "CALLBACK_ALLOWED_HOSTS", ","},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{tt.variable: tt.value}
			for k, v := range base {
				env[k] = v
			}
			_, _, err := LoadWorker(envconfig.MapLookup(env))
			if err == nil || !strings.Contains(err.Error(), tt.variable+":") {
				t.Errorf("got %v, want an error naming %s", err, tt.variable)
			}
		})
	}
	_, _, err := LoadProducer(envconfig.MapLookup(map[string]string{"RESULT_RETENTION": "3s"}),
		false)
	if err == nil || !strings.Contains(err.Error(), "RESULT_RETENTION:") {
		t.Errorf("a retention shorter than the longest deadline: %v", err)
	}
	_, _, err = LoadProducer(envconfig.MapLookup(map[string]string{
		"MAX_BATCH_BYTES": "99999999999999"}), false)
	if err == nil || !strings.Contains(err.Error(), "MAX_BATCH_BYTES:") {
		t.Errorf("a batch limit far beyond memory: %v", err)
	}
	for _, ok := range []string{"adobe.com,adobe.io", "127.0.0.1", "localhost", "::1"} {
		env := map[string]string{"CALLBACK_ALLOWED_HOSTS": ok}
		for k, v := range base {
			env[k] = v
		}
		if _, _, err := LoadWorker(envconfig.MapLookup(env)); err != nil {
			t.Errorf("CALLBACK_ALLOWED_HOSTS=%s refused: %v", ok, err)
		}
	}
}
