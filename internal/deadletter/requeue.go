package deadletter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/callback-dispatcher/dispatcher/internal/job"
	"github.com/callback-dispatcher/dispatcher/internal/store"
	"github.com/callback-dispatcher/dispatcher/pkg/callback"
)

// Queue is how requeued callbacks are queued: the same queue and task
// options as the producer's.
type Queue struct {
	Client    *asynq.Client
	Inspector *asynq.Inspector
	Name      string
	// MaxAttempts, TaskTimeout and Retention as for the producer.
	MaxAttempts int
	TaskTimeout time.Duration
	Retention   time.Duration
	// Counts, when set, is the Redis that keeps RequeueCountsKey.
	Counts redis.UniversalClient
}

// RequeueCountsKey is the Redis hash that counts, by result (requeued,
// skipped), the dead letters of every requeue that was not a dry run, made
// through the API or the CLI alike. The metrics exporter reads it as
// callback_dispatcher_requeues_total, so that a CLI requeue, which no
// Prometheus scrapes, is counted too.
const RequeueCountsKey = "callback-dispatcher:requeues"

// Requeuer gives dead letters a fresh attempt budget.
type Requeuer struct {
	store *store.Store
	queue Queue
	now   func() time.Time
}

// NewRequeuer returns a requeuer.
func NewRequeuer(st *store.Store, q Queue) *Requeuer {
	return &Requeuer{store: st, queue: q, now: time.Now}
}

// count adds a requeue's results to RequeueCountsKey. The counts are for
// the metrics only: failing to write them fails nothing.
func (r *Requeuer) count(ctx context.Context, rep *Report) {
	if r.queue.Counts == nil || rep.Requeued+rep.Skipped == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	pipe := r.queue.Counts.TxPipeline()
	pipe.HIncrBy(ctx, RequeueCountsKey, "requeued", int64(rep.Requeued))
	pipe.HIncrBy(ctx, RequeueCountsKey, "skipped", int64(rep.Skipped))
	_, _ = pipe.Exec(ctx)
}

// Request says which dead letters to requeue and how.
type Request struct {
	Filter store.Filter
	// All must be set to requeue with an empty filter.
	All    bool
	DryRun bool
	// Patch is a JSON merge patch (RFC 7386) applied to each callback body;
	// the patched body is checked against the contract before it is queued.
	Patch json.RawMessage
	// IgnoreDeadline requeues callbacks whose deadline has passed, with a
	// new deadline as far ahead as the original one was.
	IgnoreDeadline bool
	By             string
	Note           string
	// Progress, if set, is called after each dead letter.
	Progress func(done, total int)
}

// Outcome is what a requeue did with one dead letter.
type Outcome struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
	// Result is requeued, would_requeue (dry run) or skipped.
	Result string `json:"result"`
	// Why says why a dead letter was skipped.
	Why string `json:"why,omitempty"`
}

// Report sums up a requeue.
type Report struct {
	Matched  int       `json:"matched"`
	Requeued int       `json:"requeued"`
	Skipped  int       `json:"skipped"`
	DryRun   bool      `json:"dryRun"`
	Outcomes []Outcome `json:"outcomes"`
}

// ErrNoFilter refuses a requeue of everything without All.
var ErrNoFilter = errors.New("no filter given: name ids or filters, or ask for all explicitly")

// pageSize is how many dead letters are read at a time.
const pageSize = 500

// Requeue requeues the dead letters req selects. Each is claimed in the
// store first, so two requeues run at once never queue one twice.
func (r *Requeuer) Requeue(ctx context.Context, req Request) (*Report, error) {
	if req.Filter.Empty() && !req.All {
		return nil, ErrNoFilter
	}
	if len(req.Patch) > 0 && !json.Valid(req.Patch) {
		return nil, errors.New("the patch is not valid JSON")
	}
	f := req.Filter
	f.State = store.StateDead
	total, err := r.store.CountDeadLetters(ctx, f)
	if err != nil {
		return nil, err
	}
	rep := &Report{Matched: total, DryRun: req.DryRun}
	if !req.DryRun {
		// Counted however the requeue ends: what it requeued is requeued.
		defer r.count(ctx, rep)
	}
	done := 0
	for f.Limit = pageSize; ; {
		page, err := r.store.ListDeadLetters(ctx, f)
		if err != nil {
			return rep, err
		}
		for _, dl := range page {
			out := r.one(ctx, dl, req)
			switch out.Result {
			case "requeued", "would_requeue":
				rep.Requeued++
			default:
				rep.Skipped++
			}
			rep.Outcomes = append(rep.Outcomes, out)
			done++
			if req.Progress != nil {
				req.Progress(done, total)
			}
		}
		if len(page) < pageSize {
			return rep, nil
		}
		f.After = page[len(page)-1].ID
	}
}

func (r *Requeuer) one(ctx context.Context, dl store.DeadLetter, req Request) Outcome {
	out := Outcome{ID: dl.ID, Reason: dl.Reason}
	skip := func(why string) Outcome {
		out.Result, out.Why = "skipped", why
		return out
	}
	j := dl.Job
	if len(req.Patch) > 0 {
		body, err := MergePatch(j.Body, req.Patch)
		if err != nil {
			return skip("patch: " + err.Error())
		}
		if err := callback.CheckEnvelope(body); err != nil {
			return skip("patched body breaks the contract: " + err.Error())
		}
		if err := checkSameEntity(body, &j); err != nil {
			return skip(err.Error())
		}
		j.Body = body
	}
	now := r.now().UTC()
	if !now.Before(j.Deadline) {
		if !req.IgnoreDeadline {
			return skip("the callback deadline " + j.Deadline.Format(time.RFC3339) +
				" has passed (Adobe refuses late callbacks); use --ignore-deadline " +
				"(ignoreDeadline in the API) to send anyway")
		}
		j.Deadline = now.Add(max(j.Deadline.Sub(j.EnqueuedAt), time.Hour))
	}
	if req.DryRun {
		out.Result = "would_requeue"
		return out
	}
	if _, err := r.store.ClaimForRequeue(ctx, dl.ID, req.By, req.Note, now); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return skip("already requeued by someone else")
		}
		return skip(err.Error())
	}
	j.EnqueuedAt = now
	if err := r.enqueue(&j, dl.ID); err != nil {
		if rerr := r.store.ReleaseClaim(ctx, dl.ID); rerr != nil {
			return skip(fmt.Sprintf("%v; and the claim could not be released: %v", err, rerr))
		}
		return skip(err.Error())
	}
	_ = r.store.MarkQueued(ctx, dl.ID, now)
	out.Result = "requeued"
	return out
}

// enqueue deletes the archived twin and queues the job afresh under the
// same id, which gives it a new attempt budget (asynq's RunTask would keep
// the old retry count).
func (r *Requeuer) enqueue(j *job.Job, id string) error {
	err := r.queue.Inspector.DeleteTask(r.queue.Name, id)
	if err != nil && !errors.Is(err, asynq.ErrTaskNotFound) &&
		!errors.Is(err, asynq.ErrQueueNotFound) {
		return fmt.Errorf("delete the archived task: %w", err)
	}
	payload, err := j.Encode()
	if err != nil {
		return err
	}
	opts := []asynq.Option{asynq.TaskID(id), asynq.Queue(r.queue.Name),
		asynq.MaxRetry(r.queue.MaxAttempts), asynq.Timeout(r.queue.TaskTimeout)}
	if r.queue.Retention > 0 {
		opts = append(opts, asynq.Retention(r.queue.Retention))
	}
	_, err = r.queue.Client.Enqueue(asynq.NewTask(job.TaskType, payload), opts...)
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return errors.New("a task with this id is still in the queue")
	}
	if err != nil {
		return fmt.Errorf("queue callback: %w", err)
	}
	return nil
}
