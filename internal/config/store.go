package config

import (
	"time"

	"github.com/callback-dispatcher/dispatcher/internal/envconfig"
)

// Store holds the settings of the PostgreSQL dead-letter store.
type Store struct {
	// DatabaseURL is postgres://…; empty means no durable store.
	DatabaseURL string
	// AttemptRetention is how long the attempt log keeps an attempt.
	AttemptRetention time.Duration
	// SweepInterval is how often asynq's archive is checked for callbacks
	// that did not pass the handler.
	SweepInterval time.Duration
	// OutboxInterval is how often the Redis outbox is drained.
	OutboxInterval time.Duration
}

func readStore(r *envconfig.Reader) Store {
	return Store{
		DatabaseURL: r.Secret("DATABASE_URL",
			"PostgreSQL of dead letters and the attempt log: postgres://…"),
		AttemptRetention: r.Duration("ATTEMPT_RETENTION", 30*24*time.Hour,
			"how long attempts stay in the attempt log"),
		SweepInterval: r.Duration("ARCHIVE_SWEEP_INTERVAL", 30*time.Second,
			"how often asynq's archive is imported into the dead-letter store"),
		OutboxInterval: r.Duration("OUTBOX_DRAIN_INTERVAL", 2*time.Second,
			"how often dead letters kept in Redis are moved to PostgreSQL"),
	}
}
