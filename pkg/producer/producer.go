// Package producer queues Adobe callbacks for the dispatcher's workers. A
// provider hands it the execution request Adobe sent and the result of its
// work; the client checks both against the callback contract, builds the
// envelope and queues one job, however many times it is asked.
package producer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"maps"
	"slices"
	"time"

	"github.com/hibiken/asynq"

	"github.com/callback-dispatcher/dispatcher/internal/job"
	"github.com/callback-dispatcher/dispatcher/internal/redisconn"
	"github.com/callback-dispatcher/dispatcher/internal/urlguard"
	"github.com/callback-dispatcher/dispatcher/pkg/callback"
)

// Config sets up a Client.
type Config struct {
	// RedisURL is the queue's Redis: redis://, rediss:// or
	// redis-sentinel://.
	RedisURL string
	// Queue is the asynq queue; "callbacks" when empty.
	Queue string
	// DefaultOrgID is the IMS org id for requests without
	// context.subscription.imsOrgId.
	DefaultOrgID string
	// KnownOrgIDs, when not empty, are the only orgs whose callbacks are
	// queued: the orgs the workers have an IMS credential for. Others are
	// refused with CodeUnknownOrg. Empty accepts any org.
	KnownOrgIDs []string
	// AllowedHosts are the domain suffixes a callbackUrl may point to;
	// Adobe's domains when empty.
	AllowedHosts []string
	// AllowHTTP and AllowPrivate admit http:// and loopback or private
	// callback URLs, for a local simulator only.
	AllowHTTP    bool
	AllowPrivate bool
	// MaxAttempts is the number of sends a callback gets; 5 when zero.
	MaxAttempts int
	// TaskTimeout bounds one attempt; 40 s when zero. Whole seconds.
	TaskTimeout time.Duration
	// Definitions are the service definitions results are checked against;
	// nil checks only the envelope, the success rule and the IDs.
	Definitions *callback.Registry
	// Retention is how long a delivered callback's status stays readable;
	// 24 h when zero, none when negative.
	Retention time.Duration
}

// CodeUnknownOrg is the violation code of a callback whose IMS org has no
// credential profile: no worker could get a token to send it.
const CodeUnknownOrg = "unknown_org"

// Client queues callbacks. It is safe for concurrent use.
type Client struct {
	conn      *redisconn.Conn
	asynq     *asynq.Client
	inspector *asynq.Inspector
	guard     *urlguard.Guard
	cfg       Config
	now       func() time.Time
}

// New connects a client to the queue's Redis.
func New(cfg Config) (*Client, error) {
	conn, err := redisconn.Parse(cfg.RedisURL)
	if err != nil {
		return nil, err
	}
	if cfg.Queue == "" {
		cfg.Queue = job.DefaultQueue
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.TaskTimeout <= 0 {
		cfg.TaskTimeout = 40 * time.Second
	}
	if cfg.Retention == 0 {
		cfg.Retention = 24 * time.Hour
	}
	return &Client{
		conn:      conn,
		asynq:     asynq.NewClientFromRedisClient(conn.Client),
		inspector: asynq.NewInspectorFromRedisClient(conn.Client),
		guard: urlguard.New(urlguard.Config{
			AllowedHosts: cfg.AllowedHosts,
			AllowHTTP:    cfg.AllowHTTP,
			AllowPrivate: cfg.AllowPrivate,
		}),
		cfg: cfg,
		now: time.Now,
	}, nil
}

// Close releases the client's connections.
func (c *Client) Close() error {
	return c.conn.Close()
}

// Ping reports whether the queue's Redis answers.
func (c *Client) Ping(ctx context.Context) error {
	return c.conn.Client.Ping(ctx).Err()
}

// Request is one callback to queue, in the form the HTTP API and the CLI
// read: {"execution": …, "result": …}.
type Request struct {
	// Execution is the execution request as Adobe sent it.
	Execution json.RawMessage `json:"execution"`
	// Result is the provider's result, shaped like the callback's
	// objectData item; IDs may be left out.
	Result json.RawMessage `json:"result"`
	// RequestID is sent as X-Request-Id; the job id when empty.
	RequestID string `json:"requestId,omitempty"`
	// Service is the apiName of the service definition the result follows;
	// the default definition when empty.
	Service string `json:"service,omitempty"`
	// ReceivedAt is when Adobe's request arrived, which starts the
	// deadline; the enqueue time when nil.
	ReceivedAt *time.Time `json:"receivedAt,omitempty"`
}

// ParseRequest reads a Request. Malformed JSON yields a
// *callback.SyntaxError naming the offset; a wrong shape yields
// callback.Violations.
func ParseRequest(data []byte) (Request, error) {
	var shape map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&shape); err != nil {
		return Request{}, requestSyntax(err, dec.InputOffset(), len(data))
	}
	if rest := bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return Request{}, &callback.SyntaxError{Offset: int64(len(data) - len(rest)),
			Err: errors.New("data after the JSON value")}
	}
	var req Request
	vs := checkMembers(func(yield func(string, any) bool) {
		for key, raw := range shape {
			if !yield(key, raw) {
				return
			}
		}
	}, func(key string, v any) bool {
		raw := v.(json.RawMessage)
		var err error
		switch key {
		case "execution":
			req.Execution = raw
		case "result":
			req.Result = raw
		case "requestId":
			err = json.Unmarshal(raw, &req.RequestID)
		case "service":
			err = json.Unmarshal(raw, &req.Service)
		case "receivedAt":
			err = json.Unmarshal(raw, &req.ReceivedAt)
		}
		return err == nil
	}, func(key string) bool {
		raw, ok := shape[key]
		return ok && string(raw) != "null"
	})
	if len(vs) > 0 {
		return Request{}, sortViolations(vs)
	}
	return req, nil
}

// checkMembers checks the members of a callback request, whichever way it
// was decoded: set stores one member and reports whether its type is
// right; present reports whether a required member has a value.
func checkMembers(members iter.Seq2[string, any], set func(key string, v any) bool,
	present func(key string) bool) callback.Violations {
	var vs callback.Violations
	for key, v := range members {
		switch key {
		case "execution", "result", "requestId", "service", "receivedAt":
			if !set(key, v) {
				vs = append(vs, callback.Violation{Path: key, Code: callback.CodeType,
					Message: typeHint(key)})
			}
		default:
			vs = append(vs, callback.Violation{Path: key, Code: callback.CodeUnknownProperty,
				Message: "is not a member of a callback request (execution, result, " +
					"requestId, receivedAt, service)"})
		}
	}
	for _, key := range []string{"execution", "result"} {
		if !present(key) {
			vs = append(vs, callback.Violation{Path: key, Code: callback.CodeRequired,
				Message: "is required"})
		}
	}
	return vs
}

// EnqueueJSON checks and queues one callback request in its JSON form,
// {"execution": …, "result": …}, as the HTTP API and the CLI read it. It is
// ParseRequest and EnqueueRequest in one, decoding the JSON once.
func (c *Client) EnqueueJSON(ctx context.Context, data []byte) (*Receipt, error) {
	tree, err := callback.DecodeValue(data)
	if err != nil {
		return nil, err
	}
	root, ok := tree.(map[string]any)
	if !ok {
		return nil, callback.Violations{{Path: "$", Code: callback.CodeType,
			Message: "a callback request must be a JSON object"}}
	}
	var o options
	var service string
	vs := checkMembers(maps.All(root), func(key string, v any) bool {
		if v == nil || key == "execution" || key == "result" {
			return true
		}
		s, ok := v.(string)
		switch key {
		case "requestId":
			o.requestID = s
		case "service":
			service = s
		case "receivedAt":
			t, err := time.Parse(time.RFC3339, s)
			o.receivedAt = &t
			return ok && err == nil
		}
		return ok
	}, func(key string) bool { return root[key] != nil })
	if len(vs) > 0 {
		return nil, sortViolations(vs)
	}
	exec, err := callback.ExecutionRequestFromValue(root["execution"])
	if err != nil {
		return nil, err
	}
	if o.def, err = c.definition(service, "service"); err != nil {
		return nil, err
	}
	cb, err := callback.PrepareValue(exec, root["result"], o.def)
	return c.enqueue(ctx, exec, cb, err, o)
}

func typeHint(key string) string {
	if key == "receivedAt" {
		return "must be an RFC 3339 time such as 2026-01-02T15:04:05Z"
	}
	return "must be a string"
}

func requestSyntax(err error, offset int64, size int) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &callback.SyntaxError{Offset: se.Offset, Err: err}
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return callback.Violations{{Path: "$", Code: callback.CodeType,
			Message: "a callback request must be a JSON object"}}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		// The JSON stopped short: the problem is at its end.
		return &callback.SyntaxError{Offset: int64(size),
			Err: errors.New("unexpected end of JSON input")}
	}
	return &callback.SyntaxError{Offset: offset, Err: err}
}

// Receipt tells what became of an enqueue.
type Receipt struct {
	// ID is the job id, derived from the execution token.
	ID string `json:"id"`
	// Duplicate is true when the job already existed: nothing new was
	// queued.
	Duplicate bool `json:"duplicate,omitempty"`
	// RequestID is the X-Request-Id the callback will carry.
	RequestID string `json:"requestId,omitempty"`
	// Deadline is when Adobe stops waiting for the callback.
	Deadline time.Time `json:"deadline"`
	// EntityType is the execution request's objectData.objectType.
	EntityType string `json:"entityType,omitempty"`
}

// EnqueueRequest checks and queues one callback request.
func (c *Client) EnqueueRequest(ctx context.Context, req Request) (*Receipt, error) {
	exec, err := parseExecution(req.Execution)
	if err != nil {
		return nil, err
	}
	def, err := c.definition(req.Service, "service")
	if err != nil {
		return nil, err
	}
	cb, err := callback.PrepareWith(exec, req.Result, def)
	return c.enqueue(ctx, exec, cb, prefixSyntax(err, "result"),
		options{requestID: req.RequestID, receivedAt: req.ReceivedAt, def: def})
}

// Option adjusts one Enqueue.
type Option func(*options)

type options struct {
	requestID  string
	receivedAt *time.Time
	service    string
	def        *callback.ServiceDefinition
}

// WithRequestID sets the X-Request-Id the callback carries.
func WithRequestID(id string) Option { return func(o *options) { o.requestID = id } }

// WithReceivedAt sets when Adobe's request arrived, which starts the
// deadline.
func WithReceivedAt(t time.Time) Option { return func(o *options) { o.receivedAt = &t } }

// Enqueue checks a result built in Go against its execution request and
// queues the callback. exec is typically from callback.ParseExecutionRequest.
func (c *Client) Enqueue(ctx context.Context, exec *callback.ExecutionRequest,
	result callback.Result, opts ...Option) (*Receipt, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	def, err := c.definition(o.service, "WithService")
	if err != nil {
		return nil, err
	}
	o.def = def
	cb, err := callback.PrepareResultWith(exec, result, def)
	return c.enqueue(ctx, exec, cb, err, o)
}

func parseExecution(raw json.RawMessage) (*callback.ExecutionRequest, error) {
	exec, err := callback.ParseExecutionRequest(raw)
	if err != nil {
		return nil, prefixSyntax(err, "execution")
	}
	return exec, nil
}

// prefixSyntax names the member in which malformed JSON was found.
func prefixSyntax(err error, member string) error {
	var se *callback.SyntaxError
	if errors.As(err, &se) {
		return callback.Violations{{Path: member, Code: callback.CodeType, Message: se.Error()}}
	}
	return err
}

// enqueue queues a prepared callback. prepErr is Prepare's error: its
// violations are reported together with those found here.
func (c *Client) enqueue(ctx context.Context, exec *callback.ExecutionRequest,
	cb *callback.Callback, prepErr error, o options) (*Receipt, error) {
	var vs callback.Violations
	if prepErr != nil && !errors.As(prepErr, &vs) {
		return nil, prepErr
	}
	if exec.Token == "" {
		vs = append(vs, callback.Violation{Path: "execution.token", Code: callback.CodeRequired,
			Message: "is required"})
	}
	vs = append(vs, headerValues(exec, o.requestID)...)
	if cb != nil && bytes.Contains(cb.Body, []byte(`\u0000`)) {
		vs = append(vs, callback.Violation{Path: "result", Code: callback.CodeInvalidValue,
			Message: "must not contain the NUL character (\\u0000), which no receiver can store"})
	}
	if err := c.guard.Check(exec.CallbackURL); err != nil {
		vs = append(vs, callback.Violation{Path: "execution.callbackUrl",
			Code: callback.CodeURLRefused, Message: err.Error()})
	}
	org := exec.Context.Subscription.IMSOrgID
	if org == "" {
		org = c.cfg.DefaultOrgID
	}
	if org == "" {
		vs = append(vs, callback.Violation{Path: "execution.context.subscription.imsOrgId",
			Code:    callback.CodeRequired,
			Message: "is required when no default IMS org id is configured (IMS_ORG_ID)"})
	} else if len(c.cfg.KnownOrgIDs) > 0 && !slices.Contains(c.cfg.KnownOrgIDs, org) {
		vs = append(vs, callback.Violation{Path: "execution.context.subscription.imsOrgId",
			Code: CodeUnknownOrg,
			Message: fmt.Sprintf("org %q has no IMS credential profile, so no worker could "+
				"send its callback", org)})
	}
	now := c.now().UTC()
	received := now
	if o.receivedAt != nil {
		received = o.receivedAt.UTC()
	}
	if received.After(now.Add(maxClockSkew)) {
		vs = append(vs, callback.Violation{Path: "receivedAt", Code: callback.CodeOutOfRange,
			Message: fmt.Sprintf("%s is in the future; it is when Adobe's request arrived",
				received.Format(time.RFC3339))})
		received = now
	}
	deadline := received.Add(time.Duration(timeoutMinutes(exec, o.def)) * time.Minute)
	if !now.Before(deadline) {
		vs = append(vs, callback.Violation{Path: "receivedAt", Code: callback.CodeOutOfRange,
			Message: fmt.Sprintf("the callback deadline %s has passed",
				deadline.Format(time.RFC3339))})
	}
	if len(vs) > 0 {
		return nil, sortViolations(vs)
	}

	id := job.IDFromToken(exec.Token)
	requestID := o.requestID
	if requestID == "" {
		requestID = id
	}
	j := &job.Job{
		CallbackURL: exec.CallbackURL,
		Token:       exec.Token,
		RequestID:   requestID,
		OrgID:       org,
		EntityType:  cb.EntityType,
		EntityIDs:   cb.EntityIDs,
		Service:     serviceName(o.def),
		Body:        cb.Body,
		Deadline:    deadline,
		EnqueuedAt:  now,
	}
	payload, err := j.Encode()
	if err != nil {
		return nil, fmt.Errorf("encode callback job: %w", err)
	}
	receipt := &Receipt{ID: id, RequestID: requestID, Deadline: deadline,
		EntityType: cb.EntityType}
	_, err = c.asynq.EnqueueContext(ctx, asynq.NewTask(job.TaskType, payload), c.taskOptions(id)...)
	switch {
	case errors.Is(err, asynq.ErrTaskIDConflict):
		receipt.Duplicate = true
		receipt.RequestID = ""
		return receipt, nil
	case err != nil:
		return nil, &QueueError{Err: err}
	}
	return receipt, nil
}

func (c *Client) taskOptions(id string) []asynq.Option {
	opts := []asynq.Option{
		asynq.TaskID(id),
		asynq.Queue(c.cfg.Queue),
		// The handler enforces MaxAttempts itself; asynq's budget is one
		// higher so that a 429 on the last attempt can still wait without
		// asynq archiving the task.
		asynq.MaxRetry(c.cfg.MaxAttempts),
		asynq.Timeout(c.cfg.TaskTimeout),
	}
	if c.cfg.Retention > 0 {
		opts = append(opts, asynq.Retention(c.cfg.Retention))
	}
	return opts
}

// QueueError means the queue could not be reached: nothing was queued and
// the call may be repeated.
type QueueError struct{ Err error }

func (e *QueueError) Error() string { return fmt.Sprintf("queue callback: %v", e.Err) }

func (e *QueueError) Unwrap() error { return e.Err }
