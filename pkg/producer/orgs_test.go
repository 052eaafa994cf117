package producer_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/callback-dispatcher/dispatcher/internal/api"
	"github.com/callback-dispatcher/dispatcher/internal/testenv"
	"github.com/callback-dispatcher/dispatcher/pkg/producer"
)

// exampleOrg is the imsOrgId of Adobe's example execution request.
const exampleOrg = "12345ABCDE@AdobeOrg"

const apiToken = "orgs-test-token-0123456789"

func TestUnknownOrgIsRefusedWith422(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		known      []string
		defaultOrg string
		dropOrg    bool
		wantStatus int
	}{
		{name: "any org is accepted when no orgs are configured",
			wantStatus: http.StatusAccepted},
		{name: "a known org is accepted", known: []string{"OTHER@AdobeOrg", exampleOrg},
			wantStatus: http.StatusAccepted},
		{name: "an unknown org is refused", known: []string{"OTHER@AdobeOrg"},
			wantStatus: http.StatusUnprocessableEntity},
		{name: "an unknown default org is refused", known: []string{exampleOrg},
			defaultOrg: "OTHER@AdobeOrg", dropOrg: true,
			wantStatus: http.StatusUnprocessableEntity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, redisURL := testenv.Redis(t)
			client, err := producer.New(producer.Config{RedisURL: redisURL, Queue: "orgs-test",
				KnownOrgIDs: tt.known, DefaultOrgID: tt.defaultOrg,
				AllowedHosts: []string{"adobe.com"}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { client.Close() })
			srv := httptest.NewServer(api.New(client, api.Config{Tokens: []string{apiToken}},
				slog.New(slog.DiscardHandler)).Handler())
			t.Cleanup(srv.Close)

			status, body := post(t, srv.URL, request(t, tt.dropOrg))
			if status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", status, tt.wantStatus, body)
			}
			if status != http.StatusUnprocessableEntity {
				return
			}
			var answer struct {
				Violations []struct{ Path, Code, Message string } `json:"violations"`
			}
			if err := json.Unmarshal(body, &answer); err != nil {
				t.Fatal(err)
			}
			if len(answer.Violations) != 1 ||
				answer.Violations[0].Path != "execution.context.subscription.imsOrgId" ||
				answer.Violations[0].Code != producer.CodeUnknownOrg {
				t.Errorf("violations %+v, want one unknown_org at the imsOrgId", answer.Violations)
			}
		})
	}
}

// request is an API request for Adobe's lead example, without its org when
// dropOrg is set.
func request(t *testing.T, dropOrg bool) []byte {
	t.Helper()
	var exec map[string]any
	if err := json.Unmarshal(testenv.Testdata(t, "adobe/ajo-b2b/examples/examples-03.json"),
		&exec); err != nil {
		t.Fatal(err)
	}
	if dropOrg {
		delete(exec["context"].(map[string]any)["subscription"].(map[string]any), "imsOrgId")
	}
	data, err := json.Marshal(map[string]any{"execution": exec,
		"result": map[string]any{"activityData": map[string]any{"success": true}}})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func post(t *testing.T, base string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"/v1/callbacks",
		bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+apiToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	if _, err := out.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out.Bytes()
}
