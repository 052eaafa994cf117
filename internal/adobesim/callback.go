package adobesim

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"time"

	"github.com/callback-dispatcher/dispatcher/pkg/callback"
)

// requiredHeaders must be present and non-empty on every callback; they are
// checked after the bearer token and before the API key.
var requiredHeaders = []string{"X-Callback-Token", "X-Request-Id", "X-Gw-Ims-Org-Id"}

// serveCallback plays Adobe's callback endpoint: the fixed checks first,
// then the token's fault script, then acceptance.
func (s *Simulator) serveCallback(w http.ResponseWriter, r *http.Request) {
	rec := s.newRecord(r)
	refusal, body := s.inspect(r, &rec)
	ans := s.settle(&rec, body, refusal)
	if s.log.Enabled(r.Context(), slog.LevelDebug) {
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "callback answered",
			slog.String("request_id", rec.RequestID),
			slog.Int("status", rec.Status),
			slog.Bool("accepted", rec.Accepted),
			slog.Int("attempt", rec.Attempt),
			slog.Int64("delay_ms", ans.delay.Milliseconds()),
			slog.String("problem", rec.Problem))
	}
	respond(w, r, ans)
}

// newRecord starts the record of a request with its headers. The values
// that match the configuration share its strings, so a long run of
// records holds one copy of each.
func (s *Simulator) newRecord(r *http.Request) Record {
	h := r.Header
	rec := Record{
		Token:       h.Get("X-Callback-Token"),
		RequestID:   h.Get("X-Request-Id"),
		OrgID:       h.Get("X-Gw-Ims-Org-Id"),
		APIKey:      h.Get("X-Api-Key"),
		ContentType: h.Get("Content-Type"),
		At:          time.Now(),
	}
	if rec.OrgID == s.cfg.OrgID {
		rec.OrgID = s.cfg.OrgID
	}
	if rec.ContentType == jsonType[0] {
		rec.ContentType = jsonType[0]
	}
	return rec
}

// inspect runs the fixed checks in Adobe's order. It returns the refusal
// and notes the problem in rec, or returns the body of a valid callback.
func (s *Simulator) inspect(r *http.Request, rec *Record) (*answer, []byte) {
	client := s.bearers.clientOf(bearerToken(r.Header.Get("Authorization")), rec.At)
	if client == nil {
		rec.Problem = "bearer token is missing, unknown, expired or revoked"
		return &refuseBearer, nil
	}
	for _, name := range requiredHeaders {
		if r.Header.Get(name) == "" {
			rec.Problem = "header " + name + " is missing or empty"
			return &refuseHeaders, nil
		}
	}
	if refusal := s.checkAPIKey(rec, client); refusal != nil {
		return refusal, nil
	}
	if s.cfg.OrgID != "" && rec.OrgID != s.cfg.OrgID {
		rec.Problem = "x-gw-ims-org-id is not the configured organization"
		return &refuseOrg, nil
	}
	if !client.serves(rec.OrgID) {
		rec.Problem = "x-gw-ims-org-id is not an organization of the bearer token's client"
		return &refuseOrg, nil
	}
	if !isJSON(rec.ContentType) {
		rec.Problem = "Content-Type is not application/json"
		return &refuseContentType, nil
	}

	body, err := readBody(r)
	switch {
	case errors.Is(err, errTooLarge):
		rec.Problem = "body is larger than 1 MiB"
		return &refuseTooLarge, nil
	case err != nil:
		rec.Problem = "body could not be read"
		return &refuseUnreadable, nil
	}
	if err := callback.CheckEnvelopeWith(body, nil, s.definitionFor(body)); err != nil {
		rec.Problem = err.Error()
		return invalidCallback(rec.Problem), body
	}
	return nil, body
}

// checkAPIKey refuses an X-Api-Key that is not the configured APIKey or,
// without one, the client id of the bearer token's client: Adobe's gateway
// checks the key against the credential that issued the token.
func (s *Simulator) checkAPIKey(rec *Record, client *Client) *answer {
	want, problem := s.cfg.APIKey, "X-Api-Key is not the configured API key"
	if want == "" {
		want, problem = client.ID, "X-Api-Key is not the client id of the bearer token's client"
	}
	if rec.APIKey != want {
		rec.Problem = problem
		return &refuseAPIKey
	}
	// Share the configured string, so a long run of records holds one copy.
	rec.APIKey = want
	return nil
}

// settle records a request and decides its answer: the refusal if it has
// one, else the next step of its token's fault script, else acceptance.
func (s *Simulator) settle(rec *Record, body []byte, refusal *answer) *answer {
	sh := s.calls.shardFor(rec.Token)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	st := sh.state(rec.Token)
	st.attempts++
	rec.Attempt = st.attempts

	ans := refusal
	if ans == nil {
		ans = s.nextStep(rec.Token, st)
		rec.Problem = ans.problem
	}
	rec.Status = ans.status
	if ans.hangUp {
		rec.Status = 0
	}
	rec.Accepted = ans.accepted()
	rec.Body = body
	if rec.Accepted {
		st.accepted++
	}

	idx := s.calls.log.append(*rec, rec.Accepted && st.accepted > 1)
	st.records = append(st.records, idx)
	return ans
}

// nextStep takes the token's next fault script step. The shard of st must
// be locked.
func (s *Simulator) nextStep(token string, st *tokenState) *answer {
	r := s.rules.set.Load().match(token)
	if r == nil {
		return &acceptAnswer
	}
	if st.ruleID != r.id {
		st.ruleID, st.next = r.id, 0
	}
	ans := r.script.at(st.next)
	if ans == nil {
		return &acceptAnswer
	}
	st.next++
	return ans
}

func isJSON(contentType string) bool {
	if contentType == jsonType[0] {
		return true
	}
	media, _, err := mime.ParseMediaType(contentType)
	return err == nil && media == "application/json"
}

// errTooLarge reports a body over MaxBodyBytes.
var errTooLarge = errors.New("body is larger than 1 MiB")

// readBody reads a body of at most MaxBodyBytes into one buffer of the
// right size when the length is announced.
func readBody(r *http.Request) ([]byte, error) {
	if r.ContentLength > MaxBodyBytes {
		return nil, errTooLarge
	}
	if r.ContentLength >= 0 {
		body := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, body); err != nil {
			return nil, err
		}
		return body, nil
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(r.Body, MaxBodyBytes+1)); err != nil {
		return nil, err
	}
	if buf.Len() > MaxBodyBytes {
		return nil, errTooLarge
	}
	return buf.Bytes(), nil
}

// definitionFor picks the service definition a callback body follows: the
// only loaded definition of the entity type the body carries, or none.
func (s *Simulator) definitionFor(body []byte) *callback.ServiceDefinition {
	if s.cfg.Definitions == nil {
		return nil
	}
	var probe struct {
		ObjectData []map[string]json.RawMessage `json:"objectData"`
	}
	if json.Unmarshal(body, &probe) != nil || len(probe.ObjectData) != 1 {
		return nil
	}
	item := probe.ObjectData[0]
	entity := callback.EntityAccount
	switch {
	case item["accountPersonData"] != nil:
		entity = callback.EntityAccountPerson
	case item["leadData"] != nil:
		entity = callback.EntityLead
	}
	var found *callback.ServiceDefinition
	for _, def := range s.cfg.Definitions.Definitions() {
		if def.SupportedEntityType == entity {
			if found != nil {
				return nil
			}
			found = def
		}
	}
	return found
}
