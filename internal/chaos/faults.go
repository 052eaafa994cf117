package chaos

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/callback-dispatcher/dispatcher/internal/localsvc"
)

// Kinds of timeline events.
const (
	EventWorkerStarted   = "worker_started"
	EventWorkerKilled    = "worker_killed"
	EventKillSkipped     = "kill_skipped"
	EventWorkerExited    = "worker_exited"
	EventRedisCrashed    = "redis_crashed"
	EventRedisRestarted  = "redis_restarted"
	EventPostgresStopped = "postgres_stopped"
	EventPostgresStarted = "postgres_started"
)

// Event is one thing that happened to the run's processes.
type Event struct {
	At     time.Time
	Kind   string
	Detail string
}

// timeline records events and echoes them, relative to the run's start.
type timeline struct {
	mu     sync.Mutex
	start  time.Time
	out    io.Writer
	events []Event
}

func (tl *timeline) add(kind, detail string) Event {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	e := Event{At: time.Now(), Kind: kind, Detail: detail}
	tl.events = append(tl.events, e)
	_, _ = fmt.Fprintf(tl.out, "    t=%6.1fs  %-17s %s\n", e.At.Sub(tl.start).Seconds(), kind,
		detail)
	return e
}

// begin sets the time events are measured from.
func (tl *timeline) begin() {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.start = time.Now()
}

func (tl *timeline) all() []Event {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return append([]Event(nil), tl.events...)
}

// pool keeps Workers worker processes running: it starts one in place of
// each that dies, at most one a second, as a deployment's controller would.
type pool struct {
	dir, bin string
	env      []string
	size     int
	tl       *timeline

	mu      sync.Mutex
	seq     int
	all     []*proc
	started time.Time
	// crashes counts the workers in a row that exited on their own; each
	// doubles the wait before the next start, as a deployment backs off.
	crashes int
}

// live returns the workers still running.
func (p *pool) live() []*proc {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*proc
	for _, w := range p.all {
		if !w.Exited() {
			out = append(out, w)
		}
	}
	return out
}

// spawn starts one worker and watches for it to end on its own.
func (p *pool) spawn() (*proc, string, error) {
	p.mu.Lock()
	p.seq++
	name := "worker-" + strconv.Itoa(p.seq)
	p.started = time.Now()
	p.mu.Unlock()
	ops, err := localsvc.FreeAddr()
	if err != nil {
		return nil, "", err
	}
	w, err := startProc(p.dir, name, p.bin, append(p.env, "OPS_LISTEN="+ops))
	if err != nil {
		return nil, "", err
	}
	p.mu.Lock()
	p.all = append(p.all, w)
	p.mu.Unlock()
	p.tl.add(EventWorkerStarted, fmt.Sprintf("%s (pid %d)", name, w.Pid()))
	go func() {
		<-w.Done()
		alone := !w.EndedByRun()
		p.mu.Lock()
		if alone && time.Since(w.Started) < 10*time.Second {
			p.crashes++
		} else {
			p.crashes = 0
		}
		p.mu.Unlock()
		if alone {
			p.tl.add(EventWorkerExited, fmt.Sprintf("%s exited on its own, code %d: %s", name,
				w.ExitCode(), lastLine(w.Tail(600))))
		}
	}()
	return w, "http://" + ops + "/readyz", nil
}

// supervise tops the pool up until ctx is done.
func (p *pool) supervise(ctx context.Context) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		p.mu.Lock()
		recent := time.Since(p.started) < time.Second<<min(p.crashes, 3)
		p.mu.Unlock()
		if !recent && len(p.live()) < p.size {
			if _, _, err := p.spawn(); err != nil {
				p.tl.add(EventWorkerExited, "replacement not started: "+err.Error())
			}
		}
	}
}

// killRandom SIGKILLs one running worker, if any runs.
func (p *pool) killRandom(rng *rand.Rand) {
	live := p.live()
	if len(live) == 0 {
		p.tl.add(EventKillSkipped, "no worker running")
		return
	}
	w := live[rng.IntN(len(live))]
	pid := w.Pid()
	w.Kill()
	p.tl.add(EventWorkerKilled, fmt.Sprintf("%s (pid %d) SIGKILL", w.Name, pid))
}

// stopAll sends SIGTERM to every worker and waits for each.
func (p *pool) stopAll() {
	for _, w := range p.live() {
		w.Stop(60 * time.Second)
	}
}

// workers returns every worker the run started.
func (p *pool) workers() []*proc {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*proc(nil), p.all...)
}

// sleepUntil waits until t or ctx ends; it reports whether t came.
func sleepUntil(ctx context.Context, t time.Time) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(time.Until(t)):
		return true
	}
}

// faults strikes the configured faults, then returns.
type faults struct {
	cfg   Config
	tl    *timeline
	pool  *pool
	redis *localsvc.Redis
	pg    *localsvc.Postgres
	rng   *rand.Rand
}

func (f *faults) run(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Go(func() { f.kills(ctx) })
	if f.cfg.RedisDownFor > 0 {
		wg.Go(func() { errs <- f.redisCrash(ctx) })
	}
	if f.cfg.PostgresDownFor > 0 {
		wg.Go(func() { errs <- f.postgresOutage(ctx) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (f *faults) kills(ctx context.Context) {
	at := f.cfg.KillFrom
	for at <= f.cfg.KillUntil {
		if !sleepUntil(ctx, f.tl.start.Add(at)) {
			return
		}
		f.pool.killRandom(f.rng)
		span := f.cfg.KillMax - f.cfg.KillMin
		at += f.cfg.KillMin + time.Duration(f.rng.Int64N(int64(span)+1))
	}
}

func (f *faults) redisCrash(ctx context.Context) error {
	if !sleepUntil(ctx, f.tl.start.Add(f.cfg.RedisCrashAt)) {
		return nil
	}
	f.redis.Kill()
	f.tl.add(EventRedisCrashed, "redis-server SIGKILL (appendonly yes, appendfsync everysec)")
	if !sleepUntil(ctx, time.Now().Add(f.cfg.RedisDownFor)) {
		return nil
	}
	if err := f.redis.Restart(ctx); err != nil {
		return err
	}
	f.tl.add(EventRedisRestarted, "redis-server started again on "+f.redis.Addr()+
		", same directory")
	return nil
}

func (f *faults) postgresOutage(ctx context.Context) error {
	if !sleepUntil(ctx, f.tl.start.Add(f.cfg.PostgresStopAt)) {
		return nil
	}
	if err := f.pg.Stop(ctx); err != nil {
		return err
	}
	f.tl.add(EventPostgresStopped, "pg_ctl stop -m immediate")
	if !sleepUntil(ctx, time.Now().Add(f.cfg.PostgresDownFor)) {
		return nil
	}
	if err := f.pg.Start(ctx); err != nil {
		return err
	}
	f.tl.add(EventPostgresStarted, "pg_ctl start")
	return nil
}
