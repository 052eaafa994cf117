package workercmd

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/callback-dispatcher/dispatcher/internal/config"
	"github.com/callback-dispatcher/dispatcher/internal/metrics"
	"github.com/callback-dispatcher/dispatcher/internal/redisconn"
	"github.com/callback-dispatcher/dispatcher/internal/store"
	"github.com/callback-dispatcher/dispatcher/internal/worker"
)

// instrument attaches the worker's metrics, and the attempt log when d is
// set, to h, and starts exporting the deployment-wide gauges, which this
// process does only while it holds their lease.
func instrument(reg prometheus.Registerer, m *metrics.Worker, cfg config.Worker,
	conn *redisconn.Conn, h *worker.Handler, d *durable, log *slog.Logger) (*metrics.Shared,
	error) {
	observers := worker.Observers{m}
	var st *store.Store
	if d != nil {
		observers = append(observers, d.log)
		st = d.store
	}
	h.Observe(observers)
	return metrics.StartShared(reg, metrics.SharedConfig{Redis: conn.Client, Queue: cfg.Queue,
		Store: st, Log: log.With("component", "metrics")})
}
