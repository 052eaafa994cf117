package workercmd

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/callback-dispatcher/dispatcher/internal/adobesim"
	"github.com/callback-dispatcher/dispatcher/internal/redisconn"
	"github.com/callback-dispatcher/dispatcher/internal/testenv"
)

// workerProcess is a worker program the test started.
type workerProcess struct {
	cmd  *exec.Cmd
	logs *testenv.LogBuffer
	done chan struct{}
}

func startWorkerProcess(t *testing.T, bin string, env map[string]string) *workerProcess {
	t.Helper()
	w := &workerProcess{cmd: exec.CommandContext(t.Context(), bin), logs: &testenv.LogBuffer{},
		done: make(chan struct{})}
	w.cmd.Env = envList(env)
	w.cmd.Stdout, w.cmd.Stderr = w.logs, w.logs
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = w.cmd.Wait(); close(w.done) }()
	t.Cleanup(func() {
		_ = w.cmd.Process.Kill()
		<-w.done
	})
	waitReady(t, env["OPS_LISTEN"], func() (string, bool) {
		select {
		case <-w.done:
			return fmt.Sprintf("exit code %d; log:\n%s", w.cmd.ProcessState.ExitCode(), w.logs),
				true
		default:
			return "", false
		}
	})
	return w
}

// terminate sends SIGTERM and waits for the process to exit.
func (w *workerProcess) terminate(t *testing.T) int {
	t.Helper()
	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("the worker ignored SIGTERM for 60 s; log:\n%s", w.logs)
	}
	return w.cmd.ProcessState.ExitCode()
}

// On SIGTERM a worker stops taking callbacks, lets those in flight finish
// within the grace period (SHUTDOWN_TIMEOUT) and records each outcome;
// the callbacks it had not taken stay queued for another worker. Nothing
// is lost and nothing is sent twice.
func TestSIGTERMLetsInFlightCallbacksFinish(t *testing.T) {
	bin := filepath.Join(testenv.Build(t, "./cmd/worker"), "worker")
	p := newPipeline(t, "sigterm", adobesim.Rule{Match: "sigterm-*", Script: "200@2s"})
	dbURL := testenv.Postgres(t)
	migratedPostgres(t, dbURL)
	const callbacks, concurrency = 10, 4
	tokens := make([]string, callbacks)
	for i := range tokens {
		tokens[i] = fmt.Sprintf("sigterm-%02d", i)
	}
	p.enqueue(tokens...)

	env := p.env(dbURL, testenv.FreeAddr(t))
	env["CONCURRENCY"] = fmt.Sprint(concurrency)
	first := startWorkerProcess(t, bin, env)
	// The simulator records a callback when it arrives, before its 2 s
	// answer: these are in flight.
	testenv.Eventually(t, 30*time.Second, func() bool {
		return len(p.sim.Received("")) >= concurrency
	}, "the worker did not take %d callbacks", concurrency)
	if code := first.terminate(t); code != 0 {
		t.Fatalf("exit code %d after SIGTERM; log:\n%s", code, first.logs)
	}

	inFlight := len(p.sim.Received(""))
	conn, err := redisconn.Parse(p.redisURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	insp := asynq.NewInspectorFromRedisClient(conn.Client)
	info, err := insp.GetQueueInfo(p.queue)
	if err != nil {
		t.Fatal(err)
	}
	if info.Completed != inFlight || info.Active != 0 || info.Pending != callbacks-inFlight {
		t.Fatalf("after SIGTERM: %d completed, %d active, %d pending; want the %d in flight "+
			"completed and the other %d pending", info.Completed, info.Active, info.Pending,
			inFlight, callbacks-inFlight)
	}

	env["OPS_LISTEN"] = testenv.FreeAddr(t)
	second := startWorkerProcess(t, bin, env)
	testenv.Eventually(t, 60*time.Second, func() bool {
		info, err = insp.GetQueueInfo(p.queue)
		return err == nil && info.Completed == callbacks
	}, "the second worker did not send the rest; queue %+v", info)
	if code := second.terminate(t); code != 0 {
		t.Errorf("second worker: exit code %d; log:\n%s", code, second.logs)
	}
	for _, token := range tokens {
		taken := 0
		for _, rec := range p.sim.Received(token) {
			if rec.Accepted {
				taken++
			}
		}
		if taken != 1 {
			t.Errorf("%s taken %d times, want once", token, taken)
		}
	}
}
