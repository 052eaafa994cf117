// Command producer queues Adobe callbacks: an HTTP API and a command line.
// Run it with --help for its commands and environment variables.
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/callback-dispatcher/dispatcher/internal/logging"
	"github.com/callback-dispatcher/dispatcher/internal/producercmd"
)

func main() {
	logging.RouteRedis(logging.New(os.Stderr, slog.LevelWarn, "producer"))
	producercmd.TuneGC(os.LookupEnv, producercmd.CgroupMemoryMax...)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := producercmd.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
