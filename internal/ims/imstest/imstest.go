// Package imstest puts a front on the Adobe simulator's token endpoint for
// tests: it records each token minted and when, and fails token requests
// on demand, as IMS does during an outage.
package imstest

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/callback-dispatcher/dispatcher/internal/adobesim"
)

// TokenPath is the simulator's token endpoint.
const TokenPath = "/ims/token/v3"

// Mint is one token the simulator handed out.
type Mint struct {
	At    time.Time
	Token string
}

// Front wraps a simulator's handler. It is safe for concurrent use.
type Front struct {
	next http.Handler

	mu       sync.Mutex
	mints    []Mint
	requests int
	// failures are answered, in order, instead of the next token requests.
	failures []failure
	// gate, when set, holds token requests until it is closed.
	gate chan struct{}
}

type failure struct {
	status int
	body   string
}

// New returns a front for next, typically adobesim.Simulator.Handler().
func New(next http.Handler) *Front { return &Front{next: next} }

// Start runs a simulator with cfg behind a front on a loopback test server,
// closed when the test ends. The token URL is srv.URL + TokenPath.
func Start(t testing.TB, cfg adobesim.Config) (*adobesim.Simulator, *Front, *httptest.Server) {
	t.Helper()
	sim, err := adobesim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	front := New(sim.Handler())
	srv := httptest.NewServer(front)
	t.Cleanup(srv.Close)
	return sim, front, srv
}

// FailNext answers the next n token requests with status and body, such as
// 503 or 400 with {"error":"invalid_scope"}.
func (f *Front) FailNext(n, status int, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.failures = append(f.failures, failure{status: status, body: body})
	}
}

// Hold makes token requests wait until release is called, as a slow IMS
// would; release may be called more than once.
func (f *Front) Hold() (release func()) {
	gate := make(chan struct{})
	f.mu.Lock()
	f.gate = gate
	f.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			f.mu.Lock()
			f.gate = nil
			f.mu.Unlock()
			close(gate)
		})
	}
}

// Mints returns the tokens minted so far, in order.
func (f *Front) Mints() []Mint {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Mint(nil), f.mints...)
}

// Tokens returns the access tokens minted so far.
func (f *Front) Tokens() []string {
	var out []string
	for _, m := range f.Mints() {
		out = append(out, m.Token)
	}
	return out
}

// Requests counts the token requests seen, failed ones included.
func (f *Front) Requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

// ServeHTTP answers token requests itself when a failure is due, records
// the tokens the simulator mints, and passes everything else on untouched.
func (f *Front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != TokenPath || r.Method != http.MethodPost {
		f.next.ServeHTTP(w, r)
		return
	}
	f.mu.Lock()
	f.requests++
	gate := f.gate
	var fail *failure
	if len(f.failures) > 0 {
		fail = &f.failures[0]
		f.failures = f.failures[1:]
	}
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	if fail != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(fail.status)
		_, _ = w.Write([]byte(fail.body))
		return
	}

	rec := httptest.NewRecorder()
	f.next.ServeHTTP(rec, r)
	if rec.Code == http.StatusOK {
		var grant struct {
			AccessToken string `json:"access_token"`
		}
		if json.Unmarshal(rec.Body.Bytes(), &grant) == nil && grant.AccessToken != "" {
			f.mu.Lock()
			f.mints = append(f.mints, Mint{At: time.Now(), Token: grant.AccessToken})
			f.mu.Unlock()
		}
	}
	maps.Copy(w.Header(), rec.Header())
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}
