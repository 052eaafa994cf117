// Package store keeps dead letters, the attempt log and one row per callback
// in PostgreSQL.
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/callback-dispatcher/dispatcher/migrations"
)

// Store is a PostgreSQL connection pool with the dispatcher's queries.
type Store struct {
	pool *pgxpool.Pool
}

// Open connects to the database at url (postgres://…). It does not check the
// schema; see CheckMigrated.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL: %w", redactErr(err))
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	return &Store{pool: pool}, nil
}

// redactErr drops pgx's parse error details, which may repeat the URL and
// its password.
func redactErr(err error) error {
	return errors.New("not a valid postgres:// URL or key=value connection string")
}

// Close closes the pool.
func (s *Store) Close() { s.pool.Close() }

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

func (s *Store) migrator() (*goose.Provider, error) {
	db := stdlib.OpenDBFromPool(s.pool)
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return p, nil
}

// MigrateUp applies every pending migration and returns how many it
// applied.
func (s *Store) MigrateUp(ctx context.Context) (int, error) {
	p, err := s.migrator()
	if err != nil {
		return 0, err
	}
	defer func() { _ = p.Close() }()
	res, err := p.Up(ctx)
	if err != nil {
		return len(res), fmt.Errorf("apply migrations: %w", err)
	}
	return len(res), nil
}

// WriteMigrationStatus prints each migration and whether it is applied.
func (s *Store) WriteMigrationStatus(ctx context.Context, w io.Writer) error {
	p, err := s.migrator()
	if err != nil {
		return err
	}
	defer func() { _ = p.Close() }()
	status, err := p.Status(ctx)
	if err != nil {
		return fmt.Errorf("read migration status: %w", err)
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "VERSION\tMIGRATION\tSTATE\tAPPLIED AT")
	for _, st := range status {
		applied := "-"
		if !st.AppliedAt.IsZero() {
			applied = st.AppliedAt.UTC().Format("2006-01-02 15:04:05Z")
		}
		_, _ = fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", st.Source.Version, st.Source.Path, st.State,
			applied)
	}
	return tw.Flush()
}

// ErrNotMigrated means the schema lacks migrations this program needs.
var ErrNotMigrated = errors.New("the database schema is not migrated: run `producer migrate up` " +
	"with the same DATABASE_URL")

// CheckMigrated returns ErrNotMigrated when a migration is pending.
func (s *Store) CheckMigrated(ctx context.Context) error {
	p, err := s.migrator()
	if err != nil {
		return err
	}
	defer func() { _ = p.Close() }()
	pending, err := p.HasPending(ctx)
	if err != nil {
		return fmt.Errorf("read migration status: %w", err)
	}
	if pending {
		return ErrNotMigrated
	}
	return nil
}
