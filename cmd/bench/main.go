// Command bench measures the dispatcher against a bare asynq sender on this
// machine (make bench), prints the figures against their targets and
// writes them into docs/benchmarks.md. Given the argument bare-worker, it
// is the baseline's worker instead.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/callback-dispatcher/dispatcher/internal/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 1 && os.Args[1] == "bare-worker" {
		s, err := bench.BareSettingsFromEnv()
		if err == nil {
			err = bench.RunBare(ctx, s)
		}
		exit(err)
	}
	cfg, doc := flags()
	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		exit(err)
	}
	command := os.Getenv("BENCH_COMMAND")
	if command == "" {
		command = strings.Join(append([]string{"go run ./cmd/bench"}, os.Args[1:]...), " ")
	}
	rep.Meta = bench.Describe(ctx, cfg, command)
	fmt.Println()
	rep.WriteTable(os.Stdout)
	if doc != "" {
		exit(rep.WriteDoc(doc))
	}
}

// flags reads the command line into a configuration and the path of the
// document to write.
func flags() (bench.Config, string) {
	self, err := os.Executable()
	if err != nil {
		exit(err)
	}
	cfg := bench.Config{Root: ".", RedisURL: os.Getenv("REDIS_URL"),
		DatabaseURL: os.Getenv("DATABASE_URL"), Self: self, Log: os.Stderr}
	flag.IntVar(&cfg.Deliveries, "deliveries", 60000, "callbacks each throughput run drains")
	flag.IntVar(&cfg.Rounds, "rounds", 3, "rounds of each throughput and enqueue figure")
	flag.IntVar(&cfg.Enqueues, "enqueues", 20000, "callbacks each enqueue figure queues")
	flag.IntVar(&cfg.Concurrency, "concurrency", 50, "callbacks in flight per worker")
	flag.DurationVar(&cfg.LightFor, "light-for", 0, "length of the light-load phase (30s)")
	flag.IntVar(&cfg.Soak, "soak", 1000000, "callbacks of the memory soak; 0 skips it")
	flag.StringVar(&cfg.WorkerBin, "worker-bin", "", "worker program to measure instead of "+
		"one built from cmd/worker")
	phases := flag.String("phases", "", "comma-separated phases to run (enqueue, throughput, "+
		"light, soak); all when empty")
	workerEnv := flag.String("worker-env", "", "space-separated NAME=value settings added to "+
		"every dispatcher worker, such as WORKER_SERVERS=2")
	doc := flag.String("doc", "docs/benchmarks.md", "document to write the figures into; "+
		"empty for none")
	flag.Parse()
	if *phases != "" {
		cfg.Phases = strings.Split(*phases, ",")
	}
	cfg.WorkerEnv = strings.Fields(*workerEnv)
	if cfg.RedisURL == "" || cfg.DatabaseURL == "" {
		exit(fmt.Errorf("REDIS_URL and DATABASE_URL must be set " +
			"(scripts/with-services.sh starts throwaway ones)"))
	}
	return cfg, *doc
}

func exit(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	os.Exit(0)
}
