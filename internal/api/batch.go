package api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/callback-dispatcher/dispatcher/pkg/callback"
	"github.com/callback-dispatcher/dispatcher/pkg/producer"
)

// batchTime bounds the time spent queueing one batch, well inside the
// producer's 30 s write timeout.
const batchTime = 20 * time.Second

// Item outcomes of a batch, as its answer names them.
const (
	itemQueued    = "queued"
	itemDuplicate = "duplicate"
	itemRefused   = "refused"
	itemError     = "error"
)

// batchItem is the answer for one line of a batch.
type batchItem struct {
	Line   int    `json:"line"`
	Result string `json:"result"`
	ID     string `json:"id,omitempty"`
	// Status is the callback's state: queued, or for a duplicate what
	// became of the one queued before.
	Status     string              `json:"status,omitempty"`
	RequestID  string              `json:"requestId,omitempty"`
	Error      string              `json:"error,omitempty"`
	Message    string              `json:"message,omitempty"`
	Offset     *int64              `json:"offset,omitempty"`
	Violations callback.Violations `json:"violations,omitempty"`
	// Omitted counts the violations left out of a long list.
	Omitted int `json:"violationsOmitted,omitempty"`
}

// batchAnswer is the body of a batch's answer.
type batchAnswer struct {
	Queued     int         `json:"queued"`
	Duplicates int         `json:"duplicates"`
	Refused    int         `json:"refused"`
	Failed     int         `json:"failed"`
	Results    []batchItem `json:"results"`
}

// enqueueBatch queues the callback requests of an NDJSON body, one per
// line, each on its own: a refused line does not hold back the others.
// The answer is 200 when every line got a final answer (queued, duplicate
// or refused) and 503 when the queue failed some of them; sending the whole
// batch again is then safe, since a line already queued comes back as a
// duplicate.
func (s *Server) enqueueBatch(w http.ResponseWriter, r *http.Request) {
	if encodingRefused(w, r) {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBatchBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, "body_too_large",
			"the batch is larger than the limit of "+formatBytes(s.maxBatchBytes), nil)
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, "unreadable_body",
			"the request body could not be read", nil)
		return
	}
	lines := batchLines(body)
	switch {
	case len(lines) == 0:
		writeError(w, http.StatusBadRequest, "empty_batch",
			"the batch holds no callback request: send one JSON object per line", nil)
		return
	case len(lines) > s.maxBatchItems:
		writeError(w, http.StatusRequestEntityTooLarge, "too_many_items",
			"the batch holds "+strconv.Itoa(len(lines))+" callback requests; the limit is "+
				strconv.Itoa(s.maxBatchItems), nil)
		return
	}
	// In order, one after the other, so that of two lines with one token
	// the first is queued and the second is its duplicate. Once the queue
	// fails a line, or the batch has run for batchTime, the lines left are
	// not tried: each would wait for Redis in turn, and the answer must
	// reach the caller before the server's write timeout.
	ctx, cancel := context.WithTimeout(r.Context(), batchTime)
	defer cancel()
	ans := batchAnswer{Results: make([]batchItem, len(lines))}
	stopped := false
	for i, l := range lines {
		if !stopped && ctx.Err() == nil {
			ans.Results[i] = s.batchLine(ctx, l)
			stopped = ans.Results[i].Result == itemError
			continue
		}
		ans.Results[i] = batchItem{Line: l.n, Result: itemError, Error: "not_tried",
			Message: "not tried, since the queue failed an earlier line or the batch ran out " +
				"of time: send it again"}
		if r.Context().Err() == nil {
			// Our fault, not the caller's: counted as the queue error it is.
			s.countEnqueue("", itemError)
		}
	}
	if r.Context().Err() != nil {
		// The caller left; what was queued stays queued, and sending the
		// batch again reports it as duplicates.
		s.log.WarnContext(r.Context(), "callback batch abandoned by its caller",
			"lines", len(lines))
	}
	for _, it := range ans.Results {
		switch it.Result {
		case itemQueued:
			ans.Queued++
		case itemDuplicate:
			ans.Duplicates++
		case itemRefused:
			ans.Refused++
		default:
			ans.Failed++
		}
	}
	s.log.InfoContext(ctx, "callback batch", "lines", len(lines), "queued", ans.Queued,
		"duplicates", ans.Duplicates, "refused", ans.Refused, "failed", ans.Failed)
	status := http.StatusOK
	if ans.Failed > 0 {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, ans)
}

// line is one non-blank line of a batch and its number.
type line struct {
	n    int
	data []byte
}

// batchLines splits an NDJSON body into its lines that hold more than
// JSON's white space.
func batchLines(body []byte) []line {
	var lines []line
	n := 0
	for len(body) > 0 {
		n++
		var l []byte
		l, body, _ = bytes.Cut(body, []byte{'\n'})
		if len(bytes.Trim(l, " \t\r")) > 0 {
			lines = append(lines, line{n: n, data: l})
		}
	}
	return lines
}

func (s *Server) batchLine(ctx context.Context, l line) batchItem {
	it := batchItem{Line: l.n}
	if int64(len(l.data)) > s.maxBody {
		it.Result, it.Error = itemRefused, "body_too_large"
		it.Message = "the line is larger than the limit of " + formatBytes(s.maxBody)
		s.countEnqueue("", itemRefused)
		return it
	}
	receipt, err := s.client.EnqueueJSON(ctx, l.data)
	if err == nil {
		it.ID = receipt.ID
		it.Result, it.Status, it.RequestID = itemQueued, "queued", receipt.RequestID
		if receipt.Duplicate {
			it.Result, it.RequestID, it.Status = itemDuplicate, "", s.currentState(ctx, receipt.ID)
		}
		s.countEnqueue(receipt.EntityType, it.Result)
		return it
	}
	var qe *producer.QueueError
	if errors.As(err, &qe) && ctx.Err() != nil {
		// The caller left or the batch ran out of time: not a queue fault.
		it.Result, it.Error = itemError, "not_tried"
		it.Message = "the batch was cut short before this line was queued: send it again"
		return it
	}
	ref := s.classify(ctx, err)
	it.Result, it.Error, it.Message, it.Offset = ref.result, ref.code, ref.message, ref.offset
	it.Violations, it.Omitted = ref.violations, ref.omitted
	s.countEnqueue(objectType(l.data), it.Result)
	return it
}
