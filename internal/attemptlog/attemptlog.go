// Package attemptlog writes every attempt's outcome to PostgreSQL in
// batches, off the hot path: a bounded buffer flushed by size and by time.
package attemptlog

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callback-dispatcher/dispatcher/internal/store"
	"github.com/callback-dispatcher/dispatcher/internal/worker"
)

// Config sizes the buffer and the batches.
type Config struct {
	// Buffer is how many attempts may wait to be written; when it is full,
	// observers block (back-pressure) until their context ends.
	Buffer int
	// BatchSize flushes a batch once this many attempts wait.
	BatchSize int
	// FlushEvery flushes whatever waits at least this often.
	FlushEvery time.Duration
}

// Log is a worker.Observer that writes attempts to the store.
type Log struct {
	store *store.Store
	log   *slog.Logger
	cfg   Config
	ch    chan store.AttemptRow

	dropped atomic.Int64
	written atomic.Int64
	stop    chan struct{}
	done    sync.WaitGroup
	once    sync.Once
}

// New returns a log; Start begins writing.
func New(st *store.Store, cfg Config, log *slog.Logger) *Log {
	if cfg.Buffer <= 0 {
		cfg.Buffer = 10000
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 500
	}
	if cfg.FlushEvery <= 0 {
		cfg.FlushEvery = 250 * time.Millisecond
	}
	return &Log{store: st, log: log, cfg: cfg, ch: make(chan store.AttemptRow, cfg.Buffer),
		stop: make(chan struct{})}
}

// Start runs the writer until Close.
func (l *Log) Start() {
	l.done.Add(1)
	go l.run()
}

// ObserveAttempt queues one attempt for writing. When the buffer is full it
// waits; if ctx ends first the attempt is dropped and counted.
func (l *Log) ObserveAttempt(ctx context.Context, a worker.Attempt) {
	row := rowOf(a)
	select {
	case l.ch <- row:
		return
	default:
	}
	select {
	case l.ch <- row:
	case <-ctx.Done():
		if l.dropped.Add(1)%1000 == 1 {
			l.log.Warn("attempt log full; attempts dropped", "dropped", l.dropped.Load())
		}
	}
}

// Dropped is how many attempts were never written because the buffer
// stayed full.
func (l *Log) Dropped() int64 { return l.dropped.Load() }

// Written is how many attempts were written.
func (l *Log) Written() int64 { return l.written.Load() }

// Pending is how many attempts wait in the buffer.
func (l *Log) Pending() int { return len(l.ch) }

func rowOf(a worker.Attempt) store.AttemptRow {
	r := store.AttemptRow{CallbackID: a.JobID, Number: a.Number, StartedAt: a.Started,
		Duration: a.Duration, HTTPStatus: a.Status, Outcome: a.Outcome, Error: a.Err,
		NextRetry: a.NextRetry, State: stateAfter(a)}
	if j := a.Job; j != nil {
		r.RequestID, r.OrgID, r.EntityType = j.RequestID, j.OrgID, j.EntityType
		r.EntityIDs, r.Service, r.EnqueuedAt, r.Deadline = j.EntityIDs, j.Service, j.EnqueuedAt,
			j.Deadline
	}
	return r
}

// stateAfter is the callback's state once an attempt ended this way.
func stateAfter(a worker.Attempt) string {
	switch {
	case a.Outcome == "delivered":
		return "delivered"
	case !a.NextRetry.IsZero(), a.Outcome == "auth_refresh":
		return "retrying"
	}
	return "dead_lettered"
}

func (l *Log) run() {
	defer l.done.Done()
	tick := time.NewTicker(l.cfg.FlushEvery)
	defer tick.Stop()
	batch := make([]store.AttemptRow, 0, l.cfg.BatchSize)
	for {
		select {
		case r := <-l.ch:
			batch = append(batch, r)
			if len(batch) >= l.cfg.BatchSize {
				batch = l.flush(batch)
			}
		case <-tick.C:
			batch = l.flush(batch)
		case <-l.stop:
			for {
				select {
				case r := <-l.ch:
					batch = append(batch, r)
					if len(batch) >= l.cfg.BatchSize {
						batch = l.flush(batch)
					}
				default:
					l.flush(batch)
					return
				}
			}
		}
	}
}

// flush writes a batch, retrying while the database is away, and returns
// the emptied batch. While it retries the buffer fills, which holds back the
// observers: that is the back-pressure.
func (l *Log) flush(batch []store.AttemptRow) []store.AttemptRow {
	if len(batch) == 0 {
		return batch
	}
	wait := 100 * time.Millisecond
	for try := 1; ; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := l.store.WriteAttempts(ctx, batch)
		cancel()
		if err == nil {
			l.written.Add(int64(len(batch)))
			return batch[:0]
		}
		l.log.Warn("attempt log not written; retrying", "attempts", len(batch), "err", err)
		if l.stopping() && try >= 3 {
			// Shutting down with the database away: give up rather than hold
			// the process past its grace period.
			l.dropped.Add(int64(len(batch)))
			return batch[:0]
		}
		time.Sleep(wait)
		wait = min(2*wait, 5*time.Second)
	}
}

func (l *Log) stopping() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

// Close flushes what waits and stops the writer.
func (l *Log) Close() {
	l.once.Do(func() { close(l.stop) })
	l.done.Wait()
}

var _ worker.Observer = (*Log)(nil)
