package adobesim_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callback-dispatcher/dispatcher/internal/adobesim"
)

func TestFaultScripts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		script       string
		wantStatuses []int
		wantCodes    []string
		wantRetry    string
	}{
		{"two 503s then success", "503,503,200", []int{503, 503, 200, 200},
			[]string{"SERVICE_UNAVAILABLE", "SERVICE_UNAVAILABLE", "", ""}, ""},
		{"a repeated 503", "503*3", []int{503, 503, 503, 200}, nil, ""},
		{"a bad request once", "400", []int{400, 200},
			[]string{"INVALID_CALLBACK", ""}, ""},
		{"an expired bearer token once", "401", []int{401, 200}, []string{"401013", ""}, ""},
		{"a forbidden organization", "403", []int{403, 200}, []string{"FORBIDDEN", ""}, ""},
		{"a rate limit with seconds", "429:2", []int{429, 200},
			[]string{"RATE_LIMIT_EXCEEDED", ""}, "2"},
		{"a 503 with seconds", "503:7", []int{503, 200}, nil, "7"},
		{"an internal error", "500", []int{500, 200}, []string{"INTERNAL_ERROR", ""}, ""},
		{"no content counts as accepted", "204", []int{204, 200}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, adobesim.Config{
				Rules: []adobesim.Rule{{Match: "tok-script", Script: tt.script}},
			})
			var statuses []int
			for i := range tt.wantStatuses {
				got := h.send("tok-script")
				statuses = append(statuses, got.status)
				if tt.wantCodes != nil && got.code() != tt.wantCodes[i] {
					t.Errorf("answer %d = %s, want code %q", i+1, got.body, tt.wantCodes[i])
				}
				if i == 0 && got.header.Get("Retry-After") != tt.wantRetry {
					t.Errorf("Retry-After = %q, want %q",
						got.header.Get("Retry-After"), tt.wantRetry)
				}
			}
			if !slices.Equal(statuses, tt.wantStatuses) {
				t.Errorf("statuses = %v, want %v", statuses, tt.wantStatuses)
			}
			if other := h.send("tok-other"); other.status != http.StatusOK {
				t.Errorf("a token without a rule got %d, want 200", other.status)
			}
		})
	}
}

func TestRetryAfterDateIsAnHTTPDate(t *testing.T) {
	t.Parallel()
	h := newHarness(t, adobesim.Config{Rules: []adobesim.Rule{{Match: "tok-date",
		Script: "429:date2"}}})
	before := time.Now()
	got := h.send("tok-date")
	if got.status != http.StatusTooManyRequests {
		t.Fatalf("status = %d, want 429", got.status)
	}
	value := got.header.Get("Retry-After")
	at, err := http.ParseTime(value)
	if err != nil {
		t.Fatalf("Retry-After %q is not an HTTP date: %v", value, err)
	}
	if earliest := before.Add(2 * time.Second).Truncate(time.Second); at.Before(earliest) {
		t.Errorf("Retry-After %s is before %s, two seconds after the request", at, earliest)
	}
}

func TestRulesMatchPatternsPerToken(t *testing.T) {
	t.Parallel()
	h := newHarness(t, adobesim.Config{Rules: []adobesim.Rule{
		{Match: "*-fail-*", Script: "503"},
		{Match: "job-fail-7", Script: "429:1"},
	}})
	tests := []struct {
		token string
		want  []int
	}{
		{"job-fail-1", []int{503, 200}},
		{"job-fail-2", []int{503, 200}},
		{"job-fail-7", []int{429, 200}},
		{"job-ok-1", []int{200}},
	}
	for _, tt := range tests {
		var got []int
		for range tt.want {
			got = append(got, h.send(tt.token).status)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("token %s got %v, want %v", tt.token, got, tt.want)
		}
	}
}

func TestRefusedCallbacksDoNotUseScriptSteps(t *testing.T) {
	t.Parallel()
	h := newHarness(t, adobesim.Config{Rules: []adobesim.Rule{{Match: "tok-s", Script: "503"}}})
	if got := h.do(h.callback("tok-s", `{"objectData":[]}`)); got.status != 400 {
		t.Fatalf("malformed callback got %d, want 400", got.status)
	}
	if got := h.send("tok-s"); got.status != http.StatusServiceUnavailable {
		t.Errorf("first valid callback got %d, want the script's 503", got.status)
	}
}

func TestSettingARuleAgainRestartsItsScript(t *testing.T) {
	t.Parallel()
	h := newHarness(t, adobesim.Config{})
	rule := adobesim.Rule{Match: "tok-again", Script: "503"}
	var got []int
	for range 2 {
		if err := h.sim.SetRule(rule); err != nil {
			t.Fatal(err)
		}
		got = append(got, h.send("tok-again").status, h.send("tok-again").status)
	}
	h.sim.ClearRules()
	got = append(got, h.send("tok-again").status)
	if want := []int{503, 200, 503, 200, 200}; !slices.Equal(got, want) {
		t.Errorf("statuses = %v, want %v", got, want)
	}
}

func TestDelayHoldsTheAnswerBack(t *testing.T) {
	t.Parallel()
	const delay = 150 * time.Millisecond
	h := newHarness(t, adobesim.Config{Rules: []adobesim.Rule{{Match: "tok-slow",
		Script: "200@150ms"}}})
	start := time.Now()
	got := h.send("tok-slow")
	// A lower bound only: a delay may never be cut short, and a slow machine
	// may always add to it.
	if elapsed := time.Since(start); elapsed < delay || got.status != http.StatusOK {
		t.Errorf("answer %d came after %s, want 200 after at least %s", got.status, elapsed, delay)
	}
}

func TestDelayEndsWhenTheClientGivesUp(t *testing.T) {
	t.Parallel()
	sim, err := adobesim.New(adobesim.Config{Rules: []adobesim.Rule{{Match: "tok-hang",
		Script: "200@5m"}}})
	if err != nil {
		t.Fatal(err)
	}
	finished := make(chan string, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { finished <- r.URL.Path }()
		sim.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	h := &harness{t: t, sim: sim, srv: srv, secret: adobesim.DefaultClientSecret}
	h.bearer = h.mintToken()
	<-finished

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		resp, err := srv.Client().Do(h.callback("tok-hang", validBody).WithContext(ctx))
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	eventually(t, "the callback to be recorded", func() bool { return sim.Stats().Received == 1 })
	cancel()

	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("client error = %v, want context.Canceled", err)
	}
	select {
	case path := <-finished:
		if !strings.HasPrefix(path, "/callback/") {
			t.Errorf("finished %s, want the callback", path)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the handler kept waiting after the client went away")
	}
	// Adobe took the callback even though its answer never arrived: the
	// case where a resend becomes a duplicate.
	if recs := sim.Received("tok-hang"); len(recs) != 1 || !recs[0].Accepted {
		t.Errorf("records = %+v, want one accepted callback", recs)
	}
}

func TestCloseDropsTheConnection(t *testing.T) {
	t.Parallel()
	h := newHarness(t, adobesim.Config{Rules: []adobesim.Rule{{Match: "tok-close",
		Script: "close"}}})
	resp, err := h.srv.Client().Do(h.callback("tok-close", validBody))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got an answer %d, want a client error", resp.StatusCode)
	}
	if got := h.send("tok-close"); got.status != http.StatusOK {
		t.Errorf("after the close: %d, want 200", got.status)
	}

	recs := h.sim.Received("tok-close")
	if len(recs) != 2 || recs[0].Status != 0 || recs[0].Accepted || recs[0].Problem == "" {
		t.Errorf("records = %+v, want a first one with no status, refused, with a problem", recs)
	}
	if st := h.sim.Stats(); st.Rejected != 1 || st.Accepted != 1 {
		t.Errorf("stats = %+v, want one rejected and one accepted", st)
	}
}
