package callback_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/callback-dispatcher/dispatcher/pkg/callback"
)

// rulesDefinition is a service definition of our own that declares a field of
// every data type, so that each rule can be tested alone. Relationship
// leadData may also carry title; accountData may also carry industry.
func rulesDefinition(t testing.TB, entity string, splitPaths bool) *callback.ServiceDefinition {
	t.Helper()
	const typed = `
    - {serviceAttribute: s, dataType: string}
    - {serviceAttribute: t, dataType: text}
    - {serviceAttribute: e, dataType: email}
    - {serviceAttribute: u, dataType: url}
    - {serviceAttribute: i, dataType: integer}
    - {serviceAttribute: sc, dataType: score}
    - {serviceAttribute: f, dataType: float}
    - {serviceAttribute: b, dataType: boolean}
    - {serviceAttribute: d, dataType: date}
    - {serviceAttribute: dt, dataType: datetime}`
	accessors := ""
	if splitPaths {
		accessors = `
  accessorsMetadata:
    - {accessorName: score, dataType: integer, constraints: {minValue: 0, maxValue: 100}}
    - {accessorName: tier, dataType: string, constraints: {allowedValues: [hot, warm, cold]}}
    - {accessorName: ready, dataType: boolean}
    - {accessorName: ratio, dataType: float}`
	}
	doc := fmt.Sprintf(`apiName: rules_%[1]s
supportedEntityType: %[1]s
timeout: 30
enableSplitPaths: %[2]t
invocationPayloadDef:%[3]s
  journeyContext: true
callbackPayloadDef:
  fields:%[4]s
    - {apiName: title, dataType: string}
  accountFields:%[4]s
    - {serviceAttribute: industry, dataType: string}
  attributes:
    - {apiName: note, dataType: string}
    - {apiName: when, dataType: datetime}
    - {apiName: confidence, dataType: float}
`, entity, splitPaths, accessors, typed)
	def, err := callback.ParseServiceDefinition([]byte(doc), "rules.yaml")
	if err != nil {
		t.Fatalf("parse rules definition: %v", err)
	}
	return def
}

// rulesRequest is an execution request of each entity type.
func rulesRequest(t testing.TB, entity string) *callback.ExecutionRequest {
	t.Helper()
	contexts := map[string]string{
		callback.EntityLead: `{"leadId":"12345",
			"leadData":{"s":"old","i":7,"f":0.5,"b":true,"dt":"2024-01-15T10:30:00Z"}}`,
		callback.EntityAccount: `{"accountId":"67890","accountData":{"industry":"Retail"}}`,
		callback.EntityAccountPerson: `{"accountId":"ACC-54321",
			"accountData":{"industry":"Retail"},"accountPersonRelationships":[
			{"accountPersonRelId":9001,"accountId":54321,"personId":12345,
				"leadData":{"title":"CTO"}},
			{"accountPersonRelId":9002,"accountId":54321,"personId":12346}]}`,
	}
	doc := fmt.Sprintf(`{"token":"tok","callbackUrl":"https://adobe.example/callback",
		"objectData":{"objectType":%q,"objectContext":%s}}`, entity, contexts[entity])
	exec, err := callback.ParseExecutionRequest([]byte(doc))
	if err != nil {
		t.Fatalf("parse rules request: %v", err)
	}
	return exec
}

// ruleCase is a result and the violations PrepareWith must report for it,
// as "path code". entity defaults to lead.
type ruleCase struct {
	name    string
	entity  string
	noSplit bool
	result  string
	want    []string
}

func runRuleCases(t *testing.T, cases []ruleCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			entity := tc.entity
			if entity == "" {
				entity = callback.EntityLead
			}
			exec := rulesRequest(t, entity)
			def := rulesDefinition(t, entity, !tc.noSplit)
			cb, err := callback.PrepareWith(exec, []byte(tc.result), def)
			if got := violationList(t, err, ""); !sameList(got, tc.want) {
				t.Fatalf("got %s\nwant %s", showList(got), showList(sorted(tc.want)))
			}
			if err != nil {
				return
			}
			if err := callback.CheckEnvelopeWith(cb.Body, exec, def); err != nil {
				t.Errorf("the receiver refuses the prepared callback %s: %v", cb.Body, err)
			}
		})
	}
}

const success = `"activityData":{"success":true}`

func TestRuleActivityData(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{name: "a success needs nothing more", result: `{` + success + `}`},
		{
			name:   "activityData is required",
			result: `{}`,
			want:   []string{"result.activityData required"},
		},
		{
			name:   "activityData must be an object",
			result: `{"activityData":true}`,
			want:   []string{"result.activityData type"},
		},
		{
			name:   "success is required",
			result: `{"activityData":{}}`,
			want:   []string{"result.activityData.success required"},
		},
		{
			name:   "success must be a boolean",
			result: `{"activityData":{"success":"true"}}`,
			want:   []string{"result.activityData.success type"},
		},
		{
			name:   "a failure needs an errorCode and a reason",
			result: `{"activityData":{"success":false}}`,
			want: []string{
				"result.activityData.errorCode required", "result.activityData.reason required",
			},
		},
		{
			name:   "a failure's errorCode and reason must not be empty",
			result: `{"activityData":{"success":false,"errorCode":"","reason":""}}`,
			want: []string{
				"result.activityData.errorCode empty", "result.activityData.reason empty",
			},
		},
		{
			name:   "errorCode must be a string",
			result: `{"activityData":{"success":false,"errorCode":503,"reason":"down"}}`,
			want:   []string{"result.activityData.errorCode type"},
		},
		{
			name: "a failure with both is accepted",
			result: `{"activityData":{"success":false,"errorCode":"NOT_FOUND",
				"reason":"no such person"}}`,
		},
	})
}

func TestRuleAttributes(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{
			name: "declared attributes of their types are accepted",
			result: `{"activityData":{"success":true,"note":"ok",
				"when":"2025-10-15T14:30:00Z","confidence":0.9}}`,
		},
		{
			name:   "an undeclared attribute is refused",
			result: `{"activityData":{"success":true,"leadsAnalyzed":3}}`,
			want:   []string{"result.activityData.leadsAnalyzed undeclared_attribute"},
		},
		{
			name:   "an attribute of the wrong type is refused",
			result: `{"activityData":{"success":true,"confidence":"high"}}`,
			want:   []string{"result.activityData.confidence type"},
		},
		{
			name:   "an attribute of the wrong form is refused",
			result: `{"activityData":{"success":true,"when":"yesterday"}}`,
			want:   []string{"result.activityData.when format"},
		},
		{
			name:   "a null attribute is left out",
			result: `{"activityData":{"success":true,"note":null,"errorCode":null}}`,
		},
	})
}

func TestRuleEntityIDs(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{name: "a lead id left out is filled in", result: `{` + success + `}`},
		{
			name:   "a lead id given as a string is accepted",
			result: `{` + success + `,"leadData":{"id":"12345"}}`,
		},
		{
			name:   "a lead id naming another lead is refused",
			result: `{` + success + `,"leadData":{"id":67890}}`,
			want:   []string{"result.leadData.id mismatch"},
		},
		{
			name:   "a lead id that is not an id is refused",
			result: `{` + success + `,"leadData":{"id":true}}`,
			want:   []string{"result.leadData.id type"},
		},
		{
			name:   "an account id naming another account is refused",
			entity: callback.EntityAccount,
			result: `{` + success + `,"accountData":{"id":12345}}`,
			want:   []string{"result.accountData.id mismatch"},
		},
		{
			name:   "a lead callback cannot carry accountData",
			result: `{` + success + `,"accountData":{"id":67890}}`,
			want:   []string{"result.accountData unknown_property"},
		},
		{
			name:   "an account callback cannot carry leadData",
			entity: callback.EntityAccount,
			result: `{` + success + `,"leadData":{"id":12345}}`,
			want:   []string{"result.leadData unknown_property"},
		},
	})
}

func TestRuleIDsEmittedAsNumbers(t *testing.T) {
	for _, entity := range []string{
		callback.EntityLead, callback.EntityAccount, callback.EntityAccountPerson,
	} {
		t.Run("a "+entity+" callback carries integer IDs", func(t *testing.T) {
			exec := rulesRequest(t, entity)
			cb, err := callback.PrepareWith(exec, []byte(`{`+success+`}`),
				rulesDefinition(t, entity, true))
			if err != nil {
				t.Fatalf("prepare: %v", err)
			}
			if strings.Contains(string(cb.Body), `"12345"`) ||
				strings.Contains(string(cb.Body), `"67890"`) ||
				strings.Contains(string(cb.Body), `"9001"`) {
				t.Errorf("body carries an ID as a string: %s", cb.Body)
			}
		})
	}
}

func TestRuleRequestIDMustBeAnInteger(t *testing.T) {
	exec, err := callback.ParseExecutionRequest([]byte(`{"token":"tok",
		"callbackUrl":"https://adobe.example/callback","objectData":{"objectType":"account",
		"objectContext":{"accountId":"ACC-98765"}}}`))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	def := rulesDefinition(t, callback.EntityAccount, true)
	t.Run("with a definition a non-integer request id is refused", func(t *testing.T) {
		_, err := callback.PrepareWith(exec, []byte(`{`+success+`}`), def)
		want := []string{"execution.objectData.objectContext.accountId type"}
		if got := violationList(t, err, ""); !sameList(got, want) {
			t.Errorf("got %s\nwant %s", showList(got), showList(want))
		}
	})
	t.Run("without a definition it is sent as a string, as before", func(t *testing.T) {
		cb, err := callback.Prepare(exec, []byte(`{`+success+`}`))
		if err != nil {
			t.Fatalf("prepare: %v", err)
		}
		if !strings.Contains(string(cb.Body), `"id":"ACC-98765"`) {
			t.Errorf("body %s lacks the string id", cb.Body)
		}
	})
}

func TestRuleAccountPerson(t *testing.T) {
	const ap = callback.EntityAccountPerson
	rel := func(id int, extra string) string {
		return fmt.Sprintf(`{"accountPersonRelId":%d%s}`, id, extra)
	}
	runRuleCases(t, []ruleCase{
		{
			name: "a result naming no relationship answers for all", entity: ap,
			result: `{` + success + `}`,
		},
		{
			name: "relationships with their IDs, leadData and accessorValues are accepted",
			result: `{` + success + `,"accountPersonData":[` + rel(9001,
				`,"accountId":54321,"personId":12345,"leadData":{"title":"CTO"},`+
					`"accessorValues":{"tier":"hot"}`) + `]}`,
			entity: ap,
		},
		{
			name: "an empty accountPersonData is refused", entity: ap,
			result: `{` + success + `,"accountPersonData":[]}`,
			want:   []string{"result.accountPersonData empty"},
		},
		{
			name: "a relationship not in the request is refused", entity: ap,
			result: `{` + success + `,"accountPersonData":[` + rel(9999, "") + `]}`,
			want:   []string{"result.accountPersonData[0].accountPersonRelId unknown_relationship"},
		},
		{
			name: "a relationship without accountPersonRelId is refused", entity: ap,
			result: `{` + success + `,"accountPersonData":[{"personId":12345}]}`,
			want:   []string{"result.accountPersonData[0].accountPersonRelId required"},
		},
		{
			name: "an accountId or personId that does not match is refused", entity: ap,
			result: `{` + success + `,"accountPersonData":[` +
				rel(9001, `,"accountId":1,"personId":12346`) + `]}`,
			want: []string{
				"result.accountPersonData[0].accountId mismatch",
				"result.accountPersonData[0].personId mismatch",
			},
		},
		{
			name: "a relationship named twice is refused", entity: ap,
			result: `{` + success + `,"accountPersonData":[` + rel(9001, "") + `,` +
				rel(9001, "") + `]}`,
			want: []string{"result.accountPersonData[1].accountPersonRelId duplicate"},
		},
		{
			name: "relationship metadata is refused", entity: ap,
			result: `{` + success + `,"accountPersonData":[` +
				rel(9001, `,"relationshipMetadata":{"role":"champion"},"email":"a@b.example"`) +
				`]}`,
			want: []string{
				"result.accountPersonData[0].email unknown_property",
				"result.accountPersonData[0].relationshipMetadata unknown_property",
			},
		},
		{
			name: "accountData with account fields is accepted", entity: ap,
			result: `{` + success + `,"accountData":{"industry":"Retail","i":7}}`,
		},
		{
			name: "accountData cannot carry accessorValues", entity: ap,
			result: `{` + success + `,"accountData":{"accessorValues":{"tier":"hot"}}}`,
			want:   []string{"result.accountData.accessorValues not_allowed"},
		},
		{
			name: "a relationship's leadData cannot carry an id or accessorValues", entity: ap,
			result: `{` + success + `,"accountPersonData":[` +
				rel(9001, `,"leadData":{"id":12345,"accessorValues":{"tier":"hot"}}`) + `]}`,
			want: []string{
				"result.accountPersonData[0].leadData.accessorValues not_allowed",
				"result.accountPersonData[0].leadData.id not_allowed",
			},
		},
		{
			name: "an accountPerson callback cannot carry top-level leadData", entity: ap,
			result: `{` + success + `,"leadData":{"title":"CTO"}}`,
			want:   []string{"result.leadData unknown_property"},
		},
	})
}

func TestRuleFields(t *testing.T) {
	const ap = callback.EntityAccountPerson
	runRuleCases(t, []ruleCase{
		{
			name: "declared lead fields of every type are accepted",
			result: `{` + success + `,"leadData":{"s":"x","t":"long","e":"jane@example.com",
				"u":"https://example.com","i":-5,"sc":10,"f":0.5,"b":false,"d":"2024-01-15",
				"dt":"2024-01-15T10:30:00Z","title":"CTO"}}`,
		},
		{
			name:   "a lead field declared only for accounts is refused",
			result: `{` + success + `,"leadData":{"industry":"Retail"}}`,
			want:   []string{"result.leadData.industry undeclared_field"},
		},
		{
			name:   "an account field declared only for leads is refused",
			entity: callback.EntityAccount,
			result: `{` + success + `,"accountData":{"title":"CTO"}}`,
			want:   []string{"result.accountData.title undeclared_field"},
		},
		{
			name: "a relationship field declared only for accounts is refused", entity: ap,
			result: `{` + success + `,"accountPersonData":[{"accountPersonRelId":9002,` +
				`"leadData":{"industry":"Retail"}}]}`,
			want: []string{"result.accountPersonData[0].leadData.industry undeclared_field"},
		},
		{
			name:   "a relationship field of the wrong type is refused",
			entity: ap,
			result: `{` + success + `,"accountPersonData":[{"accountPersonRelId":9002,` +
				`"leadData":{"i":"seven"}}]}`,
			want: []string{"result.accountPersonData[0].leadData.i type"},
		},
	})
}

func TestRuleDataTypes(t *testing.T) {
	long := func(n int) string { return `"` + strings.Repeat("x", n) + `"` }
	cases := []struct {
		field string
		value string
		code  string
	}{
		{"s", `"plain"`, ""},
		{"s", long(255), ""},
		{"s", long(256), callback.CodeTooLong},
		{"s", `5`, callback.CodeType},
		{"s", `null`, callback.CodeType},
		{"t", long(2000), ""},
		{"t", long(2001), callback.CodeTooLong},
		{"e", `"jane@example.com"`, ""},
		{"e", `"Jane <jane@example.com>"`, callback.CodeFormat},
		{"e", `"not an address"`, callback.CodeFormat},
		{"u", `"https://example.com/a?b=c"`, ""},
		{"u", `"ftp://example.com/file"`, callback.CodeFormat},
		{"u", `"/relative/path"`, callback.CodeFormat},
		{"u", `"https://example.com/` + strings.Repeat("x", 240) + `"`, callback.CodeTooLong},
		{"i", `5`, ""},
		{"i", `-2147483648`, ""},
		{"i", `2147483648`, callback.CodeOutOfRange},
		{"i", `5.5`, callback.CodeType},
		{"i", `5.0`, callback.CodeType},
		{"i", `1e3`, callback.CodeType},
		{"i", `"5"`, callback.CodeType},
		{"sc", `10`, ""},
		{"sc", `"+5"`, callback.CodeType},
		{"f", `0.85`, ""},
		{"f", `3`, ""},
		{"f", `1e400`, callback.CodeOutOfRange},
		{"f", `"0.5"`, callback.CodeType},
		{"b", `true`, ""},
		{"b", `"true"`, callback.CodeType},
		{"d", `"2024-01-15"`, ""},
		{"d", `"2024-1-15"`, callback.CodeFormat},
		{"d", `"2024-02-30"`, callback.CodeFormat},
		{"d", `"2024-01-15T00:00:00Z"`, callback.CodeFormat},
		{"dt", `"2024-01-15T10:30:00Z"`, ""},
		{"dt", `"2024-01-15T10:30:00.123+02:00"`, ""},
		{"dt", `"2024-01-15T10:30:00+0200"`, ""},
		{"dt", `"2024-01-15T10:30Z"`, ""},
		{"dt", `"2024-01-15T10:30:00"`, callback.CodeFormat},
		{"dt", `"2024-01-15"`, callback.CodeFormat},
	}
	exec := rulesRequest(t, callback.EntityLead)
	def := rulesDefinition(t, callback.EntityLead, true)
	types := map[string]string{
		"s": "a string", "t": "a text", "e": "an email", "u": "a url", "i": "an integer",
		"sc": "a score", "f": "a float", "b": "a boolean", "d": "a date", "dt": "a datetime",
	}
	for _, tc := range cases {
		verdict := "is accepted"
		if tc.code != "" {
			verdict = "is refused as " + tc.code
		}
		value := tc.value
		if len(value) > 40 {
			value = fmt.Sprintf("a %d-byte value", len(value)-2)
		}
		t.Run(fmt.Sprintf("%s as %s %s", value, types[tc.field], verdict), func(t *testing.T) {
			result := `{` + success + `,"leadData":{"` + tc.field + `":` + tc.value + `}}`
			_, err := callback.PrepareWith(exec, []byte(result), def)
			var want []string
			if tc.code != "" {
				want = []string{"result.leadData." + tc.field + " " + tc.code}
			}
			if got := violationList(t, err, ""); !sameList(got, want) {
				t.Errorf("got %s\nwant %s", showList(got), showList(want))
			}
		})
	}
}

func TestRuleAccessors(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{
			name: "declared accessors of their types are accepted",
			result: `{` + success + `,"leadData":{"accessorValues":{"score":100,"tier":"warm",
				"ready":true,"ratio":0.25}}}`,
		},
		{
			name:   "an undeclared accessor is refused",
			result: `{` + success + `,"leadData":{"accessorValues":{"treatmentId":"premium"}}}`,
			want:   []string{"result.leadData.accessorValues.treatmentId undeclared_accessor"},
		},
		{
			name:   "an accessor of the wrong type is refused",
			result: `{` + success + `,"leadData":{"accessorValues":{"score":"92"}}}`,
			want:   []string{"result.leadData.accessorValues.score type"},
		},
		{
			name:   "an accessor below its minValue is refused",
			result: `{` + success + `,"leadData":{"accessorValues":{"score":-1}}}`,
			want:   []string{"result.leadData.accessorValues.score out_of_range"},
		},
		{
			name:   "an accessor above its maxValue is refused",
			result: `{` + success + `,"leadData":{"accessorValues":{"score":101}}}`,
			want:   []string{"result.leadData.accessorValues.score out_of_range"},
		},
		{
			name:   "an accessor outside its allowedValues is refused",
			result: `{` + success + `,"leadData":{"accessorValues":{"tier":"lukewarm"}}}`,
			want:   []string{"result.leadData.accessorValues.tier invalid_value"},
		},
		{
			name:   "accessorValues must be an object",
			result: `{` + success + `,"leadData":{"accessorValues":["score"]}}`,
			want:   []string{"result.leadData.accessorValues type"},
		},
		{
			name:    "accessorValues are refused when split paths are not enabled",
			noSplit: true,
			result:  `{` + success + `,"leadData":{"accessorValues":{"score":1}}}`,
			want:    []string{"result.leadData.accessorValues not_allowed"},
		},
		{
			name:   "account accessorValues are checked in accountData",
			entity: callback.EntityAccount,
			result: `{` + success + `,"accountData":{"accessorValues":{"ready":"yes"}}}`,
			want:   []string{"result.accountData.accessorValues.ready type"},
		},
		{
			name:   "accountPerson accessorValues are checked per relationship",
			entity: callback.EntityAccountPerson,
			result: `{` + success + `,"accountPersonData":[{"accountPersonRelId":9001,` +
				`"accessorValues":{"tier":"hot"}},{"accountPersonRelId":9002,` +
				`"accessorValues":{"tier":"lukewarm"}}]}`,
			want: []string{"result.accountPersonData[1].accessorValues.tier invalid_value"},
		},
	})
}

func TestRuleEntityType(t *testing.T) {
	exec := rulesRequest(t, callback.EntityLead)
	def := rulesDefinition(t, callback.EntityAccount, true)
	want := []string{"execution.objectData.objectType entity_mismatch"}
	t.Run("a producer's lead result under an account definition is refused", func(t *testing.T) {
		_, err := callback.PrepareWith(exec, []byte(`{`+success+`}`), def)
		if got := violationList(t, err, ""); !sameList(got, want) {
			t.Errorf("got %s\nwant %s", showList(got), showList(want))
		}
	})
	t.Run("a receiver's lead callback under an account definition is refused", func(t *testing.T) {
		body := `{"objectData":[{` + success + `,"leadData":{"id":12345}}]}`
		err := callback.CheckEnvelopeWith([]byte(body), exec, def)
		if got := violationList(t, err, ""); !sameList(got, want) {
			t.Errorf("got %s\nwant %s", showList(got), showList(want))
		}
	})
	t.Run("a lead request under an account definition is refused", func(t *testing.T) {
		if got := violationList(t, def.CheckRequest(exec), ""); !sameList(got, want) {
			t.Errorf("got %s\nwant %s", showList(got), showList(want))
		}
	})
}

// TestRuleReceiver covers what only a receiver checks: a callback body must
// carry every ID itself, as a JSON integer.
func TestRuleReceiver(t *testing.T) {
	cases := []struct {
		name   string
		entity string
		body   string
		want   []string
	}{
		{
			name:   "a lead callback without leadData is refused",
			entity: callback.EntityLead,
			body:   `{"objectData":[{` + success + `}]}`,
			want:   []string{"objectData[0].leadData required"},
		},
		{
			name:   "a lead callback without leadData.id is refused",
			entity: callback.EntityLead,
			body:   `{"objectData":[{` + success + `,"leadData":{"s":"x"}}]}`,
			want:   []string{"objectData[0].leadData.id required"},
		},
		{
			name:   "a lead id sent as a string is refused",
			entity: callback.EntityLead,
			body:   `{"objectData":[{` + success + `,"leadData":{"id":"12345"}}]}`,
			want:   []string{"objectData[0].leadData.id type"},
		},
		{
			name:   "an account callback without accountData.id is refused",
			entity: callback.EntityAccount,
			body:   `{"objectData":[{` + success + `,"accountData":{}}]}`,
			want:   []string{"objectData[0].accountData.id required"},
		},
		{
			name:   "an accountPerson callback without accountPersonData is refused",
			entity: callback.EntityAccountPerson,
			body:   `{"objectData":[{` + success + `}]}`,
			want:   []string{"objectData[0].accountPersonData required"},
		},
		{
			name:   "a relationship without accountId and personId is refused",
			entity: callback.EntityAccountPerson,
			body: `{"objectData":[{` + success + `,"accountPersonData":[` +
				`{"accountPersonRelId":9001}]}]}`,
			want: []string{
				"objectData[0].accountPersonData[0].accountId required",
				"objectData[0].accountPersonData[0].personId required",
			},
		},
		{
			name:   "an envelope with two items is refused",
			entity: callback.EntityLead,
			body:   `{"objectData":[{},{}]}`,
			want:   []string{"objectData out_of_range"},
		},
		{
			name:   "an accountPerson callback with accountData needs its id",
			entity: callback.EntityAccountPerson,
			body: `{"objectData":[{` + success + `,"accountData":{"i":1},"accountPersonData":[` +
				`{"accountPersonRelId":9001,"accountId":54321,"personId":12345}]}]}`,
			want: []string{"objectData[0].accountData.id required"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			exec := rulesRequest(t, tc.entity)
			def := rulesDefinition(t, tc.entity, true)
			err := callback.CheckEnvelopeWith([]byte(tc.body), exec, def)
			if got := violationList(t, err, ""); !sameList(got, tc.want) {
				t.Errorf("got %s\nwant %s", showList(got), showList(sorted(tc.want)))
			}
		})
	}
}

func TestCheckEnvelopeWithoutRequest(t *testing.T) {
	def := rulesDefinition(t, callback.EntityLead, true)
	t.Run("the definition's entity type and fields are checked", func(t *testing.T) {
		body := `{"objectData":[{` + success + `,"leadData":{"id":1,"zzz":1}}]}`
		err := callback.CheckEnvelopeWith([]byte(body), nil, def)
		want := []string{"objectData[0].leadData.zzz undeclared_field"}
		if got := violationList(t, err, ""); !sameList(got, want) {
			t.Errorf("got %s\nwant %s", showList(got), showList(want))
		}
	})
	t.Run("with neither request nor definition it is CheckEnvelope", func(t *testing.T) {
		body := []byte(`{"objectData":[{` + success + `,"leadData":{"id":"12345"}}]}`)
		if err := callback.CheckEnvelopeWith(body, nil, nil); err != nil {
			t.Errorf("got %v, want CheckEnvelope's verdict: accepted", err)
		}
	})
}
