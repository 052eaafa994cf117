package bench

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/callback-dispatcher/dispatcher/internal/child"
	"github.com/callback-dispatcher/dispatcher/internal/job"
)

// Settings of the light-load phase: short tokens, so that several are
// fetched, and short retries, so that several fire.
const (
	lightTokenLifetime = 10 * time.Second
	lightRefreshMargin = 2 * time.Second
	lightRetryBase     = time.Second
	// everyRetry: one callback in this many is answered 503, then 200.
	everyRetry = 10
)

// Light is what the light-load phase measured.
type Light struct {
	Rate int
	For  time.Duration
	// Latencies are enqueue→delivered times of the callbacks answered 200
	// at once, sorted.
	Latencies []time.Duration
	// Lateness is how long after its scheduled time each retry was sent,
	// sorted.
	Lateness []time.Duration
	// Fetches IMS tokens were fetched in Span by the worker, whose tokens
	// lived Lifetime and were refreshed Margin early.
	Fetches  int
	Span     time.Duration
	Lifetime time.Duration
	Margin   time.Duration
	// MetricsServed says whether the worker answered GET /metrics.
	MetricsServed bool
}

// RefreshPeriods is how many tokens one process needs in Span: the first,
// and one more each Lifetime−Margin.
func (l Light) RefreshPeriods() int {
	return 1 + int(l.Span/(l.Lifetime-l.Margin))
}

// lightLoad sends LightRate callbacks a second for LightFor through a
// worker with everything on, against a simulator of its own whose tokens
// are short-lived; one callback in ten is answered 503 first.
func (r *run) lightLoad(ctx context.Context, rep *Report) error {
	simProc, sim, err := r.startSim(ctx, "adobesim-light", lightTokenLifetime)
	if err != nil {
		return err
	}
	defer simProc.Stop(10 * time.Second)
	prefix := r.id + "-light"
	if err := sim.setRule(ctx, prefix+"-retry-*", "503,200"); err != nil {
		return err
	}
	plain, err := NewWorkload(r.cfg.Root, sim.base, prefix+"-plain", r.cfg.BodySize)
	if err != nil {
		return err
	}
	retried, err := NewWorkload(r.cfg.Root, sim.base, prefix+"-retry", r.cfg.BodySize)
	if err != nil {
		return err
	}
	queue := r.queue("light")
	defer func() { _ = dropQueue(context.WithoutCancel(ctx), r.conn.Client, queue) }()
	client, err := r.producer(queue)
	if err != nil {
		return err
	}
	defer func() { _ = client.Close() }()

	started := time.Now()
	env := append(r.dispatcherEnv(queue, sim.base),
		"IMS_REFRESH_MARGIN="+lightRefreshMargin.String(),
		"RETRY_BASE="+lightRetryBase.String(), "RETRY_CAP="+(2*lightRetryBase).String())
	p, ops, err := r.startWorker(ctx, "worker-light", env, true)
	if err != nil {
		return err
	}
	defer p.Stop(60 * time.Second)
	l := Light{Rate: r.cfg.LightRate, For: r.cfg.LightFor, Lifetime: lightTokenLifetime,
		Margin: lightRefreshMargin, MetricsServed: metricsServed(ctx, ops)}

	sent := map[string]time.Time{}
	var retryIDs []string
	tick := time.NewTicker(time.Second / time.Duration(r.cfg.LightRate))
	defer tick.Stop()
	total := int(r.cfg.LightFor.Seconds()) * r.cfg.LightRate
	for i := range total {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		w := plain
		if i%everyRetry == everyRetry-1 {
			w = retried
			retryIDs = append(retryIDs, job.IDFromToken(w.Token(i)))
		}
		sent[w.Token(i)] = time.Now()
		if _, err := client.Enqueue(ctx, w.Execution(i), w.Result()); err != nil {
			return err
		}
	}
	if err := sim.waitAccepted(ctx, total, 30*time.Second, nil); err != nil {
		return err
	}
	l.Span = time.Since(started)

	records, err := sim.received(ctx)
	if err != nil {
		return err
	}
	for _, rec := range records {
		if at, ok := sent[rec.Token]; ok && rec.Attempt == 1 && rec.Accepted {
			l.Latencies = append(l.Latencies, rec.At.Sub(at))
		}
	}
	slices.Sort(l.Latencies)
	st, err := sim.stats(ctx)
	if err != nil {
		return err
	}
	l.Fetches = st.TokenFetches
	if l.Lateness, err = r.retryLateness(ctx, retryIDs); err != nil {
		return err
	}
	rep.Light = l
	r.logf("    p50 %s, p99 %s enqueue→delivered; %d retries, p99 %s late; %d IMS fetches in %s",
		percentile(l.Latencies, 50), percentile(l.Latencies, 99), len(l.Lateness),
		percentile(l.Lateness, 99), l.Fetches, l.Span.Round(time.Second))
	return nil
}

// retryLateness reads from the attempt log when each retried callback's
// second attempt started against when its first scheduled it. The log is
// written in batches, so it polls until every retry is there.
func (r *run) retryLateness(ctx context.Context, ids []string) ([]time.Duration, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		rows, err := r.pg.Query(ctx, lateness, ids)
		if err != nil {
			return nil, fmt.Errorf("read the attempt log: %w", err)
		}
		out, err := pgx.CollectRows(rows, pgx.RowTo[float64])
		if err != nil {
			return nil, fmt.Errorf("read the attempt log: %w", err)
		}
		if len(out) >= len(ids) {
			return sortedSeconds(out), nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the attempt log has %d of %d retries", len(out), len(ids))
		}
		if err := child.Sleep(ctx, 100*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

// lateness is how late each second attempt of the given callbacks started,
// in seconds after the time its first attempt scheduled it for.
const lateness = `SELECT extract(epoch FROM a2.started_at - a1.next_retry_at)::float8
FROM attempts a1 JOIN attempts a2 ON a2.callback_id = a1.callback_id AND a2.number = 2
WHERE a1.number = 1 AND a1.next_retry_at IS NOT NULL AND a1.callback_id = ANY($1)`

func sortedSeconds(secs []float64) []time.Duration {
	out := make([]time.Duration, len(secs))
	for i, v := range secs {
		out[i] = time.Duration(v * float64(time.Second))
	}
	slices.Sort(out)
	return out
}

// percentile returns the p-th percentile of sorted durations (nearest
// rank), or 0 when there are none.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}
