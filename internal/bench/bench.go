// Package bench measures the dispatcher against a bare asynq sender on one
// machine, in one run (make bench): the same Redis, the same simulator, the
// same concurrency and the same 1 KiB callback body. It starts every
// program as its own process, so that each one's CPU time and memory are
// read from /proc, and reports the figures against the targets of the
// project's benchmark issue.
package bench

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/callback-dispatcher/dispatcher/internal/adobesim"
	"github.com/callback-dispatcher/dispatcher/internal/child"
	"github.com/callback-dispatcher/dispatcher/internal/localsvc"
	"github.com/callback-dispatcher/dispatcher/internal/redisconn"
)

// Config sets up a run. Zero fields take the defaults of make bench.
type Config struct {
	// Root is the repository, where the programs are built from.
	Root string
	// RedisURL and DatabaseURL are the services to measure against; the
	// bench only touches keys of its own queues and tables the worker
	// writes.
	RedisURL    string
	DatabaseURL string
	// Self is the bench's own program, which runs the baseline when given
	// the bare-worker argument.
	Self string
	// Concurrency is the callbacks in flight per worker, baseline and
	// dispatcher alike; 50, the worker's default.
	Concurrency int
	// Deliveries is the queue each throughput run drains; Rounds is how
	// many times each contestant runs, in rotating order.
	Deliveries int
	Rounds     int
	// Enqueues is how many callbacks each enqueue measurement queues, from
	// EnqueueWorkers goroutines.
	Enqueues       int
	EnqueueWorkers int
	// LightRate callbacks a second for LightFor measure latency, retries
	// and IMS fetches.
	LightRate int
	LightFor  time.Duration
	// Soak, when positive, sends that many callbacks through one worker
	// and reads its memory along the way.
	Soak int
	// BodySize is the callback body's length in bytes.
	BodySize int
	// WorkerBin, when set, is the worker program measured instead of one
	// built from cmd/worker, such as an older build or a profiling one.
	WorkerBin string
	// WorkerEnv is added to every dispatcher worker's environment, such as
	// a WORKER_SERVERS setting under test.
	WorkerEnv []string
	// Phases, when not empty, are the only phases run: enqueue,
	// throughput, light and soak.
	Phases []string
	// Log receives progress lines.
	Log io.Writer
}

func (c Config) withDefaults() Config {
	c.Concurrency = cmp.Or(c.Concurrency, 50)
	c.Deliveries = cmp.Or(c.Deliveries, 60000)
	c.Rounds = cmp.Or(c.Rounds, 3)
	c.Enqueues = cmp.Or(c.Enqueues, 20000)
	c.EnqueueWorkers = cmp.Or(c.EnqueueWorkers, 50)
	c.LightRate = cmp.Or(c.LightRate, 50)
	c.LightFor = cmp.Or(c.LightFor, 30*time.Second)
	c.BodySize = cmp.Or(c.BodySize, 1024)
	if c.Log == nil {
		c.Log = io.Discard
	}
	return c
}

// run is one bench run's programs and connections.
type run struct {
	cfg    Config
	dir    string
	bin    string
	conn   *redisconn.Conn
	pg     *pgxpool.Pool
	sim    *simClient
	simURL string
	// pgPID is the PostgreSQL postmaster's process id, or 0 when it is not
	// on this machine or cannot be read.
	pgPID int
	// procs run for the whole run: the simulator and the producer API.
	procs    []*proc
	apiURL   string
	apiToken string
	// id makes the run's queue names and tokens its own.
	id string
}

// Run measures everything and returns the report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg = cfg.withDefaults()
	r := &run{cfg: cfg, id: randomHex(4)}
	var err error
	if r.dir, err = os.MkdirTemp("", "callback-dispatcher-bench-"); err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(r.dir) }()
	// Deferred first, so that a half-done set-up is undone too.
	defer r.tearDown()
	if err := r.setUp(ctx); err != nil {
		return nil, err
	}

	rep := &Report{Config: cfg, Started: time.Now(), BodySize: cfg.BodySize}
	rep.Load[0] = loadAverage()
	steps := []struct {
		name string
		f    func(context.Context, *Report) error
	}{
		{"enqueue", r.enqueueRates},
		{"throughput", r.throughput},
		{"light", r.lightLoad},
		{"soak", r.soak},
	}
	for _, s := range steps {
		if len(cfg.Phases) > 0 && !slices.Contains(cfg.Phases, s.name) {
			continue
		}
		r.logf("==> %s", s.name)
		if err := s.f(ctx, rep); err != nil {
			return rep, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	rep.Took = time.Since(rep.Started)
	rep.Load[1] = loadAverage()
	return rep, nil
}

// loadAverage reads the 1, 5 and 15 minute load averages.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], ", ")
}

func (r *run) logf(format string, args ...any) {
	_, _ = fmt.Fprintf(r.cfg.Log, format+"\n", args...)
}

// setUp builds the programs, migrates the database and starts the
// simulator and the producer API.
func (r *run) setUp(ctx context.Context) error {
	r.logf("==> building worker, producer and adobesim")
	r.bin = filepath.Join(r.dir, "bin")
	build := exec.CommandContext(ctx, "go", "build", "-o", r.bin+"/", "./cmd/worker",
		"./cmd/producer", "./cmd/adobesim")
	build.Dir = r.cfg.Root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build programs: %w\n%s", err, out)
	}
	var err error
	if r.conn, err = redisconn.Parse(r.cfg.RedisURL); err != nil {
		return err
	}
	if r.pg, err = pgxpool.New(ctx, r.cfg.DatabaseURL); err != nil {
		return fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	r.pgPID = r.postmasterPID(ctx)
	migrate := exec.CommandContext(ctx, filepath.Join(r.bin, "producer"), "migrate", "up")
	migrate.Env = append(os.Environ(), "DATABASE_URL="+r.cfg.DatabaseURL)
	if out, err := migrate.CombinedOutput(); err != nil {
		return fmt.Errorf("producer migrate up: %w\n%s", err, out)
	}
	simProc, sim, err := r.startSim(ctx, "adobesim", adobesim.DefaultTokenLifetime)
	if err != nil {
		return err
	}
	r.procs, r.sim, r.simURL = append(r.procs, simProc), sim, sim.base
	return r.startAPI(ctx)
}

func (r *run) tearDown() {
	for i := len(r.procs) - 1; i >= 0; i-- {
		r.procs[i].Stop(10 * time.Second)
	}
	if r.pg != nil {
		r.pg.Close()
	}
	if r.conn != nil {
		_ = r.conn.Close()
	}
}

// startSim starts a simulator process whose tokens live lifetime. It keeps
// no bodies, so that a long run does not make it grow.
func (r *run) startSim(ctx context.Context, name string, lifetime time.Duration) (*proc,
	*simClient, error) {
	addr, err := localsvc.FreeAddr()
	if err != nil {
		return nil, nil, err
	}
	p, err := startProc(r.dir, name, filepath.Join(r.bin, "adobesim"), []string{
		"SIM_LISTEN=" + addr, "SIM_KEEP_BODIES=0", "SIM_TOKEN_LIFETIME=" + lifetime.String(),
		"LOG_LEVEL=warn"})
	if err != nil {
		return nil, nil, err
	}
	sim := &simClient{base: "http://" + addr, http: &http.Client{Timeout: 30 * time.Second}}
	if err := child.WaitReady(ctx, p, sim.base+"/sim/stats", 30*time.Second); err != nil {
		p.Stop(time.Second)
		return nil, nil, err
	}
	return p, sim, nil
}

// dispatcherEnv is the environment every dispatcher worker shares.
func (r *run) dispatcherEnv(queue, simURL string) []string {
	env := []string{"REDIS_URL=" + r.cfg.RedisURL, "QUEUE=" + queue,
		"IMS_CLIENT_ID=" + adobesim.DefaultClientID,
		"IMS_CLIENT_SECRET=" + adobesim.DefaultClientSecret,
		"IMS_TOKEN_URL=" + simURL + "/ims/token/v3",
		"CALLBACK_ALLOWED_HOSTS=127.0.0.1", "CALLBACK_ALLOW_HTTP=true",
		"CALLBACK_ALLOW_PRIVATE=true", fmt.Sprintf("CONCURRENCY=%d", r.cfg.Concurrency)}
	return append(env, r.cfg.WorkerEnv...)
}

// startWorker starts a dispatcher worker and waits until it is ready. With
// db it has the dead-letter store and the attempt log.
func (r *run) startWorker(ctx context.Context, name string, env []string, db bool) (*proc,
	string, error) {
	ops, err := localsvc.FreeAddr()
	if err != nil {
		return nil, "", err
	}
	env = append(env, "OPS_LISTEN="+ops)
	if db {
		env = append(env, "DATABASE_URL="+r.cfg.DatabaseURL)
	} else {
		env = append(env, "DATABASE_URL=")
	}
	p, err := startProc(r.dir, name, cmp.Or(r.cfg.WorkerBin, filepath.Join(r.bin, "worker")), env)
	if err != nil {
		return nil, "", err
	}
	if err := child.WaitReady(ctx, p, "http://"+ops+"/readyz", 30*time.Second); err != nil {
		p.Stop(5 * time.Second)
		return nil, "", err
	}
	return p, "http://" + ops, nil
}

// startAPI starts the producer API on its own queue.
func (r *run) startAPI(ctx context.Context) error {
	addr, err := localsvc.FreeAddr()
	if err != nil {
		return err
	}
	ops, err := localsvc.FreeAddr()
	if err != nil {
		return err
	}
	r.apiToken = randomHex(24)
	p, err := startProc(r.dir, "producer", filepath.Join(r.bin, "producer"), []string{
		"REDIS_URL=" + r.cfg.RedisURL, "QUEUE=" + r.queue("api"), "LISTEN=" + addr,
		"OPS_LISTEN=" + ops,
		"API_TOKENS=" + r.apiToken, "CALLBACK_ALLOWED_HOSTS=127.0.0.1",
		"CALLBACK_ALLOW_HTTP=true", "CALLBACK_ALLOW_PRIVATE=true",
		"DATABASE_URL=" + r.cfg.DatabaseURL}, "serve")
	if err != nil {
		return err
	}
	r.apiURL = "http://" + addr
	if err := child.WaitReady(ctx, p, r.apiURL+"/readyz", 30*time.Second); err != nil {
		p.Stop(time.Second)
		return err
	}
	r.procs = append(r.procs, p)
	return nil
}

// postmasterPID reads the first line of postmaster.pid in PostgreSQL's
// data directory, when the server runs here and the bench may read it.
func (r *run) postmasterPID(ctx context.Context) int {
	var dir string
	if err := r.pg.QueryRow(ctx, "SHOW data_directory").Scan(&dir); err != nil {
		return 0
	}
	data, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(data), "\n", 2)[0]))
	return pid
}

// queue names one of the run's queues.
func (r *run) queue(name string) string { return "bench-" + r.id + "-" + name }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
