package chaos

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/callback-dispatcher/dispatcher/internal/job"
)

// class is a kind of callback, by how the simulator answers it. Each token
// is named after its class, so one glob rule per class scripts them all.
type class struct {
	name   string
	script string
	share  float64
	// deadLetter is the expected end: dead-lettered rather than delivered.
	deadLetter bool
}

// classes answer 30 % of the callbacks with 503 first and 1 % with 400.
// An acceptance is answered 150 ms after the request arrives, as a real
// endpoint's might be, which leaves a kill room to land between Adobe
// taking a callback and the worker recording it. The 400 repeats so that a resend after a
// fault is refused again, as Adobe would refuse the same body.
var classes = []class{
	{name: "ok", script: "200@150ms", share: 0.69},
	{name: "503x1", script: "503,200@150ms", share: 0.20},
	{name: "503x2", script: "503,503,200@150ms", share: 0.10},
	{name: "400", script: "400*20", share: 0.01, deadLetter: true},
}

// simRules is the simulator's SIM_RULES setting for the classes.
func simRules() string {
	rules := make([]string, len(classes))
	for i, c := range classes {
		rules[i] = "chaos-" + c.name + "-*=" + c.script
	}
	return strings.Join(rules, ";")
}

// pickClass draws a class by its share.
func pickClass(rng *rand.Rand) class {
	x := rng.Float64()
	for _, c := range classes {
		if x < c.share {
			return c
		}
		x -= c.share
	}
	return classes[0]
}

func classOf(name string) (class, bool) {
	for _, c := range classes {
		if c.name == name {
			return c, true
		}
	}
	return class{}, false
}

// Submission is one callback the producer accepted.
type Submission struct {
	Token     string
	ID        string
	RequestID string
	Class     string
	At        time.Time
}

// loadResult is what the producer answered over the whole load.
type loadResult struct {
	accepted []Submission
	// refused are callbacks never accepted, even after retries.
	refused []string
	// retried counts enqueues that needed more than one request.
	retried int
}

// loader posts callbacks to the producer API at a steady rate, retrying
// each until the producer accepts it, as a provider should.
type loader struct {
	api, sim, apiToken, runID string
	template                  map[string]any
	client                    *http.Client
}

func newLoader(api, sim, apiToken, runID, example string) (*loader, error) {
	raw, err := os.ReadFile(example)
	if err != nil {
		return nil, fmt.Errorf("read example execution request: %w", err)
	}
	var tmpl map[string]any
	if err := json.Unmarshal(raw, &tmpl); err != nil {
		return nil, fmt.Errorf("decode %s: %w", example, err)
	}
	return &loader{api: api, sim: sim, apiToken: apiToken, runID: runID, template: tmpl,
		client: &http.Client{Timeout: 10 * time.Second}}, nil
}

// run sends n callbacks spread evenly over d, with classes drawn from rng,
// and returns once each is accepted or given up.
func (l *loader) run(ctx context.Context, n int, d time.Duration, rng *rand.Rand) loadResult {
	type item struct {
		token string
		class string
	}
	items := make(chan item)
	go func() {
		defer close(items)
		start := time.Now()
		for i := range n {
			c := pickClass(rng)
			due := start.Add(time.Duration(int64(d) * int64(i) / int64(n)))
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(due)):
			}
			items <- item{token: fmt.Sprintf("chaos-%s-%s-%05d", c.name, l.runID, i), class: c.name}
		}
	}()

	var mu sync.Mutex
	var res loadResult
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for it := range items {
				sub, tries, err := l.enqueue(ctx, it.token)
				mu.Lock()
				if tries > 1 {
					res.retried++
				}
				if err != nil {
					res.refused = append(res.refused, it.token+": "+err.Error())
				} else {
					sub.Class = it.class
					res.accepted = append(res.accepted, sub)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return res
}

// enqueue posts one callback until the producer answers 202 or 200 (already
// queued), for at most a minute: a 503 while Redis restarts is retried.
func (l *loader) enqueue(ctx context.Context, token string) (Submission, int, error) {
	body, err := l.request(token)
	if err != nil {
		return Submission{}, 0, err
	}
	deadline := time.Now().Add(time.Minute)
	wait := 100 * time.Millisecond
	for tries := 1; ; tries++ {
		sub, retry, err := l.post(ctx, token, body)
		if err == nil {
			return sub, tries, nil
		}
		if !retry || time.Now().After(deadline) {
			return Submission{}, tries, err
		}
		select {
		case <-ctx.Done():
			return Submission{}, tries, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// request is the API request of one callback: Adobe's example execution
// request with the token and a callbackUrl on the simulator.
func (l *loader) request(token string) ([]byte, error) {
	exec := make(map[string]any, len(l.template))
	for k, v := range l.template {
		exec[k] = v
	}
	exec["token"] = token
	exec["callbackUrl"] = l.sim + "/callback/" + token
	return json.Marshal(map[string]any{"execution": exec,
		"result": map[string]any{"activityData": map[string]any{"success": true}}})
}

// post makes one request; retry says whether a failure is worth another.
func (l *loader) post(ctx context.Context, token string, body []byte) (Submission, bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.api+"/v1/callbacks",
		bytes.NewReader(body))
	if err != nil {
		return Submission{}, false, err
	}
	req.Header.Set("Authorization", "Bearer "+l.apiToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.client.Do(req)
	if err != nil {
		return Submission{}, true, err
	}
	defer func() { _ = resp.Body.Close() }()
	var answer struct {
		ID        string `json:"id"`
		RequestID string `json:"requestId"`
		Message   string `json:"message"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&answer)
	switch {
	case resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusOK:
		id := job.IDFromToken(token)
		if answer.ID != id {
			return Submission{}, false, fmt.Errorf("producer answered id %q, want %q",
				answer.ID, id)
		}
		return Submission{Token: token, ID: id, RequestID: cmp.Or(answer.RequestID, id),
			At: time.Now()}, false, nil
	case resp.StatusCode >= 500:
		return Submission{}, true, fmt.Errorf("producer answered %d: %s", resp.StatusCode,
			answer.Message)
	}
	return Submission{}, false, fmt.Errorf("producer answered %d: %s", resp.StatusCode,
		answer.Message)
}
