package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/callback-dispatcher/dispatcher/internal/job"
	"github.com/callback-dispatcher/dispatcher/pkg/callback"
)

// exampleFile is Adobe's lead example, the execution request every
// callback of a run is made from.
const exampleFile = "testdata/adobe/ajo-b2b/examples/examples-03.json"

// Workload makes the callbacks of one phase: Adobe's lead example, each
// with its own execution token and a callbackUrl on the simulator, and one
// result whose callback body is BodySize bytes long.
type Workload struct {
	prefix string
	simURL string
	exec   *callback.ExecutionRequest
	result callback.Result
	// resultJSON is the result as the HTTP API reads it.
	resultJSON []byte
	// execParts is the example's JSON split around the token placeholder.
	execParts [][]byte
	// body is the callback body, the same for every callback of the run.
	body []byte
}

// placeholder stands for the token in the example's JSON; the callbackUrl
// carries it too.
const placeholder = "@@token@@"

// NewWorkload reads Adobe's example under root and pads the result until the
// callback body is bodySize bytes. prefix starts every token of the phase.
func NewWorkload(root, simURL, prefix string, bodySize int) (*Workload, error) {
	raw, err := os.ReadFile(filepath.Join(root, exampleFile))
	if err != nil {
		return nil, fmt.Errorf("read Adobe's example: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("decode Adobe's example: %w", err)
	}
	m["token"] = placeholder
	m["callbackUrl"] = simURL + "/callback/" + placeholder
	tmpl, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	w := &Workload{prefix: prefix, simURL: simURL,
		execParts: bytes.Split(tmpl, []byte(placeholder))}
	if w.exec, err = callback.ParseExecutionRequest(tmpl); err != nil {
		return nil, fmt.Errorf("parse Adobe's example: %w", err)
	}
	if err := w.pad(bodySize); err != nil {
		return nil, err
	}
	return w, nil
}

// pad sizes the result's notes field so that the callback body is size
// bytes; the body does not depend on the token, so one try and one fix do.
func (w *Workload) pad(size int) error {
	notes := 1
	for range 2 {
		w.result = callback.Result{
			ActivityData: callback.ActivityData{Success: true},
			LeadData: &callback.EntityData{Fields: map[string]any{
				"mobilePhone": "+1-555-0101",
				"seniority":   "Vice President",
				"notes":       strings.Repeat("n", notes),
			}},
		}
		cb, err := callback.PrepareResult(w.Execution(0), w.result)
		if err != nil {
			return fmt.Errorf("prepare the bench callback: %w", err)
		}
		w.body = cb.Body
		notes += size - len(cb.Body)
		if notes < 1 {
			return fmt.Errorf("a body of %d bytes is too small for the example", size)
		}
	}
	var err error
	w.resultJSON, err = json.Marshal(w.result)
	return err
}

// Token is the execution token of callback i.
func (w *Workload) Token(i int) string {
	return fmt.Sprintf("%s-%08d", w.prefix, i)
}

// Execution is callback i's execution request, sharing everything but its
// token and callbackUrl with the example.
func (w *Workload) Execution(i int) *callback.ExecutionRequest {
	exec := *w.exec
	exec.Token = w.Token(i)
	exec.CallbackURL = w.simURL + "/callback/" + exec.Token
	return &exec
}

// Result is the provider's result, the same for every callback.
func (w *Workload) Result() callback.Result { return w.result }

// APIRequest is callback i as the body of POST /v1/callbacks.
func (w *Workload) APIRequest(i int) []byte {
	token := []byte(w.Token(i))
	var b bytes.Buffer
	b.Grow(len(w.execParts[0])*2 + len(w.resultJSON) + 64)
	b.WriteString(`{"execution":`)
	b.Write(bytes.Join(w.execParts, token))
	b.WriteString(`,"result":`)
	b.Write(w.resultJSON)
	b.WriteString(`}`)
	return b.Bytes()
}

// BarePayload is callback i as a bare asynq sender would queue it: the job
// as one JSON object with the same body, built without the producer's
// checks.
func (w *Workload) BarePayload(i int, now time.Time) ([]byte, error) {
	token := w.Token(i)
	j := &job.Job{
		CallbackURL: w.simURL + "/callback/" + token,
		Token:       token,
		RequestID:   job.IDFromToken(token),
		OrgID:       w.exec.Context.Subscription.IMSOrgID,
		EntityType:  callback.EntityLead,
		EntityIDs:   []string{w.exec.ObjectData.ObjectContext.LeadID.String()},
		Body:        w.body,
		Deadline:    now.Add(time.Hour),
		EnqueuedAt:  now,
	}
	return json.Marshal(j)
}

// BodySize is the length of the callback body.
func (w *Workload) BodySize() int { return len(w.body) }
