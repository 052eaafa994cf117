package callback_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/callback-dispatcher/dispatcher/pkg/callback"
)

// accountPerson50 returns an accountPerson request with 50 relationships,
// shaped like Adobe's examples-05, and a result that updates every one of
// them under the buying-group definition.
func accountPerson50(b *testing.B) (*callback.ExecutionRequest, []byte) {
	b.Helper()
	var rels, people []string
	for i := range 50 {
		relID, personID := 9001+i, 12345+i
		rels = append(rels, fmt.Sprintf(`{"accountPersonRelId":%d,"accountId":54321,
			"personId":%d,"leadData":{"email":"person%d@globalmfg.example.com",
			"title":"Engineer","department":"IT"}}`, relID, personID, i))
		people = append(people, fmt.Sprintf(`{"accountPersonRelId":%d,"accountId":54321,
			"personId":%d,"leadData":{"validatedTitle":"Senior Engineer",
			"reportingStructure":"Reports to the CTO"},"accessorValues":{
			"buyingRole":"influencer","influenceScore":%d,"engagementLevel":"medium",
			"committeeComplete":false,"accountReadiness":"evaluating"}}`, relID, personID, i))
	}
	var req map[string]any
	if err := json.Unmarshal(adobeFile(b, "examples/examples-05.json"), &req); err != nil {
		b.Fatalf("decode request: %v", err)
	}
	var list []any
	if err := json.Unmarshal([]byte("["+strings.Join(rels, ",")+"]"), &list); err != nil {
		b.Fatalf("decode relationships: %v", err)
	}
	od := req["objectData"].(map[string]any)
	od["objectContext"].(map[string]any)["accountPersonRelationships"] = list
	data, err := json.Marshal(req)
	if err != nil {
		b.Fatalf("encode request: %v", err)
	}
	exec, err := callback.ParseExecutionRequest(data)
	if err != nil {
		b.Fatalf("parse request: %v", err)
	}
	result := `{"activityData":{"success":true,"analysisDate":"2025-10-15T14:30:00Z",
		"modelConfidence":0.91},"accountData":{"buyingGroupSize":50,
		"decisionTimeframe":"Q2 2026","committeeCompleteness":0.85},
		"accountPersonData":[` + strings.Join(people, ",") + `]}`
	return exec, []byte(result)
}

func BenchmarkPrepareAccountPerson50(b *testing.B) {
	exec, result := accountPerson50(b)
	def := adobeDefinition(b, "accountPerson-buying-group.json")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := callback.PrepareWith(exec, result, def); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPrepareAccountPerson50WithoutDefinition is the same work without
// the definition's checks, to show what they cost.
func BenchmarkPrepareAccountPerson50WithoutDefinition(b *testing.B) {
	exec, result := accountPerson50(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := callback.Prepare(exec, result); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheckEnvelopeAccountPerson50(b *testing.B) {
	exec, result := accountPerson50(b)
	def := adobeDefinition(b, "accountPerson-buying-group.json")
	cb, err := callback.PrepareWith(exec, result, def)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := callback.CheckEnvelopeWith(cb.Body, exec, def); err != nil {
			b.Fatal(err)
		}
	}
}

// lead1KiB returns Adobe's lead example and a result whose callback body
// is about 1 KiB, the size make bench sends.
func lead1KiB(b *testing.B) (*callback.ExecutionRequest, callback.Result) {
	b.Helper()
	exec, err := callback.ParseExecutionRequest(adobeFile(b, "examples/examples-03.json"))
	if err != nil {
		b.Fatalf("parse request: %v", err)
	}
	return exec, callback.Result{
		ActivityData: callback.ActivityData{Success: true},
		LeadData: &callback.EntityData{Fields: map[string]any{
			"mobilePhone": "+1-555-0101", "seniority": "Vice President",
			"notes": strings.Repeat("n", 900)}},
	}
}

// BenchmarkPrepareResultLead1KiB builds the envelope of a lead callback from
// a result built in Go, as producer.Client.Enqueue does.
func BenchmarkPrepareResultLead1KiB(b *testing.B) {
	exec, result := lead1KiB(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := callback.PrepareResult(exec, result); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPrepareLead1KiB is the same from the result's JSON, as the HTTP
// API receives it.
func BenchmarkPrepareLead1KiB(b *testing.B) {
	exec, result := lead1KiB(b)
	data, err := json.Marshal(result)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := callback.Prepare(exec, data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseExecutionRequestLead validates Adobe's lead example, as the
// HTTP API does with each request.
func BenchmarkParseExecutionRequestLead(b *testing.B) {
	data := adobeFile(b, "examples/examples-03.json")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := callback.ParseExecutionRequest(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckEnvelopeLead1KiB validates a 1 KiB callback body, as the
// simulator does with each callback.
func BenchmarkCheckEnvelopeLead1KiB(b *testing.B) {
	exec, result := lead1KiB(b)
	cb, err := callback.PrepareResult(exec, result)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(cb.Body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := callback.CheckEnvelope(cb.Body); err != nil {
			b.Fatal(err)
		}
	}
}
