package workercmd

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/callback-dispatcher/dispatcher/internal/adobesim"
	"github.com/callback-dispatcher/dispatcher/internal/deadletter"
	"github.com/callback-dispatcher/dispatcher/internal/job"
	"github.com/callback-dispatcher/dispatcher/internal/redisconn"
	"github.com/callback-dispatcher/dispatcher/internal/store"
	"github.com/callback-dispatcher/dispatcher/internal/testenv"
)

// The chaos suite found that a worker started during a PostgreSQL outage
// exited at once, so a pool that lost workers during the outage could not
// replace them and the queue stalled until PostgreSQL was back. A worker
// must start, keep dead letters in the Redis outbox, and move them to
// PostgreSQL once it answers.
func TestWorkerStartsWhilePostgresIsDown(t *testing.T) {
	pg := testenv.StartPostgres(t)
	migratedPostgres(t, pg.URL)
	pg.Stop()

	p := newPipeline(t, "pg-down", adobesim.Rule{Match: "pg-down-*", Script: "400"})
	ops := testenv.FreeAddr(t)
	env := p.env(pg.URL, ops)
	env["OUTBOX_DRAIN_INTERVAL"] = "100ms"
	for k, v := range env {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &testenv.LogBuffer{}
	exited := make(chan int, 1)
	go func() { exited <- Main(ctx, nil, io.Discard, logs) }()
	waitReady(t, ops, func() (string, bool) {
		select {
		case code := <-exited:
			return fmt.Sprintf("exit code %d; log:\n%s", code, logs), true
		default:
			return "", false
		}
	})

	p.enqueue("pg-down-1")
	rdb, err := redisconn.Parse(p.redisURL)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	outbox := func() int64 {
		n, _ := rdb.Client.LLen(context.Background(), deadletter.OutboxKey).Result()
		return n
	}
	testenv.Eventually(t, 30*time.Second, func() bool { return outbox() == 1 },
		"the dead letter did not reach the Redis outbox; log:\n%s", logs)

	pg.Start()
	st, err := store.Open(context.Background(), pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	id := job.IDFromToken("pg-down-1")
	testenv.Eventually(t, 30*time.Second, func() bool {
		_, err := st.GetDeadLetter(context.Background(), id)
		return err == nil && outbox() == 0
	}, "the dead letter was not moved to PostgreSQL; log:\n%s", logs)
	testenv.Eventually(t, 30*time.Second, func() bool {
		return strings.Contains(logs.String(), "PostgreSQL answers; schema migrated")
	}, "the schema was not checked once PostgreSQL was back; log:\n%s", logs)

	cancel()
	if code := <-exited; code != 0 {
		t.Errorf("exit code %d after the context ended; log:\n%s", code, logs)
	}
}

// A missing database is no outage: the worker still refuses to start.
func TestWorkerRefusesAMissingDatabase(t *testing.T) {
	u, err := url.Parse(testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/no_such_database"
	p := newPipeline(t, "pg-missing")
	for k, v := range p.env(u.String(), testenv.FreeAddr(t)) {
		t.Setenv(k, v)
	}
	logs := &testenv.LogBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if code := Main(ctx, nil, io.Discard, logs); code != 2 {
		t.Errorf("exit code %d, want 2; log:\n%s", code, logs)
	}
	if !strings.Contains(logs.String(), "worker not started") {
		t.Errorf("the refusal is not logged:\n%s", logs)
	}
}
