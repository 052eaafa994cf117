// Package chaos drives callbacks through the whole dispatcher (the producer
// API, several worker processes, Redis, PostgreSQL and the Adobe simulator,
// each a process of its own) while it kills workers, crashes Redis and
// stops PostgreSQL. It then reconciles what the producer accepted with what
// the simulator took and what the dead-letter store holds, and explains
// each duplicate by the fault that caused it.
package chaos

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/callback-dispatcher/dispatcher/internal/adobesim"
	"github.com/callback-dispatcher/dispatcher/internal/child"
	"github.com/callback-dispatcher/dispatcher/internal/deadletter"
	"github.com/callback-dispatcher/dispatcher/internal/localsvc"
)

// queue is the asynq queue of the run.
const queue = "chaos"

// run is one chaos run's processes and files.
type run struct {
	cfg   Config
	out   io.Writer
	dir   string
	root  string
	redis *localsvc.Redis
	pg    *localsvc.Postgres
	sim   *proc
	api   *proc
	pool  *pool
	tl    *timeline

	simURL, apiURL, apiToken string
}

// Run makes one chaos run and returns its report. It fails only when the
// run itself could not be made; a lost callback is in the report.
func Run(ctx context.Context, cfg Config, out io.Writer) (*Report, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	r := &run{cfg: cfg, out: out, tl: &timeline{out: out}}
	defer r.close()
	if err := r.setUp(ctx); err != nil {
		return nil, err
	}
	if err := r.startPrograms(ctx); err != nil {
		return nil, err
	}

	superCtx, stopSupervisor := context.WithCancel(ctx)
	supervised := make(chan struct{})
	go func() { r.pool.supervise(superCtx); close(supervised) }()
	// Stopped before close runs, so that no replacement starts meanwhile.
	defer func() { stopSupervisor(); <-supervised }()
	load, err := r.drive(ctx)
	if err != nil {
		return nil, err
	}

	rep := &Report{Config: cfg, Started: r.tl.start}
	rep.LastFault = lastFault(r.tl.all())
	if err := r.drain(ctx, rep); err != nil {
		return nil, err
	}
	stopSupervisor()
	<-supervised
	_, _ = fmt.Fprintln(out, "==> stopping the workers (SIGTERM)")
	r.pool.stopAll()
	return r.reconcile(ctx, load, rep)
}

// setUp makes the run's directory, builds the programs and starts Redis
// and PostgreSQL.
func (r *run) setUp(ctx context.Context) error {
	var err error
	if r.root, err = repoRoot(); err != nil {
		return err
	}
	r.dir = r.cfg.Dir
	if r.dir == "" {
		if r.dir, err = os.MkdirTemp("", "callback-dispatcher-chaos-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return err
	}
	_, _ = fmt.Fprintf(r.out, "==> building producer, worker and adobesim into %s\n", r.dir)
	build := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(r.dir, "bin")+"/",
		"./cmd/producer", "./cmd/worker", "./cmd/adobesim")
	build.Dir, build.Stdout, build.Stderr = r.root, r.out, r.out
	if err := build.Run(); err != nil {
		return fmt.Errorf("build programs: %w", err)
	}
	// AOF with fsync every second is what the README asks of the queue's
	// Redis; the Redis crash restarts it on the same port and directory.
	r.redis, err = localsvc.StartRedis(ctx, filepath.Join(r.dir, "redis"),
		localsvc.RedisOptions{AppendFsync: "everysec"})
	if err != nil {
		return err
	}
	_, _ = fmt.Fprintf(r.out, "==> redis-server on %s (appendonly yes, appendfsync everysec)\n",
		r.redis.Addr())
	r.pg, err = localsvc.StartPostgres(ctx, filepath.Join(r.dir, "pg"),
		localsvc.PostgresOptions{MaxConnections: 200, StartTimeout: time.Minute})
	if err != nil {
		return err
	}
	_, _ = fmt.Fprintf(r.out, "==> PostgreSQL on %s\n", r.pg.Addr())
	migrate := exec.CommandContext(ctx, r.bin("producer"), "migrate", "up")
	migrate.Env = append(os.Environ(), "DATABASE_URL="+r.pg.URL())
	if msg, err := migrate.CombinedOutput(); err != nil {
		return fmt.Errorf("producer migrate up: %w\n%s", err, msg)
	}
	return nil
}

func (r *run) bin(name string) string { return filepath.Join(r.dir, "bin", name) }

// startPrograms starts the simulator, the producer API and the workers,
// and waits until each is ready.
func (r *run) startPrograms(ctx context.Context) error {
	simAddr, err := localsvc.FreeAddr()
	if err != nil {
		return err
	}
	apiAddr, err := localsvc.FreeAddr()
	if err != nil {
		return err
	}
	r.simURL, r.apiURL, r.apiToken = "http://"+simAddr, "http://"+apiAddr, randomHex(24)
	r.sim, err = startProc(r.dir, "adobesim", r.bin("adobesim"), []string{
		"SIM_LISTEN=" + simAddr, "SIM_RULES=" + simRules(), "SIM_KEEP_BODIES=0",
		"LOG_LEVEL=warn"})
	if err != nil {
		return err
	}
	guard := []string{"REDIS_URL=" + r.redis.URL(), "QUEUE=" + queue,
		"CALLBACK_ALLOWED_HOSTS=127.0.0.1", "CALLBACK_ALLOW_HTTP=true",
		"CALLBACK_ALLOW_PRIVATE=true"}
	r.api, err = startProc(r.dir, "producer", r.bin("producer"), append(guard,
		"LISTEN="+apiAddr, "API_TOKENS="+r.apiToken, "LOG_LEVEL=warn"), "serve")
	if err != nil {
		return err
	}
	if err := child.WaitReady(ctx, r.sim, r.simURL+"/sim/stats", 20*time.Second); err != nil {
		return err
	}
	if err := child.WaitReady(ctx, r.api, r.apiURL+"/readyz", 20*time.Second); err != nil {
		return err
	}
	r.pool = &pool{dir: r.dir, bin: r.bin("worker"), size: r.cfg.Workers, tl: r.tl,
		env: append(guard, "DATABASE_URL="+r.pg.URL(), "IMS_CLIENT_ID=sim-client",
			"IMS_CLIENT_SECRET=sim-secret", "IMS_TOKEN_URL="+r.simURL+"/ims/token/v3",
			fmt.Sprintf("CONCURRENCY=%d", r.cfg.Concurrency), "RETRY_BASE=200ms",
			"RETRY_CAP=2s", "DELAYED_TASK_CHECK_INTERVAL=200ms", "ARCHIVE_SWEEP_INTERVAL=5s",
			"OUTBOX_DRAIN_INTERVAL=1s", "LOG_LEVEL=debug")}
	r.tl.begin()
	for range r.cfg.Workers {
		w, ready, err := r.pool.spawn()
		if err != nil {
			return err
		}
		if err := child.WaitReady(ctx, w, ready, 30*time.Second); err != nil {
			return err
		}
	}
	_, _ = fmt.Fprintf(r.out, "==> simulator on %s, producer API on %s, %d workers × %d ready\n",
		simAddr, apiAddr, r.cfg.Workers, r.cfg.Concurrency)
	return nil
}

// drive sends the callbacks while the faults strike, and returns once both
// are done.
func (r *run) drive(ctx context.Context) (loadResult, error) {
	_, _ = fmt.Fprintf(r.out, "==> %d callbacks over %s; faults:\n", r.cfg.Callbacks, r.cfg.Produce)
	l, err := newLoader(r.apiURL, r.simURL, r.apiToken, randomHex(3),
		filepath.Join(r.root, "testdata", "adobe", "ajo-b2b", "examples", "examples-03.json"))
	if err != nil {
		return loadResult{}, err
	}
	r.tl.begin()
	f := &faults{cfg: r.cfg, tl: r.tl, pool: r.pool, redis: r.redis, pg: r.pg,
		rng: rand.New(rand.NewPCG(r.cfg.Seed, 2))}
	faultErr := make(chan error, 1)
	go func() { faultErr <- f.run(ctx) }()
	load := l.run(ctx, r.cfg.Callbacks, r.cfg.Produce, rand.New(rand.NewPCG(r.cfg.Seed, 1)))
	_, _ = fmt.Fprintf(r.out, "    t=%6.1fs  %-17s %d accepted, %d refused, %d needed a retry\n",
		time.Since(r.tl.start).Seconds(), "load_done", len(load.accepted), len(load.refused),
		load.retried)
	return load, <-faultErr
}

// lastFault is when the last fault ended: a kill, or a restart of Redis or
// PostgreSQL.
func lastFault(events []Event) time.Time {
	var last time.Time
	for _, e := range events {
		switch e.Kind {
		case EventWorkerKilled, EventRedisRestarted, EventPostgresStarted:
			if e.At.After(last) {
				last = e.At
			}
		}
	}
	return last
}

// drain waits until nothing is left to do: the queue holds no pending,
// active, scheduled or retrying task, the outbox is empty and every
// archived task is in the dead-letter store.
func (r *run) drain(ctx context.Context, rep *Report) error {
	_, _ = fmt.Fprintln(r.out, "==> waiting for the queue to drain (a killed worker's callbacks "+
		"come back once asynq sees their lease expired, 60 to 120 s after the kill)")
	rdb := redis.NewClient(&redis.Options{Addr: r.redis.Addr()})
	defer func() { _ = rdb.Close() }()
	insp := asynq.NewInspectorFromRedisClient(rdb)
	deadline := rep.LastFault.Add(r.cfg.DrainTimeout)
	lastSay := time.Now()
	for {
		left, err := r.remaining(ctx, rdb, insp)
		if err == nil && left == "" {
			rep.Drained = time.Now()
			rep.DrainAfterFault = rep.Drained.Sub(rep.LastFault)
			_, _ = fmt.Fprintf(r.out, "    drained %.1fs after the last fault\n",
				rep.DrainAfterFault.Seconds())
			return nil
		}
		if err != nil {
			left = err.Error()
		}
		if time.Now().After(deadline) {
			_, _ = fmt.Fprintf(r.out, "    not drained %s after the last fault: %s\n",
				r.cfg.DrainTimeout, left)
			return nil
		}
		if time.Since(lastSay) >= 10*time.Second {
			_, _ = fmt.Fprintf(r.out, "    t=%6.1fs  left: %s\n", time.Since(r.tl.start).Seconds(),
				left)
			lastSay = time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// remaining says what is left to do, or "" when nothing is.
func (r *run) remaining(ctx context.Context, rdb *redis.Client,
	insp *asynq.Inspector) (string, error) {
	qi, err := insp.GetQueueInfo(queue)
	if err != nil {
		return "", fmt.Errorf("read queue: %w", err)
	}
	outbox, err := rdb.LLen(ctx, deadletter.OutboxKey).Result()
	if err != nil {
		return "", fmt.Errorf("read outbox: %w", err)
	}
	unswept, err := r.unsweptArchive(ctx, insp)
	if err != nil {
		return "", err
	}
	if qi.Pending+qi.Active+qi.Scheduled+qi.Retry+qi.Aggregating == 0 && outbox == 0 &&
		unswept == 0 {
		return "", nil
	}
	return fmt.Sprintf("%d pending, %d active, %d scheduled, %d retry; outbox %d; "+
		"%d archived not yet in PostgreSQL", qi.Pending, qi.Active, qi.Scheduled, qi.Retry,
		outbox, unswept), nil
}

// unsweptArchive counts archived tasks the dead-letter store lacks.
func (r *run) unsweptArchive(ctx context.Context, insp *asynq.Inspector) (int, error) {
	stored, err := r.deadLetters(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for page := 1; ; page++ {
		tasks, err := insp.ListArchivedTasks(queue, asynq.PageSize(1000), asynq.Page(page))
		if err != nil {
			return 0, fmt.Errorf("list archived tasks: %w", err)
		}
		for _, t := range tasks {
			if _, ok := stored[t.ID]; !ok {
				n++
			}
		}
		if len(tasks) < 1000 {
			return n, nil
		}
	}
}

// deadLetters reads the dead-letter store: each reason by job id.
func (r *run) deadLetters(ctx context.Context) (map[string]string, error) {
	conn, err := pgx.Connect(ctx, r.pg.URL())
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	rows, err := conn.Query(ctx, "SELECT id, reason FROM dead_letters")
	if err != nil {
		return nil, fmt.Errorf("read dead letters: %w", err)
	}
	out := map[string]string{}
	var id, reason string
	_, err = pgx.ForEachRow(rows, []any{&id, &reason}, func() error {
		out[id] = reason
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read dead letters: %w", err)
	}
	return out, nil
}

// received reads every request the simulator recorded.
func (r *run) received(ctx context.Context) ([]adobesim.Record, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.simURL+"/sim/received", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("read the simulator's records: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	var rep struct {
		Callbacks []adobesim.Record `json:"callbacks"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		return nil, fmt.Errorf("decode the simulator's records: %w", err)
	}
	return rep.Callbacks, nil
}

// reconcile gathers the three sources and the evidence and fills in the
// report.
func (r *run) reconcile(ctx context.Context, load loadResult, rep *Report) (*Report, error) {
	recs, err := r.received(ctx)
	if err != nil {
		return nil, err
	}
	dead, err := r.deadLetters(ctx)
	if err != nil {
		return nil, err
	}
	events := r.tl.all()
	ev, err := gatherEvidence(r.pool.workers(), events)
	if err != nil {
		return nil, err
	}
	out := Reconcile(Sources{Accepted: load.accepted, Received: recs, DeadLetters: dead}, ev)
	out.Config, out.Started, out.Events = rep.Config, rep.Started, events
	out.LastFault, out.Drained, out.DrainAfterFault = rep.LastFault, rep.Drained,
		rep.DrainAfterFault
	out.NotAccepted, out.EnqueueRetries = load.refused, load.retried
	for _, e := range events {
		switch e.Kind {
		case EventWorkerKilled:
			out.Kills++
		case EventWorkerExited:
			out.WorkerExits++
		}
	}
	out.Took = time.Since(r.tl.start)
	return &out, nil
}

// close stops every process the run started and removes its files unless
// the configuration keeps them.
func (r *run) close() {
	if r.pool != nil {
		r.pool.stopAll()
	}
	for _, p := range []*proc{r.api, r.sim} {
		if p != nil {
			p.Stop(10 * time.Second)
		}
	}
	if r.redis != nil {
		r.redis.Close()
	}
	if r.pg != nil {
		r.pg.Close()
	}
	if r.cfg.Dir == "" && r.dir != "" {
		_ = os.RemoveAll(r.dir)
	}
}

// repoRoot is the directory holding go.mod, above the working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found: run from the repository")
		}
		dir = parent
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = crand.Read(b)
	return hex.EncodeToString(b)
}
