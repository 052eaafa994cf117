package worker

import (
	"context"
	"time"

	"github.com/callback-dispatcher/dispatcher/internal/job"
)

// Attempt describes the outcome of one send, or of a decision made without
// sending (a deadline passed). Observers get one per outcome.
type Attempt struct {
	JobID       string
	Job         *job.Job
	Number      int
	MaxAttempts int
	// Outcome is the class of the outcome: delivered, retry_5xx,
	// retry_network, timeout, rate_limited, rejected_4xx, auth_refresh,
	// unauthorized, redirected, url_refused, deadline_exceeded.
	Outcome  string
	Status   int
	Started  time.Time
	Duration time.Duration
	// Err is the transport or token error, without URL or secrets.
	Err string
	// NextRetry is when the next attempt is due, or zero when none is.
	NextRetry time.Time
}

// Observer is told of every attempt's outcome: the attempt log and the
// metrics are observers. It must not block.
type Observer interface {
	ObserveAttempt(ctx context.Context, a Attempt)
}

// DeadLetterStore keeps dead letters durably. Save must not return until
// the dead letter is safe; when it fails, the task is kept in the queue and
// the decision is made again later, so nothing is lost.
type DeadLetterStore interface {
	SaveDeadLetter(ctx context.Context, jobID string, j *job.Job, dl job.DeadLetter) error
}

// DeadLetterObserver is an Observer that is also told of each dead letter
// the handler decides on, once it is stored (or, without a store, once the
// task is archived): metrics count dead letters by reason this way.
type DeadLetterObserver interface {
	ObserveDeadLetter(ctx context.Context, jobID string, dl job.DeadLetter)
}

// RunObserver is an Observer that is also told when a task run starts and
// ends, whatever its outcome, as an in-flight gauge needs.
type RunObserver interface {
	RunStarted(ctx context.Context)
	RunEnded(ctx context.Context)
}

// Observers fans one attempt out to several observers.
type Observers []Observer

// ObserveAttempt tells each observer in turn.
func (os Observers) ObserveAttempt(ctx context.Context, a Attempt) {
	for _, o := range os {
		o.ObserveAttempt(ctx, a)
	}
}

// ObserveDeadLetter tells each observer that is a DeadLetterObserver.
func (os Observers) ObserveDeadLetter(ctx context.Context, jobID string, dl job.DeadLetter) {
	for _, o := range os {
		if d, ok := o.(DeadLetterObserver); ok {
			d.ObserveDeadLetter(ctx, jobID, dl)
		}
	}
}

// RunStarted tells each observer that is a RunObserver.
func (os Observers) RunStarted(ctx context.Context) {
	for _, o := range os {
		if r, ok := o.(RunObserver); ok {
			r.RunStarted(ctx)
		}
	}
}

// RunEnded tells each observer that is a RunObserver.
func (os Observers) RunEnded(ctx context.Context) {
	for _, o := range os {
		if r, ok := o.(RunObserver); ok {
			r.RunEnded(ctx)
		}
	}
}
