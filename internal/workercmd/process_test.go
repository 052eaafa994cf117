package workercmd

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/callback-dispatcher/dispatcher/internal/adobesim"
	"github.com/callback-dispatcher/dispatcher/internal/ims/imstest"
	"github.com/callback-dispatcher/dispatcher/internal/store"
	"github.com/callback-dispatcher/dispatcher/internal/testenv"
	"github.com/callback-dispatcher/dispatcher/pkg/callback"
	"github.com/callback-dispatcher/dispatcher/pkg/producer"
)

// pipeline is what a worker under test talks to: its own Redis database,
// a simulator and a producer client queueing for it.
type pipeline struct {
	t        *testing.T
	redisURL string
	queue    string
	sim      *adobesim.Simulator
	simURL   string
	client   *producer.Client
}

func newPipeline(t *testing.T, queue string, rules ...adobesim.Rule) *pipeline {
	t.Helper()
	_, redisURL := testenv.Redis(t)
	sim, _, srv := imstest.Start(t, adobesim.Config{Rules: rules})
	client, err := producer.New(producer.Config{RedisURL: redisURL, Queue: queue,
		AllowedHosts: []string{"127.0.0.1"}, AllowHTTP: true, AllowPrivate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return &pipeline{t: t, redisURL: redisURL, queue: queue, sim: sim, simURL: srv.URL,
		client: client}
}

// env is a worker's environment for the pipeline, with the store at
// databaseURL and the probes on ops.
func (p *pipeline) env(databaseURL, ops string) map[string]string {
	return map[string]string{
		"REDIS_URL": p.redisURL, "DATABASE_URL": databaseURL, "QUEUE": p.queue,
		"IMS_CLIENT_ID": adobesim.DefaultClientID, "IMS_CLIENT_SECRET": adobesim.DefaultClientSecret,
		"IMS_TOKEN_URL": p.simURL + imstest.TokenPath, "CALLBACK_ALLOWED_HOSTS": "127.0.0.1",
		"CALLBACK_ALLOW_HTTP": "true", "CALLBACK_ALLOW_PRIVATE": "true", "OPS_LISTEN": ops,
	}
}

// enqueue queues one callback per token, each to the simulator.
func (p *pipeline) enqueue(tokens ...string) {
	p.t.Helper()
	exec, err := callback.ParseExecutionRequest(
		testenv.Testdata(p.t, "adobe/ajo-b2b/examples/examples-03.json"))
	if err != nil {
		p.t.Fatal(err)
	}
	for _, token := range tokens {
		e := *exec
		e.Token, e.CallbackURL = token, p.simURL+"/callback/"+token
		_, err := p.client.Enqueue(context.Background(), &e,
			callback.Result{ActivityData: callback.ActivityData{Success: true}})
		if err != nil {
			p.t.Fatalf("enqueue %s: %v", token, err)
		}
	}
}

// migratedPostgres applies the migrations to the database at url.
func migratedPostgres(t *testing.T, url string) {
	t.Helper()
	st, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.MigrateUp(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// waitReady polls the worker's /readyz until it answers 200, failing the
// test early when exited says the worker has stopped.
func waitReady(t *testing.T, ops string, exited func() (string, bool)) {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	testenv.Eventually(t, 30*time.Second, func() bool {
		if why, ok := exited(); ok {
			t.Fatalf("the worker stopped instead of starting: %s", why)
		}
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet,
			"http://"+ops+"/readyz", nil)
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, "the worker never became ready on %s", ops)
}

// envList turns an environment map into the form exec.Cmd takes.
func envList(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, fmt.Sprintf("%s=%s", k, v))
	}
	return out
}
