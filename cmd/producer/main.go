// Command producer queues Adobe callbacks: an HTTP API and a command line.
// Run it with --help for its commands and environment variables.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/callback-dispatcher/dispatcher/internal/producercmd"
)

func main() {
	producercmd.TuneGC(os.LookupEnv, producercmd.CgroupMemoryMax)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := producercmd.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
