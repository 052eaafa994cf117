package adobesim_test

import (
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/callback-dispatcher/dispatcher/internal/adobesim"
	"github.com/callback-dispatcher/dispatcher/pkg/callback"
)

func TestCallbackChecks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		spoil      func(*http.Request)
		body       string
		wantStatus int
		wantCode   string
	}{
		{"a valid callback is accepted", nil, "", 200, ""},
		{"a missing bearer token is refused", func(r *http.Request) {
			r.Header.Del("Authorization")
		}, "", 401, "401013"},
		{"an unknown bearer token is refused", func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer made-up")
		}, "", 401, "401013"},
		{"another auth scheme is refused", func(r *http.Request) {
			r.Header.Set("Authorization", "Basic c2ltOnNpbQ==")
		}, "", 401, "401013"},
		{"the bearer scheme is case-insensitive", func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"),
				"Bearer", "bearer", 1))
		}, "", 200, ""},
		{"a missing callback token is refused", func(r *http.Request) {
			r.Header.Del("X-Callback-Token")
		}, "", 401, "UNAUTHORIZED"},
		{"an empty request id is refused", func(r *http.Request) {
			r.Header.Set("X-Request-Id", "")
		}, "", 401, "UNAUTHORIZED"},
		{"a missing org id is refused", func(r *http.Request) {
			r.Header.Del("x-gw-ims-org-id")
		}, "", 401, "UNAUTHORIZED"},
		{"a wrong API key is refused", func(r *http.Request) {
			r.Header.Set("X-Api-Key", "not-the-key")
		}, "", 403, "403003"},
		{"a missing API key is refused", func(r *http.Request) {
			r.Header.Del("X-Api-Key")
		}, "", 403, "403003"},
		{"another organization is forbidden", func(r *http.Request) {
			r.Header.Set("x-gw-ims-org-id", "OTHER@AdobeOrg")
		}, "", 403, "FORBIDDEN"},
		{"a text body is refused", func(r *http.Request) {
			r.Header.Set("Content-Type", "text/plain")
		}, "", 400, "INVALID_CALLBACK"},
		{"a JSON content type with a charset is accepted", func(r *http.Request) {
			r.Header.Set("Content-Type", "application/json; charset=utf-8")
		}, "", 200, ""},
		{"malformed JSON is refused", nil, `{"objectData":[`, 400, "INVALID_CALLBACK"},
		{"an empty body is refused", nil, " ", 400, "INVALID_CALLBACK"},
		{"a body over 1 MiB is refused", nil,
			`{"objectData":"` + strings.Repeat("x", adobesim.MaxBodyBytes) + `"}`,
			400, "INVALID_CALLBACK"},
		{"a chunked body over 1 MiB is refused", func(r *http.Request) {
			r.ContentLength = -1
		}, `{"objectData":"` + strings.Repeat("x", adobesim.MaxBodyBytes) + `"}`,
			400, "INVALID_CALLBACK"},
		{"a valid chunked body is accepted", func(r *http.Request) {
			r.ContentLength = -1
		}, "", 200, ""},
		{"the bearer token is checked before the headers", func(r *http.Request) {
			r.Header.Del("Authorization")
			r.Header.Del("X-Request-Id")
		}, "", 401, "401013"},
		{"the headers are checked before the API key", func(r *http.Request) {
			r.Header.Del("X-Request-Id")
			r.Header.Set("X-Api-Key", "not-the-key")
		}, "", 401, "UNAUTHORIZED"},
		{"the API key is checked before the organization", func(r *http.Request) {
			r.Header.Set("X-Api-Key", "not-the-key")
			r.Header.Set("x-gw-ims-org-id", "OTHER@AdobeOrg")
		}, "", 403, "403003"},
		{"the headers are checked before the body", func(r *http.Request) {
			r.Header.Set("x-gw-ims-org-id", "OTHER@AdobeOrg")
		}, "{", 403, "FORBIDDEN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, adobesim.Config{OrgID: testOrg})
			body := validBody
			if tt.body != "" {
				body = tt.body
			}
			req := h.callback("tok-check", body)
			if tt.spoil != nil {
				tt.spoil(req)
			}
			got := h.do(req)
			if got.status != tt.wantStatus || got.code() != tt.wantCode {
				t.Fatalf("answer = %d %.200s, want %d with code %q",
					got.status, got.body, tt.wantStatus, tt.wantCode)
			}
			if ct := got.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			recs := h.sim.Received("")
			if len(recs) != 1 {
				t.Fatalf("recorded %d requests, want 1", len(recs))
			}
			rec := recs[0]
			accepted := tt.wantStatus == http.StatusOK
			if rec.Status != tt.wantStatus || rec.Accepted != accepted ||
				(rec.Problem == "") != accepted {
				t.Errorf("record = %+v, want status %d, accepted %t and a problem when refused",
					rec, tt.wantStatus, accepted)
			}
		})
	}
}

func TestCallbackRecordsTheRequest(t *testing.T) {
	t.Parallel()
	h := newHarness(t, adobesim.Config{})
	h.send("tok-record")
	recs := h.sim.Received("tok-record")
	if len(recs) != 1 {
		t.Fatalf("recorded %d callbacks, want 1", len(recs))
	}
	rec := recs[0]
	if string(rec.Body) != validBody || rec.At.IsZero() {
		t.Errorf("record body = %s at %v, want the body sent and a time", rec.Body, rec.At)
	}
	rec.Body, rec.At = nil, time.Time{}
	want := adobesim.Record{
		Token: "tok-record", RequestID: "req-tok-record", OrgID: testOrg,
		APIKey: adobesim.DefaultClientID, ContentType: "application/json",
		Status: 200, Accepted: true, Attempt: 1,
	}
	if !reflect.DeepEqual(rec, want) {
		t.Errorf("record = %+v, want %+v", rec, want)
	}
}

func TestAdobeExampleCallbacks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file         string
		wantAccepted bool
		wantProblem  string
	}{
		{"examples-06.json", true, ""},
		{"examples-07.json", true, ""},
		{"callback-response-04.json", true, ""},
		{"callback-response-05.json", true, ""},
		{"callback-response-06.json", true, ""},
		{"error-handling-07.json", true, ""},
		{"callback-response-01.json", false, "objectData"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "adobe", "ajo-b2b",
				"examples", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			h := newHarness(t, adobesim.Config{})
			got := h.do(h.callback("tok-example", string(data)))
			if !tt.wantAccepted {
				if got.status != http.StatusBadRequest || got.code() != "INVALID_CALLBACK" ||
					!strings.Contains(string(got.body), tt.wantProblem) {
					t.Errorf("answer = %d %s, want 400 INVALID_CALLBACK naming %s",
						got.status, got.body, tt.wantProblem)
				}
				return
			}
			if got.status != http.StatusOK || string(got.body) != `{"status":"accepted"}` {
				t.Errorf("answer = %d %s, want 200 accepted", got.status, got.body)
			}
		})
	}
}

func TestDuplicatesAreCounted(t *testing.T) {
	t.Parallel()
	h := newHarness(t, adobesim.Config{Rules: []adobesim.Rule{{Match: "tok-b", Script: "503"}}})
	for _, token := range []string{"tok-a", "tok-a", "tok-a", "tok-b", "tok-b", "tok-b", "tok-c"} {
		h.send(token)
	}
	h.do(h.callback("tok-c", "{}"))

	want := adobesim.Stats{TokenFetches: 1, Received: 8, Accepted: 6, Duplicates: 3, Rejected: 2}
	if got := h.sim.Stats(); got != want {
		t.Errorf("stats = %+v, want %+v", got, want)
	}
	for i, rec := range h.sim.Received("tok-a") {
		if rec.Attempt != i+1 {
			t.Errorf("tok-a record %d has attempt %d, want %d", i, rec.Attempt, i+1)
		}
	}
}

func TestKeepBodies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		keep       int
		wantBodies []bool
	}{
		{"only the most recent keep their body", 2, []bool{false, false, true, true}},
		{"a negative count keeps none", -1, []bool{false, false, false, false}},
		{"the default keeps them all here", 0, []bool{true, true, true, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, adobesim.Config{KeepBodies: tt.keep})
			for range tt.wantBodies {
				h.send("tok-keep")
			}
			recs := h.sim.Received("tok-keep")
			if len(recs) != len(tt.wantBodies) {
				t.Fatalf("recorded %d callbacks, want %d", len(recs), len(tt.wantBodies))
			}
			for i, rec := range recs {
				if (rec.Body != nil) != tt.wantBodies[i] || rec.Attempt != i+1 {
					t.Errorf("record %d: body %q, attempt %d; want body kept %t",
						i, rec.Body, rec.Attempt, tt.wantBodies[i])
				}
			}
		})
	}
}

func TestNewRefusesABadRule(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		rules   []adobesim.Rule
		wantErr string
	}{
		{"a bad script",
			[]adobesim.Rule{{Match: "tok-1", Script: "200"}, {Match: "x", Script: "2x"}},
			`rule 2 ("x"): step 1 "2x": status "2x" is not a number or close`},
		{"an empty match", []adobesim.Rule{{Script: "503"}}, `rule 1 (""): match is empty`},
		{"a bad pattern", []adobesim.Rule{{Match: "tok-[", Script: "503"}},
			`rule 1 ("tok-["): match "tok-[" is not a valid pattern`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := adobesim.New(adobesim.Config{Rules: tt.rules})
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("New error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// TestServiceDefinitionsAreEnforced checks callbacks with the producer's own
// code: a field the service does not declare is refused as Adobe would.
func TestServiceDefinitionsAreEnforced(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	root := filepath.Join("..", "..", "testdata", "adobe", "ajo-b2b")
	for _, name := range []string{"lead-enrichment.yaml", "account-enrichment.json"} {
		data, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	reg, err := callback.LoadServiceDefinitions(dir)
	if err != nil {
		t.Fatal(err)
	}
	valid, err := os.ReadFile(filepath.Join("..", "..", "pkg", "callback", "testdata",
		"callbacks", "valid-lead.json"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, body  string
		wantStatus  int
		wantProblem string
	}{
		{"a callback the definition allows is accepted", string(valid), http.StatusOK, ""},
		{"an undeclared field is refused", `{"objectData":[{"activityData":{"success":true},` +
			`"leadData":{"id":12345,"customField1":"x"}}]}`, http.StatusBadRequest,
			"undeclared_field"},
		{"an accessor outside its allowed values is refused",
			`{"objectData":[{"activityData":{"success":true},"leadData":{"id":12345,` +
				`"accessorValues":{"dataQuality":"superb"}}}]}`, http.StatusBadRequest,
			"invalid_value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, adobesim.Config{Definitions: reg})
			got := h.do(h.callback("tok-def", tt.body))
			if got.status != tt.wantStatus || !strings.Contains(string(got.body), tt.wantProblem) {
				t.Errorf("answer = %d %s, want %d naming %q", got.status, got.body, tt.wantStatus,
					tt.wantProblem)
			}
		})
	}
}
