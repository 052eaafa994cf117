package metrics

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/callback-dispatcher/dispatcher/pkg/callback"
)

// Results of an enqueue, as the result label of the enqueue counter.
const (
	// EnqueueQueued means a new job was queued (202).
	EnqueueQueued = "queued"
	// EnqueueDuplicate means the execution token was queued before (200).
	EnqueueDuplicate = "duplicate"
	// EnqueueRefused means the request was malformed, too large or broke
	// the contract (4xx): nothing was queued.
	EnqueueRefused = "refused"
	// EnqueueError means the queue could not be reached or another fault
	// of ours (5xx): nothing was queued.
	EnqueueError = "error"
)

// Results of a requeue, as the result label of the requeue counter.
const (
	RequeueRequeued = "requeued"
	RequeueSkipped  = "skipped"
)

// entityUnknown is the entity_type of a request whose objectType could not
// be read or is not one of Adobe's three.
const entityUnknown = "unknown"

var (
	entityTypes = []string{callback.EntityLead, callback.EntityAccount,
		callback.EntityAccountPerson}
	enqueueResults = []string{EnqueueQueued, EnqueueDuplicate, EnqueueRefused, EnqueueError}
	requeueResults = []string{RequeueRequeued, RequeueSkipped}
)

// Producer counts what the producer API queued. It satisfies the API's
// Metrics interface. Requeues, by the API or the CLI, are counted in Redis
// and exported with the store's gauges (requeues_total).
type Producer struct {
	enqueued *prometheus.CounterVec
}

// NewProducer creates the producer metrics and registers them with reg.
func NewProducer(reg prometheus.Registerer) (*Producer, error) {
	p := &Producer{
		enqueued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "enqueued_total",
			Help: "Callback enqueue requests to the producer API by entity type and result " +
				"(queued, duplicate, refused, error).",
		}, []string{"entity_type", "result"}),
	}
	if err := register(reg, p.enqueued); err != nil {
		return nil, fmt.Errorf("register producer metrics: %w", err)
	}
	for _, e := range append(entityTypes, entityUnknown) {
		for _, r := range enqueueResults {
			p.enqueued.WithLabelValues(e, r)
		}
	}
	return p, nil
}

// Enqueued counts one enqueue request. entityType is the execution
// request's objectData.objectType as sent; values other than Adobe's three
// are counted as unknown.
func (p *Producer) Enqueued(entityType, result string) {
	p.enqueued.WithLabelValues(bounded(entityType, entityTypes, entityUnknown),
		bounded(result, enqueueResults, EnqueueError)).Inc()
}
