package localsvc_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/callback-dispatcher/dispatcher/internal/localsvc"
)

// privateDir makes a directory like the demo's and the chaos run's, which
// a root test run hands to the postgres user. t.TempDir will not do: the
// directory above it is private to root.
func privateDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "localsvc-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func TestPostgresAnswersAgainAfterAnOutage(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := filepath.Join(privateDir(t), "pg")
	pg, err := localsvc.StartPostgres(ctx, dir, localsvc.PostgresOptions{MaxConnections: 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Close)

	if got := showSetting(t, pg.URL(), "max_connections"); got != "20" {
		t.Errorf("max_connections = %s, want 20", got)
	}
	if got := showSetting(t, pg.URL(), "fsync"); got != "off" {
		t.Errorf("fsync = %s, want off", got)
	}
	_, port, _ := net.SplitHostPort(pg.Addr())
	if _, err := os.Stat(filepath.Join(dir, ".s.PGSQL."+port)); err != nil {
		t.Errorf("no unix socket in the cluster's directory: %v", err)
	}

	if err := pg.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if conn, err := pgx.Connect(ctx, pg.URL()); err == nil {
		conn.Close(ctx)
		t.Fatal("connected to a stopped server")
	}

	if err := pg.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if got := showSetting(t, pg.URL(), "max_connections"); got != "20" {
		t.Errorf("after a restart, max_connections = %s, want 20", got)
	}
}

// showSetting connects to url and reads one of the server's settings.
func showSetting(t *testing.T, url, name string) string {
	t.Helper()
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect to PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	var value string
	if err := conn.QueryRow(ctx, "SHOW "+name).Scan(&value); err != nil {
		t.Fatalf("show %s: %v", name, err)
	}
	return value
}

func TestRedisKeepsWhatTheAppendOnlyFileHeldAcrossAKill(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	r, err := localsvc.StartRedis(ctx, filepath.Join(t.TempDir(), "redis"),
		localsvc.RedisOptions{AppendFsync: "always"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	rdb := redisClient(t, r.URL())
	if err := rdb.Set(ctx, "kept", "yes", 0).Err(); err != nil {
		t.Fatal(err)
	}

	r.Kill()
	if err := rdb.Ping(ctx).Err(); err == nil {
		t.Fatal("a killed redis-server answered")
	}
	if err := r.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := rdb.Get(ctx, "kept").Result(); err != nil || got != "yes" {
		t.Errorf("after a restart, kept = %q, %v; want yes", got, err)
	}
}

func TestRedisWithoutOptionsAnswersUntilClosed(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	r, err := localsvc.StartRedis(ctx, filepath.Join(t.TempDir(), "redis"),
		localsvc.RedisOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rdb := redisClient(t, r.URL())
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if got, err := rdb.ConfigGet(ctx, "appendonly").Result(); err != nil ||
		got["appendonly"] != "no" {
		t.Errorf("appendonly = %v, %v; want no", got, err)
	}

	r.Close()
	if err := rdb.Ping(ctx).Err(); err == nil {
		t.Error("a closed redis-server answered")
	}
}

func redisClient(t *testing.T, url string) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	opt.MaxRetries = -1
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func TestWaitTCPGivesUpWhenNothingListens(t *testing.T) {
	t.Parallel()
	addr, err := localsvc.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	if err := localsvc.WaitTCP(context.Background(), addr, 50*time.Millisecond); err == nil {
		t.Errorf("WaitTCP(%s) found a listener on a free port", addr)
	}
}
