package api_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/callback-dispatcher/dispatcher/internal/api"
	"github.com/callback-dispatcher/dispatcher/internal/testenv"
)

// benchServer is the API onto its own Redis database.
func benchServer(b *testing.B) *httptest.Server {
	return server(b, "", api.Config{Tokens: []string{apiToken}})
}

// BenchmarkEnqueueHTTP is POST /v1/callbacks of Adobe's lead example, from
// parallel clients, onto real Redis.
func BenchmarkEnqueueHTTP(b *testing.B) {
	srv := benchServer(b)
	exec := string(testenv.Testdata(b, "adobe/ajo-b2b/examples/examples-03.json"))
	const result = `{"activityData":{"success":true},"leadData":{"mobilePhone":"+1-555-0101"}}`
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			token := fmt.Sprintf("bench-%d", n.Add(1))
			body := `{"execution":` + replaceToken(exec, token) + `,"result":` + result + `}`
			post(b, srv, "/v1/callbacks", strings.NewReader(body), http.StatusAccepted)
		}
	})
}

func replaceToken(exec, token string) string {
	return strings.Replace(exec, "abc123xyz789-lead-enrichment", token, 1)
}

// BenchmarkEnqueueBatchHTTP is POST /v1/callbacks/batch of 100 callbacks
// of Adobe's lead example, from parallel clients, onto real Redis; one op
// is one callback.
func BenchmarkEnqueueBatchHTTP(b *testing.B) {
	srv := benchServer(b)
	exec := strings.ReplaceAll(string(testenv.Testdata(b,
		"adobe/ajo-b2b/examples/examples-03.json")), "\n", " ")
	const result = `{"activityData":{"success":true},"leadData":{"mobilePhone":"+1-555-0101"}}`
	const size = 100
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		var body bytes.Buffer
		for {
			body.Reset()
			k := 0
			for ; k < size && pb.Next(); k++ {
				token := fmt.Sprintf("batch-%d", n.Add(1))
				body.WriteString(`{"execution":` + replaceToken(exec, token) + `,"result":` +
					result + "}\n")
			}
			if k == 0 {
				return
			}
			post(b, srv, "/v1/callbacks/batch", &body, http.StatusOK)
		}
	})
}

// post sends body to path with the API's token and fails unless the answer
// has status want.
func post(b *testing.B, srv *httptest.Server, path string, body io.Reader, want int) {
	req, err := http.NewRequestWithContext(b.Context(), http.MethodPost, srv.URL+path, body)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+apiToken)
	resp, err := srv.Client().Do(req)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != want {
		b.Fatalf("POST %s: status %d, want %d", path, resp.StatusCode, want)
	}
}
