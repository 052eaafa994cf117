package api_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/callback-dispatcher/dispatcher/internal/api"
	"github.com/callback-dispatcher/dispatcher/internal/testenv"
)

// batchServer is an API on its own Redis database (or on redisURL), with
// small batch limits.
func batchServer(t *testing.T, redisURL string) *httptest.Server {
	t.Helper()
	return server(t, redisURL, api.Config{Tokens: []string{apiToken}, MaxBodyBytes: 8 << 10,
		MaxBatchBytes: 64 << 10, MaxBatchItems: 5})
}

// leadLine is a callback request of Adobe's lead example on one line, with
// its own token.
func leadLine(t *testing.T, token, result string) string {
	exec := strings.ReplaceAll(string(testenv.Testdata(t,
		"adobe/ajo-b2b/examples/examples-03.json")), "\n", " ")
	return `{"execution":` + replaceToken(exec, token) + `,"result":` + result + `}`
}

func TestBatch(t *testing.T) {
	t.Parallel()
	srv := batchServer(t, "")
	ok := `{"activityData":{"success":true}}`
	body := strings.Join([]string{
		leadLine(t, "batch-1", ok),
		"",
		leadLine(t, "batch-2", `{"activityData":{"success":false}}`),
		`{"execution": {"token": }}`,
		leadLine(t, "batch-1", ok),
		leadLine(t, "batch-3", ok),
	}, "\n") + "\n"
	status, out := do(t, srv, "POST", "/v1/callbacks/batch", apiToken, body)
	if status != http.StatusOK {
		t.Fatalf("batch: %d %v, want 200", status, out)
	}
	for key, want := range map[string]float64{"queued": 2, "duplicates": 1, "refused": 2,
		"failed": 0} {
		if out[key] != want {
			t.Errorf("%s = %v, want %v", key, out[key], want)
		}
	}
	results := asList(out["results"])
	if len(results) != 5 {
		t.Fatalf("%d results, want one per non-blank line: %v", len(results), results)
	}
	want := []struct {
		line         float64
		result, errc string
	}{{1, "queued", ""}, {3, "refused", "contract_violation"}, {4, "refused", "malformed_json"},
		{5, "duplicate", ""}, {6, "queued", ""}}
	for i, w := range want {
		r := results[i].(map[string]any)
		if r["line"] != w.line || r["result"] != w.result || (r["error"] != nil) != (w.errc != "") ||
			(w.errc != "" && r["error"] != w.errc) {
			t.Errorf("result %d = %v, want line %v %s %s", i, r, w.line, w.result, w.errc)
		}
	}
	first, dup := results[0].(map[string]any), results[3].(map[string]any)
	if first["id"] == "" || dup["id"] != first["id"] || dup["status"] != "queued" {
		t.Errorf("the repeated line is not answered with the first one's job: %v, %v", first, dup)
	}
	if v := asList(results[1].(map[string]any)["violations"]); len(v) == 0 {
		t.Errorf("a refused line lists no violations: %v", results[1])
	}
	if off, _ := results[2].(map[string]any)["offset"].(float64); off != 25 {
		t.Errorf("malformed line's offset %v, want 25", results[2].(map[string]any)["offset"])
	}
	// The queued callbacks are there, once each.
	for _, r := range []any{results[0], results[4]} {
		id := r.(map[string]any)["id"].(string)
		if status, st := do(t, srv, "GET", "/v1/callbacks/"+id, apiToken, ""); status != 200 ||
			st["status"] != "queued" {
			t.Errorf("status of %s: %d %v, want queued", id, status, st)
		}
	}
	// Sending the whole batch again queues nothing new.
	_, again := do(t, srv, "POST", "/v1/callbacks/batch", apiToken, body)
	if again["queued"] != 0.0 || again["duplicates"] != 3.0 {
		t.Errorf("the batch sent again: %v, want 0 queued and 3 duplicates", again)
	}
}

func TestBatchRefusals(t *testing.T) {
	t.Parallel()
	srv := batchServer(t, "")
	ok := `{"activityData":{"success":true}}`
	var six []string
	for i := range 6 {
		six = append(six, leadLine(t, fmt.Sprintf("many-%d", i), ok))
	}
	tests := []struct {
		name, token, body string
		wantStatus        int
		wantError         string
	}{
		{"no token is 401", "", leadLine(t, "r-1", ok), 401, "unauthorized"},
		{"an empty batch is 400", apiToken, "\n \n", 400, "empty_batch"},
		{"more items than the limit is 413", apiToken, strings.Join(six, "\n"), 413,
			"too_many_items"},
		{"a body over the limit is 413", apiToken, strings.Repeat(" ", 65<<10), 413,
			"body_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status, out := do(t, srv, "POST", "/v1/callbacks/batch", tt.token, tt.body)
			if status != tt.wantStatus || out["error"] != tt.wantError {
				t.Errorf("got %d %v, want %d %s", status, out, tt.wantStatus, tt.wantError)
			}
		})
	}
	t.Run("a line over the body limit is refused alone", func(t *testing.T) {
		t.Parallel()
		big := leadLine(t, "big", `{"activityData":{"success":true},"leadData":{"notes":"`+
			strings.Repeat("n", 9<<10)+`"}}`)
		status, out := do(t, srv, "POST", "/v1/callbacks/batch", apiToken,
			big+"\n"+leadLine(t, "small", ok))
		results := asList(out["results"])
		if status != 200 || out["refused"] != 1.0 || out["queued"] != 1.0 || len(results) != 2 ||
			results[0].(map[string]any)["error"] != "body_too_large" {
			t.Errorf("got %d %v, want line 1 refused as too large and line 2 queued", status, out)
		}
	})
}

func TestBatchWithoutRedisIs503(t *testing.T) {
	t.Parallel()
	srv := batchServer(t, "redis://"+testenv.FreeAddr(t)+"/0")
	body := leadLine(t, "down-1", `{"activityData":{"success":true}}`) + "\n" +
		leadLine(t, "down-2", `{"activityData":{"success":false}}`)
	status, out := do(t, srv, "POST", "/v1/callbacks/batch", apiToken, body)
	results := asList(out["results"])
	// Once the queue fails a line, the rest are not tried: each would wait
	// for Redis in turn.
	if status != http.StatusServiceUnavailable || out["failed"] != 2.0 || len(results) != 2 ||
		results[0].(map[string]any)["error"] != "queue_unavailable" ||
		results[1].(map[string]any)["error"] != "not_tried" {
		t.Errorf("got %d %v, want 503 with line 1 queue_unavailable and line 2 not_tried",
			status, out)
	}
}

func TestBatchOddInput(t *testing.T) {
	t.Parallel()
	srv := batchServer(t, "")
	t.Run("a compressed body is 415", func(t *testing.T) {
		t.Parallel()
		for _, path := range []string{"/v1/callbacks/batch", "/v1/callbacks"} {
			req, _ := http.NewRequestWithContext(t.Context(), "POST", srv.URL+path,
				strings.NewReader("\x1f\x8b"))
			req.Header.Set("Authorization", "Bearer "+apiToken)
			req.Header.Set("Content-Encoding", "gzip")
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnsupportedMediaType {
				t.Errorf("%s with Content-Encoding gzip: %d, want 415", path, resp.StatusCode)
			}
		}
	})
	t.Run("a GET of the batch path is 405, not a job id", func(t *testing.T) {
		t.Parallel()
		status, out := do(t, srv, "GET", "/v1/callbacks/batch", apiToken, "")
		if status != http.StatusMethodNotAllowed || out["error"] != "method_not_allowed" {
			t.Errorf("got %d %v, want 405 method_not_allowed", status, out)
		}
	})
	t.Run("only JSON white space makes a line blank", func(t *testing.T) {
		t.Parallel()
		_, out := do(t, srv, "POST", "/v1/callbacks/batch", apiToken, " \t\r\n\x0b\n\u00a0\n")
		results := asList(out["results"])
		if len(results) != 2 || out["refused"] != 2.0 ||
			results[0].(map[string]any)["line"] != 2.0 {
			t.Errorf("got %v, want lines 2 and 3 refused and line 1 skipped", out)
		}
	})
	t.Run("a long list of violations is cut", func(t *testing.T) {
		t.Parallel()
		var members []string
		for i := range 150 {
			members = append(members, fmt.Sprintf(`"extra%d":1`, i))
		}
		line := strings.Replace(leadLine(t, "many-violations", `{"activityData":{"success":true}}`),
			`{"execution"`, "{"+strings.Join(members, ",")+`,"execution"`, 1)
		_, out := do(t, srv, "POST", "/v1/callbacks/batch", apiToken, line)
		r := asList(out["results"])[0].(map[string]any)
		if len(asList(r["violations"])) != 100 || r["violationsOmitted"] != 50.0 {
			t.Errorf("%d violations listed, %v omitted; want 100 and 50",
				len(asList(r["violations"])), r["violationsOmitted"])
		}
		status, single := do(t, srv, "POST", "/v1/callbacks", apiToken, line)
		if status != 422 || len(asList(single["violations"])) != 100 ||
			single["violationsOmitted"] != 50.0 {
			t.Errorf("single endpoint: %d, %d violations, %v omitted; want 422, 100 and 50",
				status, len(asList(single["violations"])), single["violationsOmitted"])
		}
	})
}
