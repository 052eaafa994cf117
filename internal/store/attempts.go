package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// AttemptRow is one attempt of a callback, with what the callbacks table
// keeps of the callback itself.
type AttemptRow struct {
	CallbackID string
	Number     int
	StartedAt  time.Time
	Duration   time.Duration
	HTTPStatus int
	Outcome    string
	Error      string
	NextRetry  time.Time

	RequestID  string
	OrgID      string
	EntityType string
	EntityIDs  []string
	Service    string
	EnqueuedAt time.Time
	Deadline   time.Time
	// State is the callback's state after this attempt.
	State string
}

// Attempt is a logged attempt, as ops read it.
type Attempt struct {
	Number     int        `json:"number"`
	StartedAt  time.Time  `json:"startedAt"`
	DurationMS int        `json:"durationMs"`
	HTTPStatus int        `json:"httpStatus,omitempty"`
	Outcome    string     `json:"outcome"`
	Error      string     `json:"error,omitempty"`
	NextRetry  *time.Time `json:"nextRetryAt,omitempty"`
}

// WriteAttempts appends attempts to the log and brings each callback's row
// up to date, in one transaction.
func (s *Store) WriteAttempts(ctx context.Context, rows []AttemptRow) error {
	if len(rows) == 0 {
		return nil
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"attempts"},
			[]string{"callback_id", "number", "started_at", "duration_ms", "http_status",
				"outcome", "error", "next_retry_at"},
			pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
				r := rows[i]
				return []any{r.CallbackID, r.Number, r.StartedAt, r.Duration.Milliseconds(),
					nullInt(r.HTTPStatus), r.Outcome, r.Error, nullTime(r.NextRetry)}, nil
			}))
		if err != nil {
			return fmt.Errorf("write attempts: %w", err)
		}
		return upsertCallbacks(ctx, tx, latestPerCallback(rows))
	})
}

// latestPerCallback keeps the newest attempt of each callback, since one
// statement cannot update a row twice.
func latestPerCallback(rows []AttemptRow) []AttemptRow {
	latest := make(map[string]int, len(rows))
	out := make([]AttemptRow, 0, len(rows))
	for _, r := range rows {
		i, seen := latest[r.CallbackID]
		switch {
		case !seen:
			latest[r.CallbackID] = len(out)
			out = append(out, r)
		case !r.StartedAt.Before(out[i].StartedAt):
			out[i] = r
		}
	}
	return out
}

// upsertCallbacks brings each callback's row up to date in one statement
// over arrays: the attempt log's PostgreSQL CPU per attempt was half in
// the 500 statements a batch of upserts ran (docs/benchmarks.md). Each
// callback's entity IDs travel as a JSON array, since PostgreSQL has no
// arrays of arrays of different lengths.
func upsertCallbacks(ctx context.Context, tx pgx.Tx, rows []AttemptRow) error {
	n := len(rows)
	ids, requestIDs, orgIDs := make([]string, n), make([]string, n), make([]string, n)
	entityTypes, entityIDs := make([]string, n), make([]string, n)
	services, states, attempts := make([]string, n), make([]string, n), make([]int32, n)
	enqueued, deadlines, updated := make([]time.Time, n), make([]time.Time, n), make([]time.Time, n)
	completed := make([]*time.Time, n)
	for i, r := range rows {
		ids[i], requestIDs[i], orgIDs[i], entityTypes[i] = r.CallbackID, r.RequestID, r.OrgID,
			r.EntityType
		list := []byte("[]")
		if len(r.EntityIDs) > 0 {
			var err error
			if list, err = json.Marshal(r.EntityIDs); err != nil {
				return fmt.Errorf("update callbacks: %w", err)
			}
		}
		entityIDs[i], services[i], states[i] = string(list), r.Service, r.State
		attempts[i], enqueued[i], deadlines[i], updated[i] = int32(r.Number), r.EnqueuedAt,
			r.Deadline, r.StartedAt
		if r.State != "retrying" {
			t := r.StartedAt.Add(r.Duration)
			completed[i] = &t
		}
	}
	_, err := tx.Exec(ctx, upsertCallbacksSQL, ids, requestIDs, orgIDs, entityTypes, entityIDs,
		services, states, attempts, enqueued, deadlines, updated, completed)
	if err != nil {
		return fmt.Errorf("update callbacks: %w", err)
	}
	return nil
}

const upsertCallbacksSQL = `
INSERT INTO callbacks (id, request_id, org_id, entity_type, entity_ids, service, state,
	attempts, enqueued_at, deadline, updated_at, completed_at)
SELECT u.id, u.request_id, u.org_id, u.entity_type,
	ARRAY(SELECT jsonb_array_elements_text(u.entity_ids::jsonb)), u.service, u.state,
	u.attempts, u.enqueued_at, u.deadline, u.updated_at, u.completed_at
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
	$7::text[], $8::int4[], $9::timestamptz[], $10::timestamptz[], $11::timestamptz[],
	$12::timestamptz[])
	AS u(id, request_id, org_id, entity_type, entity_ids, service, state, attempts,
		enqueued_at, deadline, updated_at, completed_at)
ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, attempts = EXCLUDED.attempts,
	updated_at = EXCLUDED.updated_at, completed_at = EXCLUDED.completed_at
WHERE callbacks.updated_at <= EXCLUDED.updated_at`

// Attempts returns a callback's logged attempts, oldest first.
func (s *Store) Attempts(ctx context.Context, callbackID string) ([]Attempt, error) {
	rows, err := s.pool.Query(ctx, `SELECT number, started_at, duration_ms,
	coalesce(http_status, 0), outcome, error, next_retry_at
FROM attempts WHERE callback_id = $1 ORDER BY started_at, id`, callbackID)
	if err != nil {
		return nil, fmt.Errorf("read attempts: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Attempt, error) {
		var a Attempt
		err := r.Scan(&a.Number, &a.StartedAt, &a.DurationMS, &a.HTTPStatus, &a.Outcome,
			&a.Error, &a.NextRetry)
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("read attempts: %w", err)
	}
	return out, nil
}

// MarkQueued records that a callback was queued again (by a requeue).
func (s *Store) MarkQueued(ctx context.Context, id string, at time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE callbacks SET state = 'queued', updated_at = $2,
	completed_at = NULL WHERE id = $1`, id, at)
	if err != nil {
		return fmt.Errorf("mark callback queued: %w", err)
	}
	return nil
}

// PurgeAttempts deletes attempts that started before cutoff, at most limit
// rows per call, and returns how many it deleted.
func (s *Store) PurgeAttempts(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM attempts WHERE id IN (
	SELECT id FROM attempts WHERE started_at < $1 ORDER BY started_at LIMIT $2)`, cutoff, limit)
	if err != nil {
		return 0, fmt.Errorf("purge attempts: %w", err)
	}
	return tag.RowsAffected(), nil
}

func nullInt(n int) *int {
	if n == 0 {
		return nil
	}
	return &n
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// CallbackState returns a callback's state and attempts as the attempt log
// last recorded them.
func (s *Store) CallbackState(ctx context.Context, id string) (string, int, error) {
	var state string
	var attempts int
	err := s.pool.QueryRow(ctx, `SELECT state, attempts FROM callbacks WHERE id = $1`, id).Scan(
		&state, &attempts)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", 0, ErrNotFound
	}
	if err != nil {
		return "", 0, fmt.Errorf("read callback state: %w", err)
	}
	return state, attempts, nil
}
