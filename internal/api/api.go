// Package api serves the producer's HTTP API: queue a callback, read its
// status, and health probes.
package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/callback-dispatcher/dispatcher/internal/job"
	"github.com/callback-dispatcher/dispatcher/internal/store"
	"github.com/callback-dispatcher/dispatcher/pkg/callback"
	"github.com/callback-dispatcher/dispatcher/pkg/producer"
)

// Config sets up the API.
type Config struct {
	// Tokens are the bearer tokens callers may present.
	Tokens []string
	// MaxBodyBytes bounds a request body, and each line of a batch;
	// larger ones get 413.
	MaxBodyBytes int64
	// MaxBatchBytes bounds the body of a batch (4 MiB when 0; never
	// below MaxBodyBytes).
	MaxBatchBytes int64
	// MaxBatchItems bounds the callback requests of a batch (1,000 when 0).
	MaxBatchItems int
	// DeadLetters serves /v1/dead-letters; nil without a database.
	DeadLetters *DeadLetters
	// Metrics counts enqueues; nil counts nothing.
	Metrics Metrics
}

// Metrics is told what the API did, for the producer's metrics.
type Metrics interface {
	// Enqueued counts one POST /v1/callbacks by the execution request's
	// objectData.objectType ("" when unreadable) and its result: queued,
	// duplicate, refused (4xx) or error (5xx).
	Enqueued(entityType, result string)
}

// Server is the producer API.
type Server struct {
	client  *producer.Client
	log     *slog.Logger
	tokens  [][sha256.Size]byte
	maxBody int64
	// maxBatchBytes and maxBatchItems bound POST /v1/callbacks/batch.
	maxBatchBytes int64
	maxBatchItems int
	dead          *DeadLetters
	metrics       Metrics
}

// New returns the API over a producer client.
func New(client *producer.Client, cfg Config, log *slog.Logger) *Server {
	s := &Server{client: client, log: log, maxBody: cfg.MaxBodyBytes, dead: cfg.DeadLetters,
		metrics: cfg.Metrics}
	if s.maxBody <= 0 {
		s.maxBody = 1 << 20
	}
	s.maxBatchBytes = cfg.MaxBatchBytes
	if s.maxBatchBytes <= 0 {
		s.maxBatchBytes = 4 << 20
	}
	s.maxBatchBytes = max(s.maxBatchBytes, s.maxBody)
	s.maxBatchItems = cfg.MaxBatchItems
	if s.maxBatchItems <= 0 {
		s.maxBatchItems = 1000
	}
	for _, t := range cfg.Tokens {
		s.tokens = append(s.tokens, sha256.Sum256([]byte(t)))
	}
	return s
}

// Handler returns the API's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /v1/callbacks", s.auth(http.HandlerFunc(s.enqueue)))
	mux.Handle("POST /v1/callbacks/batch", s.auth(http.HandlerFunc(s.enqueueBatch)))
	// Without this, GET /v1/callbacks/batch would read "batch" as a job id.
	mux.HandleFunc("GET /v1/callbacks/batch", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed",
			"a batch is sent with POST", nil)
	})
	mux.Handle("GET /v1/callbacks/{id}", s.auth(http.HandlerFunc(s.status)))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.ready)
	s.deadLetterRoutes(mux)
	return mux
}

// auth admits requests with one of the configured bearer tokens. Comparing
// fixed-size hashes in constant time reveals neither a token nor its length.
func (s *Server) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		given, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || given == "" || !s.known(given) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="callback-dispatcher"`)
			writeError(w, http.StatusUnauthorized, "unauthorized",
				"a valid bearer token is required", nil)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) known(token string) bool {
	sum := sha256.Sum256([]byte(token))
	match := 0
	for _, t := range s.tokens {
		match |= subtle.ConstantTimeCompare(sum[:], t[:])
	}
	return match == 1
}

func (s *Server) enqueue(w http.ResponseWriter, r *http.Request) {
	if encodingRefused(w, r) {
		s.countEnqueue("", "refused")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		s.countEnqueue("", "refused")
		writeError(w, http.StatusRequestEntityTooLarge, "body_too_large",
			"the request body is larger than the limit of "+formatBytes(s.maxBody), nil)
		return
	case err != nil:
		s.countEnqueue("", "refused")
		writeError(w, http.StatusBadRequest, "unreadable_body",
			"the request body could not be read",
			nil)
		return
	}
	receipt, err := s.client.EnqueueJSON(r.Context(), body)
	if err != nil {
		s.countEnqueue(objectType(body), s.refuse(w, r, err))
		return
	}
	result := "queued"
	if receipt.Duplicate {
		result = "duplicate"
	}
	s.countEnqueue(receipt.EntityType, result)
	s.accepted(r.Context(), w, receipt)
}

func (s *Server) countEnqueue(entityType, result string) {
	if s.metrics != nil {
		s.metrics.Enqueued(entityType, result)
	}
}

// objectType reads the execution request's objectData.objectType from a
// refused request, for the metrics; "" when it cannot be read.
func objectType(body []byte) string {
	var req struct {
		Execution struct {
			ObjectData struct {
				ObjectType string `json:"objectType"`
			} `json:"objectData"`
		} `json:"execution"`
	}
	_ = json.Unmarshal(body, &req)
	return req.Execution.ObjectData.ObjectType
}

func (s *Server) accepted(ctx context.Context, w http.ResponseWriter, receipt *producer.Receipt) {
	if !receipt.Duplicate {
		s.log.InfoContext(ctx, "callback queued", "job_id", receipt.ID)
		writeJSON(w, http.StatusAccepted, map[string]any{"id": receipt.ID, "status": "queued",
			"requestId": receipt.RequestID, "deadline": receipt.Deadline})
		return
	}
	// The same execution token was queued before: answer with that job.
	status := s.currentState(ctx, receipt.ID)
	s.log.InfoContext(ctx, "callback already queued", "job_id", receipt.ID)
	writeJSON(w, http.StatusOK, map[string]any{"id": receipt.ID, "status": status,
		"duplicate": true})
}

// currentState is what became of the job id queued before: its state, or
// queued when it cannot be read.
func (s *Server) currentState(ctx context.Context, id string) string {
	if st, err := s.client.Status(ctx, id); err == nil {
		return st.State
	}
	return producer.StateQueued
}

// refusal is how an enqueue that failed is answered, alone or as a line
// of a batch.
type refusal struct {
	status     int
	code       string
	message    string
	offset     *int64
	violations callback.Violations
	// omitted counts the violations left out of violations.
	omitted int
	// result is what the metrics count: refused for the caller's faults,
	// error for ours.
	result string
}

// classify turns an enqueue's error into its refusal: 400 for malformed
// JSON, 422 for contract violations, 503 when the queue is unreachable,
// 500 otherwise. Faults of ours are logged.
func (s *Server) classify(ctx context.Context, err error) refusal {
	var syntax *callback.SyntaxError
	var vs callback.Violations
	var qe *producer.QueueError
	switch {
	case errors.As(err, &syntax):
		return refusal{status: http.StatusBadRequest, code: "malformed_json",
			message: syntax.Error(), offset: &syntax.Offset, result: "refused"}
	case errors.As(err, &vs):
		listed, omitted := capViolations(vs)
		return refusal{status: http.StatusUnprocessableEntity, code: "contract_violation",
			message:    "the callback breaks Adobe's contract; nothing was queued",
			violations: listed, omitted: omitted, result: "refused"}
	case errors.As(err, &qe):
		s.log.ErrorContext(ctx, "queue unreachable", "err", err)
		return refusal{status: http.StatusServiceUnavailable, code: "queue_unavailable",
			message: "the queue could not be reached, so the callback may or may not be " +
				"queued: send the same request again later (the same execution token is " +
				"never sent twice)", result: "error"}
	default:
		s.log.ErrorContext(ctx, "enqueue failed", "err", err)
		return refusal{status: http.StatusInternalServerError, code: "internal",
			message: "the callback was not queued", result: "error"}
	}
}

// refuse answers a failed enqueue and returns the result the metrics count.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, err error) string {
	ref := s.classify(r.Context(), err)
	extra := map[string]any{}
	if ref.offset != nil {
		extra["offset"] = *ref.offset
	}
	if ref.violations != nil {
		extra["violations"] = ref.violations
	}
	if ref.omitted > 0 {
		extra["violationsOmitted"] = ref.omitted
	}
	writeError(w, ref.status, ref.code, ref.message, extra)
	return ref.result
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	st, err := s.client.Status(r.Context(), r.PathValue("id"))
	if errors.Is(err, producer.ErrNotFound) && s.dead != nil {
		// asynq's archive forgets old tasks; the store does not.
		if dl, derr := s.dead.Store.GetDeadLetter(r.Context(), r.PathValue("id")); derr == nil {
			st, err = deadLetterStatus(dl), nil
			// A requeued callback's later fate is in the attempt log.
			state, attempts, cerr := s.dead.Store.CallbackState(r.Context(), dl.ID)
			if dl.State == store.StateRequeued && cerr == nil {
				st.State, st.Attempts = state, attempts
				if state == producer.StateDelivered {
					st.DeadLetter = nil
				}
			}
		}
	}
	switch {
	case errors.Is(err, producer.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", "no callback has this id", nil)
	case err != nil:
		s.log.ErrorContext(r.Context(), "status lookup failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "queue_unavailable",
			"the queue could not be reached", nil)
	default:
		writeJSON(w, http.StatusOK, st)
	}
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.client.Ping(ctx); err != nil {
		writeJSON(w, http.StatusServiceUnavailable,
			map[string]string{"status": "redis unreachable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// maxViolations bounds the violations an answer lists for one callback, so
// that a request of a million unknown members does not get an answer many
// times its size.
const maxViolations = 100

// capViolations returns the first maxViolations of vs and how many more
// there were.
func capViolations(vs callback.Violations) (callback.Violations, int) {
	if len(vs) <= maxViolations {
		return vs, 0
	}
	return vs[:maxViolations], len(vs) - maxViolations
}

// encodingRefused answers 415 to a compressed body, which the API does not
// read, and reports whether it did.
func encodingRefused(w http.ResponseWriter, r *http.Request) bool {
	if enc := r.Header.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_encoding",
			"the API reads uncompressed bodies only (Content-Encoding "+strconv.Quote(enc)+")",
			nil)
		return true
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, message string, extra map[string]any) {
	body := map[string]any{"error": code, "message": message}
	for k, v := range extra {
		body[k] = v
	}
	writeJSON(w, status, body)
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return itoa(n>>20) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return itoa(n>>10) + " KiB"
	}
	return itoa(n) + " bytes"
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func deadLetterStatus(dl store.DeadLetter) *producer.Status {
	state := producer.StateDeadLettered
	if dl.State == store.StateRequeued {
		state = producer.StateQueued
	}
	return &producer.Status{ID: dl.ID, State: state, Attempts: dl.Attempts, LastError: dl.Error,
		DeadLetter: &job.DeadLetter{Reason: dl.Reason, Status: dl.LastStatus, Excerpt: dl.Excerpt,
			Error: dl.Error, Attempts: dl.Attempts, At: dl.DeadLetteredAt}}
}
