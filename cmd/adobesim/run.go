package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/callback-dispatcher/dispatcher/internal/adobesim"
)

// shutdownGrace bounds how long a shutdown waits for answers in flight.
const shutdownGrace = 10 * time.Second

// run serves the simulator on st.listen until ctx ends.
func run(ctx context.Context, st settings, logger *slog.Logger) error {
	st.sim.Logger = logger
	sim, err := adobesim.New(st.sim)
	if err != nil {
		return fmt.Errorf("build simulator: %w", err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", st.listen)
	if err != nil {
		return fmt.Errorf("SIM_LISTEN: %w", err)
	}
	logger.Info("adobe simulator listening", "addr", ln.Addr().String())
	return serve(ctx, ln, sim.Handler(), logger)
}

// serve answers on ln until ctx ends, then shuts down gracefully. Requests
// share ctx, so answers held back by a fault script's delay end at once.
func serve(ctx context.Context, ln net.Listener, h http.Handler, logger *slog.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      adobesim.MaxDelay + 30*time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()

	select {
	case err := <-done:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	logger.Info("adobe simulator stopped")
	return nil
}
