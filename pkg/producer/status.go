package producer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hibiken/asynq"

	"github.com/callback-dispatcher/dispatcher/internal/job"
	"github.com/callback-dispatcher/dispatcher/pkg/callback"
)

// States of a callback, as Status reports them.
const (
	StateQueued       = "queued"
	StateRetrying     = "retrying"
	StateDelivered    = "delivered"
	StateDeadLettered = "dead_lettered"
)

// ErrNotFound means no callback has that id, or its record has expired.
var ErrNotFound = errors.New("callback not found")

// Status is what became of a queued callback.
type Status struct {
	ID    string `json:"id"`
	State string `json:"status"`
	// Attempts is the number of sends made so far.
	Attempts int `json:"attempts"`
	// LastError is the outcome of the last failed attempt, if any. It
	// never holds a token or a body.
	LastError     string     `json:"lastError,omitempty"`
	NextAttemptAt *time.Time `json:"nextAttemptAt,omitempty"`
	CompletedAt   *time.Time `json:"completedAt,omitempty"`
	// DeadLetter says why the callback was given up.
	DeadLetter *job.DeadLetter `json:"deadLetter,omitempty"`
}

// Status looks up a callback by job id.
func (c *Client) Status(_ context.Context, id string) (*Status, error) {
	info, err := c.inspector.GetTaskInfo(c.cfg.Queue, id)
	switch {
	case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
		return nil, ErrNotFound
	case err != nil:
		return nil, &QueueError{Err: fmt.Errorf("look up callback: %w", err)}
	}
	return statusOf(info), nil
}

func statusOf(info *asynq.TaskInfo) *Status {
	st := &Status{ID: info.ID, Attempts: info.Retried, LastError: info.LastErr}
	switch info.State {
	case asynq.TaskStateCompleted:
		st.State = StateDelivered
		st.Attempts = info.Retried + 1
		st.LastError = ""
		if !info.CompletedAt.IsZero() {
			st.CompletedAt = &info.CompletedAt
		}
	case asynq.TaskStateArchived:
		st.State = StateDeadLettered
		if dl, ok := job.DecodeDeadLetter(info.Result); ok {
			st.DeadLetter = &dl
			st.Attempts = dl.Attempts
		}
	case asynq.TaskStateRetry:
		st.State = StateRetrying
		if !info.NextProcessAt.IsZero() {
			st.NextAttemptAt = &info.NextProcessAt
		}
	default:
		st.State = StateQueued
		if info.Retried > 0 || info.LastErr != "" {
			st.State = StateRetrying
		}
	}
	return st
}

func sortViolations(vs callback.Violations) callback.Violations {
	slices.SortFunc(vs, func(a, b callback.Violation) int { return cmp.Compare(a.Path, b.Path) })
	return vs
}
