// Package workercmd is the worker program: it sends queued callbacks until
// it is told to stop, and serves health probes.
package workercmd

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/callback-dispatcher/dispatcher/internal/config"
	"github.com/callback-dispatcher/dispatcher/internal/logging"
	"github.com/callback-dispatcher/dispatcher/internal/metrics"
	"github.com/callback-dispatcher/dispatcher/internal/redisconn"
	"github.com/callback-dispatcher/dispatcher/internal/worker"
)

const usage = `worker sends queued Adobe callbacks: it POSTs each to its callbackUrl with
the contract's headers and an IMS token, retries temporary faults and
dead-letters the rest.

Usage:
  worker            run until SIGTERM or SIGINT
  worker --help     this text and the environment variables`

// Main runs the worker until ctx is done and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
			_, r, _ := config.LoadWorker(nil)
			r.Usage(stdout, usage)
			return 0
		}
		_, _ = fmt.Fprintf(stderr, "unknown argument %q\n\n%s\n", args[0], usage)
		return 2
	}
	cfg, _, err := config.LoadWorker(nil)
	if err != nil {
		_, _ = fmt.Fprintln(stderr, err)
		return 2
	}
	log := logging.New(stderr, cfg.LogLevel, "worker")
	conn, err := redisconn.Parse(cfg.RedisURL)
	if err != nil {
		log.Error("worker not started", "err", err)
		return 2
	}
	defer func() { _ = conn.Close() }()
	reg := metrics.NewRegistry()
	w := worker.New(cfg, conn, log, worker.WithMetrics(reg))

	m, err := metrics.NewWorker(reg, cfg.Concurrency)
	if err != nil {
		log.Error("worker not started", "err", err)
		return 1
	}
	var d *durable
	if cfg.Store.DatabaseURL == "" {
		log.Warn("dead letters are not durable", "err", errNoStore)
	} else {
		if d, err = openDurable(ctx, cfg, conn, w.Handler(), m, log); err != nil {
			log.Error("worker not started", "err", err)
			return 2
		}
		// Deferred before the server stops, so it runs after: every
		// attempt of the shutdown is flushed.
		defer d.close()
	}
	shared, err := instrument(reg, m, cfg, conn, w.Handler(), d, log)
	if err != nil {
		log.Error("worker not started", "err", err)
		return 1
	}
	defer shared.Stop()

	health, err := serveHealth(ctx, cfg.OpsListen, w, metrics.Handler(reg))
	if err != nil {
		log.Error("worker not started", "err", err)
		return 1
	}
	defer func() { _ = health.Close() }()
	log.Info("worker starting", append([]any{"concurrency", cfg.Concurrency,
		"ops_addr", health.Addr}, cfg.Summary()...)...)
	if err := w.Run(ctx); err != nil {
		log.Error("worker stopped", "err", err)
		return 1
	}
	return 0
}

// healthServer serves /healthz (the process runs), /readyz (Redis
// answers) and /metrics.
type healthServer struct {
	*http.Server
	Addr string
}

func serveHealth(ctx context.Context, addr string, w *worker.Worker,
	metrics http.Handler) (*healthServer, error) {
	ln, err := new(net.ListenConfig).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("OPS_LISTEN: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, _ *http.Request) {
		_, _ = rw.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(rw http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := w.Ping(ctx); err != nil {
			http.Error(rw, "redis unreachable", http.StatusServiceUnavailable)
			return
		}
		_, _ = rw.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", metrics)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	// Serve returns only when the server is closed at exit.
	go func() { _ = srv.Serve(ln) }()
	return &healthServer{Server: srv, Addr: ln.Addr().String()}, nil
}
