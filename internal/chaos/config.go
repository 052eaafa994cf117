package chaos

import (
	"errors"
	"time"
)

// Config sizes a run and says when its faults strike. Times are measured
// from the first enqueue.
type Config struct {
	// Callbacks is how many callbacks the producer is asked to queue.
	Callbacks int
	// Produce is how long the enqueues are spread over.
	Produce time.Duration
	// Workers is how many worker processes run at once; a killed one is
	// replaced.
	Workers int
	// Concurrency is each worker's CONCURRENCY.
	Concurrency int

	// KillFrom and KillUntil bound when workers are SIGKILLed; between two
	// kills the run waits a random time in [KillMin, KillMax].
	KillFrom, KillUntil time.Duration
	KillMin, KillMax    time.Duration

	// RedisCrashAt is when redis-server is SIGKILLed; it is started again
	// on the same port and directory RedisDownFor later.
	RedisCrashAt, RedisDownFor time.Duration

	// PostgresStopAt is when PostgreSQL is stopped (immediate mode); it is
	// started again PostgresDownFor later.
	PostgresStopAt, PostgresDownFor time.Duration

	// DrainTimeout bounds the wait, after the last fault, for every
	// callback to be delivered or dead-lettered and the queue to empty.
	DrainTimeout time.Duration

	// Seed makes the simulator's answers and the choice of the killed
	// workers repeatable; the fault times vary with the machine's speed.
	Seed uint64
	// Dir, when set, keeps the run's files (logs, AOF, PostgreSQL) there
	// instead of a temporary directory removed at the end.
	Dir string
}

// Full is the run of `make chaos`: 10,000 callbacks over 90 s with a worker
// killed every 2 to 5 s, a Redis crash and a 60 s PostgreSQL outage.
func Full() Config {
	return Config{
		Callbacks: 10000, Produce: 90 * time.Second, Workers: 4, Concurrency: 16,
		KillFrom: 3 * time.Second, KillUntil: 100 * time.Second,
		KillMin: 2 * time.Second, KillMax: 5 * time.Second,
		RedisCrashAt: 25 * time.Second, RedisDownFor: 2 * time.Second,
		PostgresStopAt: 40 * time.Second, PostgresDownFor: 60 * time.Second,
		DrainTimeout: 5 * time.Minute, Seed: 1,
	}
}

// Short is the run CI makes: 1,000 callbacks over 20 s, three kills, a
// Redis crash and a 10 s PostgreSQL outage, all within the first 16 s so
// that the callbacks of the last killed worker, which asynq gives back
// 60 to 120 s later, come back within the CI budget.
func Short() Config {
	return Config{
		Callbacks: 1000, Produce: 20 * time.Second, Workers: 3, Concurrency: 8,
		KillFrom: 3 * time.Second, KillUntil: 16 * time.Second,
		KillMin: 4 * time.Second, KillMax: 6 * time.Second,
		RedisCrashAt: 8 * time.Second, RedisDownFor: time.Second,
		PostgresStopAt: 5 * time.Second, PostgresDownFor: 10 * time.Second,
		DrainTimeout: 150 * time.Second, Seed: 1,
	}
}

// check reports a configuration the run cannot make.
func (c Config) check() error {
	switch {
	case c.Callbacks <= 0 || c.Workers <= 0 || c.Concurrency <= 0:
		return errors.New("callbacks, workers and concurrency must be positive")
	case c.Produce <= 0 || c.DrainTimeout <= 0:
		return errors.New("produce and drain timeout must be positive")
	case c.KillMin <= 0 || c.KillMax < c.KillMin:
		return errors.New("kill intervals must be positive, the least first")
	}
	return nil
}
