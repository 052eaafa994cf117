package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/callback-dispatcher/dispatcher/internal/adobesim"
	"github.com/callback-dispatcher/dispatcher/internal/ims/imstest"
	"github.com/callback-dispatcher/dispatcher/internal/job"
	"github.com/callback-dispatcher/dispatcher/internal/testenv"
)

// e2eQueue is the asynq queue of the end-to-end test.
const e2eQueue = "metrics-e2e"

// templateValues replaces each dashboard variable with what the test
// queries: every namespace and queue, a one-minute rate window (the
// traffic is less than a minute old) and a five-minute range.
var templateValues = []struct{ name, value string }{
	{"$__rate_interval", "1m"},
	{"$__interval", "15s"},
	{"$__range", "5m"},
	{"$namespace", ".*"},
	{"$queue", ".*"},
}

// e2eCallback is one callback the test sends through the producer API.
type e2eCallback struct {
	token, example, script string
}

var e2eCallbacks = []e2eCallback{
	{"e2e-ok-lead", "examples-03.json", ""},
	{"e2e-ok-account", "examples-04.json", ""},
	{"e2e-ok-account-person", "examples-05.json", ""},
	{"e2e-503-then-200", "examples-03.json", "503,503,200"},
	{"e2e-429-then-200", "examples-03.json", "429:1"},
	{"e2e-401-once", "examples-05.json", "401"},
	{"e2e-400", "examples-04.json", "400"},
	{"e2e-503-always", "examples-03.json", "503*5"},
}

// TestDashboardsShowDataOnARealPrometheus runs a worker and a producer as
// processes against the Adobe simulator, scrapes them with a real
// Prometheus, drives deliveries, retries, a 429, a token refresh, dead
// letters and a requeue through them, then runs every query of every
// dashboard panel and fails on any that errs or returns no data.
func TestDashboardsShowDataOnARealPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a worker, a producer and Prometheus for about a minute")
	}
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("the prometheus binary is not installed (apt-get install prometheus); " +
			".ci/run installs it")
	}
	_, redisURL := testenv.Redis(t)
	databaseURL := testenv.Postgres(t)
	migratedStoreAt(t, databaseURL)
	bin := testenv.Build(t, "./cmd/worker", "./cmd/producer")
	sim, _, srv := imstest.Start(t, adobesim.Config{})
	for _, c := range e2eCallbacks {
		if c.script != "" {
			if err := sim.SetRule(adobesim.Rule{Match: c.token, Script: c.script}); err != nil {
				t.Fatal(err)
			}
		}
	}

	apiToken := "e2e-api-token-0123456789"
	common := []string{"REDIS_URL=" + redisURL, "QUEUE=" + e2eQueue,
		"DATABASE_URL=" + databaseURL, "IMS_ORG_ID=E2E@AdobeOrg",
		"CALLBACK_ALLOWED_HOSTS=127.0.0.1", "CALLBACK_ALLOW_HTTP=true",
		"CALLBACK_ALLOW_PRIVATE=true"}
	workerOps, producerOps, apiAddr := testenv.FreeAddr(t), testenv.FreeAddr(t), testenv.FreeAddr(t)
	startProgram(t, filepath.Join(bin, "worker"), nil, append(common,
		"IMS_CLIENT_ID="+adobesim.DefaultClientID,
		"IMS_CLIENT_SECRET="+adobesim.DefaultClientSecret,
		"IMS_TOKEN_URL="+srv.URL+imstest.TokenPath, "OPS_LISTEN="+workerOps,
		"RETRY_BASE=100ms", "RETRY_CAP=300ms", "TASK_CHECK_INTERVAL=20ms",
		"DELAYED_TASK_CHECK_INTERVAL=100ms", "CONCURRENCY=4"))
	startProgram(t, filepath.Join(bin, "producer"), []string{"serve"}, append(common,
		"LISTEN="+apiAddr, "OPS_LISTEN="+producerOps, "API_TOKENS="+apiToken))
	for _, addr := range []string{workerOps, producerOps} {
		waitOK(t, "http://"+addr+"/readyz")
	}
	prom := startPrometheus(t, promBin, workerOps, producerOps)
	prom.waitFor(t, `count(up == 1)`, 2)

	api := &apiClient{base: "http://" + apiAddr, token: apiToken}
	for _, c := range e2eCallbacks {
		api.enqueue(t, c, srv.URL, http.StatusAccepted)
	}
	api.enqueue(t, e2eCallbacks[0], srv.URL, http.StatusOK)
	api.enqueue(t, e2eCallback{token: "e2e-bad", example: "examples-03.json"}, "", 422)

	prom.waitFor(t, `sum(callback_dispatcher_attempts_total{outcome="delivered"})`, 6)
	prom.waitFor(t, `sum(callback_dispatcher_dead_letters_total{reason="rejected_4xx"})`, 1)
	prom.waitFor(t, `sum(callback_dispatcher_dead_letters_total{reason="attempts_exhausted"})`, 1)
	// The 400 script is used up: the requeued callback is accepted.
	api.requeue(t, job.IDFromToken("e2e-400"))
	for _, w := range []struct {
		query string
		min   float64
	}{
		{`sum(callback_dispatcher_attempts_total{outcome="delivered"})`, 7},
		{`sum(callback_dispatcher_attempts_total{outcome="retry_5xx"})`, 2},
		{`sum(callback_dispatcher_attempts_total{outcome="rate_limited"})`, 1},
		{`sum(callback_dispatcher_attempts_total{outcome="auth_refresh"})`, 1},
		{`sum(callback_dispatcher_ims_token_fetches_total{result="success"})`, 2},
		{`sum(callback_dispatcher_enqueued_total{result="queued"})`, float64(len(e2eCallbacks))},
		{`sum(callback_dispatcher_enqueued_total{result="duplicate"})`, 1},
		{`sum(callback_dispatcher_enqueued_total{result="refused"})`, 1},
		{`sum(callback_dispatcher_requeues_total{result="requeued"})`, 1},
		{`max(callback_dispatcher_dead_letter_store_size{state="requeued"})`, 1},
		{`max(callback_dispatcher_dead_letter_store_size{state="dead"})`, 1},
		{`max(asynq_tasks_processed_total{queue="` + e2eQueue + `"})`, 10},
		{`count(callback_dispatcher_delivery_latency_seconds_count > 0)`, 1},
	} {
		prom.waitFor(t, w.query, w.min)
	}
	// Exactly one process exports each set of deployment-wide gauges.
	for _, lease := range []string{LeaseQueue, LeaseStore} {
		prom.waitFor(t, `sum(callback_dispatcher_metrics_lease_held{lease="`+lease+`"}) == 1`, 1)
		prom.waitFor(t, `count(count by (instance) (`+
			`callback_dispatcher_metrics_lease_held{lease="`+lease+`"} == 1)) == 1`, 1)
	}
	if n := prom.value(t, `count(asynq_queue_size)`); n != 1 {
		t.Errorf("asynq_queue_size has %v series, want 1 (one exporter)", n)
	}

	checked := 0
	for name, d := range readDashboards(t) {
		for _, p := range d.all() {
			for _, tg := range p.Targets {
				t.Run(name+"/"+p.Title+"/"+tg.RefID, func(t *testing.T) {
					prom.checkPanelQuery(t, tg.Expr)
				})
				checked++
			}
		}
	}
	prom.checkRules(t)
	t.Logf("%d panel queries of %d dashboards returned data", checked, len(readDashboards(t)))
}

// promServer is a Prometheus server the test started.
type promServer struct {
	base string
}

// startPrometheus runs Prometheus on a free loopback port, scraping the
// worker and the producer every second under the job names the Helm
// chart's ServiceMonitors give, with the alert rules loaded.
func startPrometheus(t *testing.T, bin, workerOps, producerOps string) *promServer {
	t.Helper()
	dir := t.TempDir()
	rules := filepath.Join(testenv.RepoRoot(t), rulesFile)
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: callback-dispatcher-worker
    static_configs:
      - targets: [%q]
  - job_name: callback-dispatcher-producer
    static_configs:
      - targets: [%q]
`, rules, workerOps, producerOps)
	configFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(configFile, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := testenv.FreeAddr(t)
	startProgram(t, bin, []string{"--config.file=" + configFile,
		"--storage.tsdb.path=" + filepath.Join(dir, "data"), "--web.listen-address=" + addr,
		"--storage.tsdb.retention.time=1h", "--log.level=warn"}, nil)
	waitOK(t, "http://"+addr+"/-/ready")
	return &promServer{base: "http://" + addr}
}

// queryResult is the data of an instant query's answer.
type queryResult struct {
	ResultType string          `json:"resultType"`
	Result     json.RawMessage `json:"result"`
}

// query runs an instant query and returns its samples' values.
func (p *promServer) query(expr string) ([]float64, error) {
	resp, err := get(p.base + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var answer struct {
		Status string      `json:"status"`
		Error  string      `json:"error"`
		Data   queryResult `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		return nil, fmt.Errorf("decode the answer: %w", err)
	}
	if answer.Status != "success" {
		return nil, fmt.Errorf("query refused: %s", answer.Error)
	}
	return sampleValues(answer.Data)
}

func sampleValues(r queryResult) ([]float64, error) {
	var raw [][2]any
	switch r.ResultType {
	case "vector":
		var vector []struct {
			Value [2]any `json:"value"`
		}
		if err := json.Unmarshal(r.Result, &vector); err != nil {
			return nil, err
		}
		for _, s := range vector {
			raw = append(raw, s.Value)
		}
	case "scalar":
		var s [2]any
		if err := json.Unmarshal(r.Result, &s); err != nil {
			return nil, err
		}
		raw = append(raw, s)
	default:
		return nil, fmt.Errorf("result type %s", r.ResultType)
	}
	values := make([]float64, len(raw))
	for i, v := range raw {
		text, _ := v[1].(string)
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return nil, fmt.Errorf("sample value %v", v[1])
		}
		values[i] = f
	}
	return values, nil
}

// value returns the single value of expr, or NaN.
func (p *promServer) value(t *testing.T, expr string) float64 {
	t.Helper()
	values, err := p.query(expr)
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	if len(values) != 1 {
		return math.NaN()
	}
	return values[0]
}

// waitFor polls until expr has one value of at least min.
func (p *promServer) waitFor(t *testing.T, expr string, min float64) {
	t.Helper()
	var last note
	testenv.Eventually(t, 45*time.Second, func() bool {
		values, err := p.query(expr)
		last = note(fmt.Sprintf("%v, %v", values, err))
		return err == nil && len(values) == 1 && values[0] >= min
	}, "%s stayed below %v: last %s", expr, min, &last)
}

// checkPanelQuery runs a panel's query with its variables replaced and
// fails if Prometheus refuses it or it has no sample with a number.
func (p *promServer) checkPanelQuery(t *testing.T, expr string) {
	t.Helper()
	q := expr
	for _, v := range templateValues {
		q = strings.ReplaceAll(q, v.name, v.value)
	}
	if strings.Contains(q, "$") {
		t.Fatalf("a variable the test does not know is left in %q", q)
	}
	values, err := p.query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	for _, v := range values {
		if !math.IsNaN(v) {
			return
		}
	}
	t.Errorf("no data: %s returned %v", q, values)
}

// checkRules fails if Prometheus could not evaluate an alert rule.
func (p *promServer) checkRules(t *testing.T) {
	t.Helper()
	resp, err := get(p.base + "/api/v1/rules")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var answer struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name      string `json:"name"`
					Health    string `json:"health"`
					LastError string `json:"lastError"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range answer.Data.Groups {
		for _, r := range g.Rules {
			n++
			if r.Health == "err" {
				t.Errorf("alert %s does not evaluate: %s", r.Name, r.LastError)
			}
		}
	}
	if n == 0 {
		t.Error("Prometheus loaded no alert rules")
	}
}

// apiClient calls the producer API.
type apiClient struct{ base, token string }

func (a *apiClient) do(t *testing.T, method, path string, body any) (int, []byte) {
	t.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, a.base+path,
		bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// enqueue sends one of Adobe's example requests with c's token, its
// callbackUrl on the simulator at simURL; without simURL the result is left
// out, which the contract refuses.
func (a *apiClient) enqueue(t *testing.T, c e2eCallback, simURL string, want int) {
	t.Helper()
	var exec map[string]any
	raw := testenv.Testdata(t, "adobe/ajo-b2b/examples/"+c.example)
	if err := json.Unmarshal(raw, &exec); err != nil {
		t.Fatal(err)
	}
	exec["token"] = c.token
	exec["callbackUrl"] = simURL + "/callback/" + c.token
	body := map[string]any{"execution": exec}
	if simURL != "" {
		body["result"] = map[string]any{"activityData": map[string]any{"success": true}}
	}
	if status, out := a.do(t, "POST", "/v1/callbacks", body); status != want {
		t.Fatalf("enqueue %s: %d %s, want %d", c.token, status, out, want)
	}
}

// requeue waits until the dead letter id is stored, then requeues it.
func (a *apiClient) requeue(t *testing.T, id string) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, func() bool {
		status, _ := a.do(t, "GET", "/v1/dead-letters/"+id, nil)
		return status == http.StatusOK
	}, "dead letter %s not stored", id)
	status, out := a.do(t, "POST", "/v1/dead-letters/requeue", map[string]any{
		"ids": []string{id}, "by": "e2e", "note": "the simulator accepts it now"})
	if status != http.StatusOK || !bytes.Contains(out, []byte(`"requeued":1`)) {
		t.Fatalf("requeue %s: %d %s", id, status, out)
	}
}

// startProgram runs bin with args and, when env is set, only env as its
// environment; it is stopped with SIGTERM when the test ends, and its
// output is shown if the test failed.
func startProgram(t *testing.T, bin string, args, env []string) {
	t.Helper()
	var out testenv.LogBuffer
	// Not the test's context: that would kill the program before the
	// cleanup asks it to stop.
	cmd := exec.CommandContext(context.Background(), bin, args...)
	if env != nil {
		cmd.Env = env
	}
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Errorf("%s ignored SIGTERM for 20 s", filepath.Base(bin))
		}
		if t.Failed() {
			t.Logf("output of %s:\n%s", filepath.Base(bin), out.String())
		}
	})
}

// waitOK polls url until it answers 200.
func waitOK(t *testing.T, url string) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, func() bool {
		resp, err := get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, "%s did not answer 200", url)
}

// get asks for url, giving up after 5 s.
func get(url string) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelOnClose releases a request's context when its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	defer c.cancel()
	return c.ReadCloser.Close()
}
