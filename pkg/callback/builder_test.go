package callback_test

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/callback-dispatcher/dispatcher/pkg/callback"
)

// TestBuilderBuildsTheValidCallbacks builds, from Adobe's own requests and
// definitions, the valid callback of each entity type in testdata/callbacks.
func TestBuilderBuildsTheValidCallbacks(t *testing.T) {
	when := time.Date(2025, 10, 15, 14, 30, 0, 0, time.UTC).Format(time.RFC3339)
	build := map[string]func(exec *callback.ExecutionRequest) *callback.Builder{
		"valid-lead.json": func(exec *callback.ExecutionRequest) *callback.Builder {
			b := callback.NewSuccess(exec).Attribute("enrichmentStatus", "complete").
				Attribute("enrichmentDate", when).Attribute("dataConfidence", 0.92)
			b.LeadData().
				SetString("mobilePhone", "+1-555-0101").
				SetString("linkedInUrl", "https://linkedin.com/in/johndoe").
				SetString("seniority", "Vice President").
				SetString("firstName", "John").
				Accessor("enrichmentScore", 92).
				Accessor("dataQuality", "high").
				Accessor("contactability", "good")
			return b.DropUnchanged()
		},
		"valid-account.json": func(exec *callback.ExecutionRequest) *callback.Builder {
			b := callback.NewSuccess(exec).Attribute("enrichmentStatus", "complete").
				Attribute("enrichmentDate", when).Attribute("dataConfidence", 0.88)
			b.AccountData().
				SetInt("annualRevenue", 2000000).
				SetInt("employeeCount", 5500).
				SetString("sicCode", "7372").
				SetString("technologies", `["Salesforce","AWS"]`).
				Accessor("accountTier", "enterprise").
				Accessor("enrichmentScore", 95).
				Accessor("buyingSignalStrength", "high").
				Accessor("technographyMatch", true)
			return b
		},
		"valid-accountPerson.json": func(exec *callback.ExecutionRequest) *callback.Builder {
			b := callback.NewSuccess(exec).Attribute("analysisDate", when).
				Attribute("modelConfidence", 0.91)
			b.AccountData().
				SetInt("buyingGroupSize", 7).
				SetString("decisionTimeframe", "Q2 2024").
				SetFloat("committeeCompleteness", 0.85)
			b.ForRelationship(callback.IntID(9001)).
				SetString("validatedTitle", "Chief Technology Officer").
				Accessor("buyingRole", "economic_buyer").
				Accessor("influenceScore", 95).
				Accessor("engagementLevel", "high").
				Accessor("committeeComplete", true).
				Accessor("accountReadiness", "ready")
			b.ForRelationship(callback.IntID(9002)).
				SetString("validatedTitle", "VP of Operations").
				SetString("reportingStructure", "Reports to the COO").
				Accessor("buyingRole", "champion").
				Accessor("influenceScore", 88).
				Accessor("engagementLevel", "high")
			return b
		},
	}
	for _, v := range validCallbacks {
		t.Run(v.file+" is what the builder makes", func(t *testing.T) {
			exec := adobeRequest(t, v.request, v.splice...)
			cb, err := build[v.file](exec).Build(adobeDefinition(t, v.def))
			if err != nil {
				t.Fatalf("build: %v", err)
			}
			if want := v.body(t); !sameJSON(t, cb.Body, want) {
				t.Errorf("got  %s\nwant %s", cb.Body, want)
			}
		})
	}
}

func TestBuilderFailure(t *testing.T) {
	t.Run("a lead failure is Adobe's own error-handling-07", func(t *testing.T) {
		exec := adobeRequest(t, "examples-03.json")
		cb, err := callback.NewFailure(exec, callback.ErrorEnrichmentFailed,
			"External API returned 503 Service Unavailable").
			Build(adobeDefinition(t, "lead-enrichment.yaml"))
		if err != nil {
			t.Fatalf("build: %v", err)
		}
		if want := adobeFile(t, "examples/error-handling-07.json"); !sameJSON(t, cb.Body, want) {
			t.Errorf("got  %s\nwant %s", cb.Body, want)
		}
	})
	t.Run("an accountPerson failure names every relationship", func(t *testing.T) {
		exec := adobeRequest(t, "examples-05.json")
		cb, err := callback.NewFailure(exec, callback.ErrorTimeout, "scoring took too long").
			Build(adobeDefinition(t, "accountPerson-buying-group.json"))
		if err != nil {
			t.Fatalf("build: %v", err)
		}
		want := `{"objectData":[{"activityData":{"success":false,"errorCode":"TIMEOUT",
			"reason":"scoring took too long"},"accountPersonData":[
			{"accountPersonRelId":9001,"accountId":54321,"personId":12345},
			{"accountPersonRelId":9002,"accountId":54321,"personId":12346}]}]}`
		if !sameJSON(t, cb.Body, []byte(want)) {
			t.Errorf("got  %s\nwant %s", cb.Body, want)
		}
	})
}

func TestBuilderDropUnchanged(t *testing.T) {
	cases := []struct {
		name   string
		entity string
		set    func(b *callback.Builder)
		want   string
	}{
		{
			name:   "a string equal to the request's is left out",
			entity: callback.EntityLead,
			set: func(b *callback.Builder) {
				b.LeadData().SetString("s", "old").SetString("t", "new")
			},
			want: `{"id":12345,"t":"new"}`,
		},
		{
			name:   "numbers and booleans are compared by value",
			entity: callback.EntityLead,
			set: func(b *callback.Builder) {
				b.LeadData().SetInt("i", 7).SetFloat("f", 0.5).SetBool("b", true).SetInt("sc", 3)
			},
			want: `{"id":12345,"sc":3}`,
		},
		{
			name:   "a datetime naming the same instant is left out",
			entity: callback.EntityLead,
			set: func(b *callback.Builder) {
				same := time.Date(2024, 1, 15, 11, 30, 0, 0, time.FixedZone("CET", 3600))
				b.LeadData().SetDateTime("dt", same).
					SetDate("d", time.Date(2024, 1, 15, 0, 0, 0, 0, time.UTC))
			},
			want: `{"id":12345,"d":"2024-01-15"}`,
		},
		{
			name:   "accessor values are always sent",
			entity: callback.EntityLead,
			set: func(b *callback.Builder) {
				b.LeadData().SetString("s", "old").Accessor("score", 7)
			},
			want: `{"id":12345,"accessorValues":{"score":7}}`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			exec := rulesRequest(t, tc.entity)
			b := callback.NewSuccess(exec).DropUnchanged()
			tc.set(b)
			cb, err := b.Build(rulesDefinition(t, tc.entity, true))
			if err != nil {
				t.Fatalf("build: %v", err)
			}
			var env struct {
				ObjectData []struct{ LeadData json.RawMessage }
			}
			if err := json.Unmarshal(cb.Body, &env); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if got := env.ObjectData[0].LeadData; !sameJSON(t, got, []byte(tc.want)) {
				t.Errorf("leadData = %s, want %s", got, tc.want)
			}
		})
	}
	t.Run("unchanged account and relationship fields are left out", func(t *testing.T) {
		exec := rulesRequest(t, callback.EntityAccountPerson)
		b := callback.NewSuccess(exec).DropUnchanged()
		b.AccountData().SetString("industry", "Retail")
		b.ForRelationship(callback.IntID(9001)).SetString("title", "CTO").Accessor("ready", true)
		b.ForRelationship(callback.IntID(9002)).SetString("title", "CFO")
		cb, err := b.Build(rulesDefinition(t, callback.EntityAccountPerson, true))
		if err != nil {
			t.Fatalf("build: %v", err)
		}
		want := `{"objectData":[{"activityData":{"success":true},"accountPersonData":[
			{"accountPersonRelId":9001,"accountId":54321,"personId":12345,
				"accessorValues":{"ready":true}},
			{"accountPersonRelId":9002,"accountId":54321,"personId":12346,
				"leadData":{"title":"CFO"}}]}]}`
		if !sameJSON(t, cb.Body, []byte(want)) {
			t.Errorf("got  %s\nwant %s", cb.Body, want)
		}
	})
}

func TestBuilderMisuse(t *testing.T) {
	cases := []struct {
		name   string
		entity string
		use    func(b *callback.Builder)
		want   string
	}{
		{
			name: "leadData on an account request is refused", entity: callback.EntityAccount,
			use:  func(b *callback.Builder) { b.LeadData().SetString("s", "x") },
			want: "leadData is not part of",
		},
		{
			name: "accountData on a lead request is refused", entity: callback.EntityLead,
			use:  func(b *callback.Builder) { b.AccountData().SetInt("i", 1) },
			want: "accountData is not part of",
		},
		{
			name: "a relationship on a lead request is refused", entity: callback.EntityLead,
			use:  func(b *callback.Builder) { b.ForRelationship(callback.IntID(9001)) },
			want: "relationships are not part of",
		},
		{
			name:   "a relationship not in the request is refused",
			entity: callback.EntityAccountPerson,
			use:    func(b *callback.Builder) { b.ForRelationship(callback.IntID(1)) },
			want:   "relationship 1 is not in the execution request",
		},
		{
			name: "a float that is not a number is refused", entity: callback.EntityLead,
			use:  func(b *callback.Builder) { b.LeadData().SetFloat("f", math.NaN()) },
			want: "field f: NaN is not a JSON number",
		},
		{
			name: "an accessor of an unsupported Go type is refused", entity: callback.EntityLead,
			use:  func(b *callback.Builder) { b.LeadData().Accessor("score", []int{1}) },
			want: "accessor score: []int is not",
		},
		{
			name: "an attribute of an unsupported Go type is refused", entity: callback.EntityLead,
			use:  func(b *callback.Builder) { b.Attribute("note", time.Now()) },
			want: "attribute note: time.Time is not",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := callback.NewSuccess(rulesRequest(t, tc.entity))
			tc.use(b)
			_, err := b.Result()
			if err == nil || !strings.HasPrefix(err.Error(), "build callback: ") ||
				!strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error saying %q", err, tc.want)
			}
			if _, err := b.Build(nil); err == nil {
				t.Error("Build succeeded after a misuse")
			}
		})
	}
	t.Run("a builder without a request is refused", func(t *testing.T) {
		if _, err := callback.NewSuccess(nil).Build(nil); err == nil {
			t.Error("got no error")
		}
	})
}

func TestBuilderBuildChecksTheDefinition(t *testing.T) {
	exec := adobeRequest(t, "examples-03.json")
	b := callback.NewSuccess(exec)
	b.LeadData().SetString("customField1", "enriched-value").Accessor("enrichmentScore", 101)
	_, err := b.Build(adobeDefinition(t, "lead-enrichment.yaml"))
	var vs callback.Violations
	if !errors.As(err, &vs) {
		t.Fatalf("got %v, want violations", err)
	}
	got := violationList(t, err, "")
	want := []string{
		"result.leadData.accessorValues.enrichmentScore out_of_range",
		"result.leadData.customField1 undeclared_field",
	}
	if !sameList(got, want) {
		t.Errorf("got %s\nwant %s", showList(got), showList(want))
	}
}

func TestBuilderResultCarriesTheIDs(t *testing.T) {
	exec := adobeRequest(t, "examples-03.json")
	res, err := callback.NewSuccess(exec).Result()
	if err != nil {
		t.Fatalf("result: %v", err)
	}
	if res.LeadData == nil || !res.LeadData.ID.Equal(callback.IntID(12345)) {
		t.Errorf("leadData = %+v, want id 12345", res.LeadData)
	}
}
