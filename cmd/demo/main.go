// Command demo runs the whole callback pipeline on Adobe's example requests
// (make demo): Redis, the Adobe simulator, a worker and the producer API,
// then prints what became of each callback and stops everything.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/callback-dispatcher/dispatcher/internal/demo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	err := demo.Run(ctx, os.Stdout, "testdata/adobe/ajo-b2b/examples")
	cancel()
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}
