package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/callback-dispatcher/dispatcher/internal/deadletter"
	"github.com/callback-dispatcher/dispatcher/internal/store"
)

// DeadLetters gives the API access to the dead-letter store; without it the
// /v1/dead-letters routes answer 503.
type DeadLetters struct {
	Store    *store.Store
	Requeuer *deadletter.Requeuer
}

func (s *Server) deadLetterRoutes(mux *http.ServeMux) {
	mux.Handle("GET /v1/dead-letters", s.auth(s.needStore(s.listDeadLetters)))
	mux.Handle("GET /v1/dead-letters/{id}", s.auth(s.needStore(s.showDeadLetter)))
	mux.Handle("POST /v1/dead-letters/requeue", s.auth(s.needStore(s.requeue)))
	mux.Handle("POST /v1/dead-letters/purge", s.auth(s.needStore(s.purge)))
}

func (s *Server) needStore(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.dead == nil {
			writeError(w, http.StatusServiceUnavailable, "no_store",
				"the dead-letter store is not configured (DATABASE_URL)", nil)
			return
		}
		h(w, r)
	})
}

// filterQuery is a dead-letter filter in JSON or in a query string.
type filterQuery struct {
	Reason  string    `json:"reason,omitempty"`
	Status  int       `json:"status,omitempty"`
	Org     string    `json:"org,omitempty"`
	Service string    `json:"service,omitempty"`
	Since   time.Time `json:"since,omitzero"`
	Until   time.Time `json:"until,omitzero"`
}

// check refuses filter values the store cannot match.
func (f filterQuery) check() error {
	if f.Status != 0 && (f.Status < 100 || f.Status > 599) {
		return &badParam{"filter.status", "must be an HTTP status such as 400"}
	}
	for name, v := range map[string]string{"filter.reason": f.Reason, "filter.org": f.Org,
		"filter.service": f.Service} {
		if !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
			return &badParam{name, "must be UTF-8 text without control characters"}
		}
	}
	return nil
}

func (f filterQuery) filter() store.Filter {
	return store.Filter{Reason: f.Reason, Status: f.Status, OrgID: f.Org, Service: f.Service,
		Since: f.Since, Until: f.Until}
}

// badParam is a query parameter or member that could not be read.
type badParam struct{ name, problem string }

func (e *badParam) Error() string { return e.name + ": " + e.problem }

func filterFromQuery(q url.Values) (store.Filter, error) {
	f := store.Filter{Reason: q.Get("reason"), OrgID: q.Get("org"), Service: q.Get("service"),
		After: q.Get("after")}
	for name, v := range map[string]string{"reason": f.Reason, "org": f.OrgID,
		"service": f.Service, "after": f.After} {
		if !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
			return f, &badParam{name, "must be UTF-8 text without control characters"}
		}
	}
	if v := q.Get("status"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 100 || n > 599 {
			return f, &badParam{"status", "must be an HTTP status such as 400"}
		}
		f.Status = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return f, &badParam{"limit", "must be an integer from 1 to 1000"}
		}
		f.Limit = n
	}
	for _, p := range []struct {
		name string
		into *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return f, &badParam{p.name, "must be an RFC 3339 time such as 2026-12-01T00:00:00Z"}
			}
			*p.into = t
		}
	}
	return f, nil
}

func (s *Server) listDeadLetters(w http.ResponseWriter, r *http.Request) {
	f, err := filterFromQuery(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_parameter", err.Error(), nil)
		return
	}
	if f.Limit == 0 {
		f.Limit = 100
	}
	list, err := s.dead.Store.ListDeadLetters(r.Context(), f)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	out := map[string]any{"deadLetters": list}
	if len(list) == f.Limit {
		out["next"] = list[len(list)-1].ID
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) showDeadLetter(w http.ResponseWriter, r *http.Request) {
	dl, err := s.dead.Store.GetDeadLetter(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", "no dead letter has this id", nil)
		return
	}
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	attempts, err := s.dead.Store.Attempts(r.Context(), dl.ID)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		store.DeadLetter
		AttemptLog []store.Attempt `json:"attemptLog"`
	}{dl, attempts})
}

// requeueRequest is the body of POST /v1/dead-letters/requeue.
type requeueRequest struct {
	IDs            []string        `json:"ids"`
	Filter         filterQuery     `json:"filter"`
	All            bool            `json:"all"`
	DryRun         bool            `json:"dryRun"`
	Patch          json.RawMessage `json:"patch"`
	IgnoreDeadline bool            `json:"ignoreDeadline"`
	By             string          `json:"by"`
	Note           string          `json:"note"`
}

func (s *Server) requeue(w http.ResponseWriter, r *http.Request) {
	var req requeueRequest
	if !s.decodeBody(w, r, &req) {
		return
	}
	if err := req.Filter.check(); err != nil {
		writeError(w, http.StatusBadRequest, "bad_parameter", err.Error(), nil)
		return
	}
	for i, id := range req.IDs {
		if id == "" || !utf8.ValidString(id) || strings.ContainsFunc(id, unicode.IsControl) {
			writeError(w, http.StatusBadRequest, "bad_parameter",
				fmt.Sprintf("ids[%d]: must be a callback id such as cb_…", i), nil)
			return
		}
	}
	f := req.Filter.filter()
	f.IDs = req.IDs
	rep, err := s.dead.Requeuer.Requeue(r.Context(), deadletter.Request{Filter: f, All: req.All,
		DryRun: req.DryRun, Patch: req.Patch, IgnoreDeadline: req.IgnoreDeadline, By: req.By,
		Note: req.Note})
	if errors.Is(err, deadletter.ErrNoFilter) {
		writeError(w, http.StatusBadRequest, "no_filter", err.Error(), nil)
		return
	}
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "dead letters requeued", "matched", rep.Matched,
		"requeued", rep.Requeued, "skipped", rep.Skipped, "dry_run", rep.DryRun)
	writeJSON(w, http.StatusOK, rep)
}

// purgeRequest is the body of POST /v1/dead-letters/purge.
type purgeRequest struct {
	Filter    filterQuery `json:"filter"`
	OlderThan string      `json:"olderThan"`
	DryRun    bool        `json:"dryRun"`
}

func (s *Server) purge(w http.ResponseWriter, r *http.Request) {
	var req purgeRequest
	if !s.decodeBody(w, r, &req) {
		return
	}
	if err := req.Filter.check(); err != nil {
		writeError(w, http.StatusBadRequest, "bad_parameter", err.Error(), nil)
		return
	}
	f := req.Filter.filter()
	if req.OlderThan != "" {
		d, err := time.ParseDuration(req.OlderThan)
		if err != nil || d <= 0 {
			writeError(w, http.StatusBadRequest, "bad_parameter",
				"olderThan: must be a positive duration such as 720h", nil)
			return
		}
		if cutoff := time.Now().Add(-d); f.Until.IsZero() || cutoff.Before(f.Until) {
			f.Until = cutoff
		}
	}
	if f.Empty() {
		writeError(w, http.StatusBadRequest, "no_filter",
			"purge needs a filter or olderThan; dead letters are kept until purged explicitly", nil)
		return
	}
	f.State = "any"
	n, err := s.dead.Store.CountDeadLetters(r.Context(), f)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	out := map[string]any{"matched": n, "purged": 0, "dryRun": req.DryRun}
	if !req.DryRun && n > 0 {
		purged, err := s.dead.Store.PurgeDeadLetters(r.Context(), f)
		if err != nil {
			s.storeError(w, r, err)
			return
		}
		out["purged"] = purged
		s.log.WarnContext(r.Context(), "dead letters purged", "purged", purged)
	}
	writeJSON(w, http.StatusOK, out)
}

// decodeBody reads a small JSON body strictly, answering 400 naming the
// problem when it cannot.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, into any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, s.maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request",
			fmt.Sprintf("the body could not be read: %v", err), nil)
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "bad_request",
			"the body holds data after its JSON object", nil)
		return false
	}
	return true
}

func (s *Server) storeError(w http.ResponseWriter, r *http.Request, err error) {
	s.log.ErrorContext(r.Context(), "dead-letter store unavailable", "err", err)
	writeError(w, http.StatusServiceUnavailable, "store_unavailable",
		"the dead-letter store could not be reached", nil)
}
