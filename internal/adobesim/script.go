package adobesim

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MaxDelay is the longest delay a fault script step may ask for.
const MaxDelay = 5 * time.Minute

// Limits on the numbers a fault script step may carry.
const (
	maxRepeat     = 1_000_000
	maxRetryAfter = 24 * 60 * 60
)

// answer is how the simulator replies to one callback: a refusal by one of
// its checks, a step of a fault script, or the default acceptance.
type answer struct {
	status int
	body   []byte
	// retryAfter is the Retry-After value in seconds, or -1 for none.
	retryAfter int
	// retryDate sends Retry-After as an HTTP date instead of seconds.
	retryDate bool
	delay     time.Duration
	// hangUp drops the connection instead of answering.
	hangUp bool
	// problem says why the callback was refused; empty when accepted.
	problem string
	// bearerChallenge adds a WWW-Authenticate header to a 401.
	bearerChallenge bool
}

// accepted reports whether Adobe would have taken the callback.
func (a *answer) accepted() bool {
	return !a.hangUp && a.status >= 200 && a.status < 300
}

// step is one step of a fault script, used repeat times in a row.
type step struct {
	answer
	repeat int
}

// script is a parsed fault script: the answers given, in order, to the
// valid callbacks that carry one token.
type script struct {
	steps []step
}

// at returns the answer for the i-th valid callback (from 0), or nil once
// the script is used up.
func (sc *script) at(i int) *answer {
	for j := range sc.steps {
		if i < sc.steps[j].repeat {
			return &sc.steps[j].answer
		}
		i -= sc.steps[j].repeat
	}
	return nil
}

// parseScript reads a fault script: comma-separated steps, each written
// ACTION[:RETRY][@DELAY][*REPEAT] in that order. ACTION is an HTTP status
// (2xx to 5xx) or "close"; RETRY, for 429 and 503 only, is whole
// seconds or "date" and seconds for an HTTP date; DELAY is a Go duration.
func parseScript(text string) (script, error) {
	if strings.TrimSpace(text) == "" {
		return script{}, errors.New("script is empty")
	}
	parts := strings.Split(text, ",")
	sc := script{steps: make([]step, 0, len(parts))}
	for i, part := range parts {
		part = strings.TrimSpace(part)
		if part == "" {
			return script{}, fmt.Errorf("step %d is empty", i+1)
		}
		st, err := parseStep(part)
		if err != nil {
			return script{}, fmt.Errorf("step %d %q: %w", i+1, part, err)
		}
		sc.steps = append(sc.steps, st)
	}
	return sc, nil
}

func parseStep(text string) (step, error) {
	st := step{answer: answer{retryAfter: -1}, repeat: 1}
	rest, repeat, found := cutLast(text, "*")
	if found {
		n, err := strconv.Atoi(repeat)
		if err != nil || n < 1 || n > maxRepeat {
			return step{}, fmt.Errorf("repeat %q is not a whole number from 1 to %d",
				repeat, maxRepeat)
		}
		st.repeat = n
	}

	rest, delay, found := cutLast(rest, "@")
	if found {
		d, err := parseDelay(delay)
		if err != nil {
			return step{}, err
		}
		st.delay = d
	}

	action, retry, found := strings.Cut(rest, ":")
	if err := st.setAction(action); err != nil {
		return step{}, err
	}
	if found {
		if err := st.setRetry(retry); err != nil {
			return step{}, err
		}
	}
	return st, nil
}

func cutLast(s, sep string) (before, after string, found bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

func parseDelay(text string) (time.Duration, error) {
	d, err := time.ParseDuration(text)
	switch {
	case err != nil:
		return 0, fmt.Errorf("delay %q is not a duration such as 500ms or 2s", text)
	case d <= 0:
		return 0, fmt.Errorf("delay %s is not positive", text)
	case d > MaxDelay:
		return 0, fmt.Errorf("delay %s is longer than the maximum of %s", text, MaxDelay)
	}
	return d, nil
}

func (st *step) setAction(action string) error {
	if action == "close" {
		st.hangUp = true
		st.problem = "fault script closed the connection"
		return nil
	}
	status, err := strconv.Atoi(action)
	if err != nil {
		return fmt.Errorf("status %q is not a number or close", action)
	}
	if status < 200 || status > 599 {
		return fmt.Errorf("status %d is not 2xx, 3xx, 4xx or 5xx", status)
	}
	st.status = status
	st.body = scriptedBody(status, -1)
	if !st.accepted() {
		st.problem = "fault script answered " + action
	}
	st.bearerChallenge = status == http.StatusUnauthorized
	return nil
}

func (st *step) setRetry(text string) error {
	if st.status != http.StatusTooManyRequests && st.status != http.StatusServiceUnavailable {
		return errors.New("only 429 and 503 take a Retry-After")
	}
	digits, isDate := strings.CutPrefix(text, "date")
	n, err := strconv.Atoi(digits)
	if err != nil || n < 0 || n > maxRetryAfter || strings.HasPrefix(digits, "+") {
		return fmt.Errorf("retry %q is not seconds or date and seconds, from 0 to %d",
			text, maxRetryAfter)
	}
	st.retryAfter = n
	st.retryDate = isDate
	st.body = scriptedBody(st.status, n)
	return nil
}
