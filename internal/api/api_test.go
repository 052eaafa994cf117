package api_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/callback-dispatcher/dispatcher/internal/api"
	"github.com/callback-dispatcher/dispatcher/internal/testenv"
	"github.com/callback-dispatcher/dispatcher/pkg/producer"
)

const apiToken = "test-token-0123456789abcdef"

func setup(t *testing.T) *httptest.Server {
	t.Helper()
	return server(t, "", api.Config{Tokens: []string{apiToken}, MaxBodyBytes: 64 << 10})
}

// server is the API with cfg onto redisURL, or its own Redis database when
// redisURL is empty.
func server(t testing.TB, redisURL string, cfg api.Config) *httptest.Server {
	t.Helper()
	if redisURL == "" {
		_, redisURL = testenv.Redis(t)
	}
	client, err := producer.New(producer.Config{RedisURL: redisURL, Queue: "api-test",
		AllowedHosts: []string{"adobe.com"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	srv := httptest.NewServer(api.New(client, cfg, slog.New(slog.DiscardHandler)).Handler())
	t.Cleanup(srv.Close)
	return srv
}

func do(t *testing.T, srv *httptest.Server, method, path, token, body string) (int,
	map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path,
		strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("answer is not JSON: %q", data)
	}
	return resp.StatusCode, out
}

// leadRequest is Adobe's lead execution request (examples-03.json) with a
// result.
func leadRequest(t *testing.T, result string) string {
	exec := testenv.Testdata(t, "adobe/ajo-b2b/examples/examples-03.json")
	return `{"execution":` + string(exec) + `,"result":` + result + `}`
}

func TestEnqueueAndStatus(t *testing.T) {
	t.Parallel()
	srv := setup(t)
	body := leadRequest(t, `{"activityData":{"success":true}}`)

	status, out := do(t, srv, "POST", "/v1/callbacks", apiToken, body)
	if status != http.StatusAccepted || out["status"] != "queued" || out["id"] == "" {
		t.Fatalf("enqueue: %d %v, want 202 queued with an id", status, out)
	}
	id := out["id"].(string)

	status, again := do(t, srv, "POST", "/v1/callbacks", apiToken, body)
	if status != http.StatusOK || again["id"] != id || again["duplicate"] != true {
		t.Fatalf("second enqueue: %d %v, want 200 with the same id, duplicate", status, again)
	}

	status, st := do(t, srv, "GET", "/v1/callbacks/"+id, apiToken, "")
	if status != http.StatusOK || st["status"] != "queued" || st["id"] != id {
		t.Fatalf("status: %d %v, want 200 queued", status, st)
	}
	if status, _ := do(t, srv, "GET", "/v1/callbacks/cb_nope", apiToken, ""); status != 404 {
		t.Errorf("unknown id: %d, want 404", status)
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	srv := setup(t)
	valid := leadRequest(t, `{"activityData":{"success":true}}`)
	tests := []struct {
		name       string
		token      string
		body       string
		wantStatus int
		wantError  string
		wantPaths  []string
	}{
		{name: "no token is 401", body: valid, wantStatus: 401, wantError: "unauthorized"},
		{name: "a wrong token is 401", token: apiToken + "x", body: valid, wantStatus: 401,
			wantError: "unauthorized"},
		{name: "a body over the limit is 413", token: apiToken,
			body: `{"execution":"` + strings.Repeat("a", 70<<10) + `"}`, wantStatus: 413,
			wantError: "body_too_large"},
		{name: "malformed JSON is 400 naming the offset", token: apiToken,
			body: `{"execution": {"token": }`, wantStatus: 400, wantError: "malformed_json"},
		{name: "a missing result is 422", token: apiToken,
			body:       `{"execution":` + string(testenv.Testdata(t, "adobe/ajo-b2b/examples/examples-03.json")) + `}`,
			wantStatus: 422, wantError: "contract_violation", wantPaths: []string{"result"}},
		{name: "every violation is listed with its path", token: apiToken,
			body: `{"execution":{"token":"t1","callbackUrl":"https://evil.example.com/cb",` +
				`"objectData":{"objectType":"lead","objectContext":{"leadId":"7"}}},` +
				`"result":{"activityData":{"success":false},"leadData":{"id":8}}}`,
			wantStatus: 422, wantError: "contract_violation",
			wantPaths: []string{"execution.callbackUrl",
				"execution.context.subscription.imsOrgId", "result.activityData.errorCode",
				"result.activityData.reason", "result.leadData.id"}},
		{name: "execution violations are listed with their paths", token: apiToken,
			body: `{"execution":{"token":"","objectData":{"objectType":"person",` +
				`"objectContext":{}}},"result":{}}`,
			wantStatus: 422, wantError: "contract_violation",
			wantPaths: []string{"execution.token", "execution.callbackUrl",
				"execution.objectData.objectType"}},
		{name: "a callback URL outside the allowlist is 422", token: apiToken,
			body:       strings.Replace(valid, "https://adobe.com/", "https://evil.example.com/", 1),
			wantStatus: 422, wantError: "contract_violation",
			wantPaths: []string{"execution.callbackUrl"}},
		{name: "an unknown member is 422", token: apiToken,
			body:       strings.Replace(valid, `{"execution"`, `{"extra":1,"execution"`, 1),
			wantStatus: 422, wantError: "contract_violation", wantPaths: []string{"extra"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status, out := do(t, srv, "POST", "/v1/callbacks", tt.token, tt.body)
			if status != tt.wantStatus || out["error"] != tt.wantError {
				t.Fatalf("got %d %v, want %d %s", status, out, tt.wantStatus, tt.wantError)
			}
			if tt.wantError == "malformed_json" {
				if off, ok := out["offset"].(float64); !ok || off != 25 {
					t.Errorf("offset %v, want 25", out["offset"])
				}
			}
			paths := map[string]bool{}
			for _, v := range asList(out["violations"]) {
				paths[v.(map[string]any)["path"].(string)] = true
			}
			for _, p := range tt.wantPaths {
				if !paths[p] {
					t.Errorf("no violation at %s in %v", p, out["violations"])
				}
			}
		})
	}
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func TestProbes(t *testing.T) {
	t.Parallel()
	srv := setup(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		if status, _ := do(t, srv, "GET", path, "", ""); status != 200 {
			t.Errorf("%s: %d, want 200", path, status)
		}
	}
}
