// Command chaos drives callbacks through the whole dispatcher while it
// kills workers, crashes Redis and stops PostgreSQL, then reconciles what
// the producer accepted with what Adobe took and the dead-letter store. It
// exits 1 when a callback was lost or a duplicate has no cause.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/callback-dispatcher/dispatcher/internal/chaos"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx)
	stop()
	os.Exit(code)
}

func run(ctx context.Context) int {
	short := flag.Bool("short", false, "the CI run: 1,000 callbacks, faults in the first 16 s")
	cfg := chaos.Full()
	flag.IntVar(&cfg.Callbacks, "callbacks", 0, "callbacks to send (default: the run's own)")
	flag.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of the scripts and of the killed workers")
	flag.StringVar(&cfg.Dir, "keep", "",
		"keep the run's logs, AOF and PostgreSQL in this directory")
	jsonOut := flag.String("json", "", "also write the report as JSON to this file")
	flag.Parse()
	if *short {
		cfg = withFlags(chaos.Short(), cfg)
	} else {
		cfg = withFlags(chaos.Full(), cfg)
	}

	rep, err := chaos.Run(ctx, cfg, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 2
	}
	rep.Print(os.Stdout)
	if *jsonOut != "" {
		data, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(*jsonOut, data, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "chaos:", err)
			return 2
		}
	}
	if len(rep.Failures()) > 0 {
		return 1
	}
	return 0
}

// withFlags applies the flags that were given to a preset.
func withFlags(preset, flags chaos.Config) chaos.Config {
	if flags.Callbacks > 0 {
		preset.Callbacks = flags.Callbacks
	}
	preset.Seed, preset.Dir = flags.Seed, flags.Dir
	return preset
}
