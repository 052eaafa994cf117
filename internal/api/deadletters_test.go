package api_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/callback-dispatcher/dispatcher/internal/api"
	"github.com/callback-dispatcher/dispatcher/internal/deadletter"
	"github.com/callback-dispatcher/dispatcher/internal/job"
	"github.com/callback-dispatcher/dispatcher/internal/store"
	"github.com/callback-dispatcher/dispatcher/internal/testenv"
	"github.com/callback-dispatcher/dispatcher/pkg/producer"
)

func setupWithStore(t *testing.T) (*httptest.Server, *store.Store) {
	t.Helper()
	conn, redisURL := testenv.Redis(t)
	ctx := context.Background()
	st, err := store.Open(ctx, testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	if _, err := st.MigrateUp(ctx); err != nil {
		t.Fatal(err)
	}
	client, err := producer.New(producer.Config{RedisURL: redisURL, Queue: "api-dlq"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	requeuer := deadletter.NewRequeuer(st, deadletter.Queue{
		Client: asynq.NewClientFromRedisClient(conn.Client), Name: "api-dlq",
		Inspector: asynq.NewInspectorFromRedisClient(conn.Client), MaxAttempts: 5,
		TaskTimeout: 30 * time.Second})
	srv := httptest.NewServer(api.New(client, api.Config{Tokens: []string{apiToken},
		DeadLetters: &api.DeadLetters{Store: st, Requeuer: requeuer}},
		slog.New(slog.DiscardHandler)).Handler())
	t.Cleanup(srv.Close)
	for i, token := range []string{"a", "b", "c"} {
		j := &job.Job{CallbackURL: "https://adobe.com/cb", Token: token, RequestID: "r",
			OrgID: "O@AdobeOrg", EntityType: "lead", EntityIDs: []string{"1"},
			Body:     json.RawMessage(`{"objectData":[{"activityData":{"success":true},"leadData":{"id":1}}]}`),
			Deadline: time.Now().Add(time.Hour), EnqueuedAt: time.Now()}
		if err := st.SaveDeadLetter(ctx, job.IDFromToken(token), j, job.DeadLetter{
			Reason: "rejected_4xx", Status: 400 + i, At: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	return srv, st
}

func TestDeadLetterRoutes(t *testing.T) {
	t.Parallel()
	srv, st := setupWithStore(t)
	id := job.IDFromToken("b")
	tests := []struct {
		name, method, path, body string
		wantStatus               int
		check                    func(t *testing.T, out map[string]any)
	}{
		{name: "list filters by status", method: "GET", path: "/v1/dead-letters?status=401",
			wantStatus: 200, check: func(t *testing.T, out map[string]any) {
				if l := asList(out["deadLetters"]); len(l) != 1 {
					t.Errorf("listed %d, want 1", len(l))
				}
			}},
		{name: "a bad status parameter is named", method: "GET",
			path: "/v1/dead-letters?status=abc", wantStatus: 400,
			check: func(t *testing.T, out map[string]any) {
				if out["message"] != "status: must be an HTTP status such as 400" {
					t.Errorf("message %v", out["message"])
				}
			}},
		{name: "a bad time is named", method: "GET", path: "/v1/dead-letters?since=yesterday",
			wantStatus: 400},
		{name: "show gives the dead letter and its attempt log", method: "GET",
			path: "/v1/dead-letters/" + id, wantStatus: 200,
			check: func(t *testing.T, out map[string]any) {
				if out["reason"] != "rejected_4xx" || out["attemptLog"] == nil {
					t.Errorf("show %v", out)
				}
			}},
		{name: "an unknown id is 404", method: "GET", path: "/v1/dead-letters/cb_nope",
			wantStatus: 404},
		{name: "the status route falls back to the store", method: "GET",
			path: "/v1/callbacks/" + id, wantStatus: 200,
			check: func(t *testing.T, out map[string]any) {
				if out["status"] != "dead_lettered" {
					t.Errorf("status %v", out)
				}
			}},
		{name: "a requeue without a filter is refused", method: "POST",
			path: "/v1/dead-letters/requeue", body: `{}`, wantStatus: 400},
		{name: "an unknown member is refused", method: "POST",
			path: "/v1/dead-letters/requeue", body: `{"idz":["x"]}`, wantStatus: 400},
		{name: "a dry run counts", method: "POST", path: "/v1/dead-letters/requeue",
			body: `{"all":true,"dryRun":true}`, wantStatus: 200,
			check: func(t *testing.T, out map[string]any) {
				if out["matched"] != float64(3) || out["requeued"] != float64(3) {
					t.Errorf("report %v", out)
				}
			}},
		{name: "a purge without a filter is refused", method: "POST",
			path: "/v1/dead-letters/purge", body: `{}`, wantStatus: 400},
		{name: "a purge with a bad duration is refused", method: "POST",
			path: "/v1/dead-letters/purge", body: `{"olderThan":"soon"}`, wantStatus: 400},
		{name: "a purge dry run changes nothing", method: "POST", path: "/v1/dead-letters/purge",
			body: `{"filter":{"status":402},"dryRun":true}`, wantStatus: 200,
			check: func(t *testing.T, out map[string]any) {
				if out["matched"] != float64(1) || out["purged"] != float64(0) {
					t.Errorf("purge %v", out)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out := do(t, srv, tt.method, tt.path, apiToken, tt.body)
			if status != tt.wantStatus {
				t.Fatalf("%s %s: %d %v, want %d", tt.method, tt.path, status, out, tt.wantStatus)
			}
			if tt.check != nil {
				tt.check(t, out)
			}
		})
	}
	if n, _ := st.CountDeadLetters(context.Background(), store.Filter{}); n != 3 {
		t.Errorf("the dry runs changed the store: %d dead letters", n)
	}
	status, _ := do(t, srv, "POST", "/v1/dead-letters/purge", apiToken,
		`{"filter":{"status":402}}`)
	if n, _ := st.CountDeadLetters(context.Background(), store.Filter{}); status != 200 || n != 2 {
		t.Errorf("purge: %d, %d left", status, n)
	}
}

func TestDeadLetterRoutesNeedAStore(t *testing.T) {
	t.Parallel()
	srv := setup(t)
	if status, _ := do(t, srv, "GET", "/v1/dead-letters", apiToken, ""); status !=
		http.StatusServiceUnavailable {
		t.Errorf("got %d, want 503", status)
	}
}
