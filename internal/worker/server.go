package worker

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/callback-dispatcher/dispatcher/internal/config"
	"github.com/callback-dispatcher/dispatcher/internal/delivery"
	"github.com/callback-dispatcher/dispatcher/internal/ims"
	"github.com/callback-dispatcher/dispatcher/internal/job"
	"github.com/callback-dispatcher/dispatcher/internal/redisconn"
	"github.com/callback-dispatcher/dispatcher/internal/urlguard"
)

// Worker is a running callback worker: one or more asynq servers on the
// callback queue, sharing one handler.
type Worker struct {
	servers []*asynq.Server
	handler *Handler
	conn    *redisconn.Conn
	log     *slog.Logger
	// stagger separates the servers' starts (see Run).
	stagger time.Duration
	// err is a fault found while building, reported by Run.
	err error
}

// Option adjusts a worker built by New.
type Option func(*options)

type options struct {
	metrics prometheus.Registerer
}

// WithMetrics registers the worker's metrics with reg.
func WithMetrics(reg prometheus.Registerer) Option {
	return func(o *options) { o.metrics = reg }
}

// New builds a worker from its configuration. A fault in it that the
// configuration's checks let through is reported by Run.
func New(cfg config.Worker, conn *redisconn.Conn, log *slog.Logger, opts ...Option) *Worker {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	tokens, err := newTokenPool(cfg, conn, log, o.metrics)
	guard := urlguard.New(cfg.Guard)
	sender := delivery.NewSender(guard, apiKeys(cfg.APIKey, tokens), delivery.Timeouts{
		Dial:           cfg.DialTimeout,
		TLSHandshake:   cfg.TLSTimeout,
		ResponseHeader: cfg.HeaderTimeout,
		Total:          cfg.HTTPTimeout,
	}, cfg.Concurrency)
	policy := Policy{
		MaxAttempts:       cfg.MaxAttempts,
		Backoff:           Backoff{Base: cfg.RetryBase, Cap: cfg.RetryCap},
		MaxRateLimitWait:  cfg.RateLimitMaxWait,
		MaxRateLimitWaits: cfg.RateLimitWaits,
	}
	h := NewHandler(sender, tokens, conn.Client, log, policy)
	w := &Worker{handler: h, conn: conn, log: log, err: err}
	split := SplitConcurrency(cfg.Concurrency, cfg.Servers)
	w.stagger = cfg.DelayedTaskCheck / time.Duration(len(split))
	for _, n := range split {
		w.servers = append(w.servers, NewAsynqServer(conn.Opt, ServerOptions{
			Queue:            cfg.Queue,
			Concurrency:      n,
			ShutdownTimeout:  cfg.ShutdownTimeout,
			TaskCheck:        cfg.TaskCheck,
			DelayedTaskCheck: cfg.DelayedTaskCheck,
			Backoff:          policy.Backoff,
		}, log))
	}
	return w
}

// SplitConcurrency shares concurrency among servers as evenly as it can;
// every server gets at least one slot.
func SplitConcurrency(concurrency, servers int) []int {
	servers = max(min(servers, concurrency), 1)
	out := make([]int, servers)
	for i := range out {
		out[i] = concurrency / servers
		if i < concurrency%servers {
			out[i]++
		}
	}
	return out
}

// newTokenPool returns the IMS token source shared, through the queue's
// Redis, by every worker process.
func newTokenPool(cfg config.Worker, conn *redisconn.Conn, log *slog.Logger,
	reg prometheus.Registerer) (*ims.Pool, error) {
	metrics, err := ims.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	return ims.NewPool(cfg.IMSProfiles, ims.Options{
		Redis:         conn.Client,
		HTTPClient:    &http.Client{Timeout: cfg.IMSTimeout},
		RefreshMargin: cfg.RefreshMargin,
		LockTimeout:   cfg.IMSLockTimeout,
		WaitTimeout:   cfg.IMSWaitTimeout,
		TokenKey:      cfg.IMSTokenKey,
		Logger:        log.With("component", "ims"),
		Metrics:       metrics,
	})
}

// apiKeys picks each callback's X-Api-Key: override (CALLBACK_API_KEY) when
// set, else the client id of the profile whose token the callback carries,
// which is what Adobe's gateway checks the key against. A callback of an org
// no profile serves gets no token, so it is never sent.
func apiKeys(override string, tokens *ims.Pool) delivery.APIKeyFunc {
	if override != "" {
		return delivery.FixedAPIKey(override)
	}
	return func(orgID string) string {
		_, clientID, _ := tokens.ProfileFor(orgID)
		return clientID
	}
}

// ServerOptions are the asynq server settings the worker uses.
type ServerOptions struct {
	Queue            string
	Concurrency      int
	ShutdownTimeout  time.Duration
	TaskCheck        time.Duration
	DelayedTaskCheck time.Duration
	Backoff          Backoff
}

// NewAsynqServer returns an asynq server that processes the callback queue
// with the worker's retry rules: the handler picks each delay, and a 429
// wait does not count as a failure.
func NewAsynqServer(opt asynq.RedisConnOpt, o ServerOptions, log *slog.Logger) *asynq.Server {
	return asynq.NewServer(opt, asynq.Config{
		Concurrency:              o.Concurrency,
		Queues:                   map[string]int{o.Queue: 1},
		RetryDelayFunc:           o.Backoff.retryDelay,
		IsFailure:                isFailure,
		ShutdownTimeout:          o.ShutdownTimeout,
		TaskCheckInterval:        o.TaskCheck,
		DelayedTaskCheckInterval: o.DelayedTaskCheck,
		Logger:                   asynqLogger{log: log.With("component", "asynq")},
		LogLevel:                 asynq.WarnLevel,
	})
}

// Mux routes callback tasks to h.
func Mux(h *Handler) *asynq.ServeMux {
	mux := asynq.NewServeMux()
	mux.Handle(job.TaskType, h)
	return mux
}

// Run processes callbacks until ctx is done, then shuts down, letting
// in-flight callbacks finish within the shutdown timeout.
func (w *Worker) Run(ctx context.Context) error {
	if w.err != nil {
		return fmt.Errorf("start worker: %w", w.err)
	}
	mux := Mux(w.handler)
	for i, srv := range w.servers {
		// Each server moves due retries back to the queue once per
		// DelayedTaskCheck, counted from its start. Started one stagger
		// apart, the servers spread those ticks over the interval, so a
		// retry waits for the next of several ticks rather than of one.
		if i > 0 {
			select {
			case <-time.After(w.stagger):
			case <-ctx.Done():
				w.shutdown(w.servers[:i])
				return nil
			}
		}
		if err := srv.Start(mux); err != nil {
			w.shutdown(w.servers[:i])
			return fmt.Errorf("start worker: %w", err)
		}
	}
	w.log.Info("worker started", "servers", len(w.servers))
	<-ctx.Done()
	w.log.Info("worker stopping")
	w.shutdown(w.servers)
	w.log.Info("worker stopped")
	return nil
}

// shutdown stops servers at once, so that they share the shutdown timeout
// rather than take it in turn.
func (w *Worker) shutdown(servers []*asynq.Server) {
	var wg sync.WaitGroup
	for _, srv := range servers {
		wg.Go(srv.Shutdown)
	}
	wg.Wait()
}

// Ping reports whether Redis answers, for readiness.
func (w *Worker) Ping(ctx context.Context) error {
	return w.conn.Client.Ping(ctx).Err()
}

// asynqLogger sends asynq's own messages to slog, under a fixed message with
// asynq's text as the detail.
type asynqLogger struct{ log *slog.Logger }

func (l asynqLogger) Debug(args ...any) { l.log.Debug("asynq", "detail", fmt.Sprint(args...)) }
func (l asynqLogger) Info(args ...any)  { l.log.Info("asynq", "detail", fmt.Sprint(args...)) }
func (l asynqLogger) Warn(args ...any)  { l.log.Warn("asynq", "detail", fmt.Sprint(args...)) }
func (l asynqLogger) Error(args ...any) { l.log.Error("asynq", "detail", fmt.Sprint(args...)) }
func (l asynqLogger) Fatal(args ...any) {
	l.log.Error("asynq", "detail", fmt.Sprint(args...))
	os.Exit(1)
}
