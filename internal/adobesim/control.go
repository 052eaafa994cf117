package adobesim

import (
	"encoding/json"
	"net/http"
)

// maxRuleBytes caps the body of PUT /sim/rules.
const maxRuleBytes = 64 << 10

// routes maps every endpoint. The /sim/ endpoints are the simulator's own:
// Adobe has nothing like them.
func (s *Simulator) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /ims/token/v3", s.serveToken)
	mux.HandleFunc("POST /callback/", s.serveCallback)
	mux.HandleFunc("GET /sim/received", s.serveReceived)
	mux.HandleFunc("GET /sim/stats", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Stats())
	})
	mux.HandleFunc("GET /sim/rules", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Rules())
	})
	mux.HandleFunc("PUT /sim/rules", s.servePutRule)
	mux.HandleFunc("DELETE /sim/rules", func(w http.ResponseWriter, _ *http.Request) {
		s.ClearRules()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /sim/revoke", func(w http.ResponseWriter, _ *http.Request) {
		s.RevokeTokens()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /sim/reset", func(w http.ResponseWriter, _ *http.Request) {
		s.Reset()
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

// receivedReport is the answer of GET /sim/received.
type receivedReport struct {
	TokenFetches int      `json:"tokenFetches"`
	Callbacks    []Record `json:"callbacks"`
}

// serveReceived lists the records of the token named by the token query
// parameter, or of all requests without it.
func (s *Simulator) serveReceived(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, receivedReport{
		TokenFetches: s.TokenFetches(),
		Callbacks:    s.Received(r.URL.Query().Get("token")),
	})
}

// servePutRule sets one rule given as JSON, answering 400 with the problem
// when it is bad.
func (s *Simulator) servePutRule(w http.ResponseWriter, r *http.Request) {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRuleBytes))
	dec.DisallowUnknownFields()
	var rule Rule
	if err := dec.Decode(&rule); err != nil {
		writeJSON(w, http.StatusBadRequest, callbackError{Error: callbackErrorDetail{
			Code: "INVALID_RULE", Message: "decode rule: " + err.Error()}})
		return
	}
	if err := s.SetRule(rule); err != nil {
		writeJSON(w, http.StatusBadRequest, callbackError{Error: callbackErrorDetail{
			Code: "INVALID_RULE", Message: err.Error()}})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
