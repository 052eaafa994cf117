package job

import (
	"encoding/json"
	"time"
)

// Dead-letter reasons. They are stable: dashboards and ops filter on them.
const (
	ReasonRejected          = "rejected_4xx"
	ReasonUnauthorized      = "unauthorized"
	ReasonRedirected        = "redirected"
	ReasonURLRefused        = "url_refused"
	ReasonDeadlineExceeded  = "deadline_exceeded"
	ReasonAttemptsExhausted = "attempts_exhausted"
	ReasonRateLimited       = "rate_limited"
	ReasonBadPayload        = "bad_payload"
	// ReasonWorkerLost is a callback asynq archived on its own: its lease
	// expired (the worker died) with no attempt left. The archive sweeper
	// stores it.
	ReasonWorkerLost = "worker_lost"
)

// DeadLetter says why a callback was given up, as the worker records it
// with the archived task.
type DeadLetter struct {
	Reason string `json:"reason"`
	// Status is Adobe's last HTTP status, or 0 when none came.
	Status int `json:"status,omitempty"`
	// Excerpt is the start of Adobe's last answer, at most 4 KiB.
	Excerpt string `json:"excerpt,omitempty"`
	// Error is the last transport or token error, if any.
	Error string `json:"error,omitempty"`
	// Attempts is how many attempts were made.
	Attempts int       `json:"attempts"`
	At       time.Time `json:"at"`
}

// DecodeDeadLetter reads a dead-letter record; ok is false if data is not
// one.
func DecodeDeadLetter(data []byte) (DeadLetter, bool) {
	var dl DeadLetter
	if len(data) == 0 || json.Unmarshal(data, &dl) != nil || dl.Reason == "" {
		return DeadLetter{}, false
	}
	return dl, true
}
