// Command adobesim plays Adobe's IMS token endpoint and AJO B2B callback
// endpoint on a local address, for local runs, tests and benchmarks. Its
// settings come from the environment; --help lists them.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	st, env := readSettings(os.LookupEnv)
	help, argErr := parseArgs(os.Args[1:])
	if help {
		env.Usage(os.Stdout, summary)
		return
	}
	if err := errors.Join(argErr, env.Err()); err != nil {
		fmt.Fprintln(os.Stderr, "adobesim:", err)
		os.Exit(2)
	}

	logger := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: st.level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, st, logger)
	stop()
	if err != nil {
		logger.Error("adobe simulator failed", "err", err)
		os.Exit(1)
	}
}
