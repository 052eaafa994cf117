package producercmd

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/callback-dispatcher/dispatcher/internal/api"
	"github.com/callback-dispatcher/dispatcher/internal/config"
	"github.com/callback-dispatcher/dispatcher/internal/metrics"
	"github.com/callback-dispatcher/dispatcher/internal/redisconn"
	"github.com/callback-dispatcher/dispatcher/internal/store"
	"github.com/callback-dispatcher/dispatcher/pkg/producer"
)

// opsServer serves /metrics, /healthz and /readyz on OPS_LISTEN, apart from
// the API, and exports the deployment-wide gauges while this process holds
// their lease.
type opsServer struct {
	srv    *http.Server
	shared *metrics.Shared
	conn   *redisconn.Conn
	addr   string
}

func serveOps(cfg config.Producer, client *producer.Client, reg *prometheus.Registry,
	dead *api.DeadLetters, log *slog.Logger) (*opsServer, error) {
	conn, err := redisconn.Parse(cfg.RedisURL)
	if err != nil {
		return nil, err
	}
	var st *store.Store
	if dead != nil {
		st = dead.Store
	}
	shared, err := metrics.StartShared(reg, metrics.SharedConfig{Redis: conn.Client,
		Queue: cfg.Queue, Store: st, Log: log.With("component", "metrics")})
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	ln, err := new(net.ListenConfig).Listen(context.Background(), "tcp", cfg.OpsListen)
	if err != nil {
		shared.Stop()
		_ = conn.Close()
		return nil, fmt.Errorf("OPS_LISTEN: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler(reg))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := client.Ping(ctx); err != nil {
			http.Error(w, "redis unreachable", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	// Serve returns only when the server is closed at exit.
	go func() { _ = srv.Serve(ln) }()
	return &opsServer{srv: srv, shared: shared, conn: conn, addr: ln.Addr().String()}, nil
}

// close stops serving, hands the deployment-wide gauges to another
// process, and closes the connection they were read through.
func (o *opsServer) close() {
	_ = o.srv.Close()
	o.shared.Stop()
	_ = o.conn.Close()
}
