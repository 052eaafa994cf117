package metrics

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/callback-dispatcher/dispatcher/internal/deadletter"
	"github.com/callback-dispatcher/dispatcher/internal/store"
)

// Defaults of SharedConfig.
const (
	DefaultLeaseTTL   = 15 * time.Second
	DefaultQueueEvery = 5 * time.Second
	DefaultStoreEvery = 10 * time.Second
)

// Names of the exporter leases, as the lease label of the lease gauge.
const (
	LeaseQueue = "queue"
	LeaseStore = "store"
)

// SharedConfig says where the deployment-wide gauges are read.
type SharedConfig struct {
	// Redis is the queue's Redis; the leases live there too.
	Redis redis.UniversalClient
	// Queue is the asynq queue of callbacks.
	Queue string
	// Store is the dead-letter store. Without one (no DATABASE_URL) the
	// process does not contend for the store gauges.
	Store *store.Store
	Log   *slog.Logger
	// LeaseTTL, QueueEvery and StoreEvery override the defaults: how long a
	// lease lives unrenewed, and how often the queue and the store are read.
	LeaseTTL, QueueEvery, StoreEvery time.Duration
}

// Shared exports the gauges that describe the whole deployment rather than
// one process: the queue under asynq's own metric names, and the size of
// the dead-letter store and of its outbox. Every worker and producer runs
// one, and a Redis lease per set lets exactly one process export it, so
// that sums and asynqmon's graphs never count a queue twice. The values are
// read in the background: a scrape never waits on Redis or PostgreSQL, and
// a value older than three reads is left out rather than shown stale.
type Shared struct {
	cancel  context.CancelFunc
	running sync.WaitGroup
	leases  map[string]*Lease
}

// StartShared registers the deployment-wide collectors with reg and starts
// contending for their leases and reading their values, until Stop.
func StartShared(reg prometheus.Registerer, cfg SharedConfig) (*Shared, error) {
	cfg.LeaseTTL = cmp.Or(cfg.LeaseTTL, DefaultLeaseTTL)
	cfg.QueueEvery = cmp.Or(cfg.QueueEvery, DefaultQueueEvery)
	cfg.StoreEvery = cmp.Or(cfg.StoreEvery, DefaultStoreEvery)
	cfg.Log = cmp.Or(cfg.Log, slog.New(slog.DiscardHandler))
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "metrics_refresh_errors_total",
		Help: "Failed reads of the deployment-wide gauges (queue, store) and failed " +
			"lease renewals (lease).",
	}, []string{"source"})
	if err := reg.Register(errs); err != nil {
		return nil, fmt.Errorf("register shared metrics: %w", err)
	}

	pollers := newPollers(cfg, errs)
	s := &Shared{leases: map[string]*Lease{}}
	for _, p := range pollers {
		held := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "metrics_lease_held",
			Help: "1 when this process exports the deployment-wide gauges of the set " +
				"named by lease, else 0; one process of the deployment holds each.",
			ConstLabels: prometheus.Labels{"lease": p.name},
		}, func() float64 { return boolValue(p.lease.Held()) })
		if err := register(reg, p, held); err != nil {
			return nil, fmt.Errorf("register shared metrics: %w", err)
		}
		s.leases[p.name] = p.lease
	}

	s.start(pollers, errs.WithLabelValues("lease"), cfg.Log)
	return s, nil
}

// newPollers returns the queue's poller, and the store's when there is a
// store.
func newPollers(cfg SharedConfig, errs *prometheus.CounterVec) []*poller {
	pollers := []*poller{{name: LeaseQueue, every: cfg.QueueEvery, log: cfg.Log,
		lease: NewLease(cfg.Redis, LeaseQueue+":"+cfg.Queue, cfg.LeaseTTL),
		descs: queueDescs, fetch: queueFetch(cfg.Redis, cfg.Queue),
		errors: errs.WithLabelValues(LeaseQueue)}}
	if cfg.Store != nil {
		pollers = append(pollers, &poller{name: LeaseStore, every: cfg.StoreEvery, log: cfg.Log,
			lease: NewLease(cfg.Redis, LeaseStore+":"+cfg.Queue, cfg.LeaseTTL),
			descs: storeDescs, fetch: storeFetch(cfg.Store, cfg.Redis),
			errors: errs.WithLabelValues(LeaseStore)})
	}
	return pollers
}

// start contends for each poller's lease and runs the poller, until Stop.
func (s *Shared) start(pollers []*poller, leaseErrs prometheus.Counter, log *slog.Logger) {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	for _, p := range pollers {
		// A first try at once, so that a lone process exports from its
		// first scrape.
		tryCtx, stop := context.WithTimeout(ctx, 2*time.Second)
		_, _ = p.lease.Try(tryCtx)
		stop()
		s.running.Go(func() {
			p.lease.Run(ctx, func(err error) {
				leaseErrs.Inc()
				log.Warn("metrics lease not renewed", "lease", p.name, "err", err)
			})
		})
		s.running.Go(func() { p.run(ctx) })
	}
}

// Stop stops reading and releases the leases, so that another process
// takes over the export at once.
func (s *Shared) Stop() {
	s.cancel()
	s.running.Wait()
}

// Held reports whether this process holds the lease of the named set,
// LeaseQueue or LeaseStore.
func (s *Shared) Held(name string) bool {
	l, ok := s.leases[name]
	return ok && l.Held()
}

// poller reads one set of gauges while its lease is held, and is the
// collector that exports the last read.
type poller struct {
	name   string
	every  time.Duration
	lease  *Lease
	descs  []*prometheus.Desc
	fetch  func(ctx context.Context) ([]prometheus.Metric, error)
	errors prometheus.Counter
	log    *slog.Logger

	mu   sync.Mutex
	last []prometheus.Metric
	at   time.Time
}

// Describe sends the descriptions of the set's gauges.
func (p *poller) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range p.descs {
		ch <- d
	}
}

// Collect sends the last read, if this process holds the lease and the
// read is recent.
func (p *poller) Collect(ch chan<- prometheus.Metric) {
	if !p.lease.Held() {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.at) > 3*p.every {
		return
	}
	for _, m := range p.last {
		ch <- m
	}
}

func (p *poller) run(ctx context.Context) {
	tick := time.NewTicker(p.every)
	defer tick.Stop()
	for {
		p.refresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (p *poller) refresh(ctx context.Context) {
	if !p.lease.Held() {
		p.mu.Lock()
		p.last, p.at = nil, time.Time{}
		p.mu.Unlock()
		return
	}
	fetchCtx, cancel := context.WithTimeout(ctx, p.every)
	ms, err := p.fetch(fetchCtx)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			p.errors.Inc()
			p.log.Warn("shared metrics not refreshed", "source", p.name, "err", err)
		}
		return
	}
	p.mu.Lock()
	p.last, p.at = ms, time.Now()
	p.mu.Unlock()
}

// asynq's queue metrics, with the names and help texts of asynq's own
// exporter (x/metrics), so that asynqmon's graphs read them.
var (
	asynqTasks = prometheus.NewDesc("asynq_tasks_enqueued_total",
		"Number of tasks enqueued; broken down by queue and state.",
		[]string{"queue", "state"}, nil)
	asynqSize = prometheus.NewDesc("asynq_queue_size",
		"Number of tasks in a queue", []string{"queue"}, nil)
	asynqLatency = prometheus.NewDesc("asynq_queue_latency_seconds",
		"Number of seconds the oldest pending task is waiting in pending state to be "+
			"processed.", []string{"queue"}, nil)
	asynqMemory = prometheus.NewDesc("asynq_queue_memory_usage_approx_bytes",
		"Number of memory used by a given queue (approximated number by sampling).",
		[]string{"queue"}, nil)
	asynqProcessed = prometheus.NewDesc("asynq_tasks_processed_total",
		"Number of tasks processed (both succeeded and failed); broken down by queue",
		[]string{"queue"}, nil)
	asynqFailed = prometheus.NewDesc("asynq_tasks_failed_total",
		"Number of tasks failed; broken down by queue", []string{"queue"}, nil)
	asynqPaused = prometheus.NewDesc("asynq_queue_paused_total",
		"Number of queues paused", []string{"queue"}, nil)

	queueDescs = []*prometheus.Desc{asynqTasks, asynqSize, asynqLatency, asynqMemory,
		asynqProcessed, asynqFailed, asynqPaused}
)

// queueFetch reads the queue's state. A queue nothing was ever queued to
// reads as empty, so that its series exist from the start.
func queueFetch(rdb redis.UniversalClient, queue string) func(context.Context) (
	[]prometheus.Metric, error) {
	inspector := asynq.NewInspectorFromRedisClient(rdb)
	return func(context.Context) ([]prometheus.Metric, error) {
		// The inspector takes no context; the Redis client's own timeouts
		// bound these calls, and they block only this poller.
		queues, err := inspector.Queues()
		if err != nil {
			return nil, fmt.Errorf("list queues: %w", err)
		}
		info := &asynq.QueueInfo{Queue: queue}
		if slices.Contains(queues, queue) {
			if info, err = inspector.GetQueueInfo(queue); err != nil {
				return nil, fmt.Errorf("read queue info: %w", err)
			}
		}
		return queueInfoMetrics(info), nil
	}
}

func queueInfoMetrics(info *asynq.QueueInfo) []prometheus.Metric {
	q := info.Queue
	gauge := func(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
		return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v,
			append([]string{q}, labels...)...)
	}
	counter := func(d *prometheus.Desc, v int) prometheus.Metric {
		return prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), q)
	}
	return []prometheus.Metric{
		gauge(asynqTasks, float64(info.Active), "active"),
		gauge(asynqTasks, float64(info.Pending), "pending"),
		gauge(asynqTasks, float64(info.Scheduled), "scheduled"),
		gauge(asynqTasks, float64(info.Retry), "retry"),
		gauge(asynqTasks, float64(info.Archived), "archived"),
		gauge(asynqTasks, float64(info.Completed), "completed"),
		gauge(asynqSize, float64(info.Size)),
		gauge(asynqLatency, info.Latency.Seconds()),
		gauge(asynqMemory, float64(info.MemoryUsage)),
		counter(asynqProcessed, info.ProcessedTotal),
		counter(asynqFailed, info.FailedTotal),
		gauge(asynqPaused, boolValue(info.Paused)),
	}
}

// The dead-letter store's gauges.
var (
	storeSize = prometheus.NewDesc(Namespace+"_dead_letter_store_size",
		"Dead letters in the PostgreSQL store by state: dead (waiting for ops) or "+
			"requeued (kept for their history).", []string{"state"}, nil)
	outboxSize = prometheus.NewDesc(Namespace+"_outbox_size",
		"Dead letters waiting in the Redis outbox for PostgreSQL to take them.", nil, nil)
	requeues = prometheus.NewDesc(Namespace+"_requeues_total",
		"Dead letters handled by requeues that were not dry runs, through the API or "+
			"the CLI, by result: requeued or skipped.", []string{"result"}, nil)

	storeDescs = []*prometheus.Desc{storeSize, outboxSize, requeues}
)

func storeFetch(st *store.Store, rdb redis.UniversalClient) func(context.Context) (
	[]prometheus.Metric, error) {
	return func(ctx context.Context) ([]prometheus.Metric, error) {
		var ms []prometheus.Metric
		for _, state := range []string{store.StateDead, store.StateRequeued} {
			n, err := st.CountDeadLetters(ctx, store.Filter{State: state})
			if err != nil {
				return nil, fmt.Errorf("count dead letters: %w", err)
			}
			ms = append(ms, prometheus.MustNewConstMetric(storeSize, prometheus.GaugeValue,
				float64(n), state))
		}
		n, err := rdb.LLen(ctx, deadletter.OutboxKey).Result()
		if err != nil {
			return nil, fmt.Errorf("read outbox size: %w", err)
		}
		ms = append(ms, prometheus.MustNewConstMetric(outboxSize, prometheus.GaugeValue,
			float64(n)))
		counts, err := rdb.HMGet(ctx, deadletter.RequeueCountsKey, requeueResults...).Result()
		if err != nil {
			return nil, fmt.Errorf("read requeue counts: %w", err)
		}
		for i, result := range requeueResults {
			v, _ := counts[i].(string)
			count, _ := strconv.ParseFloat(v, 64)
			ms = append(ms, prometheus.MustNewConstMetric(requeues, prometheus.CounterValue,
				count, result))
		}
		return ms, nil
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
