package ims_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/callback-dispatcher/dispatcher/internal/adobesim"
	"github.com/callback-dispatcher/dispatcher/internal/ims/imstest"
	"github.com/callback-dispatcher/dispatcher/internal/testenv"
	"github.com/callback-dispatcher/dispatcher/pkg/callback"
	"github.com/callback-dispatcher/dispatcher/pkg/producer"
)

// The load of TestWorkerProcessesFetchOncePerLifetime: each callback is
// answered after a delay, so that 2,000 callbacks over 4×25 slots take
// about 46 s, more than two token lifetimes.
const (
	workerProcesses = 4
	concurrency     = 25
	callbacks       = 2000
	lifetime        = 20 * time.Second
	margin          = 2 * time.Second
	answerDelay     = "2300ms"
)

func TestWorkerProcessesFetchOncePerLifetime(t *testing.T) {
	if testing.Short() {
		t.Skip("runs four worker processes for about a minute")
	}
	bin := filepath.Join(testenv.Build(t, "./cmd/worker"), "worker")
	conn, redisURL := testenv.Redis(t)
	sim, front, srv := imstest.Start(t, adobesim.Config{TokenLifetime: lifetime,
		KeepBodies: -1, Rules: []adobesim.Rule{{Match: "*", Script: "200@" + answerDelay}}})
	const queue = "ims-workers-test"
	enqueueCallbacks(t, redisURL, queue, srv.URL)

	key := base64.StdEncoding.EncodeToString([]byte("key-of-the-workers-test-32-bytes"))
	env := []string{"REDIS_URL=" + redisURL, "QUEUE=" + queue,
		"IMS_CLIENT_ID=" + adobesim.DefaultClientID,
		"IMS_CLIENT_SECRET=" + adobesim.DefaultClientSecret,
		"IMS_TOKEN_URL=" + srv.URL + imstest.TokenPath, "IMS_TOKEN_KEY=" + key,
		"IMS_REFRESH_MARGIN=" + margin.String(), fmt.Sprintf("CONCURRENCY=%d", concurrency),
		"CALLBACK_ALLOWED_HOSTS=127.0.0.1", "CALLBACK_ALLOW_HTTP=true",
		"CALLBACK_ALLOW_PRIVATE=true", "OPS_LISTEN=127.0.0.1:0", "RETRY_BASE=100ms",
		"RETRY_CAP=1s", "TASK_CHECK_INTERVAL=20ms", "DELAYED_TASK_CHECK_INTERVAL=100ms",
		"LOG_LEVEL=debug"}
	start := time.Now()
	logs := startWorkers(t, bin, env)

	inspector := asynq.NewInspectorFromRedisClient(conn.Client)
	var info *asynq.QueueInfo
	testenv.Eventually(t, 85*time.Second, func() bool {
		var err error
		info, err = inspector.GetQueueInfo(queue)
		return err == nil && info.Completed+info.Archived == callbacks
	}, "callbacks not all finished; last queue info %+v", info)
	elapsed := time.Since(start)

	mints := front.Mints()
	most := int(math.Ceil(elapsed.Seconds()/lifetime.Seconds())) + 1
	t.Logf("%d callbacks by %d processes × %d in %s: %d token fetches (at most %d allowed), "+
		"%d callbacks rejected", callbacks, workerProcesses, concurrency,
		elapsed.Round(time.Millisecond), len(mints), most, sim.Stats().Rejected)
	if info.Archived != 0 || sim.Stats().Accepted != callbacks {
		t.Errorf("%d callbacks dead-lettered, %d accepted; want none and %d", info.Archived,
			sim.Stats().Accepted, callbacks)
	}
	if len(mints) < 1 || len(mints) > most {
		t.Errorf("%d token fetches in %s, want 1 to %d", len(mints), elapsed, most)
	}
	for i := 1; i < len(mints); i++ {
		gap := mints[i].At.Sub(mints[i-1].At)
		t.Logf("fetch %d came %s after fetch %d", i+1, gap.Round(time.Millisecond), i)
		if gap < lifetime-margin-time.Second {
			t.Errorf("fetches %d and %d only %s apart, want about %s", i, i+1, gap,
				lifetime-margin)
		}
	}
	checkWorkerLogs(t, logs, front.Tokens(), key, len(mints))
}

// enqueueCallbacks queues the test's callbacks, each with its own token,
// for the simulator at simURL.
func enqueueCallbacks(t *testing.T, redisURL, queue, simURL string) {
	t.Helper()
	client, err := producer.New(producer.Config{RedisURL: redisURL, Queue: queue,
		AllowedHosts: []string{"127.0.0.1"}, AllowHTTP: true, AllowPrivate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	request, err := callback.ParseExecutionRequest(
		testenv.Testdata(t, "adobe/ajo-b2b/examples/examples-03.json"))
	if err != nil {
		t.Fatal(err)
	}
	result := callback.Result{ActivityData: callback.ActivityData{Success: true}}
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < callbacks; i += 16 {
				e := *request
				e.Token = fmt.Sprintf("workers-test-%04d", i)
				e.CallbackURL = simURL + "/callback/" + e.Token
				if _, err := client.Enqueue(context.Background(), &e, result); err != nil {
					t.Errorf("enqueue %d: %v", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

// startWorkers runs the worker processes with env and nothing else of this
// process's environment, waits until each has started, and stops them with
// SIGTERM when the test ends. It returns their logs.
func startWorkers(t *testing.T, bin string, env []string) []*testenv.LogBuffer {
	t.Helper()
	logs := make([]*testenv.LogBuffer, workerProcesses)
	for i := range logs {
		logs[i] = &testenv.LogBuffer{}
		// Not bound to t.Context: its end would SIGKILL the worker before the
		// cleanup's SIGTERM, which the test means to check.
		cmd := exec.CommandContext(context.Background(), bin)
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = logs[i], logs[i]
		if err := cmd.Start(); err != nil {
			t.Fatalf("start worker %d: %v", i, err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		t.Cleanup(func() { stopWorker(t, cmd, done, logs[i]) })
	}
	for i, l := range logs {
		testenv.Eventually(t, 20*time.Second, func() bool {
			return strings.Contains(l.String(), `"msg":"worker started"`)
		}, "worker %d did not start; its log:\n%s", i, l)
	}
	return logs
}

func stopWorker(t *testing.T, cmd *exec.Cmd, done chan error, log *testenv.LogBuffer) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("worker exited: %v; its log:\n%s", err, log)
		}
	case <-timer.C:
		_ = cmd.Process.Kill()
		t.Errorf("worker ignored SIGTERM for 30 s")
	}
}

// checkWorkerLogs fails if any worker logged a token, the client secret or
// the token key, and counts the fetches the workers logged.
func checkWorkerLogs(t *testing.T, logs []*testenv.LogBuffer, tokens []string, key string,
	wantFetches int) {
	t.Helper()
	fetched := 0
	for i, l := range logs {
		text := l.String()
		secrets := append([]string{adobesim.DefaultClientSecret, key, "Bearer"}, tokens...)
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("worker %d logged a token or secret", i)
			}
		}
		fetched += strings.Count(text, `"msg":"IMS token fetched"`)
	}
	if fetched != wantFetches {
		t.Errorf("workers logged %d fetches, the simulator minted %d tokens", fetched,
			wantFetches)
	}
}
