// Command worker sends queued Adobe callbacks. Run it with --help for its
// environment variables.
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/callback-dispatcher/dispatcher/internal/logging"
	"github.com/callback-dispatcher/dispatcher/internal/workercmd"
)

func main() {
	logging.RouteRedis(logging.New(os.Stderr, slog.LevelWarn, "worker"))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := workercmd.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
