package bench

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/hibiken/asynq"

	"github.com/callback-dispatcher/dispatcher/pkg/producer"
)

// Enqueue kinds, as the report names them.
const (
	EnqueueBare   = "bare asynq Enqueue"
	EnqueueClient = "Go client (producer.Client.Enqueue)"
	EnqueueAPI    = "HTTP API (POST /v1/callbacks)"
	EnqueueBatch  = "HTTP API, batches of 100 (POST /v1/callbacks/batch)"
)

// batchSize is the number of callbacks in each request of EnqueueBatch.
const batchSize = 100

// EnqueueRun is one measurement of one way to enqueue.
type EnqueueRun struct {
	Kind string
	N    int
	Took time.Duration
	// RedisBytes is how much Redis's used_memory grew per queued callback.
	RedisBytes float64
}

// Rate is enqueues per second.
func (e EnqueueRun) Rate() float64 { return float64(e.N) / e.Took.Seconds() }

// enqueueRates measures each way to enqueue, Rounds times, on queues no
// worker reads.
func (r *run) enqueueRates(ctx context.Context, rep *Report) error {
	for round := range r.cfg.Rounds {
		for _, kind := range []string{EnqueueBare, EnqueueClient, EnqueueAPI, EnqueueBatch} {
			e, err := r.enqueueOnce(ctx, kind, round)
			if err != nil {
				return err
			}
			r.logf("    %-36s %8.0f/s  %6.0f Redis bytes per queued callback", kind, e.Rate(),
				e.RedisBytes)
			rep.Enqueues = append(rep.Enqueues, e)
		}
	}
	return nil
}

func (r *run) enqueueOnce(ctx context.Context, kind string, round int) (EnqueueRun, error) {
	e := EnqueueRun{Kind: kind, N: r.cfg.Enqueues}
	queue := r.queue(fmt.Sprintf("enqueue-%d-%d", round, len(kind)))
	prefix := fmt.Sprintf("%s-e%d-%d", r.id, round, len(kind))
	enqueue, done, err := r.enqueuer(kind, queue, prefix)
	if err != nil {
		return e, err
	}
	defer done()
	rdb := r.conn.Client
	before, err := redisInfo(ctx, rdb, "memory", "used_memory")
	if err != nil {
		return e, err
	}
	calls := e.N
	if kind == EnqueueBatch {
		calls = e.N / batchSize
		e.N = calls * batchSize
	}
	if e.Took, err = parallel(ctx, calls, r.cfg.EnqueueWorkers, enqueue); err != nil {
		return e, fmt.Errorf("%s: %w", kind, err)
	}
	after, err := redisInfo(ctx, rdb, "memory", "used_memory")
	if err != nil {
		return e, err
	}
	e.RedisBytes = (after - before) / float64(e.N)
	if kind == EnqueueAPI || kind == EnqueueBatch {
		queue = r.queue("api")
	}
	return e, dropQueue(ctx, rdb, queue)
}

// enqueuer returns the enqueue function of a kind on queue, and what to
// call once it is no longer needed.
func (r *run) enqueuer(kind, queue, prefix string) (func(context.Context, int) error, func(),
	error) {
	w, err := NewWorkload(r.cfg.Root, r.simURL, prefix, r.cfg.BodySize)
	if err != nil {
		return nil, nil, err
	}
	switch kind {
	case EnqueueBare:
		client := asynq.NewClientFromRedisClient(r.conn.Client)
		return bareEnqueuer(client, w, queue), func() {}, nil
	case EnqueueClient:
		client, err := r.producer(queue)
		if err != nil {
			return nil, nil, err
		}
		return clientEnqueuer(client, w), func() { _ = client.Close() }, nil
	}
	transport := &http.Transport{MaxIdleConnsPerHost: r.cfg.EnqueueWorkers}
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	if kind == EnqueueBatch {
		return batchEnqueuer(client, r.apiURL, r.apiToken, w), transport.CloseIdleConnections, nil
	}
	return apiEnqueuer(client, r.apiURL, r.apiToken, w), transport.CloseIdleConnections, nil
}

// producer returns a Go client on queue, configured as the API's.
func (r *run) producer(queue string) (*producer.Client, error) {
	return producer.New(producer.Config{RedisURL: r.cfg.RedisURL, Queue: queue,
		AllowedHosts: []string{"127.0.0.1"}, AllowHTTP: true, AllowPrivate: true})
}
