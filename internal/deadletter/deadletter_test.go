package deadletter_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/callback-dispatcher/dispatcher/internal/adobesim"
	"github.com/callback-dispatcher/dispatcher/internal/attemptlog"
	"github.com/callback-dispatcher/dispatcher/internal/deadletter"
	"github.com/callback-dispatcher/dispatcher/internal/delivery"
	"github.com/callback-dispatcher/dispatcher/internal/ims"
	"github.com/callback-dispatcher/dispatcher/internal/job"
	"github.com/callback-dispatcher/dispatcher/internal/metrics"
	"github.com/callback-dispatcher/dispatcher/internal/redisconn"
	"github.com/callback-dispatcher/dispatcher/internal/store"
	"github.com/callback-dispatcher/dispatcher/internal/testenv"
	"github.com/callback-dispatcher/dispatcher/internal/urlguard"
	"github.com/callback-dispatcher/dispatcher/internal/worker"
	"github.com/callback-dispatcher/dispatcher/pkg/callback"
	"github.com/callback-dispatcher/dispatcher/pkg/producer"
)

const queue = "dlq-test"

// pipeline is a worker with the durable store attached, a simulator and a
// producer client, each test on its own Redis database and schema.
type pipeline struct {
	t        *testing.T
	conn     *redisconn.Conn
	store    *store.Store
	durable  *deadletter.Durable
	attempts *attemptlog.Log
	sim      *adobesim.Simulator
	simURL   string
	client   *producer.Client
	requeuer *deadletter.Requeuer
	inspect  *asynq.Inspector
}

func newPipeline(t *testing.T, databaseURL string) *pipeline {
	t.Helper()
	conn, redisURL := testenv.Redis(t)
	log := slog.New(slog.DiscardHandler)
	ctx := context.Background()
	st, err := store.Open(ctx, databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	if _, err := st.MigrateUp(ctx); err != nil {
		t.Fatal(err)
	}
	sim, err := adobesim.New(adobesim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	client, err := producer.New(producer.Config{RedisURL: redisURL, Queue: queue,
		AllowedHosts: []string{"127.0.0.1"}, AllowHTTP: true, AllowPrivate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })

	guard := urlguard.New(urlguard.Config{AllowedHosts: []string{"127.0.0.1"}, AllowHTTP: true,
		AllowPrivate: true})
	tokens := ims.NewCache(ims.NewFetcher(ims.Credentials{ClientID: adobesim.DefaultClientID,
		ClientSecret: adobesim.DefaultClientSecret, TokenURL: srv.URL + "/ims/token/v3"},
		srv.Client()), 0)
	backoff := worker.Backoff{Base: 10 * time.Millisecond, Cap: 20 * time.Millisecond}
	sender := delivery.NewSender(guard, delivery.FixedAPIKey(adobesim.DefaultClientID),
		delivery.Timeouts{}, 8)
	h := worker.NewHandler(sender, tokens, conn.Client, log, worker.Policy{MaxAttempts: 5,
		Backoff: backoff, MaxRateLimitWait: time.Second, MaxRateLimitWaits: 3})
	p := &pipeline{t: t, conn: conn, store: st, sim: sim, simURL: srv.URL, client: client,
		durable:  deadletter.NewDurable(st, conn.Client, log),
		attempts: attemptlog.New(st, attemptlog.Config{FlushEvery: 20 * time.Millisecond}, log),
		inspect:  asynq.NewInspectorFromRedisClient(conn.Client)}
	h.StoreDeadLettersIn(p.durable)
	h.Observe(p.attempts)
	p.attempts.Start()
	server := worker.NewAsynqServer(conn.Opt, worker.ServerOptions{Queue: queue, Concurrency: 8,
		ShutdownTimeout: 5 * time.Second, TaskCheck: 10 * time.Millisecond,
		DelayedTaskCheck: 20 * time.Millisecond, Backoff: backoff}, log)
	if err := server.Start(worker.Mux(h)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		server.Shutdown()
		p.attempts.Close()
	})
	p.requeuer = deadletter.NewRequeuer(st, deadletter.Queue{
		Client: asynq.NewClientFromRedisClient(conn.Client), Inspector: p.inspect, Name: queue,
		MaxAttempts: 5, TaskTimeout: 30 * time.Second, Retention: time.Hour,
		Counts: conn.Client})
	return p
}

// requeueCount reads what the requeues counted for the metrics.
func (p *pipeline) requeueCount(result string) int {
	p.t.Helper()
	n, err := p.conn.Client.HGet(context.Background(), deadletter.RequeueCountsKey, result).Int()
	if err != nil && !errors.Is(err, redis.Nil) {
		p.t.Fatal(err)
	}
	return n
}

// enqueue queues Adobe's lead example under token, scripted to answer
// script.
func (p *pipeline) enqueue(token, script string) string {
	p.t.Helper()
	if script != "" {
		if err := p.sim.SetRule(adobesim.Rule{Match: token, Script: script}); err != nil {
			p.t.Fatal(err)
		}
	}
	exec, err := callback.ParseExecutionRequest(testenv.Testdata(p.t,
		"adobe/ajo-b2b/examples/examples-03.json"))
	if err != nil {
		p.t.Fatal(err)
	}
	exec.Token, exec.CallbackURL = token, p.simURL+"/callback/"+token
	receipt, err := p.client.Enqueue(context.Background(), exec,
		callback.Result{ActivityData: callback.ActivityData{Success: true}})
	if err != nil {
		p.t.Fatal(err)
	}
	return receipt.ID
}

func (p *pipeline) waitStatus(id, state string) *producer.Status {
	p.t.Helper()
	var st *producer.Status
	testenv.Eventually(p.t, 20*time.Second, func() bool {
		var err error
		st, err = p.client.Status(context.Background(), id)
		return err == nil && st.State == state
	}, "callback %s never became %s; last %+v", id, state, st)
	return st
}

func (p *pipeline) waitDeadLetters(n int) {
	p.t.Helper()
	testenv.Eventually(p.t, 30*time.Second, func() bool {
		got, err := p.store.CountDeadLetters(context.Background(), store.Filter{})
		return err == nil && got == n
	}, "the store never held %d dead letters", n)
}

func TestDeadLetterIsStoredWithItsAttempts(t *testing.T) {
	t.Parallel()
	p := newPipeline(t, testenv.Postgres(t))
	id := p.enqueue("dl-503", "503*5")
	p.waitStatus(id, producer.StateDeadLettered)
	p.waitDeadLetters(1)
	dl, err := p.store.GetDeadLetter(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if dl.Reason != "attempts_exhausted" || dl.LastStatus != 503 || dl.Attempts != 5 ||
		dl.Job.Token != "dl-503" || dl.OrgID != "12345ABCDE@AdobeOrg" {
		t.Errorf("stored dead letter %+v", dl)
	}
	testenv.Eventually(t, 10*time.Second, func() bool {
		a, err := p.store.Attempts(context.Background(), id)
		return err == nil && len(a) == 5
	}, "the attempt log does not hold 5 attempts")
}

func TestRequeueAfterTheFixIsDelivered(t *testing.T) {
	t.Parallel()
	p := newPipeline(t, testenv.Postgres(t))
	id := p.enqueue("dl-400", "400")
	p.waitStatus(id, producer.StateDeadLettered)
	p.waitDeadLetters(1)

	ctx := context.Background()
	dry, err := p.requeuer.Requeue(ctx, deadletter.Request{Filter: store.Filter{
		Reason: "rejected_4xx"}, DryRun: true})
	if err != nil || dry.Matched != 1 || dry.Requeued != 1 || dry.Outcomes[0].Result !=
		"would_requeue" {
		t.Fatalf("dry run: %+v, %v", dry, err)
	}
	if dl, _ := p.store.GetDeadLetter(ctx, id); dl.State != store.StateDead ||
		dl.RequeueCount != 0 {
		t.Fatalf("the dry run changed the dead letter: %+v", dl)
	}
	if got := len(p.sim.Received("dl-400")); got != 1 {
		t.Fatalf("the dry run sent a callback: %d received", got)
	}
	if n := p.requeueCount("requeued"); n != 0 {
		t.Errorf("the dry run was counted: %d", n)
	}

	p.sim.ClearRules() // the cause is fixed
	rep, err := p.requeuer.Requeue(ctx, deadletter.Request{Filter: store.Filter{IDs: []string{id}},
		By: "ops@example.com", Note: "payload fixed"})
	if err != nil || rep.Requeued != 1 {
		t.Fatalf("requeue: %+v, %v", rep, err)
	}
	if n := p.requeueCount("requeued"); n != 1 {
		t.Errorf("requeues counted %d, want 1", n)
	}
	st := p.waitStatus(id, producer.StateDelivered)
	if st.Attempts != 1 {
		t.Errorf("a requeue should start a fresh budget: %d attempts", st.Attempts)
	}
	dl, _ := p.store.GetDeadLetter(ctx, id)
	if dl.State != store.StateRequeued || dl.RequeueCount != 1 || dl.RequeuedBy !=
		"ops@example.com" || dl.RequeueNote != "payload fixed" {
		t.Errorf("requeue not recorded: %+v", dl)
	}
	testenv.Eventually(t, 10*time.Second, func() bool {
		history, err := p.store.Attempts(ctx, id)
		return err == nil && len(history) == 2 && history[0].Outcome == "rejected_4xx" &&
			history[1].Outcome == "delivered"
	}, "the attempt history was not kept across the requeue")
}

func TestConcurrentRequeuesEnqueueEachOnce(t *testing.T) {
	t.Parallel()
	p := newPipeline(t, testenv.Postgres(t))
	const n = 30
	for i := range n {
		p.enqueue(fmt.Sprintf("conc-%02d", i), "400")
	}
	p.waitDeadLetters(n)
	p.sim.ClearRules()

	var wg sync.WaitGroup
	reports := make([]*deadletter.Report, 4)
	for i := range reports {
		wg.Go(func() {
			rep, err := p.requeuer.Requeue(context.Background(), deadletter.Request{All: true})
			if err != nil {
				t.Error(err)
			}
			reports[i] = rep
		})
	}
	wg.Wait()
	total := 0
	for _, rep := range reports {
		if rep != nil {
			total += rep.Requeued
		}
	}
	if total != n {
		t.Fatalf("%d requeues in all, want %d", total, n)
	}
	if counted := p.requeueCount("requeued"); counted != n {
		t.Errorf("the requeues counted %d requeued, want %d", counted, n)
	}
	testenv.Eventually(t, 30*time.Second, func() bool {
		return p.sim.Stats().Accepted == n
	}, "not every requeued callback was delivered; stats %+v", p.sim.Stats())
	if d := p.sim.Stats().Duplicates; d != 0 {
		t.Errorf("%d callbacks were delivered twice", d)
	}
}

func TestPostgresOutageLosesNoDeadLetter(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("short mode")
	}
	pg := testenv.StartPostgres(t)
	p := newPipeline(t, pg.URL)
	ctx := context.Background()

	pg.Stop()
	const n = 20
	for i := range n {
		p.enqueue(fmt.Sprintf("outage-%02d", i), "400")
	}
	testenv.Eventually(t, 30*time.Second, func() bool {
		size, err := p.durable.OutboxSize(ctx)
		return err == nil && size == n
	}, "the outbox never held the %d dead letters", n)

	pg.Start()
	moved, err := p.durable.Drain(ctx)
	if err != nil || moved != n {
		t.Fatalf("drained %d, %v; want %d", moved, err, n)
	}
	p.waitDeadLetters(n)
	if size, _ := p.durable.OutboxSize(ctx); size != 0 {
		t.Errorf("outbox still holds %d", size)
	}
}

func TestSweeperImportsWhatAsynqArchivedAlone(t *testing.T) {
	t.Parallel()
	p := newPipeline(t, testenv.Postgres(t))
	ctx := context.Background()
	// A task archived behind the handler's back, as asynq's recoverer does
	// when a worker dies during the last attempt.
	j := &job.Job{CallbackURL: p.simURL + "/callback/swept", Token: "swept", RequestID: "r",
		OrgID: "O@AdobeOrg", EntityType: "lead", EntityIDs: []string{"1"},
		Body:     json.RawMessage(`{"objectData":[{"activityData":{"success":true},"leadData":{"id":1}}]}`),
		Deadline: time.Now().Add(time.Hour), EnqueuedAt: time.Now()}
	payload, _ := j.Encode()
	id := job.IDFromToken(j.Token)
	c := asynq.NewClientFromRedisClient(p.conn.Client)
	if _, err := c.Enqueue(asynq.NewTask(job.TaskType, payload), asynq.TaskID(id),
		asynq.Queue(queue), asynq.ProcessIn(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := p.inspect.ArchiveTask(queue, id); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m, err := metrics.NewWorker(reg, 1)
	if err != nil {
		t.Fatal(err)
	}
	sw := deadletter.NewSweeper(p.inspect, p.store, queue, m, slog.New(slog.DiscardHandler))
	n, err := sw.Sweep(ctx)
	if err != nil || n != 1 {
		t.Fatalf("swept %d, %v; want 1", n, err)
	}
	// A second worker sweeping the same archive stores and counts nothing.
	other := deadletter.NewSweeper(p.inspect, p.store, queue, m, slog.New(slog.DiscardHandler))
	if n, err := other.Sweep(ctx); err != nil || n != 0 {
		t.Errorf("the other worker's sweep imported %d, %v; want 0", n, err)
	}
	if got, _ := testenv.CounterValue(t, reg, "callback_dispatcher_dead_letters_total",
		map[string]string{"reason": deadletter.ReasonWorkerLost}); got != 1 {
		t.Errorf("dead_letters_total{reason=worker_lost} = %v, want 1", got)
	}
	dl, err := p.store.GetDeadLetter(ctx, id)
	if err != nil || dl.Reason != deadletter.ReasonWorkerLost || dl.Job.Token != "swept" {
		t.Fatalf("imported %+v, %v", dl, err)
	}
	if n, _ := sw.Sweep(ctx); n != 0 {
		t.Errorf("a second sweep imported %d again", n)
	}
}

func TestOneRefusedEntryDoesNotBlockTheOutbox(t *testing.T) {
	t.Parallel()
	conn, _ := testenv.Redis(t)
	ctx := context.Background()
	st, err := store.Open(ctx, testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.MigrateUp(ctx); err != nil {
		t.Fatal(err)
	}
	d := deadletter.NewDurable(st, conn.Client, slog.New(slog.DiscardHandler))
	entry := func(id, reason string) string {
		j := &job.Job{CallbackURL: "https://adobe.com/cb", Token: id, OrgID: "O",
			EntityType: "lead", Body: json.RawMessage(`{"objectData":[]}`),
			Deadline: time.Now().Add(time.Hour)}
		data, _ := json.Marshal(map[string]any{"id": id, "job": j,
			"deadLetter": job.DeadLetter{Reason: reason, At: time.Now()}})
		return string(data)
	}
	// PostgreSQL refuses the NUL character in text.
	if err := conn.Client.RPush(ctx, deadletter.OutboxKey, entry("bad", "bad\u0000reason"),
		entry("good", "rejected_4xx")).Err(); err != nil {
		t.Fatal(err)
	}
	moved, err := d.Drain(ctx)
	if err != nil || moved != 1 {
		t.Fatalf("drained %d, %v; want 1", moved, err)
	}
	if _, err := st.GetDeadLetter(ctx, "good"); err != nil {
		t.Errorf("the good entry was not stored: %v", err)
	}
	if n, _ := conn.Client.LLen(ctx, deadletter.OutboxKey+":refused").Result(); n != 1 {
		t.Errorf("%d entries kept aside, want 1", n)
	}
	if n, _ := d.OutboxSize(ctx); n != 0 {
		t.Errorf("outbox still holds %d", n)
	}
}
