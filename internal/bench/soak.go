package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/callback-dispatcher/dispatcher/internal/child"
)

// soakBacklog bounds how far the feeder runs ahead of the worker, so that
// the queue, not Redis's memory, is what the soak measures.
const soakBacklog = 50000

// Soak is what the soak measured: one worker with everything on sending
// N callbacks.
type Soak struct {
	N    int
	Took time.Duration
	// Idle is the worker's RSS once ready, before any callback.
	Idle int64
	// Samples are its RSS after each tenth of the callbacks.
	Samples []RSSSample
	// WorkerCPU is its CPU time per callback over the whole soak.
	WorkerCPU time.Duration
}

// RSSSample is the worker's resident memory after Delivered callbacks.
type RSSSample struct {
	Delivered int
	RSS       int64
}

// Rate is deliveries per second over the whole soak, feeding included.
func (s Soak) Rate() float64 { return float64(s.N) / s.Took.Seconds() }

// soak feeds Soak callbacks through the Go client to one worker while it
// sends them, and samples its memory along the way.
func (r *run) soak(ctx context.Context, rep *Report) error {
	n := r.cfg.Soak
	if n <= 0 {
		return nil
	}
	queue := r.queue("soak")
	defer func() { _ = dropQueue(context.WithoutCancel(ctx), r.conn.Client, queue) }()
	enqueue, done, err := r.enqueuer(EnqueueClient, queue, r.id+"-soak")
	if err != nil {
		return err
	}
	defer done()
	if err := r.sim.reset(ctx); err != nil {
		return err
	}
	p, _, err := r.startWorker(ctx, "worker-soak", r.dispatcherEnv(queue, r.simURL), true)
	if err != nil {
		return err
	}
	defer p.Stop(60 * time.Second)
	idle, err := sample(p)
	if err != nil {
		return err
	}

	s := &Soak{N: n, Idle: idle.rss}
	var accepted atomic.Int64
	feedCtx, stopFeed := context.WithCancel(ctx)
	defer stopFeed()
	fed := make(chan error, 1)
	go func() { fed <- r.feed(feedCtx, n, &accepted, enqueue) }()

	step := max(n/10, 1)
	err = r.sim.waitAccepted(ctx, n, 60*time.Second, func(got int) error {
		accepted.Store(int64(got))
		select {
		case err := <-fed:
			if err != nil {
				return fmt.Errorf("feed the queue: %w", err)
			}
			fed = nil
		default:
		}
		if err := p.ExitedEarly(); err != nil {
			return err
		}
		if got < (len(s.Samples)+1)*step {
			return nil
		}
		u, err := sample(p)
		if err == nil {
			s.Samples = append(s.Samples, RSSSample{Delivered: got, RSS: u.rss})
			r.logf("    %8d delivered, worker RSS %.1f MiB", got, mib(u.rss))
		}
		return err
	})
	if err != nil {
		return err
	}
	end, err := sample(p)
	if err != nil {
		return err
	}
	s.Took = end.at.Sub(idle.at)
	s.WorkerCPU = (end.cpu - idle.cpu) / time.Duration(n)
	rep.Soak = s
	return nil
}

// feed enqueues callbacks 0..n-1 in chunks, keeping at most soakBacklog of
// them ahead of the simulator's count.
func (r *run) feed(ctx context.Context, n int, accepted *atomic.Int64,
	enqueue func(context.Context, int) error) error {
	const chunk = 10000
	for start := 0; start < n; start += chunk {
		for int64(start)-accepted.Load() > soakBacklog {
			if err := child.Sleep(ctx, 20*time.Millisecond); err != nil {
				return err
			}
		}
		size := min(chunk, n-start)
		_, err := parallel(ctx, size, r.cfg.EnqueueWorkers, func(ctx context.Context, i int) error {
			return enqueue(ctx, start+i)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
