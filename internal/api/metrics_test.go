package api_test

import (
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/callback-dispatcher/dispatcher/internal/api"
	"github.com/callback-dispatcher/dispatcher/internal/metrics"
	"github.com/callback-dispatcher/dispatcher/internal/testenv"
	"github.com/callback-dispatcher/dispatcher/pkg/producer"
)

func TestEnqueueMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m, err := metrics.NewProducer(reg)
	if err != nil {
		t.Fatal(err)
	}
	_, redisURL := testenv.Redis(t)
	up := metricsServer(t, redisURL, m)
	down := metricsServer(t, "redis://"+closedAddr(t)+"/0", m)
	valid := leadRequest(t, `{"activityData":{"success":true}}`)

	// In order: the second enqueue of valid is a duplicate.
	tests := []struct {
		name       string
		srv        *httptest.Server
		body       string
		wantStatus int
		wantEntity string
		wantResult string
	}{
		{"a new callback counts as queued", up, valid, 202, "lead", "queued"},
		{"the same callback again counts as a duplicate", up, valid, 200, "lead", "duplicate"},
		{"a contract violation counts as refused", up,
			leadRequest(t, `{"activityData":{"success":false}}`), 422, "lead", "refused"},
		{"malformed JSON counts as refused, entity unknown", up, `{"execution":`, 400,
			"unknown", "refused"},
		{"an oversized body counts as refused, entity unknown", up,
			`{"execution":"` + strings.Repeat("a", 70<<10) + `"}`, 413, "unknown", "refused"},
		{"an objectType outside Adobe's three counts as unknown", up,
			strings.Replace(valid, `"objectType": "lead"`, `"objectType": "contact"`, 1), 422,
			"unknown", "refused"},
		{"an unreachable queue counts as an error", down, valid, 503, "lead", "error"},
	}
	for _, tt := range tests {
		before := enqueued(t, reg, tt.wantEntity, tt.wantResult)
		total := enqueued(t, reg, "", "")
		status, out := do(t, tt.srv, "POST", "/v1/callbacks", apiToken, tt.body)
		if status != tt.wantStatus {
			t.Fatalf("%s: status %d %v, want %d", tt.name, status, out, tt.wantStatus)
		}
		if got := enqueued(t, reg, tt.wantEntity, tt.wantResult) - before; got != 1 {
			t.Errorf("%s: %s/%s went up by %v, want 1", tt.name, tt.wantEntity, tt.wantResult,
				got)
		}
		if got := enqueued(t, reg, "", "") - total; got != 1 {
			t.Errorf("%s: all results went up by %v, want 1", tt.name, got)
		}
	}
}

func metricsServer(t *testing.T, redisURL string, m api.Metrics) *httptest.Server {
	t.Helper()
	client, err := producer.New(producer.Config{RedisURL: redisURL, Queue: "api-metrics",
		AllowedHosts: []string{"adobe.com"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	srv := httptest.NewServer(api.New(client, api.Config{Tokens: []string{apiToken},
		MaxBodyBytes: 64 << 10, Metrics: m}, slog.New(slog.DiscardHandler)).Handler())
	t.Cleanup(srv.Close)
	return srv
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := new(net.ListenConfig).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// enqueued sums callback_dispatcher_enqueued_total over the series whose
// entity_type and result match; an empty value matches any.
func enqueued(t *testing.T, reg *prometheus.Registry, entity, result string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, f := range families {
		if f.GetName() != "callback_dispatcher_enqueued_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if (entity == "" || labels["entity_type"] == entity) &&
				(result == "" || labels["result"] == result) {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}
