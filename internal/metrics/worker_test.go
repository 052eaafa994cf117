package metrics

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/callback-dispatcher/dispatcher/internal/job"
	"github.com/callback-dispatcher/dispatcher/internal/worker"
)

func TestStatusClass(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status int
		want   string
	}{
		{0, StatusNone}, {101, StatusNone}, {200, Status2xx}, {204, Status2xx},
		{301, Status3xx}, {400, Status4xx}, {401, Status4xx}, {429, Status4xx},
		{500, Status5xx}, {503, Status5xx}, {599, Status5xx}, {600, StatusNone},
	}
	for _, tt := range tests {
		if got := StatusClass(tt.status); got != tt.want {
			t.Errorf("StatusClass(%d) = %s, want %s", tt.status, got, tt.want)
		}
	}
}

func TestWorkerObservesAttempts(t *testing.T) {
	t.Parallel()
	enqueued := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	j := &job.Job{EnqueuedAt: enqueued}
	tests := []struct {
		name        string
		attempt     worker.Attempt
		wantSeries  string
		wantLatency float64
	}{
		{name: "a delivery counts as delivered 2xx and its latency is observed",
			attempt: worker.Attempt{Job: j, Outcome: "delivered", Status: 200,
				Started: enqueued.Add(40 * time.Second), Duration: 5 * time.Second},
			wantSeries:  `outcome="delivered",status_class="2xx"`,
			wantLatency: 1},
		{name: "a 503 counts as retry_5xx 5xx",
			attempt:    worker.Attempt{Job: j, Outcome: "retry_5xx", Status: 503},
			wantSeries: `outcome="retry_5xx",status_class="5xx"`},
		{name: "a network fault has no status class",
			attempt:    worker.Attempt{Job: j, Outcome: "retry_network"},
			wantSeries: `outcome="retry_network",status_class="none"`},
		{name: "an outcome outside the known set counts as other",
			attempt:    worker.Attempt{Job: j, Outcome: "https://adobe.io/x", Status: 418},
			wantSeries: `outcome="other",status_class="4xx"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := prometheus.NewRegistry()
			w, err := NewWorker(reg, 8)
			if err != nil {
				t.Fatal(err)
			}
			w.ObserveAttempt(context.Background(), tt.attempt)
			got := gather(t, reg)
			key := "callback_dispatcher_attempts_total{" + tt.wantSeries + "}"
			if got[key].value != 1 {
				t.Errorf("%s = %v, want 1", key, got[key].value)
			}
			latency := got["callback_dispatcher_delivery_latency_seconds"]
			if latency.value != tt.wantLatency {
				t.Errorf("latency observations = %v, want %v", latency.value, tt.wantLatency)
			}
			if tt.wantLatency == 1 && (latency.sum != 45 || latency.buckets[30] != 0 ||
				latency.buckets[60] != 1) {
				t.Errorf("latency sum %v, buckets %v; want 45 s, between 30 and 60",
					latency.sum, latency.buckets)
			}
		})
	}
}

func TestWorkerCountsDeadLettersAndLoad(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	w, err := NewWorker(reg, 25)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	obs := worker.Observers{w}
	obs.ObserveDeadLetter(ctx, "cb_1", job.DeadLetter{Reason: job.ReasonRejected})
	obs.ObserveDeadLetter(ctx, "cb_2", job.DeadLetter{Reason: "made up"})
	obs.RunStarted(ctx)
	obs.RunStarted(ctx)
	obs.RunEnded(ctx)

	got := gather(t, reg)
	tests := []struct {
		series string
		want   float64
	}{
		{`callback_dispatcher_dead_letters_total{reason="rejected_4xx"}`, 1},
		{`callback_dispatcher_dead_letters_total{reason="other"}`, 1},
		{`callback_dispatcher_dead_letters_total{reason="attempts_exhausted"}`, 0},
		{`callback_dispatcher_callbacks_in_flight`, 1},
		{`callback_dispatcher_worker_concurrency`, 25},
		// Each outcome is exported from the start, so that rates have a series.
		{`callback_dispatcher_attempts_total{outcome="deadline_exceeded",status_class="none"}`,
			0},
		{`callback_dispatcher_attempt_duration_seconds{outcome="timeout"}`, 0},
	}
	for _, tt := range tests {
		s, ok := got[tt.series]
		if !ok || s.value != tt.want {
			t.Errorf("%s = %v (exported: %t), want %v", tt.series, s.value, ok, tt.want)
		}
	}
}
