// Package metrics holds the dispatcher's Prometheus metrics: the worker's
// attempt metrics (an observer of the worker's handler), the producer API's
// counters, and the gauges that describe the whole deployment (the asynq
// queue under asynq's own metric names, the dead-letter store and its
// outbox), which exactly one process exports at a time.
//
// Every process has its own registry; labels are bounded sets (outcome
// classes, status classes, reasons, entity types), never a URL, a token, a
// job id or a raw status code.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes the dispatcher's own metric names.
const Namespace = "callback_dispatcher"

// NewRegistry returns a registry of a process's own, holding the Go runtime
// and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves reg in the Prometheus exposition format. A collector that
// fails leaves its series out rather than failing the whole scrape.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError,
		Registry:            reg,
		Timeout:             10 * time.Second,
		MaxRequestsInFlight: 4,
	})
}

// register registers each collector with reg, stopping at the first error.
func register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// bounded returns v when it is one of known, else other, so that a label
// never takes a value outside a fixed set.
func bounded(v string, known []string, other string) string {
	for _, k := range known {
		if v == k {
			return v
		}
	}
	return other
}
