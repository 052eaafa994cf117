package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/callback-dispatcher/dispatcher/internal/job"
	"github.com/callback-dispatcher/dispatcher/pkg/producer"
)

// parallel calls f for 0..n-1 from workers goroutines and returns how long
// that took. The first error stops every goroutine.
func parallel(ctx context.Context, n, workers int, f func(ctx context.Context, i int) error) (
	time.Duration, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := f(ctx, i); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := context.Cause(ctx); err != nil {
		return elapsed, err
	}
	return elapsed, nil
}

// bareEnqueuer queues callbacks with a bare asynq client: no checks, no
// task id, no retention.
func bareEnqueuer(client *asynq.Client, w *Workload, queue string) func(context.Context,
	int) error {
	now := time.Now()
	return func(ctx context.Context, i int) error {
		payload, err := w.BarePayload(i, now)
		if err != nil {
			return err
		}
		_, err = client.EnqueueContext(ctx, asynq.NewTask(job.TaskType, payload),
			asynq.Queue(queue))
		return err
	}
}

// clientEnqueuer queues callbacks through the producer's Go client.
func clientEnqueuer(client *producer.Client, w *Workload) func(context.Context, int) error {
	return func(ctx context.Context, i int) error {
		receipt, err := client.Enqueue(ctx, w.Execution(i), w.Result())
		if err == nil && receipt.Duplicate {
			err = fmt.Errorf("callback %d queued twice", i)
		}
		return err
	}
}

// apiEnqueuer queues callbacks through POST /v1/callbacks.
func apiEnqueuer(client *http.Client, base, token string, w *Workload) func(context.Context,
	int) error {
	return func(ctx context.Context, i int) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/callbacks",
			bytes.NewReader(w.APIRequest(i)))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer func() { _ = resp.Body.Close() }()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("API answered %d: %s", resp.StatusCode, body)
		}
		return nil
	}
}

// batchEnqueuer posts callbacks batchSize at a time, request i holding
// callbacks i×batchSize to (i+1)×batchSize-1, one per line, and checks that
// every one was queued.
func batchEnqueuer(client *http.Client, base, token string, w *Workload) func(
	context.Context, int) error {
	return func(ctx context.Context, i int) error {
		var body bytes.Buffer
		for k := range batchSize {
			body.Write(w.APIRequest(i*batchSize + k))
			body.WriteByte('\n')
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/callbacks/batch",
			&body)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/x-ndjson")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer func() { _ = resp.Body.Close() }()
		data, _ := io.ReadAll(resp.Body)
		var answer struct {
			Queued int `json:"queued"`
		}
		_ = json.Unmarshal(data, &answer)
		if resp.StatusCode != http.StatusOK || answer.Queued != batchSize {
			return fmt.Errorf("API answered %d, %d of %d queued: %.500s", resp.StatusCode,
				answer.Queued, batchSize, data)
		}
		return nil
	}
}

// redisInfo reads one numeric field of INFO section.
func redisInfo(ctx context.Context, rdb redis.UniversalClient, section, field string) (float64,
	error) {
	info, err := rdb.Info(ctx, section).Result()
	if err != nil {
		return 0, fmt.Errorf("read Redis INFO %s: %w", section, err)
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("no %s in the %s section of Redis INFO", field, section)
}

// redisCPU is the CPU time Redis has used, user and system.
func redisCPU(ctx context.Context, rdb redis.UniversalClient) (time.Duration, error) {
	user, err := redisInfo(ctx, rdb, "cpu", "used_cpu_user")
	if err != nil {
		return 0, err
	}
	sys, err := redisInfo(ctx, rdb, "cpu", "used_cpu_sys")
	return time.Duration((user + sys) * float64(time.Second)), err
}

// dropQueue deletes every key of an asynq queue, and only those, so that
// the bench leaves a shared Redis as it found it.
func dropQueue(ctx context.Context, rdb redis.UniversalClient, queue string) error {
	iter := rdb.Scan(ctx, 0, "asynq:{"+queue+"}:*", 1000).Iterator()
	batch := make([]string, 0, 1000)
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == cap(batch) {
			if err := rdb.Unlink(ctx, batch...).Err(); err != nil {
				return fmt.Errorf("drop queue %s: %w", queue, err)
			}
			batch = batch[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("drop queue %s: %w", queue, err)
	}
	if len(batch) > 0 {
		if err := rdb.Unlink(ctx, batch...).Err(); err != nil {
			return fmt.Errorf("drop queue %s: %w", queue, err)
		}
	}
	return rdb.SRem(ctx, "asynq:queues", queue).Err()
}
