package producercmd

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/callback-dispatcher/dispatcher/internal/testenv"
)

func TestServeHasAnOpsListener(t *testing.T) {
	_, redisURL := testenv.Redis(t)
	api, ops := testenv.FreeAddr(t), testenv.FreeAddr(t)
	for k, v := range map[string]string{"REDIS_URL": redisURL, "QUEUE": "ops-test",
		"LISTEN": api, "OPS_LISTEN": ops, "API_TOKENS": "ops-test-token-0123456789",
		"DATABASE_URL": ""} {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan int, 1)
	logs := &testenv.LogBuffer{}
	go func() { exited <- Main(ctx, []string{"serve"}, nil, io.Discard, logs) }()

	tests := []struct {
		path string
		want []string
	}{
		{"/metrics", []string{
			`callback_dispatcher_enqueued_total{entity_type="lead",result="queued"} 0`,
			`asynq_queue_size{queue="ops-test"} 0`,
			`callback_dispatcher_metrics_lease_held{lease="queue"} 1`,
			"process_start_time_seconds ",
		}},
		{"/healthz", []string{"ok"}},
		{"/readyz", []string{"ready"}},
	}
	for _, tt := range tests {
		deadline := time.Now().Add(20 * time.Second)
		tick := time.NewTicker(20 * time.Millisecond)
		for body := ""; !containsAll(body, tt.want); body = testenv.Get("http://" + ops + tt.path) {
			if time.Now().After(deadline) {
				t.Fatalf("%s lacks %q after 20 s; it served:\n%s", tt.path, tt.want, body)
			}
			select {
			case code := <-exited:
				t.Fatalf("producer serve exited with code %d; its log:\n%s", code, logs)
			case <-tick.C:
			}
		}
		tick.Stop()
	}
	if body := testenv.Get("http://" + api + "/metrics"); body != "" {
		t.Error("the API's port serves /metrics; only the ops port should")
	}

	cancel()
	if code := <-exited; code != 0 {
		t.Errorf("exit code %d after the context ended, want 0; log:\n%s", code, logs)
	}
}

func containsAll(body string, want []string) bool {
	for _, w := range want {
		if !strings.Contains(body, w) {
			return false
		}
	}
	return body != ""
}
