package metrics

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/callback-dispatcher/dispatcher/internal/job"
	"github.com/callback-dispatcher/dispatcher/internal/worker"
)

// Status classes of an attempt: the class of Adobe's HTTP status, or none
// when no answer came (a network fault, a timeout, no IMS token, a refused
// URL, a deadline that passed before sending).
const (
	StatusNone = "none"
	Status2xx  = "2xx"
	Status3xx  = "3xx"
	Status4xx  = "4xx"
	Status5xx  = "5xx"
)

// outcomeStatus lists the outcome classes the handler reports, each with the
// status class it usually comes with; those pairs are exported from the
// start, at zero, so that a rate over them has a series before the first
// event.
var outcomeStatus = []struct{ outcome, status string }{
	{"delivered", Status2xx},
	{"retry_5xx", Status5xx},
	{"retry_network", StatusNone},
	{"timeout", StatusNone},
	{"rate_limited", Status4xx},
	{"rejected_4xx", Status4xx},
	{"auth_refresh", Status4xx},
	{"unauthorized", Status4xx},
	{"redirected", Status3xx},
	{"url_refused", StatusNone},
	{"deadline_exceeded", StatusNone},
}

// otherValue replaces a label value outside its known set.
const otherValue = "other"

// deadLetterReasons are the reasons a handler dead-letters with, and the
// archive sweeper's worker_lost.
var deadLetterReasons = []string{
	job.ReasonRejected, job.ReasonUnauthorized, job.ReasonRedirected, job.ReasonURLRefused,
	job.ReasonDeadlineExceeded, job.ReasonAttemptsExhausted, job.ReasonRateLimited,
	job.ReasonBadPayload, job.ReasonWorkerLost,
}

// Worker records a worker process's attempts, dead letters and load. It is
// a worker.Observer, a worker.DeadLetterObserver and a worker.RunObserver;
// attach it with the handler's Observe.
type Worker struct {
	attempts    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	latency     prometheus.Histogram
	deadLetters *prometheus.CounterVec
	inFlight    prometheus.Gauge
	concurrency prometheus.Gauge
	outcomes    []string
}

var (
	_ worker.DeadLetterObserver = (*Worker)(nil)
	_ worker.RunObserver        = (*Worker)(nil)
)

// NewWorker creates the worker metrics, registers them with reg, and
// records concurrency, the callbacks this process may send at once.
func NewWorker(reg prometheus.Registerer, concurrency int) (*Worker, error) {
	w := &Worker{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "attempts_total",
			Help: "Callback attempt outcomes by outcome class and by class of Adobe's " +
				"HTTP status (none when no answer came).",
		}, []string{"outcome", "status_class"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "attempt_duration_seconds",
			Help: "Time from the start of an attempt to its outcome, IMS token included, " +
				"by outcome class.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20, 40},
		}, []string{"outcome"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "delivery_latency_seconds",
			Help: "Time from the enqueue (or the requeue) of a callback to Adobe's 2xx, " +
				"retries and waits included.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800,
				3600, 14400},
		}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "dead_letters_total",
			Help: "Callbacks given up by the worker, by dead-letter reason, counted once " +
				"the dead letter is stored; worker_lost ones by the worker whose archive " +
				"sweep stored them.",
		}, []string{"reason"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "callbacks_in_flight",
			Help: "Callback tasks this worker process is running now.",
		}),
		concurrency: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "worker_concurrency",
			Help: "Callback tasks this worker process may run at once (CONCURRENCY).",
		}),
	}
	if err := register(reg, w.attempts, w.duration, w.latency, w.deadLetters, w.inFlight,
		w.concurrency); err != nil {
		return nil, fmt.Errorf("register worker metrics: %w", err)
	}
	w.concurrency.Set(float64(concurrency))
	for _, p := range outcomeStatus {
		w.outcomes = append(w.outcomes, p.outcome)
		w.attempts.WithLabelValues(p.outcome, p.status)
		w.duration.WithLabelValues(p.outcome)
	}
	for _, r := range deadLetterReasons {
		w.deadLetters.WithLabelValues(r)
	}
	return w, nil
}

// ObserveAttempt counts one attempt's outcome and its duration, and the
// delivery latency when Adobe took the callback.
func (w *Worker) ObserveAttempt(_ context.Context, a worker.Attempt) {
	outcome := bounded(a.Outcome, w.outcomes, otherValue)
	w.attempts.WithLabelValues(outcome, StatusClass(a.Status)).Inc()
	w.duration.WithLabelValues(outcome).Observe(a.Duration.Seconds())
	if outcome == "delivered" && a.Job != nil && !a.Job.EnqueuedAt.IsZero() {
		done := a.Started.Add(a.Duration)
		w.latency.Observe(max(done.Sub(a.Job.EnqueuedAt).Seconds(), 0))
	}
}

// ObserveDeadLetter counts one dead letter by its reason.
func (w *Worker) ObserveDeadLetter(_ context.Context, _ string, dl job.DeadLetter) {
	w.deadLetters.WithLabelValues(bounded(dl.Reason, deadLetterReasons, otherValue)).Inc()
}

// RunStarted counts a task run in flight.
func (w *Worker) RunStarted(context.Context) { w.inFlight.Inc() }

// RunEnded counts a task run out of flight.
func (w *Worker) RunEnded(context.Context) { w.inFlight.Dec() }

// StatusClass is the status_class label of an HTTP status; 0 (no answer)
// and anything outside 200–599 are none.
func StatusClass(status int) string {
	switch {
	case status >= 200 && status < 300:
		return Status2xx
	case status >= 300 && status < 400:
		return Status3xx
	case status >= 400 && status < 500:
		return Status4xx
	case status >= 500 && status < 600:
		return Status5xx
	}
	return StatusNone
}
