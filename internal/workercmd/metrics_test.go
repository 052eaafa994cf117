package workercmd

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callback-dispatcher/dispatcher/internal/adobesim"
	"github.com/callback-dispatcher/dispatcher/internal/ims/imstest"
	"github.com/callback-dispatcher/dispatcher/internal/testenv"
)

func TestWorkerServesItsMetrics(t *testing.T) {
	_, redisURL := testenv.Redis(t)
	_, _, sim := imstest.Start(t, adobesim.Config{})
	ops := testenv.FreeAddr(t)
	for k, v := range map[string]string{"REDIS_URL": redisURL, "QUEUE": "metrics-test",
		"IMS_CLIENT_ID":     adobesim.DefaultClientID,
		"IMS_CLIENT_SECRET": adobesim.DefaultClientSecret,
		"IMS_TOKEN_URL":     sim.URL + imstest.TokenPath,
		"OPS_LISTEN":        ops, "CONCURRENCY": "7", "DATABASE_URL": ""} {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan int, 1)
	logs := &testenv.LogBuffer{}
	go func() { exited <- Main(ctx, nil, io.Discard, logs) }()

	// The worker's own metrics, the IMS metrics on the same registry, the
	// queue gauges of a lone process, and the Go runtime's.
	want := []string{
		"callback_dispatcher_worker_concurrency 7",
		"callback_dispatcher_callbacks_in_flight 0",
		`callback_dispatcher_attempts_total{outcome="delivered",status_class="2xx"} 0`,
		`callback_dispatcher_dead_letters_total{reason="rejected_4xx"} 0`,
		`callback_dispatcher_ims_token_cache_total{profile="default",result="hit"} 0`,
		`asynq_queue_size{queue="metrics-test"} 0`,
		`callback_dispatcher_metrics_lease_held{lease="queue"} 1`,
		"go_goroutines ",
	}
	body := waitForMetrics(t, "http://"+ops+"/metrics", want, exited, logs)
	if strings.Contains(body, "callback_dispatcher_dead_letter_store_size") {
		t.Error("a worker without DATABASE_URL exports the store's gauges")
	}

	cancel()
	if code := <-exited; code != 0 {
		t.Errorf("exit code %d after the context ended, want 0", code)
	}
}

// waitForMetrics polls url until its body holds every line of want, and
// returns the body. It fails at once if the program exits meanwhile.
func waitForMetrics(t *testing.T, url string, want []string, exited <-chan int,
	logs *testenv.LogBuffer) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		body := testenv.Get(url)
		missing := slices.DeleteFunc(slices.Clone(want), func(w string) bool {
			return strings.Contains(body, w)
		})
		if len(missing) == 0 {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s lacks %q after 20 s; it served:\n%s", url, missing, body)
		}
		select {
		case code := <-exited:
			t.Fatalf("the program exited with code %d; its log:\n%s", code, logs)
		case <-tick.C:
		}
	}
}
