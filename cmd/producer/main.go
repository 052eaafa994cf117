// Command producer queues Adobe callbacks: an HTTP API and a command line.
// Run it with --help for its commands and environment variables.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/callback-dispatcher/dispatcher/internal/producercmd"
)

func main() {
	// The API allocates for every request and keeps little, so the
	// collector runs often for a small heap: at 400 % it runs a quarter as
	// often, for a few MiB more, which docs/benchmarks.md measures. GOGC,
	// when set, decides.
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(400)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := producercmd.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
