package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/callback-dispatcher/dispatcher/internal/job"
)

// States of a dead letter.
const (
	StateDead     = "dead"
	StateRequeued = "requeued"
)

// DeadLetter is a stored dead letter: the job as queued and why it was
// given up.
type DeadLetter struct {
	ID             string     `json:"id"`
	Job            job.Job    `json:"job"`
	Reason         string     `json:"reason"`
	LastStatus     int        `json:"lastStatus,omitempty"`
	Excerpt        string     `json:"excerpt,omitempty"`
	Error          string     `json:"error,omitempty"`
	Attempts       int        `json:"attempts"`
	OrgID          string     `json:"orgId"`
	Service        string     `json:"service,omitempty"`
	EntityType     string     `json:"entityType"`
	State          string     `json:"state"`
	DeadLetteredAt time.Time  `json:"deadLetteredAt"`
	RequeueCount   int        `json:"requeueCount"`
	LastRequeuedAt *time.Time `json:"lastRequeuedAt,omitempty"`
	RequeuedBy     string     `json:"requeuedBy,omitempty"`
	RequeueNote    string     `json:"requeueNote,omitempty"`
}

// ErrNotFound means no dead letter has that id.
var ErrNotFound = errors.New("dead letter not found")

// SaveDeadLetter records a dead letter. Saving one again (after a requeue
// failed once more) replaces the reason and keeps the requeue history.
func (s *Store) SaveDeadLetter(ctx context.Context, id string, j *job.Job,
	dl job.DeadLetter) error {
	_, err := s.insertDeadLetter(ctx, id, j, dl, `
ON CONFLICT (id) DO UPDATE SET job = EXCLUDED.job, reason = EXCLUDED.reason,
	last_status = EXCLUDED.last_status, excerpt = EXCLUDED.excerpt, error = EXCLUDED.error,
	attempts = EXCLUDED.attempts, state = 'dead', dead_lettered_at = EXCLUDED.dead_lettered_at
WHERE dead_letters.state <> 'dead' OR dead_letters.dead_lettered_at < EXCLUDED.dead_lettered_at`)
	if err != nil {
		return fmt.Errorf("save dead letter: %w", err)
	}
	return nil
}

// ImportDeadLetter records a dead letter unless one with its id exists,
// and reports whether it did: the archive sweeper's save, which must
// neither replace what a handler stored nor count a dead letter twice when
// two workers sweep at once.
func (s *Store) ImportDeadLetter(ctx context.Context, id string, j *job.Job,
	dl job.DeadLetter) (bool, error) {
	n, err := s.insertDeadLetter(ctx, id, j, dl, `ON CONFLICT (id) DO NOTHING`)
	if err != nil {
		return false, fmt.Errorf("import dead letter: %w", err)
	}
	return n == 1, nil
}

// insertDeadLetter inserts a dead letter with onConflict saying what
// becomes of one already there, and returns the rows written.
func (s *Store) insertDeadLetter(ctx context.Context, id string, j *job.Job,
	dl job.DeadLetter, onConflict string) (int64, error) {
	jobJSON, err := json.Marshal(j)
	if err != nil {
		return 0, fmt.Errorf("encode job: %w", err)
	}
	var status *int
	if dl.Status != 0 {
		status = &dl.Status
	}
	tag, err := s.pool.Exec(ctx, `
INSERT INTO dead_letters (id, job, reason, last_status, excerpt, error, attempts, org_id,
	service, entity_type, state, dead_lettered_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'dead', $11)
`+onConflict,
		id, jobJSON, dl.Reason, status, truncate(dl.Excerpt, 4096), dl.Error, dl.Attempts,
		j.OrgID, j.Service, j.EntityType, dl.At)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !validUTF8Tail(s) {
		s = s[:len(s)-1]
	}
	return s
}

func validUTF8Tail(s string) bool {
	return strings.ToValidUTF8(s, "\uFFFD") == s
}

// Filter selects dead letters. Zero fields select everything.
type Filter struct {
	IDs     []string
	Reason  string
	Status  int
	OrgID   string
	Service string
	// State is dead (the default), requeued, or "any".
	State string
	Since time.Time
	Until time.Time
	// Limit bounds List; zero means 100.
	Limit int
	// After continues a listing after the dead letter with this id.
	After string
}

// Empty reports whether the filter selects by nothing at all.
func (f Filter) Empty() bool {
	return len(f.IDs) == 0 && f.Reason == "" && f.Status == 0 && f.OrgID == "" &&
		f.Service == "" && f.Since.IsZero() && f.Until.IsZero()
}

// where builds the WHERE clause of a filter and its arguments.
func (f Filter) where() (string, []any) {
	var conds []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	switch f.State {
	case "any":
	case "":
		conds = append(conds, "state = "+arg(StateDead))
	default:
		conds = append(conds, "state = "+arg(f.State))
	}
	if len(f.IDs) > 0 {
		conds = append(conds, "id = ANY("+arg(f.IDs)+")")
	}
	if f.Reason != "" {
		conds = append(conds, "reason = "+arg(f.Reason))
	}
	if f.Status != 0 {
		conds = append(conds, "last_status = "+arg(f.Status))
	}
	if f.OrgID != "" {
		conds = append(conds, "org_id = "+arg(f.OrgID))
	}
	if f.Service != "" {
		conds = append(conds, "service = "+arg(f.Service))
	}
	if !f.Since.IsZero() {
		conds = append(conds, "dead_lettered_at >= "+arg(f.Since))
	}
	if !f.Until.IsZero() {
		conds = append(conds, "dead_lettered_at < "+arg(f.Until))
	}
	if f.After != "" {
		p := arg(f.After)
		conds = append(conds, "(dead_lettered_at, id) > (SELECT dead_lettered_at, id "+
			"FROM dead_letters WHERE id = "+p+")")
	}
	if len(conds) == 0 {
		return "TRUE", args
	}
	return strings.Join(conds, " AND "), args
}

const deadLetterColumns = `id, job, reason, coalesce(last_status, 0), excerpt, error, attempts,
	org_id, service, entity_type, state, dead_lettered_at, requeue_count, last_requeued_at,
	requeued_by, requeue_note`

func scanDeadLetter(row pgx.Row) (DeadLetter, error) {
	var dl DeadLetter
	var jobJSON []byte
	err := row.Scan(&dl.ID, &jobJSON, &dl.Reason, &dl.LastStatus, &dl.Excerpt, &dl.Error,
		&dl.Attempts, &dl.OrgID, &dl.Service, &dl.EntityType, &dl.State, &dl.DeadLetteredAt,
		&dl.RequeueCount, &dl.LastRequeuedAt, &dl.RequeuedBy, &dl.RequeueNote)
	if err != nil {
		return dl, err
	}
	if err := json.Unmarshal(jobJSON, &dl.Job); err != nil {
		return dl, fmt.Errorf("decode stored job %s: %w", dl.ID, err)
	}
	return dl, nil
}

// ListDeadLetters returns dead letters in the order they were given up,
// oldest first, at most f.Limit of them.
func (s *Store) ListDeadLetters(ctx context.Context, f Filter) ([]DeadLetter, error) {
	where, args := f.where()
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	args = append(args, limit)
	rows, err := s.pool.Query(ctx, "SELECT "+deadLetterColumns+" FROM dead_letters WHERE "+
		where+" ORDER BY dead_lettered_at, id LIMIT $"+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (DeadLetter, error) {
		return scanDeadLetter(r)
	})
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	return out, nil
}

// CountDeadLetters counts the dead letters a filter selects.
func (s *Store) CountDeadLetters(ctx context.Context, f Filter) (int, error) {
	where, args := f.where()
	var n int
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM dead_letters WHERE "+where,
		args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count dead letters: %w", err)
	}
	return n, nil
}

// GetDeadLetter returns one dead letter, whatever its state.
func (s *Store) GetDeadLetter(ctx context.Context, id string) (DeadLetter, error) {
	dl, err := scanDeadLetter(s.pool.QueryRow(ctx,
		"SELECT "+deadLetterColumns+" FROM dead_letters WHERE id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return dl, ErrNotFound
	}
	if err != nil {
		return dl, fmt.Errorf("get dead letter: %w", err)
	}
	return dl, nil
}

// ClaimForRequeue marks a dead letter as requeued, if it is still dead, and
// returns it. Of two concurrent claims of one dead letter exactly one wins;
// the other gets ErrNotFound.
func (s *Store) ClaimForRequeue(ctx context.Context, id, by, note string,
	now time.Time) (DeadLetter, error) {
	dl, err := scanDeadLetter(s.pool.QueryRow(ctx, `
UPDATE dead_letters SET state = 'requeued', requeue_count = requeue_count + 1,
	last_requeued_at = $2, requeued_by = $3, requeue_note = $4
WHERE id = $1 AND state = 'dead'
RETURNING `+deadLetterColumns, id, now, by, note))
	if errors.Is(err, pgx.ErrNoRows) {
		return dl, ErrNotFound
	}
	if err != nil {
		return dl, fmt.Errorf("claim dead letter: %w", err)
	}
	return dl, nil
}

// ReleaseClaim puts a claimed dead letter back when its requeue failed.
func (s *Store) ReleaseClaim(ctx context.Context, id string) error {
	_, err := s.pool.Exec(ctx, `UPDATE dead_letters SET state = 'dead',
	requeue_count = greatest(requeue_count - 1, 0) WHERE id = $1 AND state = 'requeued'`, id)
	if err != nil {
		return fmt.Errorf("release dead letter: %w", err)
	}
	return nil
}

// PurgeDeadLetters deletes the dead letters a filter selects, whatever
// their state unless the filter names one, and returns how many.
func (s *Store) PurgeDeadLetters(ctx context.Context, f Filter) (int64, error) {
	if f.State == "" {
		f.State = "any"
	}
	f.After, f.Limit = "", 0
	where, args := f.where()
	tag, err := s.pool.Exec(ctx, "DELETE FROM dead_letters WHERE "+where, args...)
	if err != nil {
		return 0, fmt.Errorf("purge dead letters: %w", err)
	}
	return tag.RowsAffected(), nil
}

// MissingDeadLetters returns those of ids that have no dead-letter row in
// the dead state. A row in the requeued state counts as missing: its
// archived twin was deleted at requeue, so an archived task is a new one.
func (s *Store) MissingDeadLetters(ctx context.Context, ids []string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT x FROM unnest($1::text[]) AS x
WHERE NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.id = x AND d.state = 'dead')`, ids)
	if err != nil {
		return nil, fmt.Errorf("find missing dead letters: %w", err)
	}
	missing, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("find missing dead letters: %w", err)
	}
	return missing, nil
}
