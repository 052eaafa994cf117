package deadletter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/callback-dispatcher/dispatcher/internal/job"
	"github.com/callback-dispatcher/dispatcher/internal/store"
)

// ReasonWorkerLost is the reason of a dead letter that asynq archived on its
// own: its lease expired (the worker died) with no attempt left.
const ReasonWorkerLost = job.ReasonWorkerLost

// Observer is told of each dead letter the sweeper stores, as the worker's
// metrics are of the handler's.
type Observer interface {
	ObserveDeadLetter(ctx context.Context, jobID string, dl job.DeadLetter)
}

// Sweeper imports into the store whatever asynq archived without passing the
// handler, such as a task whose worker crashed during its last attempt.
type Sweeper struct {
	inspector *asynq.Inspector
	store     *store.Store
	queue     string
	log       *slog.Logger
	observer  Observer
	// unreadable holds the ids of archived tasks already reported as
	// unreadable.
	unreadable sync.Map
}

// NewSweeper returns a sweeper of queue's archive. observer, when not nil,
// is told of each dead letter it stores.
func NewSweeper(inspector *asynq.Inspector, st *store.Store, queue string, observer Observer,
	log *slog.Logger) *Sweeper {
	return &Sweeper{inspector: inspector, store: st, queue: queue, observer: observer, log: log}
}

// Sweep imports archived tasks missing from the store and returns how many
// it imported.
func (s *Sweeper) Sweep(ctx context.Context) (int, error) {
	imported := 0
	for page := 1; ; page++ {
		tasks, err := s.inspector.ListArchivedTasks(s.queue, asynq.PageSize(500),
			asynq.Page(page))
		if errors.Is(err, asynq.ErrQueueNotFound) {
			return imported, nil
		}
		if err != nil {
			return imported, fmt.Errorf("list archived tasks: %w", err)
		}
		if len(tasks) == 0 {
			return imported, nil
		}
		n, err := s.importMissing(ctx, tasks)
		imported += n
		if err != nil {
			return imported, err
		}
	}
}

func (s *Sweeper) importMissing(ctx context.Context, tasks []*asynq.TaskInfo) (int, error) {
	ids := make([]string, len(tasks))
	byID := make(map[string]*asynq.TaskInfo, len(tasks))
	for i, t := range tasks {
		ids[i] = t.ID
		byID[t.ID] = t
	}
	missing, err := s.store.MissingDeadLetters(ctx, ids)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range missing {
		t := byID[id]
		j, err := job.Decode(t.Payload)
		if err != nil {
			// Said once per process, not on every sweep: the task has no
			// job to store, and stays in asynq's archive for ops to see.
			if _, told := s.unreadable.LoadOrStore(id, true); !told {
				s.log.ErrorContext(ctx, "archived task unreadable; left in the archive",
					"job_id", id, "err", err)
			}
			continue
		}
		dl, ok := job.DecodeDeadLetter(t.Result)
		if !ok {
			dl = job.DeadLetter{Reason: ReasonWorkerLost, Error: t.LastErr,
				Attempts: t.Retried, At: t.LastFailedAt.UTC()}
			if dl.At.IsZero() {
				dl.At = time.Now().UTC()
			}
		}
		saved, err := s.store.ImportDeadLetter(ctx, id, j, dl)
		if err != nil {
			if store.IsUnavailable(err) || ctx.Err() != nil {
				return n, err
			}
			// One task PostgreSQL refuses must not stop the sweep of the
			// others; it stays in asynq's archive.
			s.log.ErrorContext(ctx, "archived callback refused by PostgreSQL; left in the archive",
				"job_id", id, "err", err)
			continue
		}
		if !saved {
			// Another worker's sweeper, or the handler, stored it first.
			continue
		}
		s.log.WarnContext(ctx, "archived callback imported as a dead letter", "job_id", id,
			"reason", dl.Reason)
		if s.observer != nil {
			s.observer.ObserveDeadLetter(ctx, id, dl)
		}
		n++
	}
	return n, nil
}

// Run sweeps every interval until ctx is done.
func (s *Sweeper) Run(ctx context.Context, interval time.Duration) {
	every(ctx, interval, func() {
		if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "archive sweep failed; will retry", "err", err)
		}
	})
}
