package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/callback-dispatcher/dispatcher/internal/store"
	"github.com/callback-dispatcher/dispatcher/internal/testenv"
)

// BenchmarkWriteAttempts500 writes batches of 500 delivered attempts, each
// of its own callback, as the attempt log does under load.
func BenchmarkWriteAttempts500(b *testing.B) {
	ctx := context.Background()
	st, err := store.Open(ctx, testenv.Postgres(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(st.Close)
	if _, err := st.MigrateUp(ctx); err != nil {
		b.Fatal(err)
	}
	t0 := time.Now().UTC()
	batch := make([]store.AttemptRow, 500)
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		for i := range batch {
			n++
			batch[i] = store.AttemptRow{CallbackID: fmt.Sprintf("cb_%032d", n), Number: 1,
				StartedAt: t0, Duration: 5 * time.Millisecond, HTTPStatus: 200,
				Outcome: "delivered", State: "delivered", RequestID: "r", OrgID: "O@AdobeOrg",
				EntityType: "lead", EntityIDs: []string{"12345"}, EnqueuedAt: t0,
				Deadline: t0.Add(time.Hour)}
		}
		if err := st.WriteAttempts(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
}

func TestWriteAttemptsKeepsOneRowPerCallback(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testenv.Postgres(t)
	st, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	if _, err := st.MigrateUp(ctx); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().UTC().Truncate(time.Millisecond)
	row := func(id string, n int, state string, ids ...string) store.AttemptRow {
		return store.AttemptRow{CallbackID: id, Number: n,
			StartedAt: t0.Add(time.Duration(n) * time.Second), Duration: time.Second,
			Outcome: state, State: state, RequestID: "r", OrgID: "O", EntityType: "account",
			EntityIDs: ids, EnqueuedAt: t0, Deadline: t0.Add(time.Hour)}
	}
	batches := [][]store.AttemptRow{
		{row("cb_a", 1, "retrying", "9001", "9002"), row("cb_b", 1, "delivered")},
		{row("cb_a", 2, "retrying", "9001", "9002"), row("cb_a", 3, "delivered", "9001", "9002")},
	}
	for _, b := range batches {
		if err := st.WriteAttempts(ctx, b); err != nil {
			t.Fatal(err)
		}
	}

	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT id, entity_ids, state, attempts,
	completed_at IS NOT NULL FROM callbacks ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var id, state string
		var ids []string
		var attempts int
		var completed bool
		if err := rows.Scan(&id, &ids, &state, &attempts, &completed); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s %v %s %d %t", id, ids, state, attempts, completed))
	}
	want := []string{"cb_a [9001 9002] delivered 3 true", "cb_b [] delivered 1 true"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("callbacks rows\n%q\nwant\n%q", got, want)
	}
}
