package producer_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/callback-dispatcher/dispatcher/internal/testenv"
	"github.com/callback-dispatcher/dispatcher/pkg/callback"
	"github.com/callback-dispatcher/dispatcher/pkg/producer"
)

// definitions loads Adobe's four service definitions.
func definitions(t *testing.T) *callback.Registry {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"lead-scoring.json", "account-enrichment.json",
		"accountPerson-buying-group.json", "lead-enrichment.yaml"} {
		data := testenv.Testdata(t, "adobe/ajo-b2b/"+name)
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	reg, err := callback.LoadServiceDefinitions(dir)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func TestResultsAreCheckedAgainstTheirServiceDefinition(t *testing.T) {
	t.Parallel()
	_, redisURL := testenv.Redis(t)
	client, err := producer.New(producer.Config{RedisURL: redisURL, Queue: "svc-test",
		Definitions: definitions(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	exec := testenv.Testdata(t, "adobe/ajo-b2b/examples/examples-03.json")
	tests := []struct {
		name, service, result string
		wantPath, wantCode    string
	}{
		{name: "a declared field and accessor are queued", service: "leadEnrichmentService",
			result: `{"activityData":{"success":true},"leadData":{"mobilePhone":"+1-555-0101",` +
				`"accessorValues":{"enrichmentScore":92,"dataQuality":"high"}}}`},
		{name: "an undeclared field is refused", service: "leadEnrichmentService",
			result:   `{"activityData":{"success":true},"leadData":{"customField1":"x"}}`,
			wantPath: "result.leadData.customField1", wantCode: "undeclared_field"},
		{name: "an accessor outside its constraints is refused", service: "leadEnrichmentService",
			result: `{"activityData":{"success":true},"leadData":{"accessorValues":` +
				`{"enrichmentScore":101}}}`,
			wantPath: "result.leadData.accessorValues.enrichmentScore", wantCode: "out_of_range"},
		{name: "an unknown service is refused", service: "nope",
			result:   `{"activityData":{"success":true}}`,
			wantPath: "service", wantCode: producer.CodeUnknownService},
		{name: "no service with several definitions is refused",
			result:   `{"activityData":{"success":true}}`,
			wantPath: "service", wantCode: callback.CodeRequired},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e map[string]any
			_ = json.Unmarshal(exec, &e)
			e["token"] = "svc-" + tt.name
			raw, _ := json.Marshal(e)
			receipt, err := client.EnqueueRequest(context.Background(), producer.Request{
				Execution: raw, Result: json.RawMessage(tt.result), Service: tt.service})
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("case %d refused: %v", i, err)
				}
				if receipt.ID == "" {
					t.Fatal("no id")
				}
				return
			}
			var vs callback.Violations
			if !errors.As(err, &vs) {
				t.Fatalf("got %v, want violations", err)
			}
			for _, v := range vs {
				if v.Path == tt.wantPath && v.Code == tt.wantCode {
					return
				}
			}
			t.Errorf("no %s at %s in %v", tt.wantCode, tt.wantPath, vs)
		})
	}
}
