package worker_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/callback-dispatcher/dispatcher/internal/adobesim"
	"github.com/callback-dispatcher/dispatcher/internal/config"
	"github.com/callback-dispatcher/dispatcher/internal/envconfig"
	"github.com/callback-dispatcher/dispatcher/internal/ims/imstest"
	"github.com/callback-dispatcher/dispatcher/internal/job"
	"github.com/callback-dispatcher/dispatcher/internal/testenv"
	"github.com/callback-dispatcher/dispatcher/internal/worker"
	"github.com/callback-dispatcher/dispatcher/pkg/producer"
)

// TestEachCallbackCarriesItsProfilesClientID runs a worker built from its
// configuration, with two IMS profiles for two orgs, against a simulator
// that knows both credentials and checks X-Api-Key against the client each
// bearer token was minted for.
func TestEachCallbackCarriesItsProfilesClientID(t *testing.T) {
	t.Parallel()
	const acme, globex = "ACME@AdobeOrg", "GLOBEX@AdobeOrg"
	tests := []struct {
		name     string
		override string
		// want is the X-Api-Key each org's callback carries and the status
		// the simulator answers.
		want map[string]keyAnswer
	}{
		{name: "each org's callback carries its own profile's client id and is accepted",
			want: map[string]keyAnswer{acme: {"acme-client", 200}, globex: {"globex-client", 200}}},
		{name: "CALLBACK_API_KEY goes with every callback, and a wrong key is refused",
			override: "acme-client",
			want:     map[string]keyAnswer{acme: {"acme-client", 200}, globex: {"acme-client", 403}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setupProfiles(t, tt.override, map[string]string{acme: "acme", globex: "globex"})
			ids := map[string]string{}
			for org := range tt.want {
				exec := b.execution("examples-03.json", "key-"+org)
				exec.Context.Subscription.IMSOrgID = org
				ids[org] = b.enqueue(exec, success)
			}

			for org, want := range tt.want {
				st := b.wait(ids[org])
				recs := b.sim.Received("key-" + org)
				if len(recs) != 1 || recs[0].APIKey != want.key || recs[0].OrgID != org ||
					recs[0].Status != want.status {
					t.Errorf("callback of %s: records %+v, want one with X-Api-Key %q "+
						"answered %d", org, recs, want.key, want.status)
				}
				wantState := producer.StateDelivered
				if want.status != 200 {
					wantState = producer.StateDeadLettered
				}
				if st.State != wantState {
					t.Errorf("callback of %s ended %s (%+v), want %s", org, st.State,
						st.DeadLetter, wantState)
				}
				if wantState == producer.StateDeadLettered && (st.DeadLetter.Reason !=
					job.ReasonRejected || st.DeadLetter.Status != want.status) {
					t.Errorf("callback of %s: dead letter %+v, want rejected with %d", org,
						st.DeadLetter, want.status)
				}
			}
			if got := b.sim.TokenFetches(); got != len(tt.want) {
				t.Errorf("simulator minted %d tokens, want one per profile", got)
			}
		})
	}
}

// keyAnswer is the X-Api-Key a callback carries and the status it gets.
type keyAnswer struct {
	key    string
	status int
}

// setupProfiles starts a worker, through worker.New and its configuration,
// with one IMS profile per org of orgs (org to profile name; the client id
// is the name with "-client"), and a simulator that knows each client and
// lets it serve only its own org. override is CALLBACK_API_KEY.
func setupProfiles(t *testing.T, override string, orgs map[string]string) *bundle {
	t.Helper()
	conn, redisURL := testenv.Redis(t)
	logs := &testenv.LogBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	var clients []adobesim.Client
	for org, name := range orgs {
		clients = append(clients, adobesim.Client{ID: name + "-client",
			Secrets: []string{name + "-secret"}, OrgIDs: []string{org}})
	}
	sim, front, srv := imstest.Start(t, adobesim.Config{Clients: clients})

	profiles := ""
	for org, name := range orgs {
		profiles += "- {name: " + name + ", orgIds: [\"" + org + "\"], clientId: " + name +
			"-client, clientSecrets: [" + name + "-secret], tokenUrl: \"" + srv.URL +
			imstest.TokenPath + "\"}\n"
	}
	file := filepath.Join(t.TempDir(), "profiles.yaml")
	if err := os.WriteFile(file, []byte(profiles), 0o600); err != nil {
		t.Fatal(err)
	}

	const queue = "callbacks-keys"
	cfg, _, err := config.LoadWorker(envconfig.MapLookup(map[string]string{
		"REDIS_URL": redisURL, "QUEUE": queue, "IMS_PROFILES_FILE": file,
		"CALLBACK_API_KEY": override, "CALLBACK_ALLOWED_HOSTS": "127.0.0.1",
		"CALLBACK_ALLOW_HTTP": "true", "CALLBACK_ALLOW_PRIVATE": "true",
		"CONCURRENCY": "4", "WORKER_SERVERS": "1", "TASK_CHECK_INTERVAL": "10ms",
		"DELAYED_TASK_CHECK_INTERVAL": "20ms",
	}))
	if err != nil {
		t.Fatal(err)
	}
	runWorker(t, worker.New(cfg, conn, log))

	client, err := producer.New(producer.Config{RedisURL: redisURL, Queue: queue,
		AllowedHosts: []string{"127.0.0.1"}, AllowHTTP: true, AllowPrivate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return &bundle{t: t, sim: sim, front: front, simURL: srv.URL, client: client,
		redisURL: redisURL, queue: queue, logs: logs}
}

// runWorker runs w until the test ends, and fails the test if it stops
// with an error.
func runWorker(t *testing.T, w *worker.Worker) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})
}
