package bench

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/callback-dispatcher/dispatcher/internal/adobesim"
)

// The contestants of the throughput runs.
const (
	Baseline      = "bare asynq sender (baseline)"
	EverythingOn  = "dispatcher, everything on"
	AttemptLogOff = "dispatcher, attempt log off"
)

// Contestants lists them in report order.
var Contestants = []string{Baseline, EverythingOn, AttemptLogOff}

// Drain is one run of a worker emptying a full queue.
type Drain struct {
	Contestant string
	// N callbacks were delivered in Window, counted between 5 % and 95 %
	// of the queue so that start-up and the tail do not count.
	N      int
	Window time.Duration
	// WorkerCPU, SimCPU, RedisCPU and PostgresCPU are CPU time per
	// callback in Window; PostgresCPU is 0 when PostgreSQL is not local.
	WorkerCPU   time.Duration
	SimCPU      time.Duration
	RedisCPU    time.Duration
	PostgresCPU time.Duration
	// RSS is the worker's resident memory at the end.
	RSS int64
}

// Rate is deliveries per second.
func (d Drain) Rate() float64 { return float64(d.N) / d.Window.Seconds() }

// throughput fills a queue and lets each contestant drain it, Rounds times
// in rotating order, so that a slow moment of the machine does not land on
// one contestant only.
func (r *run) throughput(ctx context.Context, rep *Report) error {
	for round := range r.cfg.Rounds {
		for k := range Contestants {
			name := Contestants[(round+k)%len(Contestants)]
			d, err := r.drainOnce(ctx, name, round)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			r.logf("    %-30s %8.0f deliveries/s  %5.0f µs worker CPU per callback", name,
				d.Rate(), micros(d.WorkerCPU))
			rep.Drains = append(rep.Drains, d)
		}
	}
	return nil
}

func (r *run) drainOnce(ctx context.Context, name string, round int) (Drain, error) {
	queue := r.queue(fmt.Sprintf("drain-%d-%d", round, len(name)))
	prefix := fmt.Sprintf("%s-d%d-%d", r.id, round, len(name))
	kind := EnqueueClient
	if name == Baseline {
		kind = EnqueueBare
	}
	enqueue, done, err := r.enqueuer(kind, queue, prefix)
	if err != nil {
		return Drain{}, err
	}
	_, err = parallel(ctx, r.cfg.Deliveries, r.cfg.EnqueueWorkers, enqueue)
	done()
	if err != nil {
		return Drain{}, fmt.Errorf("fill the queue: %w", err)
	}
	defer func() { _ = dropQueue(context.WithoutCancel(ctx), r.conn.Client, queue) }()
	if err := r.sim.reset(ctx); err != nil {
		return Drain{}, err
	}

	p, err := r.startContestant(ctx, name, queue)
	if err != nil {
		return Drain{}, err
	}
	defer p.Stop(60 * time.Second)
	d, err := r.measureDrain(ctx, p, r.cfg.Deliveries)
	d.Contestant = name
	return d, err
}

// startContestant starts the baseline or a dispatcher worker on queue.
func (r *run) startContestant(ctx context.Context, name, queue string) (*proc, error) {
	if name == Baseline {
		s := BareSettings{RedisURL: r.cfg.RedisURL, Queue: queue, Concurrency: r.cfg.Concurrency,
			TaskCheck: 100 * time.Millisecond, TokenURL: r.simURL + "/ims/token/v3",
			ClientID: adobesim.DefaultClientID, Secret: adobesim.DefaultClientSecret}
		return startProc(r.dir, "bare", r.cfg.Self, s.env(), "bare-worker")
	}
	p, _, err := r.startWorker(ctx, "worker", r.dispatcherEnv(queue, r.simURL),
		name == EverythingOn)
	return p, err
}

// point is what a drain's poll saw.
type point struct {
	accepted int
	worker   usage
	sim      usage
	redis    time.Duration
	postgres time.Duration
}

// measureDrain waits until the simulator has accepted n callbacks and
// measures rate and CPU between 5 % and 95 % of them.
func (r *run) measureDrain(ctx context.Context, p *proc, n int) (Drain, error) {
	simProc := r.procs[0]
	var first, last *point
	mark := func(accepted int) (*point, error) {
		pt := &point{accepted: accepted}
		var err error
		if pt.worker, err = sample(p); err != nil {
			return nil, err
		}
		if pt.sim, err = sample(simProc); err != nil {
			return nil, err
		}
		if pt.redis, err = redisCPU(ctx, r.conn.Client); err != nil {
			return nil, err
		}
		if r.pgPID > 0 {
			pt.postgres, err = treeCPU(r.pgPID)
		}
		return pt, err
	}
	err := r.sim.waitAccepted(ctx, n, 30*time.Second, func(accepted int) error {
		if err := p.ExitedEarly(); err != nil {
			return err
		}
		var err error
		switch {
		case first == nil && accepted >= n/20:
			first, err = mark(accepted)
		case first != nil && last == nil && accepted >= n-n/20:
			last, err = mark(accepted)
		}
		return err
	})
	if err != nil {
		return Drain{}, err
	}
	if last == nil {
		return Drain{}, fmt.Errorf("the queue of %d drained between two polls", n)
	}
	k := time.Duration(last.accepted - first.accepted)
	return Drain{
		N:           last.accepted - first.accepted,
		Window:      last.worker.at.Sub(first.worker.at),
		WorkerCPU:   (last.worker.cpu - first.worker.cpu) / k,
		SimCPU:      (last.sim.cpu - first.sim.cpu) / k,
		RedisCPU:    (last.redis - first.redis) / k,
		PostgresCPU: (last.postgres - first.postgres) / k,
		RSS:         last.worker.rss,
	}, nil
}

// metricsServed reports whether a worker serves Prometheus metrics on its
// ops address.
func metricsServed(ctx context.Context, ops string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ops+"/metrics", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
