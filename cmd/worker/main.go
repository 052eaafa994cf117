// Command worker sends queued Adobe callbacks. Run it with --help for its
// environment variables.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/callback-dispatcher/dispatcher/internal/workercmd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := workercmd.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
