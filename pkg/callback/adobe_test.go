package callback_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/callback-dispatcher/dispatcher/pkg/callback"
)

// Kinds of Adobe example files.
const (
	kindCallback   = "callback"   // a whole callback body, {"objectData":[…]}
	kindResult     = "result"     // part of a callback item, checked as a producer's result
	kindRequest    = "request"    // an execution request, or a part of one spliced into a whole
	kindDefinition = "definition" // a service definition
	kindOther      = "other"      // an error or acknowledgement body: nothing to check
)

// adobeVerdict is the written-down verdict on one of Adobe's example files,
// checked against the execution request and service definition it belongs
// to. want lists the expected violations as "path code", with paths
// relative to the callback item for callbacks and results; envelope lists
// those only a receiver sees, outside the item.
type adobeVerdict struct {
	file     string
	kind     string
	request  string
	splice   []fragment
	def      string
	wrap     string
	want     []string
	envelope []string
	why      string
}

var adobeVerdicts = []adobeVerdict{
	// Whole callbacks: checked by a receiver (CheckEnvelopeWith) and, item
	// only, by a producer (PrepareWith), which must agree.
	{
		file: "examples-06.json", kind: kindCallback, request: "examples-03.json",
		def: "lead-enrichment.yaml",
		why: "the lead callback of examples-03, whose split path on enrichmentScore is " +
			"lead-enrichment's; every field and accessor it sends is declared there",
	},
	{
		file: "examples-06.json", kind: kindCallback, request: "examples-03.json",
		def: "lead-scoring.json",
		want: []string{
			"leadData.accessorValues.dataQuality undeclared_accessor",
			"leadData.accessorValues.enrichmentScore undeclared_accessor",
			"leadData.email undeclared_field",
			"leadData.firstName undeclared_field",
			"leadData.lastName undeclared_field",
			"leadData.linkedInUrl undeclared_field",
			"leadData.title undeclared_field",
		},
		why: "lead-scoring declares these as invocation fields only, and other accessors: " +
			"the callback belongs to lead-enrichment",
	},
	{
		file: "examples-07.json", kind: kindCallback, request: "examples-03.json",
		def:  "lead-enrichment.yaml",
		want: []string{"leadData.id mismatch"},
		why: "a well-formed failure, but for lead 67890, which no lead request among " +
			"Adobe's examples names (67890 is the account of execution-request-05)",
	},
	{
		file: "callback-response-04.json", kind: kindCallback, request: "examples-03.json",
		def: "lead-enrichment.yaml",
		want: []string{
			"leadData.accessorValues.treatmentId undeclared_accessor",
			"leadData.customField1 undeclared_field",
		},
		why: "customField1 and the treatmentId accessor are declared by no definition",
	},
	{
		file: "callback-response-05.json", kind: kindCallback, request: "examples-04.json",
		splice: []fragment{{file: "execution-request-05.json"}},
		def:    "account-enrichment.json",
		want: []string{
			"accountData.accessorValues.accountScore undeclared_accessor",
			"accountData.accessorValues.region undeclared_accessor",
			"accountData.accessorValues.tier undeclared_accessor",
			"accountData.accountName undeclared_field",
			"accountData.customAccountField1 undeclared_field",
			"accountData.employees undeclared_field",
			"accountData.industry undeclared_field",
			"accountData.revenue undeclared_field",
			"accountData.website undeclared_field",
		},
		why: "answers account 67890 of execution-request-05; accountName, industry and " +
			"website are invocation fields, not callback ones, and revenue, employees, " +
			"customAccountField1 and the three accessors are declared nowhere",
	},
	{
		file: "callback-response-06.json", kind: kindCallback, request: "examples-05.json",
		def: "accountPerson-buying-group.json",
		want: []string{
			"accountData.accountEngagementScore undeclared_field",
			"accountData.opportunityStage undeclared_field",
			"accountPersonData[0].leadData.email undeclared_field",
			"accountPersonData[0].leadData.mobilePhone undeclared_field",
			"accountPersonData[0].leadData.title undeclared_field",
			"accountPersonData[1].leadData.email undeclared_field",
			"accountPersonData[1].leadData.title undeclared_field",
			"activityData.analysisModel undeclared_attribute",
			"activityData.leadsAnalyzed undeclared_attribute",
			"activityData.rolesIdentified undeclared_attribute",
		},
		why: "IDs, accessors and three account fields fit, but the buying-group " +
			"definition lets a relationship update only validatedTitle and " +
			"reportingStructure, and declares none of these attributes",
	},
	{
		file: "error-handling-07.json", kind: kindCallback, request: "examples-03.json",
		def: "lead-enrichment.yaml",
		why: "a failure with errorCode, reason and the lead's id",
	},
	{
		file: "data-flow-04.json", kind: kindCallback, request: "data-flow-03.json",
		def:      "lead-enrichment.yaml",
		want:     []string{"leadData.enrichedData undeclared_field"},
		envelope: []string{"token unknown_property"},
		why: "the token belongs in the X-Callback-Token header, not the body, and " +
			"enrichedData is declared nowhere",
	},

	// Parts of callbacks, checked as a producer's result; one without
	// activityData is completed with {"success":true}.
	{
		file: "callback-response-01.json", kind: kindResult, request: "examples-03.json",
		def: "lead-enrichment.yaml",
		why: "a success; the null errorCode and reason are left out of the callback",
	},
	{
		file: "callback-response-02.json", kind: kindResult, request: "examples-03.json",
		def: "lead-enrichment.yaml", why: "a bare success; the lead's id is filled in",
	},
	{
		file: "callback-response-03.json", kind: kindResult, request: "examples-03.json",
		def: "lead-enrichment.yaml", why: "a failure with errorCode and reason",
	},
	{
		file: "data-flow-01.json", kind: kindResult, request: "data-flow-03.json",
		def: "lead-enrichment.yaml", why: "email is declared; the id is filled in",
	},
	{
		file: "data-flow-02.json", kind: kindResult, request: "data-flow-03.json",
		def: "lead-enrichment.yaml", why: "an updated email for lead 12345",
	},
	{
		file: "path-condition-accessors-01.json", kind: kindResult,
		request: "data-flow-03.json", def: "lead-enrichment.yaml",
		want: []string{"leadData.accessorValues.treatmentId undeclared_accessor"},
		why:  "treatmentId is declared by no definition",
	},
	{
		file: "path-condition-accessors-02.json", kind: kindResult,
		request: "data-flow-03.json", def: "lead-enrichment.yaml",
		want: []string{"leadData.accessorValues.isVerified undeclared_accessor"},
		why:  "isVerified is declared by no definition",
	},
	{
		file: "path-condition-accessors-03.json", kind: kindResult, request: "examples-04.json",
		splice: []fragment{{file: "execution-request-05.json"}},
		def:    "account-enrichment.json",
		want: []string{
			"accountData.accessorValues.accountScore undeclared_accessor",
			"accountData.accessorValues.fitScore undeclared_accessor",
			"accountData.accessorValues.tier undeclared_accessor",
			"accountData.accountName undeclared_field",
		},
		why: "accountName is an invocation field; the accessors are declared nowhere",
	},
	{
		file: "path-condition-accessors-04.json", kind: kindResult, request: "examples-05.json",
		splice: []fragment{{file: "execution-request-06.json"}},
		def:    "accountPerson-buying-group.json",
		want: []string{
			"accountPersonData[0].accessorValues.engagementScore undeclared_accessor",
			"accountPersonData[0].accessorValues.persona undeclared_accessor",
			"accountPersonData[0].accessorValues.priority undeclared_accessor",
			"accountPersonData[0].email unknown_property",
			"accountPersonData[0].title unknown_property",
			"accountPersonData[1].accessorValues.engagementScore undeclared_accessor",
			"accountPersonData[1].accessorValues.persona undeclared_accessor",
			"accountPersonData[1].accessorValues.priority undeclared_accessor",
			"accountPersonData[1].accountPersonRelId unknown_relationship",
			"accountPersonData[1].email unknown_property",
			"accountPersonData[1].title unknown_property",
		},
		why: "person fields belong in a relationship's leadData, not beside its IDs; " +
			"relationship 112 is not in execution-request-06; the accessors are declared nowhere",
	},
	{
		file: "path-condition-accessors-06.json", kind: kindResult, request: "examples-03.json",
		def: "lead-scoring.json", wrap: "leadData",
		want: []string{"leadData.accessorValues.segment undeclared_accessor"},
		why:  "leadScore is lead-scoring's accessor, but segment is declared nowhere",
	},
	{
		file: "path-condition-accessors-07.json", kind: kindResult, request: "examples-03.json",
		def: "lead-enrichment.yaml", wrap: "leadData",
		want: []string{
			"leadData.accessorValues.complianceScore undeclared_accessor",
			"leadData.accessorValues.riskLevel undeclared_accessor",
		},
		why: "no definition declares riskLevel or complianceScore",
	},
	{
		file: "path-condition-accessors-08.json", kind: kindResult, request: "examples-05.json",
		splice: []fragment{{file: "execution-request-06.json"}},
		def:    "accountPerson-buying-group.json",
		want:   []string{"accountPersonData[0].accessorValues.buyingGroupRole undeclared_accessor"},
		why:    "the buying-group definition calls this accessor buyingRole",
	},
	{
		file: "service-definition-01.json", kind: kindResult, request: "examples-03.json",
		def: "lead-enrichment.yaml", wrap: "leadData",
		want: []string{"leadData.accessorValues.treatmentId undeclared_accessor"},
		why:  "enrichmentScore 92 is inside 0-100, but treatmentId is declared nowhere",
	},

	// Execution requests, parsed and checked against the definition of
	// their service (CheckRequest).
	{
		file: "examples-03.json", kind: kindRequest, def: "lead-enrichment.yaml",
		why: "the lead request of lead-enrichment",
	},
	{
		file: "examples-03.json", kind: kindRequest, def: "lead-scoring.json",
		want: []string{
			"execution.actionConfig.pathConfig[0].pathDefinition[0].accessor undeclared_accessor",
		},
		why: "its split path tests enrichmentScore, which lead-scoring does not declare",
	},
	{
		file: "examples-04.json", kind: kindRequest, def: "account-enrichment.json",
		want: []string{"execution.objectData.objectContext.accountId type"},
		why: "parses, but no callback can answer account ACC-98765: Adobe's callback " +
			"schema wants an integer accountData.id",
	},
	{
		file: "examples-05.json", kind: kindRequest, def: "accountPerson-buying-group.json",
		why: "objectContext names ACC-54321, but every relationship names 54321, " +
			"which the callback's accountData.id carries",
	},
	{
		file: "execution-request-10.json", kind: kindRequest, def: "lead-enrichment.yaml",
		why: "a whole lead request with two split paths on enrichmentScore",
	},
	{
		file: "data-flow-03.json", kind: kindRequest, def: "lead-enrichment.yaml",
		why: "no actionConfig.timeout, so the default of 60 minutes applies",
	},
	{
		file: "execution-request-01.json", kind: kindRequest, request: "examples-03.json",
		splice: []fragment{{file: "execution-request-01.json", at: "context"}},
		def:    "lead-enrichment.yaml", why: "context.subscription, with instanceName",
	},
	{
		file: "execution-request-02.json", kind: kindRequest, request: "examples-03.json",
		splice: []fragment{{file: "execution-request-02.json", at: "context"}},
		def:    "lead-enrichment.yaml", why: "context.journey; not needed by a callback",
	},
	{
		file: "execution-request-03.json", kind: kindRequest, request: "examples-03.json",
		splice: []fragment{{file: "execution-request-03.json", at: "context"}},
		def:    "lead-enrichment.yaml", why: "context.admin; not needed by a callback",
	},
	{
		file: "execution-request-04.json", kind: kindRequest, request: "examples-03.json",
		splice: []fragment{{file: "execution-request-04.json"}},
		def:    "lead-enrichment.yaml", why: "a lead objectData with a string leadId",
	},
	{
		file: "execution-request-05.json", kind: kindRequest, request: "examples-04.json",
		splice: []fragment{{file: "execution-request-05.json"}},
		def:    "account-enrichment.json", why: "an account objectData with accountId 67890",
	},
	{
		file: "execution-request-06.json", kind: kindRequest, request: "examples-05.json",
		splice: []fragment{{file: "execution-request-06.json"}},
		def:    "accountPerson-buying-group.json",
		why: "relationshipMetadata, mktoGuid and isEmployee are read past: a callback " +
			"cannot send them back",
	},
	{
		file: "execution-request-07.json", kind: kindRequest, request: "examples-03.json",
		splice: []fragment{{file: "execution-request-07.json"}},
		def:    "lead-enrichment.yaml",
		want: []string{
			"execution.actionConfig.pathConfig[0].pathDefinition[0].accessor undeclared_accessor",
		},
		why: "its split path tests an accessor named score, which no definition declares",
	},
	{
		file: "execution-request-08.json", kind: kindRequest, request: "examples-03.json",
		splice: []fragment{{file: "execution-request-08.json"}},
		def:    "lead-enrichment.yaml", why: "customHeaders are not needed by a callback",
	},
	{
		file: "execution-request-09.json", kind: kindRequest, request: "examples-03.json",
		splice: []fragment{{file: "execution-request-09.json"}},
		def:    "lead-enrichment.yaml", why: "enableSplitPaths as a boolean",
	},
	{
		file: "path-condition-accessors-05.json", kind: kindRequest, request: "examples-03.json",
		splice: []fragment{{file: "path-condition-accessors-05.json"}},
		def:    "lead-enrichment.yaml", why: "an actionConfig without timeout",
	},

	// Service definitions.
	{
		file: "examples-01.json", kind: kindDefinition,
		why: "loads; its apiName is account-enrichment.json's, so a provider serves one of them",
	},
	{
		file: "examples-02.json", kind: kindDefinition,
		why: "loads; it names attributes with serviceAttribute, not apiName",
	},

	// Bodies that are neither a callback nor a request.
	{file: "execution-request-11.json", kind: kindOther, why: "the provider's 201 answer"},
	{file: "execution-request-12.json", kind: kindOther, why: "a provider's error body"},
	{file: "error-handling-01.json", kind: kindOther, why: "a provider's error body"},
	{file: "error-handling-02.json", kind: kindOther, why: "a provider's error body"},
	{file: "error-handling-03.json", kind: kindOther, why: "a provider's error body"},
	{file: "error-handling-04.json", kind: kindOther, why: "a provider's error body"},
	{file: "error-handling-05.json", kind: kindOther, why: "a provider's error body"},
	{file: "error-handling-06.json", kind: kindOther, why: "a provider's error body"},
	{file: "error-handling-08.json", kind: kindOther, why: "Adobe's answer to a callback"},
	{file: "error-handling-09.json", kind: kindOther, why: "Adobe's answer to a callback"},
	{file: "error-handling-10.json", kind: kindOther, why: "Adobe's answer to a callback"},
}

func TestAdobeExamples(t *testing.T) {
	for _, v := range adobeVerdicts {
		name := strings.TrimSuffix(v.file, ".json") + " is " + verdictWord(v.want)
		if v.def != "" {
			name += " under " + v.def
		}
		if v.kind == kindOther {
			name = strings.TrimSuffix(v.file, ".json") + " is not checked"
		}
		t.Run(name, func(t *testing.T) {
			t.Logf("%s: %s", v.kind, v.why)
			switch v.kind {
			case kindCallback:
				checkAdobeCallback(t, v)
			case kindResult:
				checkAdobeResult(t, v)
			case kindRequest:
				checkAdobeRequest(t, v)
			case kindDefinition:
				adobeDefinition(t, filepath.Join("examples", v.file))
			}
		})
	}
}

func (v adobeVerdict) requestFile() string {
	if v.request != "" {
		return v.request
	}
	return v.file
}

func checkAdobeCallback(t *testing.T, v adobeVerdict) {
	exec := adobeRequest(t, v.requestFile(), v.splice...)
	def := adobeDefinition(t, v.def)
	body := adobeFile(t, filepath.Join("examples", v.file))

	got := violationList(t, callback.CheckEnvelopeWith(body, exec, def), "objectData[0].")
	if want := append(sorted(v.envelope), v.want...); !sameList(got, want) {
		t.Errorf("receiver: got %s\nwant %s", showList(got), showList(sorted(want)))
	}

	var env struct{ ObjectData []json.RawMessage }
	if err := json.Unmarshal(body, &env); err != nil || len(env.ObjectData) != 1 {
		t.Fatalf("decode envelope: %v", err)
	}
	_, err := callback.PrepareWith(exec, env.ObjectData[0], def)
	if got := violationList(t, err, "result."); !sameList(got, v.want) {
		t.Errorf("producer: got %s\nwant %s", showList(got), showList(sorted(v.want)))
	}
}

func checkAdobeResult(t *testing.T, v adobeVerdict) {
	exec := adobeRequest(t, v.requestFile(), v.splice...)
	def := adobeDefinition(t, v.def)
	var part map[string]any
	if err := json.Unmarshal(adobeFile(t, filepath.Join("examples", v.file)), &part); err != nil {
		t.Fatalf("decode %s: %v", v.file, err)
	}
	if v.wrap != "" {
		part = map[string]any{v.wrap: part}
	}
	if _, ok := part["activityData"]; !ok {
		part["activityData"] = map[string]any{"success": true}
	}
	result, err := json.Marshal(part)
	if err != nil {
		t.Fatalf("encode result: %v", err)
	}

	cb, err := callback.PrepareWith(exec, result, def)
	if got := violationList(t, err, "result."); !sameList(got, v.want) {
		t.Fatalf("got %s\nwant %s", showList(got), showList(sorted(v.want)))
	}
	if err == nil {
		if err := callback.CheckEnvelopeWith(cb.Body, exec, def); err != nil {
			t.Errorf("the receiver refuses the prepared callback: %v", err)
		}
	}
}

func checkAdobeRequest(t *testing.T, v adobeVerdict) {
	exec := adobeRequest(t, v.requestFile(), v.splice...)
	def := adobeDefinition(t, v.def)
	got := violationList(t, def.CheckRequest(exec), "")
	if !sameList(got, v.want) {
		t.Errorf("got %s\nwant %s", showList(got), showList(sorted(v.want)))
	}
}

// TestAdobeVerdictsCoverEveryExample keeps the verdict table honest: a new
// example file needs a written verdict.
func TestAdobeVerdictsCoverEveryExample(t *testing.T) {
	entries, err := os.ReadDir(filepath.Join(adobeDir, "examples"))
	if err != nil {
		t.Fatalf("list examples: %v", err)
	}
	covered := map[string]bool{}
	for _, v := range adobeVerdicts {
		covered[v.file] = true
	}
	for _, e := range entries {
		if !covered[e.Name()] {
			t.Errorf("%s has no verdict in adobeVerdicts", e.Name())
		}
	}
}

// TestAdobeDefinitionsLoad loads the four definitions a provider would serve
// from one directory, as a service does at start.
func TestAdobeDefinitionsLoad(t *testing.T) {
	dir := t.TempDir()
	files := []string{
		"lead-scoring.json", "account-enrichment.json", "accountPerson-buying-group.json",
		"lead-enrichment.yaml",
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f), adobeFile(t, f), 0o600); err != nil {
			t.Fatalf("copy %s: %v", f, err)
		}
	}
	reg, err := callback.LoadServiceDefinitions(dir)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	want := map[string]string{
		"lead_scoring_service":       callback.EntityLead,
		"account_enrichment_service": callback.EntityAccount,
		"buying_group_role_service":  callback.EntityAccountPerson,
		"leadEnrichmentService":      callback.EntityLead,
	}
	for name, entity := range want {
		def, ok := reg.Lookup(name)
		if !ok {
			t.Errorf("%s is not loaded", name)
			continue
		}
		if def.SupportedEntityType != entity {
			t.Errorf("%s supports %s, want %s", name, def.SupportedEntityType, entity)
		}
	}
	if _, ok := reg.Lookup(""); ok {
		t.Error("with four definitions and none set as default, Lookup(\"\") found one")
	}
}

// validCallback is one of our valid callbacks, with the Adobe request and
// definition it answers.
type validCallback struct {
	file    string
	request string
	splice  []fragment
	def     string
}

var validCallbacks = []validCallback{
	{file: "valid-lead.json", request: "examples-03.json", def: "lead-enrichment.yaml"},
	{
		file: "valid-account.json", request: "examples-04.json",
		splice: []fragment{{file: "execution-request-05.json"}}, def: "account-enrichment.json",
	},
	{
		file: "valid-accountPerson.json", request: "examples-05.json",
		def: "accountPerson-buying-group.json",
	},
}

func (v validCallback) body(t testing.TB) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "callbacks", v.file))
	if err != nil {
		t.Fatalf("read callback: %v", err)
	}
	return data
}

func TestValidCallbacksFromAdobeRequests(t *testing.T) {
	for _, v := range validCallbacks {
		t.Run(v.file+" is accepted by both ends under "+v.def, func(t *testing.T) {
			exec := adobeRequest(t, v.request, v.splice...)
			def := adobeDefinition(t, v.def)
			body := v.body(t)
			if err := callback.CheckEnvelopeWith(body, exec, def); err != nil {
				t.Errorf("receiver: %v", err)
			}

			var env struct{ ObjectData []json.RawMessage }
			if err := json.Unmarshal(body, &env); err != nil {
				t.Fatalf("decode envelope: %v", err)
			}
			cb, err := callback.PrepareWith(exec, env.ObjectData[0], def)
			if err != nil {
				t.Fatalf("producer: %v", err)
			}
			if !sameJSON(t, cb.Body, body) {
				t.Errorf("the producer changed the callback:\n got %s\nwant %s", cb.Body, body)
			}
		})
	}
}

// sameJSON reports whether two JSON documents hold the same value.
func sameJSON(t testing.TB, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("decode %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}
