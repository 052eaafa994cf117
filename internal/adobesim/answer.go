package adobesim

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// callbackError is the error body of Adobe's callback endpoint.
type callbackError struct {
	Error callbackErrorDetail `json:"error"`
}

type callbackErrorDetail struct {
	Code       string `json:"code"`
	Message    string `json:"message"`
	RetryAfter *int   `json:"retryAfter,omitempty"`
}

// gatewayError is the error body of Adobe's API gateway, which answers
// before a request reaches the callback endpoint.
type gatewayError struct {
	ErrorCode string `json:"error_code"`
	Message   string `json:"message"`
}

// Error bodies Adobe's gateway sends for a bad bearer token or API key.
var (
	badBearerBody = mustJSON(gatewayError{ErrorCode: "401013", Message: "Oauth token is not valid"})
	badAPIKeyBody = mustJSON(gatewayError{ErrorCode: "403003", Message: "Api Key is invalid"})
	acceptedBody  = []byte(`{"status":"accepted"}`)
)

// The answers to callbacks that fail one of the fixed checks, and to a
// valid callback when no fault script says otherwise.
var (
	acceptAnswer = answer{status: http.StatusOK, body: acceptedBody, retryAfter: -1}
	refuseBearer = answer{status: http.StatusUnauthorized, body: badBearerBody, retryAfter: -1,
		bearerChallenge: true}
	refuseHeaders = errorAnswer(http.StatusUnauthorized, "UNAUTHORIZED",
		"Invalid or missing authentication headers")
	refuseAPIKey = answer{status: http.StatusForbidden, body: badAPIKeyBody, retryAfter: -1}
	refuseOrg    = errorAnswer(http.StatusForbidden, "FORBIDDEN",
		"The IMS organization in x-gw-ims-org-id may not send this callback")
	refuseContentType = errorAnswer(http.StatusBadRequest, "INVALID_CALLBACK",
		"Content-Type must be application/json")
	refuseTooLarge = errorAnswer(http.StatusBadRequest, "INVALID_CALLBACK",
		"Callback body is larger than 1 MiB")
	refuseUnreadable = errorAnswer(http.StatusBadRequest, "INVALID_CALLBACK",
		"Callback body could not be read")
)

func errorAnswer(status int, code, message string) answer {
	body := mustJSON(callbackError{Error: callbackErrorDetail{Code: code, Message: message}})
	return answer{status: status, body: body, retryAfter: -1}
}

// scriptedBody is the body a fault script step answers with, in the style
// Adobe uses for that status. retryAfter is in seconds, or -1 for none.
func scriptedBody(status, retryAfter int) []byte {
	switch {
	case status == http.StatusNoContent:
		return nil
	case status < 300:
		return acceptedBody
	case status == http.StatusUnauthorized:
		return badBearerBody
	}
	detail := callbackErrorDetail{Code: errorCode(status), Message: errorMessage(status)}
	if retryAfter >= 0 {
		detail.RetryAfter = &retryAfter
	}
	return mustJSON(callbackError{Error: detail})
}

func errorCode(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "INVALID_CALLBACK"
	case http.StatusTooManyRequests:
		return "RATE_LIMIT_EXCEEDED"
	case http.StatusInternalServerError:
		return "INTERNAL_ERROR"
	}
	text := http.StatusText(status)
	if text == "" {
		return "HTTP_" + strconv.Itoa(status)
	}
	text = strings.NewReplacer(" ", "_", "-", "_", "'", "").Replace(text)
	return strings.ToUpper(text)
}

func errorMessage(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "The callback token is unknown or has expired"
	case http.StatusForbidden:
		return "The organization may not send this callback"
	case http.StatusTooManyRequests:
		return "Too many callbacks: slow down"
	case http.StatusInternalServerError:
		return "The callback could not be processed"
	case http.StatusServiceUnavailable:
		return "Callbacks cannot be taken at the moment"
	}
	if text := http.StatusText(status); text != "" {
		return text
	}
	return "HTTP status " + strconv.Itoa(status)
}

// invalidCallback is the answer to a body that breaks the envelope.
func invalidCallback(message string) *answer {
	a := errorAnswer(http.StatusBadRequest, "INVALID_CALLBACK", message)
	return &a
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("adobesim: encode fixed body: " + err.Error())
	}
	return b
}

// jsonType is a ready header value, so answering allocates nothing.
var jsonType = []string{"application/json"}

// respond sends an answer after its delay. The connection is dropped
// without an answer when the script says so, and also when the request's
// context ends during the delay: answering then would look like a success.
func respond(w http.ResponseWriter, r *http.Request, a *answer) {
	if a.delay > 0 && !pause(r.Context(), a.delay) {
		hangUp(w)
		return
	}
	if a.hangUp {
		hangUp(w)
		return
	}

	h := w.Header()
	if a.body != nil {
		h["Content-Type"] = jsonType
	}
	if a.bearerChallenge {
		h.Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	}
	if a.retryAfter >= 0 {
		h.Set("Retry-After", retryAfterValue(a, time.Now()))
	}
	if a.status >= 300 && a.status < 400 {
		// A scripted redirect models a callback URL that moved; a sender must
		// not follow it with the bearer token.
		h.Set("Location", "/callback/redirected")
	}
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
}

// retryAfterValue formats Retry-After. An HTTP date has whole seconds, so
// it is rounded up: a client honouring it never comes back too early.
func retryAfterValue(a *answer, now time.Time) string {
	if !a.retryDate {
		return strconv.Itoa(a.retryAfter)
	}
	at := now.Add(time.Duration(a.retryAfter)*time.Second + time.Second - 1)
	return at.Truncate(time.Second).UTC().Format(http.TimeFormat)
}

// pause waits for d and reports whether it did before ctx ended.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// hangUp closes the connection without an answer, as a network fault
// would. Where the connection cannot be taken over (HTTP/2, a recorder),
// the handler is aborted instead, which also leaves the client without an
// answer.
func hangUp(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}
