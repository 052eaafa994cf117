package worker

import (
	"errors"
	"math/rand/v2"
	"time"

	"github.com/hibiken/asynq"
)

// Backoff computes retry delays: exponential with full jitter, so that a
// burst of failures does not come back as a burst.
type Backoff struct {
	Base time.Duration
	Cap  time.Duration
	// Jitter picks a delay in [0, ceiling]; uniformly at random when nil.
	Jitter func(ceiling time.Duration) time.Duration
}

// Delay returns the wait after the given failed attempt (1 for the first):
// a random duration in [0, min(Cap, Base·2^(attempt-1))].
func (b Backoff) Delay(attempt int) time.Duration {
	ceiling := b.Ceiling(attempt)
	if ceiling <= 0 {
		return 0
	}
	if b.Jitter != nil {
		return b.Jitter(ceiling)
	}
	return time.Duration(rand.Int64N(int64(ceiling) + 1))
}

// Ceiling is the largest delay Delay may return after attempt.
func (b Backoff) Ceiling(attempt int) time.Duration {
	d := b.Base
	for i := 1; i < attempt && d < b.Cap; i++ {
		d *= 2
	}
	return min(d, b.Cap)
}

// retryError asks asynq to run the task again after Delay. A wait that is
// not Counted (a 429) does not use up an attempt.
type retryError struct {
	msg     string
	delay   time.Duration
	counted bool
}

func (e *retryError) Error() string { return e.msg }

// isFailure tells asynq whether an error uses up an attempt.
func isFailure(err error) bool {
	var re *retryError
	if errors.As(err, &re) {
		return re.counted
	}
	return true
}

// retryDelay is asynq's RetryDelayFunc: the handler's own delay when it
// chose one, else the backoff (for tasks recovered after a crash).
func (b Backoff) retryDelay(retried int, err error, _ *asynq.Task) time.Duration {
	var re *retryError
	if errors.As(err, &re) {
		return re.delay
	}
	return b.Delay(retried + 1)
}

// onSecondBoundary stretches a delay so that it ends on a whole second.
// asynq schedules a retry at a whole Unix second, rounding down, so an
// unstretched delay could fire up to a second early: sooner than a 429's
// Retry-After asked for.
func onSecondBoundary(now time.Time, d time.Duration) time.Duration {
	at := now.Add(d)
	if rest := at.Sub(at.Truncate(time.Second)); rest > 0 {
		d += time.Second - rest
	}
	return d
}
