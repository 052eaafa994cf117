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

// Observers fans one attempt out to several observers.
type Observers []Observer

// ObserveAttempt tells each observer in turn.
func (os Observers) ObserveAttempt(ctx context.Context, a Attempt) {
	for _, o := range os {
		o.ObserveAttempt(ctx, a)
	}
}
