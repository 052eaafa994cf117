package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callback-dispatcher/dispatcher/internal/job"
	"github.com/callback-dispatcher/dispatcher/internal/store"
	"github.com/callback-dispatcher/dispatcher/internal/testenv"
)

func open(t *testing.T, migrate bool) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	if migrate {
		if _, err := st.MigrateUp(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

func testJob(i int) *job.Job {
	return &job.Job{CallbackURL: "https://adobe.com/cb", Token: fmt.Sprintf("tok-%d", i),
		RequestID: "r", OrgID: []string{"A@AdobeOrg", "B@AdobeOrg"}[i%2], EntityType: "lead",
		EntityIDs: []string{"1"}, Service: "svc",
		Body:       json.RawMessage(`{"objectData":[{"activityData":{"success":true},"leadData":{"id":1}}]}`),
		Deadline:   time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond),
		EnqueuedAt: time.Now().UTC().Truncate(time.Microsecond)}
}

func TestUnmigratedSchemaIsRefused(t *testing.T) {
	t.Parallel()
	st := open(t, false)
	ctx := context.Background()
	if err := st.CheckMigrated(ctx); !errors.Is(err, store.ErrNotMigrated) {
		t.Fatalf("CheckMigrated on an empty schema = %v, want ErrNotMigrated", err)
	}
	if !strings.Contains(store.ErrNotMigrated.Error(), "producer migrate up") {
		t.Errorf("the message does not say what to run: %v", store.ErrNotMigrated)
	}
	if n, err := st.MigrateUp(ctx); err != nil || n == 0 {
		t.Fatalf("MigrateUp = %d, %v", n, err)
	}
	if err := st.CheckMigrated(ctx); err != nil {
		t.Fatalf("CheckMigrated after MigrateUp = %v", err)
	}
	if n, err := st.MigrateUp(ctx); err != nil || n != 0 {
		t.Errorf("a second MigrateUp applied %d, %v", n, err)
	}
	var b strings.Builder
	if err := st.WriteMigrationStatus(ctx, &b); err != nil ||
		!strings.Contains(b.String(), "00001_callbacks.sql") {
		t.Errorf("status: %v\n%s", err, b.String())
	}
}

func TestDeadLettersAreKeptAndFiltered(t *testing.T) {
	t.Parallel()
	st := open(t, true)
	ctx := context.Background()
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for i := range 10 {
		dl := job.DeadLetter{Reason: []string{"rejected_4xx", "attempts_exhausted"}[i%2],
			Status: []int{400, 503}[i%2], Excerpt: strings.Repeat("é", 3000), Attempts: 1 + i%5,
			At: base.Add(time.Duration(i) * time.Minute)}
		if err := st.SaveDeadLetter(ctx, fmt.Sprintf("cb_%02d", i), testJob(i), dl); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		f    store.Filter
		want int
	}{
		{"all", store.Filter{}, 10},
		{"by reason", store.Filter{Reason: "rejected_4xx"}, 5},
		{"by status", store.Filter{Status: 503}, 5},
		{"by org", store.Filter{OrgID: "A@AdobeOrg"}, 5},
		{"by org and status", store.Filter{OrgID: "A@AdobeOrg", Status: 503}, 0},
		{"by service", store.Filter{Service: "svc"}, 10},
		{"by time range", store.Filter{Since: base.Add(2 * time.Minute),
			Until: base.Add(5 * time.Minute)}, 3},
		{"by ids", store.Filter{IDs: []string{"cb_01", "cb_02", "cb_nope"}}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := st.CountDeadLetters(ctx, tt.f)
			if err != nil || n != tt.want {
				t.Fatalf("count = %d, %v; want %d", n, err, tt.want)
			}
			list, err := st.ListDeadLetters(ctx, tt.f)
			if err != nil || len(list) != tt.want {
				t.Fatalf("list = %d, %v; want %d", len(list), err, tt.want)
			}
		})
	}
	dl, err := st.GetDeadLetter(ctx, "cb_03")
	if err != nil {
		t.Fatal(err)
	}
	if dl.Job.Token != "tok-3" || dl.LastStatus != 503 || len(dl.Excerpt) > 4096 ||
		!strings.HasPrefix(dl.Excerpt, "éé") {
		t.Errorf("stored dead letter %+v", dl)
	}
	if _, err := st.GetDeadLetter(ctx, "cb_nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing id: %v", err)
	}
}

func TestTwentyThousandDeadLettersAreAllListable(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("short mode")
	}
	st := open(t, true)
	ctx := context.Background()
	const n = 20000
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				err := st.SaveDeadLetter(ctx, fmt.Sprintf("cb_%05d", i), testJob(i),
					job.DeadLetter{Reason: "rejected_4xx", Status: 400, Attempts: 1,
						At: time.Now().UTC()})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	f := store.Filter{Limit: 1000}
	for {
		page, err := st.ListDeadLetters(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, dl := range page {
			if seen[dl.ID] {
				t.Fatalf("%s listed twice", dl.ID)
			}
			seen[dl.ID] = true
		}
		if len(page) < f.Limit {
			break
		}
		f.After = page[len(page)-1].ID
	}
	if len(seen) != n {
		t.Fatalf("listed %d dead letters, want %d", len(seen), n)
	}
}

func TestConcurrentClaimsHaveOneWinner(t *testing.T) {
	t.Parallel()
	st := open(t, true)
	ctx := context.Background()
	if err := st.SaveDeadLetter(ctx, "cb_1", testJob(1), job.DeadLetter{Reason: "rejected_4xx",
		At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 20 {
		wg.Go(func() {
			_, err := st.ClaimForRequeue(ctx, "cb_1", "ops", "fixed", time.Now())
			if err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			} else if !errors.Is(err, store.ErrNotFound) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d claims won, want 1", wins)
	}
	dl, _ := st.GetDeadLetter(ctx, "cb_1")
	if dl.State != store.StateRequeued || dl.RequeueCount != 1 || dl.RequeuedBy != "ops" {
		t.Errorf("after the claim: %+v", dl)
	}
	// Dead again after the requeue failed once more: the history stays.
	if err := st.SaveDeadLetter(ctx, "cb_1", testJob(1), job.DeadLetter{Reason: "rejected_4xx",
		At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	dl, _ = st.GetDeadLetter(ctx, "cb_1")
	if dl.State != store.StateDead || dl.RequeueCount != 1 {
		t.Errorf("dead again: %+v", dl)
	}
}

func TestPurge(t *testing.T) {
	t.Parallel()
	st := open(t, true)
	ctx := context.Background()
	old := time.Now().Add(-48 * time.Hour)
	for i, at := range []time.Time{old, old, time.Now()} {
		if err := st.SaveDeadLetter(ctx, fmt.Sprint("cb_", i), testJob(i),
			job.DeadLetter{Reason: "rejected_4xx", At: at}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := st.PurgeDeadLetters(ctx, store.Filter{Until: time.Now().Add(-24 * time.Hour)})
	if err != nil || n != 2 {
		t.Fatalf("purged %d, %v; want 2", n, err)
	}
	if left, _ := st.CountDeadLetters(ctx, store.Filter{}); left != 1 {
		t.Errorf("%d left, want 1", left)
	}
}

func TestAttemptsAreLoggedAndCallbacksUpdated(t *testing.T) {
	t.Parallel()
	st := open(t, true)
	ctx := context.Background()
	t0 := time.Now().UTC().Truncate(time.Millisecond)
	row := func(n int, outcome, state string, status int) store.AttemptRow {
		return store.AttemptRow{CallbackID: "cb_1", Number: n, StartedAt: t0.Add(
			time.Duration(n) * time.Second), Duration: 20 * time.Millisecond,
			HTTPStatus: status, Outcome: outcome, State: state, RequestID: "r",
			OrgID: "O", EntityType: "lead", EntityIDs: []string{"1"}, EnqueuedAt: t0,
			Deadline: t0.Add(time.Hour)}
	}
	if err := st.WriteAttempts(ctx, []store.AttemptRow{row(1, "retry_5xx", "retrying", 503),
		row(2, "retry_5xx", "retrying", 503)}); err != nil {
		t.Fatal(err)
	}
	if err := st.WriteAttempts(ctx, []store.AttemptRow{row(3, "delivered", "delivered", 200)}); err != nil {
		t.Fatal(err)
	}
	got, err := st.Attempts(ctx, "cb_1")
	if err != nil || len(got) != 3 || got[2].Outcome != "delivered" || got[0].HTTPStatus != 503 {
		t.Fatalf("attempts %+v, %v", got, err)
	}
	n, err := st.PurgeAttempts(ctx, t0.Add(2500*time.Millisecond), 1000)
	if err != nil || n != 2 {
		t.Errorf("purged %d attempts, %v; want 2", n, err)
	}
}
