// Package deadletter makes dead letters durable and gives them back to ops:
// a PostgreSQL store with a Redis outbox for when PostgreSQL is away, a
// sweeper for tasks asynq archived on its own, and requeue.
package deadletter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/callback-dispatcher/dispatcher/internal/job"
	"github.com/callback-dispatcher/dispatcher/internal/store"
	"github.com/callback-dispatcher/dispatcher/internal/worker"
)

// OutboxKey is the Redis list holding dead letters PostgreSQL could not
// take yet. It has no cap: it is drained, never trimmed.
const OutboxKey = "callback-dispatcher:outbox:dead-letters"

// saveTimeout bounds one write to PostgreSQL before the outbox is used.
const saveTimeout = 3 * time.Second

// entry is one outbox item.
type entry struct {
	ID         string         `json:"id"`
	Job        *job.Job       `json:"job"`
	DeadLetter job.DeadLetter `json:"deadLetter"`
}

// Durable saves dead letters to PostgreSQL, or to the Redis outbox when
// PostgreSQL does not answer, and moves the outbox to PostgreSQL later.
type Durable struct {
	store *store.Store
	rdb   redis.UniversalClient
	log   *slog.Logger
}

// NewDurable returns a durable dead-letter store.
func NewDurable(st *store.Store, rdb redis.UniversalClient, log *slog.Logger) *Durable {
	return &Durable{store: st, rdb: rdb, log: log}
}

var _ worker.DeadLetterStore = (*Durable)(nil)

// SaveDeadLetter writes to PostgreSQL, else to the outbox. It fails only
// when both fail, and then the caller keeps the task queued.
func (d *Durable) SaveDeadLetter(ctx context.Context, id string, j *job.Job,
	dl job.DeadLetter) error {
	pgCtx, cancel := context.WithTimeout(ctx, saveTimeout)
	err := d.store.SaveDeadLetter(pgCtx, id, j, dl)
	cancel()
	if err == nil {
		return nil
	}
	data, merr := json.Marshal(entry{ID: id, Job: j, DeadLetter: dl})
	if merr != nil {
		return fmt.Errorf("encode outbox entry: %w", merr)
	}
	if rerr := d.rdb.RPush(ctx, OutboxKey, data).Err(); rerr != nil {
		return fmt.Errorf("save dead letter: %w", errors.Join(err, rerr))
	}
	d.log.WarnContext(ctx, "dead letter kept in the Redis outbox; PostgreSQL did not take it",
		"job_id", id, "err", err)
	return nil
}

// popIfHead removes the outbox's first entry only if it is still the one
// that was stored, so that concurrent drainers never drop an unsaved one.
var popIfHead = redis.NewScript(`
if redis.call("LINDEX", KEYS[1], 0) == ARGV[1] then
  return redis.call("LPOP", KEYS[1])
end
return false`)

// Drain moves outbox entries to PostgreSQL until the outbox is empty or
// PostgreSQL fails, and returns how many it moved. Saving is idempotent,
// so an entry moved twice by two drainers is stored once.
func (d *Durable) Drain(ctx context.Context) (int, error) {
	moved := 0
	for {
		raw, err := d.rdb.LIndex(ctx, OutboxKey, 0).Result()
		if errors.Is(err, redis.Nil) {
			return moved, nil
		}
		if err != nil {
			return moved, fmt.Errorf("read outbox: %w", err)
		}
		var e entry
		if err := json.Unmarshal([]byte(raw), &e); err != nil || e.Job == nil {
			// Unreadable entries are kept aside, not lost.
			d.log.ErrorContext(ctx, "outbox entry unreadable; moved aside", "err", err)
			if err := d.rdb.LMove(ctx, OutboxKey, OutboxKey+":unreadable", "LEFT",
				"RIGHT").Err(); err != nil {
				return moved, fmt.Errorf("move unreadable outbox entry: %w", err)
			}
			continue
		}
		if err := d.store.SaveDeadLetter(ctx, e.ID, e.Job, e.DeadLetter); err != nil {
			if store.IsUnavailable(err) || ctx.Err() != nil {
				return moved, err
			}
			// PostgreSQL answered and refused this entry: keep it aside so
			// that it does not block the others.
			d.log.ErrorContext(ctx, "dead letter refused by PostgreSQL; kept aside in Redis",
				"job_id", e.ID, "key", OutboxKey+":refused", "err", err)
			if err := d.rdb.LMove(ctx, OutboxKey, OutboxKey+":refused", "LEFT",
				"RIGHT").Err(); err != nil {
				return moved, fmt.Errorf("move refused outbox entry: %w", err)
			}
			continue
		}
		if err := popIfHead.Run(ctx, d.rdb, []string{OutboxKey}, raw).Err(); err != nil &&
			!errors.Is(err, redis.Nil) {
			return moved, fmt.Errorf("pop outbox: %w", err)
		}
		moved++
	}
}

// OutboxSize is how many dead letters wait in the outbox.
func (d *Durable) OutboxSize(ctx context.Context) (int64, error) {
	return d.rdb.LLen(ctx, OutboxKey).Result()
}

// RunDrainer drains the outbox every interval until ctx is done.
func (d *Durable) RunDrainer(ctx context.Context, interval time.Duration) {
	every(ctx, interval, func() {
		n, err := d.Drain(ctx)
		if n > 0 {
			d.log.InfoContext(ctx, "outbox drained to PostgreSQL", "dead_letters", n)
		}
		if err != nil && ctx.Err() == nil {
			d.log.WarnContext(ctx, "outbox not drained; will retry", "err", err)
		}
	})
}

// every calls f once per interval until ctx is done.
func every(ctx context.Context, interval time.Duration, f func()) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			f()
		}
	}
}
