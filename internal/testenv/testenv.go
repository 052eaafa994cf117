// Package testenv gives integration tests their own real Redis database.
// REDIS_URL must point at a Redis server (make test starts a throwaway one).
package testenv

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/callback-dispatcher/dispatcher/internal/redisconn"
)

const counterKey = "callback-dispatcher:test:next-db"

// Redis returns a connection to a Redis database no other running test
// uses, emptied before and after the test, and that database's URL.
func Redis(t testing.TB) (*redisconn.Conn, string) {
	t.Helper()
	base := os.Getenv("REDIS_URL")
	if base == "" {
		t.Fatal("REDIS_URL is not set: run the tests with `make test`, which starts a " +
			"throwaway redis-server, or point REDIS_URL at a Redis you can flush")
	}
	db, err := allocateDB(base)
	if err != nil {
		t.Fatalf("allocate a Redis database: %v", err)
	}
	u, _ := url.Parse(base)
	u.Path = "/" + strconv.Itoa(db)
	conn, err := redisconn.Parse(u.String())
	if err != nil {
		t.Fatalf("connect to test Redis: %v", err)
	}
	ctx := context.Background()
	if err := conn.Client.FlushDB(ctx).Err(); err != nil {
		t.Fatalf("flush test Redis database %d: %v", db, err)
	}
	t.Cleanup(func() {
		_ = conn.Client.FlushDB(context.Background()).Err()
		_ = conn.Close()
	})
	return conn, u.String()
}

// allocateDB hands out databases 1..n-1 round robin through a counter in
// database 0, so parallel tests and packages do not share one.
func allocateDB(base string) (int, error) {
	opt, err := redis.ParseURL(base)
	if err != nil {
		return 0, err
	}
	opt.DB = 0
	c := redis.NewClient(opt)
	defer func() { _ = c.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n := 16
	if res, err := c.ConfigGet(ctx, "databases").Result(); err == nil {
		if v, err := strconv.Atoi(res["databases"]); err == nil && v > 1 {
			n = v
		}
	}
	next, err := c.Incr(ctx, counterKey).Result()
	if err != nil {
		return 0, fmt.Errorf("reach REDIS_URL: %w", err)
	}
	return 1 + int(next%int64(n-1)), nil
}

// Eventually polls cond every few milliseconds until it holds or timeout
// passes, then fails the test with msg.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msg string,
	args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: "+msg, append([]any{timeout}, args...)...)
		}
		<-tick.C
	}
}

// Testdata reads a file under the repository's testdata directory.
func Testdata(t testing.TB, rel string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(RepoRoot(t), "testdata", rel))
	if err != nil {
		t.Fatalf("read testdata: %v", err)
	}
	return data
}

// RepoRoot returns the directory holding go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's directory")
		}
		dir = parent
	}
}

// Postgres returns the URL of a schema of its own in the PostgreSQL that
// DATABASE_URL points at, dropped after the test. Connections made with the
// URL see only that schema (search_path).
func Postgres(t testing.TB) string {
	t.Helper()
	base := os.Getenv("DATABASE_URL")
	if base == "" {
		t.Fatal("DATABASE_URL is not set: run the tests with `make test`, which starts a " +
			"throwaway PostgreSQL, or point DATABASE_URL at a database you may create schemas in")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to test PostgreSQL: %v", err)
	}
	defer func() { _ = conn.Close(ctx) }()
	schema := fmt.Sprintf("test_%d_%d", time.Now().UnixNano(), schemaSeq.Add(1))
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create test schema: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err != nil {
			return
		}
		defer func() { _ = c.Close(context.Background()) }()
		_, _ = c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

var schemaSeq atomic.Int64
