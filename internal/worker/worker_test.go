package worker_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/callback-dispatcher/dispatcher/internal/adobesim"
	"github.com/callback-dispatcher/dispatcher/internal/delivery"
	"github.com/callback-dispatcher/dispatcher/internal/ims"
	"github.com/callback-dispatcher/dispatcher/internal/ims/imstest"
	"github.com/callback-dispatcher/dispatcher/internal/job"
	"github.com/callback-dispatcher/dispatcher/internal/testenv"
	"github.com/callback-dispatcher/dispatcher/internal/urlguard"
	"github.com/callback-dispatcher/dispatcher/internal/worker"
	"github.com/callback-dispatcher/dispatcher/pkg/callback"
	"github.com/callback-dispatcher/dispatcher/pkg/producer"
)

// bundle is one test's pipeline: its own Redis database, a simulator, a
// producer client and a running worker.
type bundle struct {
	t        *testing.T
	sim      *adobesim.Simulator
	front    *imstest.Front
	simURL   string
	client   *producer.Client
	redisURL string
	queue    string
	logs     *testenv.LogBuffer
}

type setupOptions struct {
	backoff     worker.Backoff
	httpTimeout time.Duration
	guard       urlguard.Config
}

func setup(t *testing.T, opts ...func(*setupOptions)) *bundle {
	t.Helper()
	o := setupOptions{
		backoff:     worker.Backoff{Base: 10 * time.Millisecond, Cap: 40 * time.Millisecond},
		httpTimeout: 5 * time.Second,
		guard: urlguard.Config{AllowedHosts: []string{"127.0.0.1"}, AllowHTTP: true,
			AllowPrivate: true},
	}
	for _, opt := range opts {
		opt(&o)
	}
	conn, redisURL := testenv.Redis(t)
	logs := &testenv.LogBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	sim, front, srv := imstest.Start(t, adobesim.Config{})

	const queue = "callbacks-test"
	client, err := producer.New(producer.Config{
		RedisURL: redisURL, Queue: queue, DefaultOrgID: "DEFAULT@AdobeOrg",
		AllowedHosts: []string{"127.0.0.1"}, AllowHTTP: true, AllowPrivate: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })

	sender := delivery.NewSender(urlguard.New(o.guard),
		delivery.FixedAPIKey(adobesim.DefaultClientID), delivery.Timeouts{Total: o.httpTimeout}, 8)
	tokens, err := ims.NewPool([]ims.Profile{{Name: "test", OrgIDs: []string{ims.AnyOrg},
		ClientID: adobesim.DefaultClientID, TokenURL: srv.URL + imstest.TokenPath,
		ClientSecrets: []ims.Secret{adobesim.DefaultClientSecret}}},
		// A short hold lets the fast retries of these tests ask IMS again.
		ims.Options{Redis: conn.Client, HTTPClient: srv.Client(), FailureHold: time.Millisecond,
			Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	h := worker.NewHandler(sender, tokens, conn.Client, log, worker.Policy{
		MaxAttempts: 5, Backoff: o.backoff, MaxRateLimitWait: 2 * time.Second,
		MaxRateLimitWaits: 3,
	})
	server := worker.NewAsynqServer(conn.Opt, worker.ServerOptions{
		Queue: queue, Concurrency: 8, ShutdownTimeout: 10 * time.Second,
		TaskCheck: 10 * time.Millisecond, DelayedTaskCheck: 20 * time.Millisecond,
		Backoff: o.backoff,
	}, log)
	if err := server.Start(worker.Mux(h)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(server.Shutdown)
	return &bundle{t: t, sim: sim, front: front, simURL: srv.URL, client: client,
		redisURL: redisURL, queue: queue, logs: logs}
}

// execution reads one of Adobe's example execution requests and points it
// at the simulator with the given token.
func (b *bundle) execution(example, token string) *callback.ExecutionRequest {
	b.t.Helper()
	raw := testenv.Testdata(b.t, "adobe/ajo-b2b/examples/"+example)
	exec, err := callback.ParseExecutionRequest(raw)
	if err != nil {
		b.t.Fatalf("parse %s: %v", example, err)
	}
	exec.Token = token
	exec.CallbackURL = b.simURL + "/callback/" + token
	return exec
}

func (b *bundle) enqueue(exec *callback.ExecutionRequest, res callback.Result,
	opts ...producer.Option) string {
	b.t.Helper()
	receipt, err := b.client.Enqueue(context.Background(), exec, res, opts...)
	if err != nil {
		b.t.Fatalf("enqueue: %v", err)
	}
	return receipt.ID
}

// wait polls until the callback is delivered or dead-lettered.
func (b *bundle) wait(id string) *producer.Status {
	b.t.Helper()
	var st *producer.Status
	testenv.Eventually(b.t, 20*time.Second, func() bool {
		var err error
		st, err = b.client.Status(context.Background(), id)
		return err == nil &&
			(st.State == producer.StateDelivered || st.State == producer.StateDeadLettered)
	}, "callback %s did not finish; last status %+v", id, st)
	return st
}

func (b *bundle) script(token, script string) {
	b.t.Helper()
	if err := b.sim.SetRule(adobesim.Rule{Match: token, Script: script}); err != nil {
		b.t.Fatal(err)
	}
}

var success = callback.Result{ActivityData: callback.ActivityData{Success: true}}

func TestOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		script       string
		wantState    string
		wantAttempts int
		wantSends    int
		wantFetches  int
		wantReason   string
		wantStatus   int
	}{
		{name: "a 200 is delivered on the first attempt", script: "",
			wantState: producer.StateDelivered, wantAttempts: 1, wantSends: 1, wantFetches: 1},
		{name: "five 503s are dead-lettered after exactly five attempts", script: "503*5",
			wantState: producer.StateDeadLettered, wantAttempts: 5, wantSends: 5, wantFetches: 1,
			wantReason: job.ReasonAttemptsExhausted, wantStatus: 503},
		{name: "503, 503, 200 is delivered on attempt three", script: "503,503,200",
			wantState: producer.StateDelivered, wantAttempts: 3, wantSends: 3, wantFetches: 1},
		{name: "a 400 is dead-lettered after one attempt", script: "400",
			wantState: producer.StateDeadLettered, wantAttempts: 1, wantSends: 1, wantFetches: 1,
			wantReason: job.ReasonRejected, wantStatus: 400},
		{name: "a 403 is dead-lettered after one attempt", script: "403",
			wantState: producer.StateDeadLettered, wantAttempts: 1, wantSends: 1, wantFetches: 1,
			wantReason: job.ReasonRejected, wantStatus: 403},
		{name: "a 401 then 200 is delivered with two token fetches", script: "401",
			wantState: producer.StateDelivered, wantAttempts: 1, wantSends: 2, wantFetches: 2},
		{name: "a second 401 is dead-lettered", script: "401,401",
			wantState: producer.StateDeadLettered, wantAttempts: 1, wantSends: 2, wantFetches: 2,
			wantReason: job.ReasonUnauthorized, wantStatus: 401},
		{name: "a 429 with Retry-After waits without using an attempt", script: "429:1",
			wantState: producer.StateDelivered, wantAttempts: 1, wantSends: 2, wantFetches: 1},
		{name: "a 429 with an HTTP-date Retry-After waits too", script: "429:date1",
			wantState: producer.StateDelivered, wantAttempts: 1, wantSends: 2, wantFetches: 1},
		{name: "429s past their waits use attempts and end as rate_limited", script: "429*8",
			wantState: producer.StateDeadLettered, wantAttempts: 5, wantSends: 8, wantFetches: 1,
			wantReason: job.ReasonRateLimited, wantStatus: 429},
		{name: "a redirect is not followed and is dead-lettered", script: "302",
			wantState: producer.StateDeadLettered, wantAttempts: 1, wantSends: 1, wantFetches: 1,
			wantReason: job.ReasonRedirected, wantStatus: 302},
		{name: "a dropped connection is retried", script: "close,200",
			wantState: producer.StateDelivered, wantAttempts: 2, wantSends: 2, wantFetches: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			const token = "abc123xyz789-lead-enrichment"
			if tt.script != "" {
				b.script(token, tt.script)
			}
			exec := b.execution("examples-03.json", token)
			st := b.wait(b.enqueue(exec, success))

			if st.State != tt.wantState || st.Attempts != tt.wantAttempts {
				t.Fatalf("got %s after %d attempts, want %s after %d (%+v)", st.State,
					st.Attempts, tt.wantState, tt.wantAttempts, st)
			}
			if got := len(b.sim.Received(token)); got != tt.wantSends {
				t.Errorf("simulator received %d requests, want %d", got, tt.wantSends)
			}
			if got := b.sim.TokenFetches(); got != tt.wantFetches {
				t.Errorf("simulator minted %d tokens, want %d", got, tt.wantFetches)
			}
			if tt.wantReason != "" {
				if st.DeadLetter == nil || st.DeadLetter.Reason != tt.wantReason ||
					st.DeadLetter.Status != tt.wantStatus {
					t.Errorf("dead letter %+v, want reason %s status %d", st.DeadLetter,
						tt.wantReason, tt.wantStatus)
				}
			}
		})
	}
}

// TestAProducerWithFewerAttemptsIsObeyed queues with a producer set to two
// attempts onto a worker set to five: the worker gives up after two, as a
// dead letter of its own, not as a task asynq archives behind its back.
func TestAProducerWithFewerAttemptsIsObeyed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	client, err := producer.New(producer.Config{RedisURL: b.redisURL, Queue: b.queue,
		DefaultOrgID: "DEFAULT@AdobeOrg", MaxAttempts: 2, AllowedHosts: []string{"127.0.0.1"},
		AllowHTTP: true, AllowPrivate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	const token = "fewer-attempts"
	b.script(token, "503*5")
	receipt, err := client.Enqueue(context.Background(), b.execution("examples-03.json", token),
		success)
	if err != nil {
		t.Fatal(err)
	}
	st := b.wait(receipt.ID)
	if st.State != producer.StateDeadLettered || st.DeadLetter == nil ||
		st.DeadLetter.Reason != job.ReasonAttemptsExhausted || st.DeadLetter.Attempts != 2 ||
		st.DeadLetter.Status != 503 {
		t.Fatalf("got %s, dead letter %+v; want attempts_exhausted after 2 attempts, last 503",
			st.State, st.DeadLetter)
	}
	if got := len(b.sim.Received(token)); got != 2 {
		t.Errorf("simulator received %d requests, want 2", got)
	}
}

// TestAdobeExamplesAreDelivered sends a callback for each of Adobe's full
// execution requests and checks the body the simulator accepted.
func TestAdobeExamplesAreDelivered(t *testing.T) {
	t.Parallel()
	tests := []struct {
		example string
		result  string
		want    string
	}{
		{example: "examples-03.json",
			result: `{"activityData":{"success":true},"leadData":{"mobilePhone":"+1-555-0101",` +
				`"accessorValues":{"enrichmentScore":92}}}`,
			want: `{"objectData":[{"activityData":{"success":true},"leadData":` +
				`{"accessorValues":{"enrichmentScore":92},"id":12345,"mobilePhone":"+1-555-0101"}}]}`},
		{example: "examples-04.json",
			result: `{"activityData":{"success":false,"errorCode":"ENRICHMENT_FAILED",` +
				`"reason":"No enrichment data available"}}`,
			want: `{"objectData":[{"accountData":{"id":"ACC-98765"},"activityData":` +
				`{"errorCode":"ENRICHMENT_FAILED","reason":"No enrichment data available",` +
				`"success":false}}]}`},
		{example: "examples-05.json",
			result: `{"activityData":{"success":true},"accountPersonData":[{"accountPersonRelId":` +
				`9002,"accessorValues":{"buyingRole":"champion"}}]}`,
			want: `{"objectData":[{"accountPersonData":[{"accessorValues":{"buyingRole":` +
				`"champion"},"accountId":54321,"accountPersonRelId":9002,"personId":12346}],` +
				`"activityData":{"success":true}}]}`},
		{example: "execution-request-10.json",
			result: `{"activityData":{"success":false,"errorCode":"TIMEOUT","reason":"took too long"}}`,
			want: `{"objectData":[{"activityData":{"errorCode":"TIMEOUT","reason":"took too long",` +
				`"success":false},"leadData":{"id":12345}}]}`},
	}
	b := setup(t)
	for _, tt := range tests {
		t.Run(tt.example, func(t *testing.T) {
			token := "token-" + tt.example
			raw := testenv.Testdata(t, "adobe/ajo-b2b/examples/"+tt.example)
			var execution map[string]any
			if err := json.Unmarshal(raw, &execution); err != nil {
				t.Fatal(err)
			}
			execution["token"] = token
			execution["callbackUrl"] = b.simURL + "/callback/x"
			execJSON, _ := json.Marshal(execution)
			receipt, err := b.client.EnqueueRequest(context.Background(), producer.Request{
				Execution: execJSON, Result: json.RawMessage(tt.result), RequestID: "req-" + token,
			})
			if err != nil {
				t.Fatal(err)
			}
			if st := b.wait(receipt.ID); st.State != producer.StateDelivered {
				t.Fatalf("got %+v, want delivered", st)
			}
			recs := b.sim.Received(token)
			if len(recs) != 1 {
				t.Fatalf("simulator received %d callbacks, want 1", len(recs))
			}
			if got := string(recs[0].Body); got != tt.want {
				t.Errorf("body\n got %s\nwant %s", got, tt.want)
			}
			if recs[0].RequestID != "req-"+token {
				t.Errorf("X-Request-Id %q, want %q", recs[0].RequestID, "req-"+token)
			}
			org := execution["context"].(map[string]any)["subscription"].(map[string]any)["imsOrgId"]
			if recs[0].OrgID != org {
				t.Errorf("x-gw-ims-org-id %q, want %q", recs[0].OrgID, org)
			}
		})
	}
}

func TestEnqueueTwiceSendsOneCallback(t *testing.T) {
	t.Parallel()
	b := setup(t)
	exec := b.execution("examples-03.json", "same-token")
	first, err := b.client.Enqueue(context.Background(), exec, success)
	if err != nil {
		t.Fatal(err)
	}
	b.wait(first.ID)
	second, err := b.client.Enqueue(context.Background(), exec, success)
	if err != nil {
		t.Fatalf("second enqueue: %v", err)
	}
	if second.ID != first.ID || !second.Duplicate {
		t.Fatalf("second enqueue gave %+v, want the id %s marked duplicate", second, first.ID)
	}
	if got := len(b.sim.Received("same-token")); got != 1 {
		t.Errorf("simulator received %d callbacks, want 1", got)
	}
}

func TestRetryIsNeverScheduledPastTheDeadline(t *testing.T) {
	t.Parallel()
	b := setup(t, func(o *setupOptions) {
		o.backoff = worker.Backoff{Base: time.Hour, Cap: time.Hour,
			Jitter: func(ceiling time.Duration) time.Duration { return ceiling }}
	})
	b.script("late", "503*5")
	exec := b.execution("examples-03.json", "late")
	// Received 59 minutes ago, the deadline is a minute away: a retry an
	// hour later would come after it, so the first 503 is final.
	st := b.wait(b.enqueue(exec, success,
		producer.WithReceivedAt(time.Now().Add(-59*time.Minute))))
	if st.State != producer.StateDeadLettered || st.DeadLetter == nil ||
		st.DeadLetter.Reason != job.ReasonDeadlineExceeded {
		t.Fatalf("got %+v, want dead-lettered for deadline_exceeded", st)
	}
	if got := len(b.sim.Received("late")); got != 1 {
		t.Errorf("simulator received %d callbacks, want 1", got)
	}
}

func TestPastDeadlineIsDeadLetteredWithoutSending(t *testing.T) {
	t.Parallel()
	b := setup(t)
	conn, _ := testenvConn(t, b)
	j := &job.Job{CallbackURL: b.simURL + "/callback/expired", Token: "expired",
		RequestID: "r1", OrgID: "O@AdobeOrg", EntityType: "lead", EntityIDs: []string{"1"},
		Body:     json.RawMessage(`{"objectData":[{"activityData":{"success":true},"leadData":{"id":1}}]}`),
		Deadline: time.Now().Add(-time.Second), EnqueuedAt: time.Now().Add(-time.Hour)}
	id := enqueueRaw(t, conn, b.queue, j)
	st := b.wait(id)
	if st.State != producer.StateDeadLettered || st.DeadLetter.Reason != job.ReasonDeadlineExceeded {
		t.Fatalf("got %+v, want dead-lettered for deadline_exceeded", st)
	}
	if st.Attempts != 0 || len(b.sim.Received("expired")) != 0 {
		t.Errorf("attempts %d, received %d: want nothing sent", st.Attempts,
			len(b.sim.Received("expired")))
	}
}

func TestGuardRefusesPrivateAddressAtDial(t *testing.T) {
	t.Parallel()
	// The producer allows loopback, the worker does not: the dial check is
	// the last line of defence.
	b := setup(t, func(o *setupOptions) {
		o.guard = urlguard.Config{AllowedHosts: []string{"127.0.0.1"}, AllowHTTP: true}
	})
	st := b.wait(b.enqueue(b.execution("examples-03.json", "private"), success))
	if st.State != producer.StateDeadLettered || st.DeadLetter.Reason != job.ReasonURLRefused {
		t.Fatalf("got %+v, want dead-lettered for url_refused", st)
	}
	if got := len(b.sim.Received("private")); got != 0 {
		t.Errorf("simulator received %d callbacks, want none", got)
	}
}

func TestLogsCarryNoSecrets(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.script("secret-token-value", "503,401,200")
	exec := b.execution("examples-03.json", "secret-token-value")
	res := callback.Result{ActivityData: callback.ActivityData{Success: true},
		LeadData: &callback.EntityData{Fields: map[string]any{"mobilePhone": "body-marker-555"}}}
	if st := b.wait(b.enqueue(exec, res)); st.State != producer.StateDelivered {
		t.Fatalf("got %+v, want delivered", st)
	}
	logs := b.logs.String()
	if !strings.Contains(logs, `"msg":"callback attempt"`) {
		t.Fatalf("no attempt lines logged:\n%s", logs)
	}
	for _, secret := range []string{"secret-token-value", adobesim.DefaultClientSecret,
		"body-marker-555", "Bearer", "objectData"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q:\n%s", secret, logs)
		}
	}
}

func testenvConn(t *testing.T, b *bundle) (*asynq.Client, string) {
	t.Helper()
	opt, err := asynq.ParseRedisURI(b.redisURL)
	if err != nil {
		t.Fatal(err)
	}
	c := asynq.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c, b.redisURL
}

func enqueueRaw(t *testing.T, c *asynq.Client, queue string, j *job.Job) string {
	t.Helper()
	payload, err := j.Encode()
	if err != nil {
		t.Fatal(err)
	}
	id := job.IDFromToken(j.Token)
	if _, err := c.Enqueue(asynq.NewTask(job.TaskType, payload), asynq.TaskID(id),
		asynq.Queue(queue), asynq.MaxRetry(5), asynq.Retention(time.Hour)); err != nil {
		t.Fatal(err)
	}
	return id
}
