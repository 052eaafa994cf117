package adobesim_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/callback-dispatcher/dispatcher/internal/adobesim"
)

const (
	testOrg   = "ABC123@AdobeOrg"
	validBody = `{"objectData":[{"activityData":{"success":true},"leadData":{"id":12345}}]}`
)

// harness is a simulator served on loopback with a bearer token in hand.
type harness struct {
	t      testing.TB
	sim    *adobesim.Simulator
	srv    *httptest.Server
	secret string
	bearer string
}

func newHarness(t testing.TB, cfg adobesim.Config) *harness {
	t.Helper()
	h := startHarness(t, cfg)
	if len(cfg.ClientSecrets) > 0 {
		h.secret = cfg.ClientSecrets[0]
	}
	h.bearer = h.mintToken()
	return h
}

// startHarness serves a simulator without minting a token, for configs
// without the default client.
func startHarness(t testing.TB, cfg adobesim.Config) *harness {
	t.Helper()
	sim, err := adobesim.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	return &harness{t: t, sim: sim, srv: srv, secret: adobesim.DefaultClientSecret}
}

// tokenForm is a good token request for the default credentials.
func tokenForm() url.Values {
	return url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {adobesim.DefaultClientID},
		"client_secret": {adobesim.DefaultClientSecret},
		"scope":         {"openid,AdobeID,read_organizations"},
	}
}

// postToken sends a token request and decodes the JSON answer.
func (h *harness) postToken(query string, form url.Values) (int, map[string]any) {
	h.t.Helper()
	u := h.srv.URL + "/ims/token/v3"
	if query != "" {
		u += "?" + query
	}
	req, err := http.NewRequestWithContext(h.t.Context(), http.MethodPost, u,
		strings.NewReader(form.Encode()))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatalf("token request: %v", err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		h.t.Fatalf("decode token answer: %v", err)
	}
	return resp.StatusCode, out
}

func (h *harness) mintToken() string {
	h.t.Helper()
	return h.mintTokenFor(adobesim.DefaultClientID, h.secret)
}

// mintTokenFor gets a token of client id with secret.
func (h *harness) mintTokenFor(id, secret string) string {
	h.t.Helper()
	form := tokenForm()
	form.Set("client_id", id)
	form.Set("client_secret", secret)
	status, out := h.postToken("", form)
	token, _ := out["access_token"].(string)
	if status != http.StatusOK || token == "" {
		h.t.Fatalf("token request for %s answered %d %v", id, status, out)
	}
	return token
}

// callback builds a valid callback for token; a test spoils it as needed.
func (h *harness) callback(token, body string) *http.Request {
	h.t.Helper()
	req, err := http.NewRequestWithContext(h.t.Context(), http.MethodPost,
		h.srv.URL+"/callback/v1/actions", strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+h.bearer)
	req.Header.Set("X-Callback-Token", token)
	req.Header.Set("X-Request-Id", "req-"+token)
	req.Header.Set("x-gw-ims-org-id", testOrg)
	req.Header.Set("X-Api-Key", adobesim.DefaultClientID)
	req.Header.Set("Content-Type", "application/json")
	return req
}

// reply is an answer as a test sees it.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// code is the error code of an Adobe error body, in either of its forms.
func (r reply) code() string {
	var v struct {
		ErrorCode string `json:"error_code"`
		Error     struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(r.body, &v)
	if v.ErrorCode != "" {
		return v.ErrorCode
	}
	return v.Error.Code
}

func (h *harness) do(req *http.Request) reply {
	h.t.Helper()
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatalf("callback: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("read answer: %v", err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: body}
}

// post sends a valid callback without failing the test, so it may run on
// any goroutine.
func (h *harness) post(token string) (int, error) {
	resp, err := h.srv.Client().Do(h.callback(token, validBody))
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func (h *harness) send(token string) reply {
	h.t.Helper()
	return h.do(h.callback(token, validBody))
}

// control calls one of the /sim/ endpoints.
func (h *harness) control(method, path, body string) reply {
	h.t.Helper()
	req, err := http.NewRequestWithContext(h.t.Context(), method, h.srv.URL+path,
		strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	return h.do(req)
}

// eventually polls cond until it holds or a deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("gave up waiting for %s", what)
		case <-tick.C:
		}
	}
}
