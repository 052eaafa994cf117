// Package job defines the callback job: what a producer queues and a worker
// needs to send one callback, and nothing secret.
package job

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// TaskType is the asynq task type of a callback job.
const TaskType = "callback:deliver"

// DefaultQueue is the asynq queue callbacks go through unless configured.
const DefaultQueue = "callbacks"

// Job is the payload of a callback task.
type Job struct {
	// CallbackURL is the execution request's callbackUrl, used verbatim.
	CallbackURL string `json:"callbackUrl"`
	// Token is the execution request's token, sent back as X-Callback-Token.
	Token string `json:"token"`
	// RequestID is sent as X-Request-Id; it is the same on every attempt.
	RequestID string `json:"requestId"`
	// OrgID is the IMS org id, sent as x-gw-ims-org-id.
	OrgID string `json:"orgId"`
	// EntityType is lead, account or accountPerson.
	EntityType string `json:"entityType"`
	// EntityIDs are the lead or account ID, or the relationship IDs.
	EntityIDs []string `json:"entityIds"`
	// Service is the apiName of the service definition, when known.
	Service string `json:"service,omitempty"`
	// Body is the callback envelope, sent as is.
	Body json.RawMessage `json:"body,omitempty"`
	// Deadline is when Adobe stops waiting: no attempt is made after it.
	Deadline time.Time `json:"deadline"`
	// EnqueuedAt is when the producer queued the job.
	EnqueuedAt time.Time `json:"enqueuedAt"`
}

// IDFromToken derives a job ID from an execution token, so that queueing
// the same callback twice names the same job.
func IDFromToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "cb_" + hex.EncodeToString(sum[:16])
}

// Encode returns the task payload of a job: its other fields as one line
// of JSON, a newline, then the body as it is. A worker then takes the body
// without scanning it: decoding a job with a 1 KiB body costs a third of
// what one JSON object did (BenchmarkDecode1KiB, docs/benchmarks.md).
func (j *Job) Encode() ([]byte, error) {
	head := *j
	head.Body = nil
	data, err := json.Marshal(&head)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(data)+1+len(j.Body))
	out = append(out, data...)
	out = append(out, '\n')
	return append(out, j.Body...), nil
}

// Decode reads a task payload. It also reads the payloads queued before
// the body was framed, which are one JSON object: encoding/json never
// writes a raw newline, so one can only be the frame.
func Decode(payload []byte) (*Job, error) {
	var j Job
	head, body, framed := bytes.Cut(payload, []byte{'\n'})
	if err := json.Unmarshal(head, &j); err != nil {
		return nil, fmt.Errorf("decode callback job: %w", err)
	}
	if framed {
		j.Body = body
	}
	if j.CallbackURL == "" || j.Token == "" || len(j.Body) == 0 {
		return nil, fmt.Errorf("decode callback job: callbackUrl, token and body are required")
	}
	return &j, nil
}
