package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// Describe says where and how a run is made: the machine, the Go version,
// the commit (with "+changes" when the tree differs from it) and the
// versions of Redis and PostgreSQL.
func Describe(ctx context.Context, cfg Config, command string) Meta {
	m := Meta{Command: command, GoVersion: runtime.Version(), Machine: machine()}
	git := func(args ...string) string {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = cfg.Root
		out, err := cmd.Output()
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(out))
	}
	m.Commit = cmpOr(git("rev-parse", "--short", "HEAD"), "unknown")
	if git("status", "--porcelain", "--untracked-files=no") != "" {
		m.Commit += "+changes"
	}
	if opt, err := redis.ParseURL(cfg.RedisURL); err == nil {
		rdb := redis.NewClient(opt)
		if v, err := redisInfoString(ctx, rdb, "server", "redis_version"); err == nil {
			m.Redis = v
		}
		_ = rdb.Close()
	}
	if conn, err := pgx.Connect(ctx, cfg.DatabaseURL); err == nil {
		var v string
		if conn.QueryRow(ctx, "SHOW server_version").Scan(&v) == nil {
			m.Postgres = "PostgreSQL " + strings.Fields(v)[0]
		}
		_ = conn.Close(ctx)
	}
	return m
}

// machine describes the CPU, its cores and the memory, from /proc.
func machine() string {
	model := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := ""
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(data), "MemTotal: %d kB", &kb); err == nil {
			mem = fmt.Sprintf(", %.0f GiB", float64(kb)/(1<<20))
		}
	}
	return fmt.Sprintf("%s, %d cores%s, %s/%s", model, runtime.NumCPU(), mem, runtime.GOOS,
		runtime.GOARCH)
}

func redisInfoString(ctx context.Context, rdb redis.UniversalClient, section,
	field string) (string, error) {
	info, err := rdb.Info(ctx, section).Result()
	if err != nil {
		return "", err
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("no %s in the %s section of Redis INFO", field, section)
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
