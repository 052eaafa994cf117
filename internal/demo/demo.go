// Package demo runs the whole pipeline on one machine: Redis, the Adobe
// simulator, a worker and the producer API as separate processes, fed with
// Adobe's own example execution requests, and prints what became of each
// callback.
package demo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/callback-dispatcher/dispatcher/internal/localsvc"
)

// Case is one callback the demo sends.
type Case struct {
	Name string
	// Example is the Adobe execution request, under the examples folder.
	Example string
	// Result is the provider's result, in the Result shape.
	Result string
	// Script is the simulator's fault script for this callback, if any.
	Script string
	// Expect says what should happen, for the reader of the summary.
	Expect string
}

// Cases are Adobe's example requests for each entity type, with results,
// and callbacks the simulator is told to fail.
var Cases = []Case{
	{Name: "lead enriched", Example: "examples-03.json",
		Result: `{"activityData":{"success":true},"leadData":{"mobilePhone":"+1-555-0101",` +
			`"seniority":"Vice President","accessorValues":{"enrichmentScore":92,` +
			`"dataQuality":"high"}}}`,
		Expect: "delivered, 1 attempt"},
	{Name: "account enriched", Example: "examples-04.json",
		Result: `{"activityData":{"success":true,"enrichmentStatus":"complete"},` +
			`"accountData":{"employeeCount":260,"accessorValues":{"accountTier":"enterprise"}}}`,
		Expect: "delivered, 1 attempt"},
	{Name: "buying group analysed", Example: "examples-05.json",
		Result: `{"activityData":{"success":true},"accountData":{"buyingGroupSize":7},` +
			`"accountPersonData":[{"accountPersonRelId":9001,"accessorValues":` +
			`{"buyingRole":"economic_buyer","influenceScore":95}},{"accountPersonRelId":9002,` +
			`"accessorValues":{"buyingRole":"champion","influenceScore":88}}]}`,
		Expect: "delivered, 1 attempt"},
	{Name: "lead enrichment failed", Example: "execution-request-10.json",
		Result: `{"activityData":{"success":false,"errorCode":"ENRICHMENT_FAILED",` +
			`"reason":"External API returned 503"}}`,
		Expect: "delivered, 1 attempt (a failure callback)"},
	{Name: "Adobe 503, 503, then 200", Example: "examples-03.json", Script: "503,503,200",
		Result: `{"activityData":{"success":true}}`, Expect: "delivered on attempt 3"},
	{Name: "Adobe answers 400", Example: "examples-04.json", Script: "400",
		Result: `{"activityData":{"success":true}}`, Expect: "dead-lettered after 1 attempt"},
	{Name: "bearer token expired once", Example: "examples-05.json", Script: "401",
		Result: `{"activityData":{"success":true}}`,
		Expect: "delivered, 1 attempt, a second token fetched"},
}

// Run executes the demo, writing its story to out. examplesDir holds
// Adobe's example files; bin is where the programs are built.
func Run(ctx context.Context, out io.Writer, examplesDir string) error {
	start := time.Now()
	tmp, err := os.MkdirTemp("", "callback-dispatcher-demo-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(tmp) }()

	_, _ = fmt.Fprintln(out, "==> building producer, worker and adobesim")
	build := exec.CommandContext(ctx, "go", "build", "-o", tmp+"/", "./cmd/producer",
		"./cmd/worker", "./cmd/adobesim")
	build.Stdout, build.Stderr = out, out
	if err := build.Run(); err != nil {
		return fmt.Errorf("build programs: %w", err)
	}

	redisURL, stopRedis, err := startRedis(ctx, out, tmp)
	if err != nil {
		return err
	}
	defer stopRedis()

	databaseURL, stopPostgres, err := startPostgres(ctx, out, tmp)
	if err != nil {
		return err
	}
	defer stopPostgres()
	if databaseURL != "" {
		migrate := exec.CommandContext(ctx, filepath.Join(tmp, "producer"), "migrate", "up")
		migrate.Env = append(os.Environ(), "DATABASE_URL="+databaseURL)
		if msg, err := migrate.CombinedOutput(); err != nil {
			return fmt.Errorf("producer migrate up: %w\n%s", err, msg)
		}
		_, _ = fmt.Fprintln(out, "==> producer migrate up: dead-letter store ready")
	}

	procs := &processes{dir: tmp, out: out}
	defer procs.stop()
	var simAddr, workerHealth, apiAddr, apiOps string
	for _, addr := range []*string{&simAddr, &workerHealth, &apiAddr, &apiOps} {
		if *addr, err = localsvc.FreeAddr(); err != nil {
			return err
		}
	}
	apiToken := randomHex(24)
	queue := "demo-" + randomHex(4)

	if err := procs.start("adobesim", []string{"SIM_LISTEN=" + simAddr}); err != nil {
		return err
	}
	common := []string{"REDIS_URL=" + redisURL, "QUEUE=" + queue, "IMS_ORG_ID=DEMO@AdobeOrg",
		"CALLBACK_ALLOWED_HOSTS=127.0.0.1", "CALLBACK_ALLOW_HTTP=true",
		"CALLBACK_ALLOW_PRIVATE=true"}
	if databaseURL != "" {
		common = append(common, "DATABASE_URL="+databaseURL)
	}
	if err := procs.start("worker", append(common, "IMS_CLIENT_ID=sim-client",
		"IMS_CLIENT_SECRET=sim-secret", "IMS_TOKEN_URL=http://"+simAddr+"/ims/token/v3",
		"OPS_LISTEN="+workerHealth, "RETRY_BASE=250ms", "RETRY_CAP=1s",
		"DELAYED_TASK_CHECK_INTERVAL=100ms", "CONCURRENCY=10")); err != nil {
		return err
	}
	if err := procs.start("producer", append(common, "LISTEN="+apiAddr,
		"OPS_LISTEN="+apiOps, "API_TOKENS="+apiToken)); err != nil {
		return err
	}
	for _, probe := range []string{"http://" + simAddr + "/sim/stats",
		"http://" + workerHealth + "/readyz", "http://" + apiAddr + "/readyz"} {
		if err := waitReady(ctx, probe, procs); err != nil {
			return err
		}
	}
	_, _ = fmt.Fprintf(out, "==> simulator on %s, producer API on %s, worker ready\n", simAddr,
		apiAddr)

	d := &driver{api: "http://" + apiAddr, sim: "http://" + simAddr, token: apiToken,
		examples: examplesDir}
	rows, err := d.runCases(ctx, out)
	if err != nil {
		return err
	}
	if databaseURL != "" {
		if err := d.requeueFixed(ctx, out, rows); err != nil {
			return err
		}
	}
	fetches, err := d.tokenFetches(ctx)
	if err != nil {
		return err
	}
	summary(out, rows, fetches, time.Since(start))
	for _, r := range rows {
		if r.err != "" {
			return errors.New("a callback did not end as expected")
		}
	}
	return nil
}

// startRedis returns REDIS_URL when set, or starts a throwaway redis-server
// in dir, or an in-process miniredis when redis-server is not installed.
func startRedis(ctx context.Context, out io.Writer, dir string) (string, func(), error) {
	if url := os.Getenv("REDIS_URL"); url != "" {
		_, _ = fmt.Fprintln(out, "==> using REDIS_URL")
		return url, func() {}, nil
	}
	r, err := localsvc.StartRedis(ctx, filepath.Join(dir, "redis"), localsvc.RedisOptions{})
	if err == nil {
		_, _ = fmt.Fprintf(out, "==> throwaway redis-server on %s\n", r.Addr())
		return r.URL(), r.Close, nil
	}
	if !errors.Is(err, localsvc.ErrNotInstalled) {
		return "", nil, err
	}
	m, err := miniredis.Run()
	if err != nil {
		return "", nil, fmt.Errorf("start in-process Redis: %w", err)
	}
	_, _ = fmt.Fprintf(out, "==> no redis-server installed: using an in-process miniredis on %s "+
		"(DEMO ONLY, never for production)\n", m.Addr())
	return "redis://" + m.Addr() + "/0", m.Close, nil
}

// processes are the demo's child programs.
type processes struct {
	dir  string
	out  io.Writer
	cmds []*exec.Cmd
	logs []*bytes.Buffer
	done []chan struct{}
}

func (p *processes) start(name string, env []string) error {
	// Not bound to a context: stop ends it with SIGTERM, so it can shut down cleanly.
	cmd := exec.CommandContext(context.Background(), filepath.Join(p.dir, name))
	cmd.Env = append(os.Environ(), append(env, "LOG_LEVEL=warn")...)
	logs := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	p.cmds, p.logs, p.done = append(p.cmds, cmd), append(p.logs, logs), append(p.done, done)
	return nil
}

// exited returns the log of a child that has stopped, if any.
func (p *processes) exited() (string, bool) {
	for i, done := range p.done {
		select {
		case <-done:
			return fmt.Sprintf("%s exited:\n%s", filepath.Base(p.cmds[i].Path), p.logs[i]), true
		default:
		}
	}
	return "", false
}

// stop sends SIGTERM to every child, newest first, and waits for each.
func (p *processes) stop() {
	for i := len(p.cmds) - 1; i >= 0; i-- {
		_ = p.cmds[i].Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done[i]:
		case <-time.After(10 * time.Second):
			_ = p.cmds[i].Process.Kill()
			<-p.done[i]
		}
	}
}

func waitReady(ctx context.Context, url string, procs *processes) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if log, ok := procs.exited(); ok {
			return errors.New(log)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after 20s", url)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// row is one line of the summary.
type row struct {
	c        Case
	token    string
	entity   string
	state    string
	attempts int
	sends    int
	reason   string
	err      string
	id       string
	requeue  string
}

func summary(out io.Writer, rows []row, fetches int, took time.Duration) {
	_, _ = fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "CALLBACK\tADOBE EXAMPLE\tENTITY\tSIMULATOR SCRIPT\tFINAL STATE\t"+
		"ATTEMPTS\tPOSTS SEEN\tEXPECTED")
	for _, r := range rows {
		state := r.state
		if r.reason != "" {
			state += " (" + r.reason + ")"
		}
		if r.err != "" {
			state = "ERROR: " + r.err
		}
		script := r.c.Script
		if script == "" {
			script = "-"
		}
		_, _ = fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", r.c.Name, r.c.Example, r.entity,
			script, state, r.attempts, r.sends, r.c.Expect)
	}
	_ = tw.Flush()
	for _, r := range rows {
		if r.requeue != "" {
			_, _ = fmt.Fprintf(out, "\nRequeue of %q once the simulator was fixed: %s\n", r.c.Name,
				r.requeue)
		}
	}
	_, _ = fmt.Fprintf(out, "\nIMS tokens fetched: %d (one for the run, one more after the "+
		"scripted 401)\n", fetches)
	_, _ = fmt.Fprintf(out, "Finished in %.1fs; every process stopped and temporary files "+
		"removed.\n", took.Seconds())
}

// driver talks to the producer API and the simulator over HTTP.
type driver struct {
	api, sim, token, examples string
}

func (d *driver) runCases(ctx context.Context, out io.Writer) ([]row, error) {
	rows := make([]row, len(Cases))
	ids := make([]string, len(Cases))
	for i, c := range Cases {
		rows[i].c = c
		exec, entity, err := d.execution(c, i)
		if err != nil {
			return nil, err
		}
		rows[i].entity, rows[i].token = entity, tokenOf(exec)
		if c.Script != "" {
			if err := d.setRule(ctx, rows[i].token, c.Script); err != nil {
				return nil, err
			}
		}
		body := fmt.Sprintf(`{"execution":%s,"result":%s}`, exec, c.Result)
		var resp struct {
			ID      string          `json:"id"`
			Message string          `json:"message"`
			Details json.RawMessage `json:"violations"`
		}
		status, err := d.call(ctx, http.MethodPost, d.api+"/v1/callbacks", body, &resp)
		if err != nil {
			return nil, err
		}
		if status != http.StatusAccepted {
			rows[i].err = fmt.Sprintf("enqueue answered %d: %s %s", status, resp.Message,
				resp.Details)
			continue
		}
		ids[i] = resp.ID
		rows[i].id = resp.ID
		_, _ = fmt.Fprintf(out, "    queued %-28s -> %s\n", c.Name, resp.ID)
	}
	_, _ = fmt.Fprintln(out, "==> waiting for the worker")
	for i, id := range ids {
		if id != "" {
			d.await(ctx, id, &rows[i])
		}
	}
	return rows, nil
}

// execution loads a case's example and gives it its own token and a
// callbackUrl on the simulator.
func (d *driver) execution(c Case, i int) ([]byte, string, error) {
	raw, err := os.ReadFile(filepath.Join(d.examples, c.Example))
	if err != nil {
		return nil, "", err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, "", fmt.Errorf("%s: %w", c.Example, err)
	}
	token := fmt.Sprintf("%v-demo-%d-%s", m["token"], i, randomHex(3))
	m["token"] = token
	m["callbackUrl"] = d.sim + "/callback/" + token
	entity := ""
	if od, ok := m["objectData"].(map[string]any); ok {
		entity, _ = od["objectType"].(string)
	}
	out, err := json.Marshal(m)
	return out, entity, err
}

func tokenOf(exec []byte) string {
	var m struct {
		Token string `json:"token"`
	}
	_ = json.Unmarshal(exec, &m)
	return m.Token
}

func (d *driver) setRule(ctx context.Context, token, script string) error {
	body, _ := json.Marshal(map[string]string{"match": token, "script": script})
	status, err := d.call(ctx, http.MethodPut, d.sim+"/sim/rules", string(body), nil)
	if err == nil && status/100 != 2 {
		err = fmt.Errorf("simulator refused the rule %q: status %d", script, status)
	}
	return err
}

func (d *driver) await(ctx context.Context, id string, r *row) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var st struct {
			Status     string `json:"status"`
			Attempts   int    `json:"attempts"`
			DeadLetter *struct {
				Reason string `json:"reason"`
			} `json:"deadLetter"`
		}
		if _, err := d.call(ctx, http.MethodGet, d.api+"/v1/callbacks/"+id, "", &st); err == nil {
			r.state, r.attempts = st.Status, st.Attempts
			if st.DeadLetter != nil {
				r.reason = st.DeadLetter.Reason
			}
			if st.Status == "delivered" || st.Status == "dead_lettered" {
				r.sends = d.sends(ctx, r.token)
				return
			}
		}
		select {
		case <-ctx.Done():
			r.err = ctx.Err().Error()
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
	r.err = "not finished after 30s, last state " + r.state
}

func (d *driver) sends(ctx context.Context, token string) int {
	var rep struct {
		Callbacks []json.RawMessage `json:"callbacks"`
	}
	if _, err := d.call(ctx, http.MethodGet, d.sim+"/sim/received?token="+token, "",
		&rep); err != nil {
		return -1
	}
	return len(rep.Callbacks)
}

func (d *driver) tokenFetches(ctx context.Context) (int, error) {
	var rep struct {
		TokenFetches int `json:"tokenFetches"`
	}
	_, err := d.call(ctx, http.MethodGet, d.sim+"/sim/received?token=none", "", &rep)
	return rep.TokenFetches, err
}

func (d *driver) call(ctx context.Context, method, url, body string, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+d.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil && !errors.Is(err, io.EOF) {
			return resp.StatusCode, fmt.Errorf("%s %s: %w", method, url, err)
		}
	}
	return resp.StatusCode, nil
}

// requeueFixed clears the simulator's fault scripts, as an operator would
// fix a cause, requeues every dead letter through the API and waits for the
// callbacks to be delivered.
func (d *driver) requeueFixed(ctx context.Context, out io.Writer, rows []row) error {
	if _, err := d.call(ctx, http.MethodDelete, d.sim+"/sim/rules", "", nil); err != nil {
		return err
	}
	var rep struct {
		Matched  int `json:"matched"`
		Requeued int `json:"requeued"`
	}
	body := `{"all":true,"by":"make demo","note":"simulator fixed"}`
	status, err := d.call(ctx, http.MethodPost, d.api+"/v1/dead-letters/requeue", body, &rep)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("requeue answered %d", status)
	}
	_, _ = fmt.Fprintf(out, "==> simulator fixed; requeued %d of %d dead letter(s) from "+
		"PostgreSQL\n", rep.Requeued, rep.Matched)
	for i := range rows {
		r := &rows[i]
		if r.state != "dead_lettered" {
			continue
		}
		after := row{c: r.c, token: r.token}
		d.await(ctx, r.id, &after)
		r.requeue = fmt.Sprintf("%s after %d attempt(s), %d POSTs in all", after.state,
			after.attempts, after.sends)
		if after.state != "delivered" {
			r.err = "requeued callback not delivered: " + after.state
		}
	}
	return nil
}
