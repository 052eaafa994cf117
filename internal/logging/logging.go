// Package logging builds the programs' slog loggers: JSON lines on stderr.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/redis/go-redis/v9"
)

// New returns a JSON logger at level writing to w, with the program's name
// on every line.
func New(w io.Writer, level slog.Level, program string) *slog.Logger {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})
	return slog.New(h).With("program", program)
}

// RouteRedis sends go-redis's own messages (a pool that cannot dial, a
// retried command) to log as Warn lines, instead of plain text among the
// JSON lines. It sets a process-wide logger, so only programs' main
// functions call it, before any Redis client exists.
func RouteRedis(log *slog.Logger) {
	redis.SetLogger(redisLogger{log: log.With("component", "redis")})
}

type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "redis client", "detail", fmt.Sprintf(format, v...))
}
