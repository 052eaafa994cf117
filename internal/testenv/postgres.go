package testenv

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/callback-dispatcher/dispatcher/internal/localsvc"
)

// PGServer is a PostgreSQL cluster of a test's own, which the test may stop
// and start again to play an outage.
type PGServer struct {
	t  testing.TB
	pg *localsvc.Postgres
	// URL connects to its postgres database.
	URL string
}

// StartPostgres creates a throwaway PostgreSQL cluster (initdb) on a free
// loopback port, stopped and removed after the test. It fails the test when
// PostgreSQL's programs are not installed.
func StartPostgres(t testing.TB) *PGServer {
	t.Helper()
	// Not t.TempDir: a root run hands the cluster's directory, and the one
	// holding it, to the postgres user, who cannot pass through the
	// testing package's private directory above t.TempDir.
	dir, err := os.MkdirTemp("", "cd-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })

	pg, err := localsvc.StartPostgres(context.Background(), filepath.Join(dir, "pg"),
		localsvc.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Close)
	return &PGServer{t: t, pg: pg, URL: pg.URL()}
}

// Start starts the server again after Stop and waits until it accepts
// connections.
func (s *PGServer) Start() {
	s.t.Helper()
	if err := s.pg.Start(context.Background()); err != nil {
		s.t.Fatal(err)
	}
}

// Stop stops the server at once, as a crash or an outage would.
func (s *PGServer) Stop() {
	s.t.Helper()
	if err := s.pg.Stop(context.Background()); err != nil {
		s.t.Fatal(err)
	}
}
