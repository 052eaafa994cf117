// Package producercmd is the producer program: the HTTP API (serve) and the
// command line (enqueue).
package producercmd

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/callback-dispatcher/dispatcher/internal/api"
	"github.com/callback-dispatcher/dispatcher/internal/config"
	"github.com/callback-dispatcher/dispatcher/internal/logging"
	"github.com/callback-dispatcher/dispatcher/internal/metrics"
	"github.com/callback-dispatcher/dispatcher/pkg/callback"
	"github.com/callback-dispatcher/dispatcher/pkg/producer"
)

const usage = `producer queues Adobe callbacks for the dispatcher's workers.

Usage:
  producer serve              serve the HTTP API (the default)
  producer enqueue FILE|-     queue each NDJSON line {"execution":…,"result":…} of FILE or stdin
  producer migrate up|status  apply or list the dead-letter store's migrations
  producer dlq ...            list, show, requeue and purge dead letters (producer dlq --help)
  producer --help             this text and the environment variables`

// Main runs the producer with args (without the program name) until ctx is
// done, and returns the process exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	if cmd != "dlq" && (slices.Contains(args, "-h") || slices.Contains(args, "--help")) {
		cmd = "--help"
	}
	switch cmd {
	case "-h", "--help", "help":
		_, r, _ := config.LoadProducer(nil, false)
		r.Usage(stdout, usage)
		return 0
	case "serve":
		return serve(ctx, stderr)
	case "enqueue":
		if len(args) != 1 {
			_, _ = fmt.Fprintln(stderr, "usage: producer enqueue FILE|-")
			return 2
		}
		return enqueue(ctx, args[0], stdin, stdout, stderr)
	case "migrate":
		return migrate(ctx, args, stdout, stderr)
	case "dlq":
		return dlq(ctx, args, stdout, stderr)
	}
	_, _ = fmt.Fprintf(stderr, "unknown command %q\n\n%s\n", cmd, usage)
	return 2
}

func newClient(cfg config.Producer) (*producer.Client, error) {
	defs, err := loadDefinitions(cfg)
	if err != nil {
		return nil, err
	}
	return producer.New(producer.Config{
		Definitions:  defs,
		RedisURL:     cfg.RedisURL,
		Queue:        cfg.Queue,
		DefaultOrgID: cfg.DefaultOrgID,
		KnownOrgIDs:  cfg.KnownOrgIDs,
		AllowedHosts: cfg.Guard.AllowedHosts,
		AllowHTTP:    cfg.Guard.AllowHTTP,
		AllowPrivate: cfg.Guard.AllowPrivate,
		MaxAttempts:  cfg.MaxAttempts,
		TaskTimeout:  cfg.TaskTimeout,
		Retention:    cfg.ResultRetention,
	})
}

func serve(ctx context.Context, stderr io.Writer) int {
	cfg, _, err := config.LoadProducer(nil, true)
	if err != nil {
		_, _ = fmt.Fprintln(stderr, err)
		return 2
	}
	log := logging.New(stderr, cfg.LogLevel, "producer")
	client, err := newClient(cfg)
	if err != nil {
		log.Error("producer not started", "err", err)
		return 1
	}
	defer func() { _ = client.Close() }()

	apiCfg := api.Config{Tokens: cfg.APITokens, MaxBodyBytes: int64(cfg.MaxBodyBytes),
		MaxBatchBytes: int64(cfg.MaxBatchBytes), MaxBatchItems: cfg.MaxBatchItems}
	if cfg.Store.DatabaseURL != "" {
		dead, closeDead, err := deadLetterAPI(ctx, cfg)
		if err != nil {
			log.Error("producer not started", "err", err)
			return 1
		}
		defer closeDead()
		apiCfg.DeadLetters = dead
	}
	reg := metrics.NewRegistry()
	if apiCfg.Metrics, err = metrics.NewProducer(reg); err != nil {
		log.Error("producer not started", "err", err)
		return 1
	}
	ops, err := serveOps(cfg, client, reg, apiCfg.DeadLetters, log)
	if err != nil {
		log.Error("producer not started", "err", err)
		return 1
	}
	defer ops.close()
	srv := &http.Server{
		Handler:           api.New(client, apiCfg, log).Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	ln, err := new(net.ListenConfig).Listen(ctx, "tcp", cfg.Listen)
	if err != nil {
		log.Error("producer not started", "err", fmt.Errorf("LISTEN: %w", err))
		return 1
	}
	log.Info("producer API listening", append(append([]any{"addr", ln.Addr().String(),
		"ops_addr", ops.addr}, cfg.Summary()...), gcSummary()...)...)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		log.Error("producer API stopped", "err", err)
		return 1
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Error("producer API shutdown", "err", err)
		return 1
	}
	log.Info("producer API stopped")
	return 0
}

// lineResult is what enqueue prints for each input line.
type lineResult struct {
	Line      int    `json:"line"`
	ID        string `json:"id,omitempty"`
	Status    string `json:"status"`
	Duplicate bool   `json:"duplicate,omitempty"`
	Error     string `json:"error,omitempty"`
	// Violations lists every contract violation of a refused line.
	Violations callback.Violations `json:"violations,omitempty"`
}

func enqueue(ctx context.Context, name string, stdin io.Reader, stdout, stderr io.Writer) int {
	cfg, _, err := config.LoadProducer(nil, false)
	if err != nil {
		_, _ = fmt.Fprintln(stderr, err)
		return 2
	}
	in := stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			_, _ = fmt.Fprintf(stderr, "open input: %v\n", err)
			return 2
		}
		defer func() { _ = f.Close() }()
		in = f
	}
	client, err := newClient(cfg)
	if err != nil {
		_, _ = fmt.Fprintln(stderr, err)
		return 2
	}
	defer func() { _ = client.Close() }()
	failed, err := enqueueLines(ctx, client, in, stdout)
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "read input: %v\n", err)
		return 1
	}
	if failed > 0 {
		_, _ = fmt.Fprintf(stderr, "%d line(s) not queued\n", failed)
		return 1
	}
	return 0
}

// enqueueLines queues each non-blank line and prints one JSON result line
// per input line. It returns how many lines were not queued.
func enqueueLines(ctx context.Context, client *producer.Client, in io.Reader,
	out io.Writer) (int, error) {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	enc := json.NewEncoder(out)
	failed, n := 0, 0
	for sc.Scan() {
		n++
		line := sc.Bytes()
		if len(trimSpace(line)) == 0 {
			continue
		}
		res := enqueueLine(ctx, client, line)
		res.Line = n
		if res.Status == "error" {
			failed++
		}
		if err := enc.Encode(res); err != nil {
			return failed, err
		}
	}
	return failed, sc.Err()
}

func enqueueLine(ctx context.Context, client *producer.Client, line []byte) lineResult {
	receipt, err := client.EnqueueJSON(ctx, line)
	if err == nil {
		res := lineResult{ID: receipt.ID, Status: "queued", Duplicate: receipt.Duplicate}
		if receipt.Duplicate {
			// Say what became of the callback queued before, as the API does.
			if st, err := client.Status(ctx, receipt.ID); err == nil {
				res.Status = st.State
			}
		}
		return res
	}
	res := lineResult{Status: "error", Error: err.Error()}
	var vs callback.Violations
	if errors.As(err, &vs) {
		res.Error = "the callback breaks Adobe's contract"
		res.Violations = vs
	}
	return res
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r') {
		b = b[1:]
	}
	return b
}

// loadDefinitions reads the service definitions; a bad one stops the start
// with the file and the path of every problem.
func loadDefinitions(cfg config.Producer) (*callback.Registry, error) {
	if cfg.ServiceDefinitionsDir == "" {
		return nil, nil
	}
	reg, err := callback.LoadServiceDefinitions(cfg.ServiceDefinitionsDir)
	if err != nil {
		return nil, fmt.Errorf("SERVICE_DEFINITIONS_DIR: %w", err)
	}
	if cfg.DefaultService != "" {
		if err := reg.SetDefault(cfg.DefaultService); err != nil {
			return nil, fmt.Errorf("SERVICE_DEFAULT: %w", err)
		}
	}
	return reg, nil
}
