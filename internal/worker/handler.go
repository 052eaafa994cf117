// Package worker runs the asynq server that sends callbacks: one attempt per
// task run, classified into delivered, retried or dead-lettered.
package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/callback-dispatcher/dispatcher/internal/delivery"
	"github.com/callback-dispatcher/dispatcher/internal/ims"
	"github.com/callback-dispatcher/dispatcher/internal/job"
)

// storeRetryDelay is how long a callback waits when its dead letter could
// not be stored.
const storeRetryDelay = 5 * time.Second

// Policy bounds retries.
type Policy struct {
	// MaxAttempts is the number of sends a callback gets, 5 by default.
	MaxAttempts int
	Backoff     Backoff
	// MaxRateLimitWait bounds one wait asked for by a 429.
	MaxRateLimitWait time.Duration
	// MaxRateLimitWaits bounds how often a callback may wait on a 429
	// without using an attempt; past it, a 429 counts as a failed attempt.
	MaxRateLimitWaits int
}

// Handler sends callback jobs. It implements asynq.Handler.
type Handler struct {
	sender   *delivery.Sender
	tokens   ims.Source
	rdb      redis.UniversalClient
	log      *slog.Logger
	policy   Policy
	observer Observer
	store    DeadLetterStore
	now      func() time.Time
}

// NewHandler returns a handler. rdb keeps the count of 429 waits per job.
func NewHandler(sender *delivery.Sender, tokens ims.Source, rdb redis.UniversalClient,
	log *slog.Logger, policy Policy) *Handler {
	return &Handler{sender: sender, tokens: tokens, rdb: rdb, log: log, policy: policy,
		observer: Observers(nil), now: time.Now}
}

// Observe sets who is told of each attempt's outcome.
func (h *Handler) Observe(o Observer) { h.observer = o }

// StoreDeadLettersIn makes the handler save each dead letter durably before
// the task leaves the queue.
func (h *Handler) StoreDeadLettersIn(s DeadLetterStore) { h.store = s }

// attempt is one run of a task.
type attempt struct {
	id  string
	job *job.Job
	n   int
	// max is the callback's number of sends: the policy's, or the task's
	// asynq budget when that is smaller (a producer set up with a lower
	// MAX_ATTEMPTS), so that the handler, not asynq's archive, gives up.
	max     int
	started time.Time
	result  *asynq.ResultWriter
}

// ProcessTask makes one attempt at a callback.
func (h *Handler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	if o, ok := h.observer.(RunObserver); ok {
		o.RunStarted(ctx)
		defer o.RunEnded(ctx)
	}
	id, _ := asynq.GetTaskID(ctx)
	retried, _ := asynq.GetRetryCount(ctx)
	a := &attempt{id: id, n: retried + 1, max: h.policy.MaxAttempts, started: h.now(),
		result: t.ResultWriter()}
	if budget, ok := asynq.GetMaxRetry(ctx); ok {
		// The producer gives asynq one run more than MAX_ATTEMPTS, for a
		// 429 on the last attempt: its MaxRetry is its MAX_ATTEMPTS.
		a.max = min(a.max, max(budget, 1))
	}

	j, err := job.Decode(t.Payload())
	if err != nil {
		return h.deadLetter(ctx, a, job.DeadLetter{Reason: job.ReasonBadPayload, Error: err.Error(),
			Attempts: retried})
	}
	a.job = j
	if a.n > a.max {
		// Only a worker crash during the last attempt leads here.
		return h.deadLetter(ctx, a, job.DeadLetter{Reason: job.ReasonAttemptsExhausted,
			Error: "worker lost during the last attempt", Attempts: retried})
	}
	if !a.started.Before(j.Deadline) {
		h.logOutcome(ctx, a, job.ReasonDeadlineExceeded, delivery.Result{}, 0)
		return h.deadLetter(ctx, a, job.DeadLetter{Reason: job.ReasonDeadlineExceeded,
			Attempts: retried})
	}
	h.log.DebugContext(ctx, "callback attempt started", "job_id", id, "attempt", a.n,
		"max_attempts", a.max)

	res, err := h.send(ctx, a)
	if err != nil {
		return h.retryOrGiveUp(ctx, a, delivery.Result{Class: delivery.RetryNetwork, Err: err})
	}
	return h.conclude(ctx, a, res)
}

// send gets a token and sends; on a 401 it drops the token, fetches a new
// one and resends once at once. An error means no token could be had.
func (h *Handler) send(ctx context.Context, a *attempt) (delivery.Result, error) {
	bearer, err := h.token(ctx, a)
	if err != nil {
		return delivery.Result{}, err
	}
	res := h.sender.Send(ctx, a.job, bearer)
	if res.Class != delivery.Unauthorized {
		return res, nil
	}
	h.logOutcome(ctx, a, "auth_refresh", res, 0)
	h.tokens.Invalidate(ctx, a.job.OrgID, bearer)
	if bearer, err = h.token(ctx, a); err != nil {
		return delivery.Result{}, err
	}
	return h.sender.Send(ctx, a.job, bearer), nil
}

func (h *Handler) token(ctx context.Context, a *attempt) (string, error) {
	bearer, err := h.tokens.Token(ctx, a.job.OrgID)
	if err == nil {
		return bearer, nil
	}
	var fe *ims.FetchError
	if errors.As(err, &fe) && !fe.Temporary {
		// Our configuration is wrong, not the callback: say so loudly.
		h.log.ErrorContext(ctx, "IMS refused the credentials", "job_id", a.id,
			"profile", fe.Profile, "ims_error", fe.Code, "status", fe.Status)
	}
	return "", err
}

// conclude turns the outcome of the send into delivered, a retry or a dead
// letter.
func (h *Handler) conclude(ctx context.Context, a *attempt, res delivery.Result) error {
	switch res.Class {
	case delivery.Delivered:
		h.logOutcome(ctx, a, string(res.Class), res, 0)
		return nil
	case delivery.RateLimited:
		return h.rateLimited(ctx, a, res)
	case delivery.Retry5xx, delivery.RetryNetwork, delivery.Timeout:
		return h.retryOrGiveUp(ctx, a, res)
	}
	h.logOutcome(ctx, a, string(res.Class), res, 0)
	return h.deadLetter(ctx, a, deadLetterOf(res, a.n))
}

func deadLetterOf(res delivery.Result, attempts int) job.DeadLetter {
	dl := job.DeadLetter{Status: res.Status, Excerpt: res.Excerpt, Attempts: attempts}
	switch res.Class {
	case delivery.Unauthorized:
		dl.Reason = job.ReasonUnauthorized
	case delivery.Redirected:
		dl.Reason = job.ReasonRedirected
	case delivery.Refused:
		dl.Reason = job.ReasonURLRefused
	default:
		dl.Reason = job.ReasonRejected
	}
	if res.Err != nil {
		dl.Error = res.Err.Error()
	}
	return dl
}

// retryOrGiveUp schedules the next attempt after a temporary failure, unless
// attempts are used up or the next one would come after the deadline.
func (h *Handler) retryOrGiveUp(ctx context.Context, a *attempt, res delivery.Result) error {
	dl := job.DeadLetter{Status: res.Status, Excerpt: res.Excerpt, Attempts: a.n}
	if res.Err != nil {
		dl.Error = res.Err.Error()
	}
	if a.n >= a.max {
		dl.Reason = job.ReasonAttemptsExhausted
		if res.Class == delivery.RateLimited {
			// The last attempt was a 429 past its waits: Adobe kept
			// refusing the rate, not the callback.
			dl.Reason = job.ReasonRateLimited
		}
		h.logOutcome(ctx, a, string(res.Class), res, 0)
		return h.deadLetter(ctx, a, dl)
	}
	delay := onSecondBoundary(h.now(), h.policy.Backoff.Delay(a.n))
	if !h.now().Add(delay).Before(a.job.Deadline) {
		dl.Reason = job.ReasonDeadlineExceeded
		h.logOutcome(ctx, a, string(res.Class), res, 0)
		return h.deadLetter(ctx, a, dl)
	}
	h.logOutcome(ctx, a, string(res.Class), res, delay)
	return &retryError{msg: retryMessage(res), delay: delay, counted: true}
}

// rateLimited waits as a 429 asks without using an attempt, as long as the
// waits stay within bounds.
func (h *Handler) rateLimited(ctx context.Context, a *attempt, res delivery.Result) error {
	waits, err := h.countWait(ctx, a)
	if err != nil || waits > int64(h.policy.MaxRateLimitWaits) {
		// Past the bound, or unable to count: the 429 uses an attempt.
		return h.retryOrGiveUp(ctx, a, res)
	}
	delay := res.RetryAfter
	if delay <= 0 {
		delay = h.policy.Backoff.Delay(a.n)
	}
	delay = onSecondBoundary(h.now(), min(delay, h.policy.MaxRateLimitWait))
	if !h.now().Add(delay).Before(a.job.Deadline) {
		h.logOutcome(ctx, a, string(res.Class), res, 0)
		return h.deadLetter(ctx, a, job.DeadLetter{Reason: job.ReasonDeadlineExceeded,
			Status: res.Status, Excerpt: res.Excerpt, Attempts: a.n})
	}
	h.logOutcome(ctx, a, string(res.Class), res, delay)
	return &retryError{msg: retryMessage(res), delay: delay, counted: false}
}

// countWait counts a job's 429 waits in Redis; the count lives until the
// callback's deadline.
func (h *Handler) countWait(ctx context.Context, a *attempt) (int64, error) {
	key := "callback-dispatcher:ratelimit-waits:" + a.id
	pipe := h.rdb.TxPipeline()
	incr := pipe.Incr(ctx, key)
	pipe.ExpireAt(ctx, key, a.job.Deadline.Add(time.Minute))
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, fmt.Errorf("count rate-limit waits: %w", err)
	}
	return incr.Val(), nil
}

func retryMessage(res delivery.Result) string {
	if res.Status != 0 {
		return fmt.Sprintf("%s: status %d", res.Class, res.Status)
	}
	if res.Err != nil {
		return fmt.Sprintf("%s: %v", res.Class, res.Err)
	}
	return string(res.Class)
}

// deadLetter records why the callback is given up and tells asynq to
// archive the task without further retries.
func (h *Handler) deadLetter(ctx context.Context, a *attempt, dl job.DeadLetter) error {
	dl.At = h.now().UTC()
	if h.store != nil && a.job != nil {
		if err := h.store.SaveDeadLetter(ctx, a.id, a.job, dl); err != nil {
			// Keep the task queued: the decision is made again later.
			h.log.ErrorContext(ctx, "dead letter not stored; callback kept queued",
				"job_id", a.id, "reason", dl.Reason, "err", err)
			return &retryError{msg: "dead-letter store unavailable", delay: storeRetryDelay}
		}
	}
	if data, err := json.Marshal(dl); err == nil && a.result != nil {
		if _, err := a.result.Write(data); err != nil {
			h.log.ErrorContext(ctx, "dead-letter record not written", "job_id", a.id, "err", err)
		}
	}
	h.log.WarnContext(ctx, "callback dead-lettered", "job_id", a.id, "reason", dl.Reason,
		"status", dl.Status, "attempts", dl.Attempts)
	if o, ok := h.observer.(DeadLetterObserver); ok {
		o.ObserveDeadLetter(ctx, a.id, dl)
	}
	return fmt.Errorf("dead letter %s (status %d): %w", dl.Reason, dl.Status, asynq.SkipRetry)
}

// logOutcome writes the one line an attempt's outcome gets. It never
// carries a token, a header or a body.
func (h *Handler) logOutcome(ctx context.Context, a *attempt, outcome string,
	res delivery.Result, nextRetry time.Duration) {
	// Attrs rather than key-value pairs: one of these is written for every
	// attempt, and Attrs are not boxed into interfaces on the way.
	attrs := make([]slog.Attr, 0, 9)
	attrs = append(attrs,
		slog.String("job_id", a.id),
		slog.String("request_id", a.job.RequestID),
		slog.Int("attempt", a.n),
		slog.Int("max_attempts", a.max),
		slog.String("outcome", outcome),
		slog.Int("status", res.Status),
		slog.Int64("duration_ms", h.now().Sub(a.started).Milliseconds()),
	)
	if nextRetry > 0 {
		attrs = append(attrs, slog.Int64("next_retry_in_ms", nextRetry.Milliseconds()))
	}
	if res.Err != nil {
		attrs = append(attrs, slog.String("err", res.Err.Error()))
	}
	h.log.LogAttrs(ctx, slog.LevelInfo, "callback attempt", attrs...)

	obs := Attempt{JobID: a.id, Job: a.job, Number: a.n, MaxAttempts: a.max,
		Outcome: outcome, Status: res.Status, Started: a.started,
		Duration: h.now().Sub(a.started)}
	if res.Err != nil {
		obs.Err = res.Err.Error()
	}
	if nextRetry > 0 {
		obs.NextRetry = h.now().Add(nextRetry)
	}
	h.observer.ObserveAttempt(ctx, obs)
}
