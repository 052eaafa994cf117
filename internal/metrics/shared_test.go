package metrics

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/callback-dispatcher/dispatcher/internal/deadletter"
	"github.com/callback-dispatcher/dispatcher/internal/job"
	"github.com/callback-dispatcher/dispatcher/internal/redisconn"
	"github.com/callback-dispatcher/dispatcher/internal/store"
	"github.com/callback-dispatcher/dispatcher/internal/testenv"
)

// process is one process's registry and shared gauges in a test.
type process struct {
	reg    *prometheus.Registry
	shared *Shared
}

func startProcess(t *testing.T, conn *redisconn.Conn, queue string,
	st *store.Store) *process {
	t.Helper()
	p := &process{reg: prometheus.NewRegistry()}
	var err error
	p.shared, err = StartShared(p.reg, SharedConfig{Redis: conn.Client, Queue: queue, Store: st,
		LeaseTTL: 600 * time.Millisecond, QueueEvery: 50 * time.Millisecond,
		StoreEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.shared.Stop)
	return p
}

func TestSharedGaugesComeFromOneProcess(t *testing.T) {
	t.Parallel()
	conn, _ := testenv.Redis(t)
	st := migratedStore(t)
	const queue = "shared-test"
	ctx := context.Background()
	client := asynq.NewClientFromRedisClient(conn.Client)
	for i := range 2 {
		if _, err := client.Enqueue(asynq.NewTask(job.TaskType, []byte("{}")),
			asynq.Queue(queue), asynq.TaskID(fmt.Sprint("t", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.SaveDeadLetter(ctx, "cb_1", &job.Job{CallbackURL: "https://adobe.com/cb",
		Token: "t", Body: []byte(`{}`), Deadline: time.Now().Add(time.Hour),
		EnqueuedAt: time.Now()}, job.DeadLetter{Reason: job.ReasonRejected,
		At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := conn.Client.RPush(ctx, deadletter.OutboxKey, "entry").Err(); err != nil {
		t.Fatal(err)
	}
	if err := conn.Client.HSet(ctx, deadletter.RequeueCountsKey, "requeued", 3).Err(); err != nil {
		t.Fatal(err)
	}

	procs := []*process{startProcess(t, conn, queue, st), startProcess(t, conn, queue, st),
		startProcess(t, conn, queue, nil)}
	want := map[string]float64{
		`asynq_queue_size{queue="shared-test"}`:                           2,
		`asynq_tasks_enqueued_total{queue="shared-test",state="pending"}`: 2,
		`asynq_queue_paused_total{queue="shared-test"}`:                   0,
		`callback_dispatcher_dead_letter_store_size{state="dead"}`:        1,
		`callback_dispatcher_dead_letter_store_size{state="requeued"}`:    0,
		`callback_dispatcher_outbox_size`:                                 1,
		`callback_dispatcher_requeues_total{result="requeued"}`:           3,
		`callback_dispatcher_requeues_total{result="skipped"}`:            0,
	}
	exporters := waitForOneExporter(t, procs, want)
	if procs[2] == exporters[`callback_dispatcher_outbox_size`] {
		t.Error("a process without a store exports the store's gauges")
	}

	// The holder stops: another takes over within a lease's life.
	holder := exporters[`asynq_queue_size{queue="shared-test"}`]
	holder.shared.Stop()
	var rest []*process
	for _, p := range procs {
		if p != holder {
			rest = append(rest, p)
		}
	}
	waitForOneExporter(t, rest, map[string]float64{`asynq_queue_size{queue="shared-test"}`: 2})
}

func TestSharedQueueReadsEmptyBeforeAnyTask(t *testing.T) {
	t.Parallel()
	conn, _ := testenv.Redis(t)
	p := startProcess(t, conn, "never-used", nil)
	waitForOneExporter(t, []*process{p}, map[string]float64{
		`asynq_queue_size{queue="never-used"}`:            0,
		`asynq_queue_latency_seconds{queue="never-used"}`: 0,
		`asynq_tasks_processed_total{queue="never-used"}`: 0,
	})
	if s := gather(t, p.reg); len(filter(s, "callback_dispatcher_dead_letter")) > 0 {
		t.Error("store gauges exported without a store")
	}
}

// waitForOneExporter polls until exactly one of procs exports each series of
// want, with its value, and the others none of it, and returns the
// exporter of each series.
func waitForOneExporter(t *testing.T, procs []*process,
	want map[string]float64) map[string]*process {
	t.Helper()
	var last note
	exporters := map[string]*process{}
	testenv.Eventually(t, 10*time.Second, func() bool {
		clear(exporters)
		for key, value := range want {
			var n int
			for _, p := range procs {
				s, ok := gather(t, p.reg)[key]
				if !ok {
					continue
				}
				n++
				exporters[key] = p
				if s.value != value {
					last = note(fmt.Sprintf("%s = %v, want %v", key, s.value, value))
					return false
				}
			}
			if n != 1 {
				last = note(fmt.Sprintf("%s exported by %d processes, want 1", key, n))
				return false
			}
		}
		return true
	}, "the shared gauges did not settle: %s", &last)
	return exporters
}

// note is a message that a failure prints as it is when the test fails.
type note string

func (n *note) String() string { return string(*n) }

func filter(s map[string]series, prefix string) []string {
	var keys []string
	for k := range s {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	return keys
}

func migratedStore(t *testing.T) *store.Store {
	t.Helper()
	return migratedStoreAt(t, testenv.Postgres(t))
}

// migratedStoreAt opens the store at databaseURL, migrated, closed when the
// test ends.
func migratedStoreAt(t *testing.T, databaseURL string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	if _, err := st.MigrateUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st
}
