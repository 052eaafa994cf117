package workercmd

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/callback-dispatcher/dispatcher/internal/attemptlog"
	"github.com/callback-dispatcher/dispatcher/internal/config"
	"github.com/callback-dispatcher/dispatcher/internal/deadletter"
	"github.com/callback-dispatcher/dispatcher/internal/redisconn"
	"github.com/callback-dispatcher/dispatcher/internal/store"
	"github.com/callback-dispatcher/dispatcher/internal/worker"
)

// durable is the worker's PostgreSQL side: the dead-letter store with its
// outbox and sweeper, and the attempt log.
type durable struct {
	store   *store.Store
	log     *attemptlog.Log
	outbox  *deadletter.Durable
	cancel  context.CancelFunc
	running sync.WaitGroup
}

// openDurable connects to PostgreSQL, refuses an unmigrated schema, and
// attaches the dead-letter store to h (instrument attaches the attempt log,
// together with the metrics); observer hears of the dead letters its archive
// sweeper stores. Its background
// loops run until close. When PostgreSQL does not answer, the worker starts
// anyway, since dead letters then go to the Redis outbox, and the schema is
// checked once PostgreSQL is back.
func openDurable(ctx context.Context, cfg config.Worker, conn *redisconn.Conn,
	h *worker.Handler, observer deadletter.Observer, log *slog.Logger) (*durable, error) {
	st, err := store.Open(ctx, cfg.Store.DatabaseURL)
	if err != nil {
		return nil, err
	}
	checkCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	unchecked := st.CheckMigrated(checkCtx)
	if unchecked != nil && !store.IsUnavailable(unchecked) {
		st.Close()
		return nil, unchecked
	}
	d := &durable{store: st, outbox: deadletter.NewDurable(st, conn.Client, log),
		log: attemptlog.New(st, attemptlog.Config{}, log)}
	h.StoreDeadLettersIn(d.outbox)
	d.log.Start()

	bg, stop := context.WithCancel(context.Background())
	d.cancel = stop
	sweeper := deadletter.NewSweeper(asynq.NewInspectorFromRedisClient(conn.Client), st,
		cfg.Queue, observer, log)
	d.running.Go(func() { d.outbox.RunDrainer(bg, cfg.Store.OutboxInterval) })
	d.running.Go(func() { sweeper.Run(bg, cfg.Store.SweepInterval) })
	d.running.Go(func() { purgeAttempts(bg, st, cfg.Store.AttemptRetention, log) })
	if unchecked != nil {
		log.Warn("PostgreSQL unavailable at start; dead letters go to the Redis outbox",
			"err", unchecked)
		d.running.Go(func() { checkSchemaLater(bg, st, log) })
	}
	return d, nil
}

// checkSchemaLater checks the schema once PostgreSQL answers. A schema
// found unmigrated then cannot stop the worker, which is already sending:
// it is logged as an Error, and dead letters stay in the outbox meanwhile.
func checkSchemaLater(ctx context.Context, st *store.Store, log *slog.Logger) {
	for wait := time.Second; ; wait = min(2*wait, 30*time.Second) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		err := st.CheckMigrated(ctx)
		switch {
		case err == nil:
			log.Info("PostgreSQL answers; schema migrated")
			return
		case ctx.Err() != nil || store.IsUnavailable(err):
			continue
		}
		log.Error("dead-letter store unusable; dead letters stay in the Redis outbox",
			"err", err)
		return
	}
}

// close stops the loops and flushes the attempt log; call it after the
// asynq server has stopped so that every attempt is written.
func (d *durable) close() {
	d.cancel()
	d.running.Wait()
	d.log.Close()
	d.store.Close()
}

// purgeAttempts deletes attempts older than retention, hourly, in batches.
func purgeAttempts(ctx context.Context, st *store.Store, retention time.Duration,
	log *slog.Logger) {
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		for {
			n, err := st.PurgeAttempts(ctx, time.Now().Add(-retention), 5000)
			if err != nil {
				if ctx.Err() == nil {
					log.Warn("attempt log not purged; will retry", "err", err)
				}
				break
			}
			if n < 5000 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

var errNoStore = fmt.Errorf("no DATABASE_URL: dead letters stay only in asynq's archive, " +
	"which drops entries past 9,999 per queue or 90 days")
