// Package delivery sends one callback POST and classifies Adobe's answer.
package delivery

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/callback-dispatcher/dispatcher/internal/job"
	"github.com/callback-dispatcher/dispatcher/internal/urlguard"
)

// Class is what an answer (or its absence) means for a callback.
type Class string

// The classes of a send. The retry_ and timeout classes are temporary; the
// others are final or need the caller's action.
const (
	Delivered    Class = "delivered"
	Retry5xx     Class = "retry_5xx"
	RetryNetwork Class = "retry_network"
	Timeout      Class = "timeout"
	RateLimited  Class = "rate_limited"
	Unauthorized Class = "unauthorized"
	Rejected4xx  Class = "rejected_4xx"
	Redirected   Class = "redirected"
	Refused      Class = "url_refused"
)

// MaxExcerpt bounds how much of an answer is kept for a dead letter.
const MaxExcerpt = 4096

// maxDrain bounds how much of an answer is read so that its connection can
// be reused; a longer answer costs a new connection instead.
const maxDrain = 64 << 10

// Result is the outcome of one send.
type Result struct {
	Class Class
	// Status is the HTTP status, or 0 when no answer came.
	Status int
	// Excerpt is the start of the answer's body, for dead letters only:
	// it is never logged.
	Excerpt string
	// RetryAfter is the wait a 429 asked for, or 0.
	RetryAfter time.Duration
	// Err is the transport error when no answer came.
	Err error
}

// Timeouts bound each phase of a send.
type Timeouts struct {
	Dial           time.Duration
	TLSHandshake   time.Duration
	ResponseHeader time.Duration
	Total          time.Duration
}

// DefaultTimeouts are used for zero fields of Timeouts.
var DefaultTimeouts = Timeouts{
	Dial:           5 * time.Second,
	TLSHandshake:   5 * time.Second,
	ResponseHeader: 10 * time.Second,
	Total:          15 * time.Second,
}

// APIKeyFunc returns the X-Api-Key of a callback of orgID's. Adobe's gateway
// expects the client id of the credential whose token the callback carries.
type APIKeyFunc func(orgID string) string

// FixedAPIKey returns an APIKeyFunc that gives key for every org.
func FixedAPIKey(key string) APIKeyFunc {
	return func(string) string { return key }
}

// Sender POSTs callbacks with the contract's headers.
type Sender struct {
	client *http.Client
	guard  *urlguard.Guard
	apiKey APIKeyFunc
}

// NewSender returns a sender whose connections pass through guard. apiKey
// gives each callback's X-Api-Key from its org; maxConns sizes the
// connection pool (the worker's concurrency).
func NewSender(guard *urlguard.Guard, apiKey APIKeyFunc, t Timeouts, maxConns int) *Sender {
	t = withDefaults(t)
	dialer := &net.Dialer{Timeout: t.Dial, KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		// No proxy: a proxy would be dialed instead of the callback host,
		// bypassing the guard.
		Proxy:                 nil,
		DialContext:           guard.DialContext(dialer),
		TLSHandshakeTimeout:   t.TLSHandshake,
		ResponseHeaderTimeout: t.ResponseHeader,
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          max(maxConns, 16),
		MaxIdleConnsPerHost:   max(maxConns, 16),
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
		// The contract lists the headers to send; Accept-Encoding is not one.
		DisableCompression: true,
	}
	client := &http.Client{
		Transport: transport,
		Timeout:   t.Total,
		// A callback URL that redirects is a fault to fix, and following it
		// could hand the bearer token to another host.
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	return &Sender{client: client, guard: guard, apiKey: apiKey}
}

func withDefaults(t Timeouts) Timeouts {
	if t.Dial <= 0 {
		t.Dial = DefaultTimeouts.Dial
	}
	if t.TLSHandshake <= 0 {
		t.TLSHandshake = DefaultTimeouts.TLSHandshake
	}
	if t.ResponseHeader <= 0 {
		t.ResponseHeader = DefaultTimeouts.ResponseHeader
	}
	if t.Total <= 0 {
		t.Total = DefaultTimeouts.Total
	}
	return t
}

// Send POSTs j's body to its callbackUrl with bearer as the IMS token and
// the API key of j's org.
func (s *Sender) Send(ctx context.Context, j *job.Job, bearer string) Result {
	if err := s.guard.Check(j.CallbackURL); err != nil {
		return Result{Class: Refused, Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.CallbackURL,
		bytes.NewReader(j.Body))
	if err != nil {
		return Result{Class: Refused, Err: err}
	}
	SetHeaders(req.Header, j, s.apiKey(j.OrgID), bearer)

	resp, err := s.client.Do(req)
	if err != nil {
		return transportResult(err)
	}
	defer func() { _ = resp.Body.Close() }()
	return answerResult(resp)
}

// SetHeaders sets exactly the six headers of the callback contract, spelled
// as the contract spells them.
func SetHeaders(h http.Header, j *job.Job, apiKey, bearer string) {
	h["X-Callback-Token"] = []string{j.Token}
	h["X-Api-Key"] = []string{apiKey}
	h["X-Request-Id"] = []string{j.RequestID}
	h["Authorization"] = []string{"Bearer " + bearer}
	h["x-gw-ims-org-id"] = []string{j.OrgID}
	h["Content-Type"] = []string{"application/json"}
	// An empty User-Agent tells net/http to send none.
	h["User-Agent"] = []string{""}
}

func transportResult(err error) Result {
	// net/http's *url.Error repeats the callback URL; logs need only the cause.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	switch {
	case errors.Is(err, urlguard.ErrRefused):
		return Result{Class: Refused, Err: err}
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return Result{Class: Timeout, Err: err}
	}
	return Result{Class: RetryNetwork, Err: err}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func answerResult(resp *http.Response) Result {
	r := Result{Status: resp.StatusCode}
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		r.Class = Delivered
		drain(resp.Body)
		return r
	case code >= 300 && code < 400:
		r.Class = Redirected
	case code == http.StatusUnauthorized:
		r.Class = Unauthorized
	case code == http.StatusTooManyRequests:
		r.Class = RateLimited
		r.RetryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	case code >= 400 && code < 500:
		r.Class = Rejected4xx
	default:
		r.Class = Retry5xx
	}
	r.Excerpt = excerpt(resp.Body)
	drain(resp.Body)
	return r
}

func excerpt(body io.Reader) string {
	buf, _ := io.ReadAll(io.LimitReader(body, MaxExcerpt))
	// Cut at a rune boundary so the excerpt stays valid UTF-8.
	for len(buf) > 0 && !utf8.Valid(buf) {
		buf = buf[:len(buf)-1]
	}
	return string(buf)
}

func drain(body io.Reader) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, maxDrain))
}

// ParseRetryAfter reads a Retry-After value: delay seconds or an HTTP date.
// It returns 0 when the value is missing or unreadable.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, int64(24*time.Hour/time.Second))) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil && at.After(now) {
		return at.Sub(now)
	}
	return 0
}
