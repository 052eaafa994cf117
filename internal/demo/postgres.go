package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/callback-dispatcher/dispatcher/internal/localsvc"
)

// startPostgres returns DATABASE_URL when set, or starts a throwaway
// PostgreSQL cluster in dir. It returns "" when PostgreSQL is not installed:
// the demo then runs without the dead-letter store, and says so.
func startPostgres(ctx context.Context, out io.Writer, dir string) (string, func(), error) {
	if url := os.Getenv("DATABASE_URL"); url != "" {
		_, _ = fmt.Fprintln(out, "==> using DATABASE_URL")
		return url, func() {}, nil
	}
	pg, err := localsvc.StartPostgres(ctx, filepath.Join(dir, "pg"), localsvc.PostgresOptions{})
	if errors.Is(err, localsvc.ErrNotInstalled) {
		_, _ = fmt.Fprintln(out, "==> PostgreSQL is not installed: dead letters stay in asynq's "+
			"archive for this run (apt-get install postgresql for the durable store)")
		return "", func() {}, nil
	}
	if err != nil {
		return "", nil, err
	}
	_, _ = fmt.Fprintf(out, "==> throwaway PostgreSQL on %s\n", pg.Addr())
	return pg.URL(), pg.Close, nil
}
