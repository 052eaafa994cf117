package callback_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/callback-dispatcher/dispatcher/pkg/callback"
)

// minimalDefinition is the smallest valid definition; the cases below
// change one thing in it.
const minimalDefinition = `apiName: minimal
supportedEntityType: lead
timeout: 60
enableSplitPaths: false
callbackPayloadDef:
  fields:
    - {serviceAttribute: title, dataType: string}
  attributes:
    - {apiName: note, dataType: string}
`

func definitionProblems(t testing.TB, err error, file string) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var de *callback.DefinitionError
	if !errors.As(err, &de) {
		t.Fatalf("got error %v, want a *DefinitionError", err)
	}
	out := make([]string, len(de.Problems))
	for i, p := range de.Problems {
		if p.File != file {
			t.Errorf("problem %s names file %q, want %q", p, p.File, file)
		}
		out[i] = p.Path + " " + p.Code
	}
	return sorted(out)
}

func TestParseServiceDefinitionRules(t *testing.T) {
	cases := []struct {
		name string
		file string
		doc  string
		want []string
	}{
		{name: "a minimal definition loads", doc: minimalDefinition},
		{
			name: "the same definition in JSON loads",
			file: "minimal.json",
			doc: `{"apiName":"minimal","supportedEntityType":"account",
				"callbackPayloadDef":{"accountFields":[
					{"serviceAttribute":"x","dataType":"url"}]}}`,
		},
		{
			name: "supportedEntityType is required",
			doc:  strings.Replace(minimalDefinition, "supportedEntityType: lead\n", "", 1),
			want: []string{"supportedEntityType required"},
		},
		{
			name: "an unknown supportedEntityType is refused",
			doc:  strings.Replace(minimalDefinition, "EntityType: lead", "EntityType: contact", 1),
			want: []string{"supportedEntityType invalid_value"},
		},
		{
			name: "apiName is required",
			doc:  strings.Replace(minimalDefinition, "apiName: minimal\n", "", 1),
			want: []string{"apiName required"},
		},
		{
			name: "a timeout over 240 minutes is refused",
			doc:  strings.Replace(minimalDefinition, "timeout: 60", "timeout: 241", 1),
			want: []string{"timeout out_of_range"},
		},
		{
			name: "a timeout of zero is refused",
			doc:  strings.Replace(minimalDefinition, "timeout: 60", "timeout: 0", 1),
			want: []string{"timeout out_of_range"},
		},
		{
			name: "a timeout that is not an integer is refused",
			doc:  strings.Replace(minimalDefinition, "timeout: 60", `timeout: "60"`, 1),
			want: []string{"timeout type"},
		},
		{
			name: "enableSplitPaths without accessorsMetadata is refused",
			doc:  strings.Replace(minimalDefinition, "Paths: false", "Paths: true", 1),
			want: []string{"invocationPayloadDef.accessorsMetadata required"},
		},
		{
			name: "enableSplitPaths must be a boolean",
			doc:  strings.Replace(minimalDefinition, "Paths: false", `Paths: "yes"`, 1),
			want: []string{"enableSplitPaths type"},
		},
		{
			name: "an attribute named success, reason or errorCode is refused",
			doc: minimalDefinition + `    - {apiName: success, dataType: boolean}
    - {apiName: reason, dataType: string}
    - {serviceAttribute: errorCode, dataType: string}
`,
			want: []string{
				"callbackPayloadDef.attributes[1].apiName reserved",
				"callbackPayloadDef.attributes[2].apiName reserved",
				"callbackPayloadDef.attributes[3].serviceAttribute reserved",
			},
		},
		{
			name: "a field named id or accessorValues is refused",
			doc: strings.Replace(minimalDefinition, "  attributes:",
				"    - {apiName: id, dataType: integer}\n"+
					"    - {apiName: accessorValues, dataType: string}\n  attributes:", 1),
			want: []string{
				"callbackPayloadDef.fields[1].apiName reserved",
				"callbackPayloadDef.fields[2].apiName reserved",
			},
		},
		{
			name: "an unknown dataType is refused wherever it appears",
			doc: strings.Replace(minimalDefinition, "dataType: string}\n  attributes",
				"dataType: money}\n  attributes", 1) + `invocationPayloadDef:
  flowAttributes:
    - {apiName: model, dataType: enum}
`,
			want: []string{
				"callbackPayloadDef.fields[0].dataType invalid_value",
				"invocationPayloadDef.flowAttributes[0].dataType invalid_value",
			},
		},
		{
			name: "a field declared twice is refused",
			doc: strings.Replace(minimalDefinition, "  attributes:",
				"    - {serviceAttribute: title, dataType: text}\n  attributes:", 1),
			want: []string{"callbackPayloadDef.fields[1].serviceAttribute duplicate"},
		},
		{
			name: "a field whose serviceAttribute and apiName disagree is refused",
			doc: strings.Replace(minimalDefinition, "{serviceAttribute: title,",
				"{serviceAttribute: title, apiName: jobTitle,", 1),
			want: []string{"callbackPayloadDef.fields[0].apiName invalid_value"},
		},
		{
			name: "a field without a name is refused",
			doc:  strings.Replace(minimalDefinition, "{serviceAttribute: title, ", "{", 1),
			want: []string{"callbackPayloadDef.fields[0].serviceAttribute required"},
		},
		{
			name: "a field without a dataType is refused",
			doc:  strings.Replace(minimalDefinition, "title, dataType: string", "title", 1),
			want: []string{"callbackPayloadDef.fields[0].dataType required"},
		},
		{
			name: "fields must be a list of objects",
			doc: strings.Replace(minimalDefinition, "    - {serviceAttribute: title, "+
				"dataType: string}", "    - title", 1),
			want: []string{"callbackPayloadDef.fields[0] type"},
		},
		{
			name: "accessor constraints are checked",
			doc: strings.Replace(minimalDefinition, "Paths: false", "Paths: true", 1) + `
invocationPayloadDef:
  accessorsMetadata:
    - {accessorName: tier, dataType: string, constraints: {minValue: 1}}
    - {accessorName: score, dataType: integer, constraints: {minValue: 10, maxValue: 1}}
    - {accessorName: level, dataType: string, constraints: {allowedValues: []}}
    - {accessorName: size, dataType: integer, constraints: {allowedValues: [1, "two"]}}
    - {accessorName: mood, dataType: string, constraints: {pattern: "^a"}}
    - {accessorName: mood, dataType: string}
`,
			want: []string{
				"invocationPayloadDef.accessorsMetadata[0].constraints.minValue not_allowed",
				"invocationPayloadDef.accessorsMetadata[1].constraints.maxValue out_of_range",
				"invocationPayloadDef.accessorsMetadata[2].constraints.allowedValues empty",
				"invocationPayloadDef.accessorsMetadata[3].constraints.allowedValues[1] type",
				"invocationPayloadDef.accessorsMetadata[4].constraints.pattern unknown_property",
				"invocationPayloadDef.accessorsMetadata[5].accessorName duplicate",
			},
		},
		{
			name: "every problem is reported at once",
			doc: `apiName: many
supportedEntityType: contact
timeout: 500
enableSplitPaths: true
`,
			want: []string{
				"invocationPayloadDef.accessorsMetadata required",
				"supportedEntityType invalid_value",
				"timeout out_of_range",
			},
		},
		{
			name: "malformed JSON is a syntax problem",
			file: "broken.json",
			doc:  `{"apiName": "x",}`,
			want: []string{"$ syntax"},
		},
		{
			name: "malformed YAML is a syntax problem",
			doc:  "apiName: [unclosed\n",
			want: []string{"$ syntax"},
		},
		{
			name: "two YAML documents are a syntax problem",
			doc:  minimalDefinition + "---\n" + minimalDefinition,
			want: []string{"$ syntax"},
		},
		{
			name: "an empty YAML document is a syntax problem",
			doc:  "# nothing here\n",
			want: []string{"$ syntax"},
		},
		{
			name: "a YAML key given twice is a syntax problem",
			doc:  minimalDefinition + "timeout: 30\n",
			want: []string{"$ syntax"},
		},
		{
			name: "a definition that is not an object is refused",
			doc:  "- apiName: x\n",
			want: []string{"$ type"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			file := tc.file
			if file == "" {
				file = "def.yaml"
			}
			def, err := callback.ParseServiceDefinition([]byte(tc.doc), file)
			got := definitionProblems(t, err, file)
			if !sameList(got, tc.want) {
				t.Fatalf("got %s\nwant %s", showList(got), showList(sorted(tc.want)))
			}
			if err == nil && def.Source != file {
				t.Errorf("Source is %q, want %q", def.Source, file)
			}
		})
	}
}

func TestParseServiceDefinitionReadsAdobeFiles(t *testing.T) {
	t.Run("a YAML definition names fields with apiName and reads constraints", func(t *testing.T) {
		def := adobeDefinition(t, "lead-enrichment.yaml")
		if len(def.Fields) != 11 || def.Fields[0].Name != "email" {
			t.Errorf("fields = %+v, want 11 starting with email", def.Fields)
		}
		a := def.Accessors[0]
		if a.Name != "enrichmentScore" || a.Constraints.MinValue == nil ||
			*a.Constraints.MinValue != 0 || *a.Constraints.MaxValue != 100 {
			t.Errorf("accessor = %+v, want enrichmentScore within 0-100", a)
		}
		if def.Timeout != 90 {
			t.Errorf("timeout = %d, want 90", def.Timeout)
		}
		if _, err := callback.ParseServiceDefinition(def.Document, "converted.json"); err != nil {
			t.Errorf("the JSON form of the YAML definition does not load: %v", err)
		}
	})
	t.Run("a definition without timeout gets the default", func(t *testing.T) {
		doc := strings.Replace(minimalDefinition, "timeout: 60\n", "", 1)
		def, err := callback.ParseServiceDefinition([]byte(doc), "def.yaml")
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		if def.Timeout != callback.DefaultTimeoutMinutes {
			t.Errorf("timeout = %d, want %d", def.Timeout, callback.DefaultTimeoutMinutes)
		}
	})
	t.Run("the format follows the content when the name has no extension", func(t *testing.T) {
		docs := []string{minimalDefinition, `{"apiName":"x","supportedEntityType":"lead"}`}
		for _, doc := range docs {
			if _, err := callback.ParseServiceDefinition([]byte(doc), "definition"); err != nil {
				t.Errorf("parse %.20q: %v", doc, err)
			}
		}
	})
}

func writeDefinitions(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, doc := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(doc), 0o600); err != nil {
			t.Fatalf("write %s: %v", name, err)
		}
	}
	return dir
}

func TestLoadServiceDefinitions(t *testing.T) {
	other := strings.Replace(minimalDefinition, "apiName: minimal", "apiName: other", 1)
	t.Run("one definition is the default", func(t *testing.T) {
		dir := writeDefinitions(t, map[string]string{
			"minimal.yml": minimalDefinition, "notes.txt": "not a definition",
		})
		reg, err := callback.LoadServiceDefinitions(dir)
		if err != nil {
			t.Fatalf("load: %v", err)
		}
		if def, ok := reg.Lookup(""); !ok || def.APIName != "minimal" {
			t.Errorf("Lookup(\"\") = %v, %v; want minimal", def, ok)
		}
		if _, ok := reg.Lookup("unknown"); ok {
			t.Error("Lookup(\"unknown\") found a definition")
		}
	})
	t.Run("SetDefault picks the default among several", func(t *testing.T) {
		dir := writeDefinitions(t, map[string]string{"a.yaml": minimalDefinition, "b.yaml": other})
		reg, err := callback.LoadServiceDefinitions(dir)
		if err != nil {
			t.Fatalf("load: %v", err)
		}
		if err := reg.SetDefault("other"); err != nil {
			t.Fatalf("set default: %v", err)
		}
		if def, ok := reg.Lookup(""); !ok || def.APIName != "other" {
			t.Errorf("Lookup(\"\") = %v, %v; want other", def, ok)
		}
		if err := reg.SetDefault("missing"); err == nil {
			t.Error("SetDefault accepted a name that is not loaded")
		}
		if n := len(reg.Definitions()); n != 2 {
			t.Errorf("Definitions holds %d, want 2", n)
		}
	})
	t.Run("a bad file stops the load and names every problem with its file", func(t *testing.T) {
		bad := strings.Replace(minimalDefinition, "timeout: 60", "timeout: 300", 1)
		bad = strings.Replace(bad, "apiName: note", "apiName: success", 1)
		dir := writeDefinitions(t, map[string]string{"good.yaml": other, "bad.yaml": bad})
		_, err := callback.LoadServiceDefinitions(dir)
		file := filepath.Join(dir, "bad.yaml")
		got := definitionProblems(t, err, file)
		want := []string{
			"callbackPayloadDef.attributes[0].apiName reserved", "timeout out_of_range",
		}
		if !sameList(got, want) {
			t.Fatalf("got %s\nwant %s", showList(got), showList(want))
		}
		if !strings.Contains(err.Error(), file+": timeout: ") {
			t.Errorf("error %q does not say file: path: problem", err)
		}
	})
	t.Run("two files with one apiName are refused", func(t *testing.T) {
		dir := writeDefinitions(t, map[string]string{
			"a.yaml": minimalDefinition, "b.yaml": minimalDefinition,
		})
		_, err := callback.LoadServiceDefinitions(dir)
		got := definitionProblems(t, err, filepath.Join(dir, "b.yaml"))
		if want := []string{"apiName duplicate"}; !sameList(got, want) {
			t.Errorf("got %s\nwant %s", showList(got), showList(want))
		}
	})
	t.Run("a directory without definitions is an error", func(t *testing.T) {
		if _, err := callback.LoadServiceDefinitions(t.TempDir()); err == nil {
			t.Error("got no error")
		}
	})
	t.Run("a missing directory is an error", func(t *testing.T) {
		_, err := callback.LoadServiceDefinitions(filepath.Join(t.TempDir(), "missing"))
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("got %v, want a not-exist error", err)
		}
	})
}

func TestCheckRequestRules(t *testing.T) {
	const base = `{"token":"tok","callbackUrl":"https://adobe.example/callback",
		"objectData":{"objectType":"lead","objectContext":{"leadId":"12345"}},
		"actionConfig":{"pathConfig":[{"pathId":"p","pathDefinition":[%s]}]}}`
	cases := []struct {
		name    string
		cond    string
		noSplit bool
		want    []string
	}{
		{name: "a condition on a declared accessor is accepted",
			cond: `{"accessor":"score","operator":"greaterThanOrEqual","values":["80"]}`},
		{name: "an equality on a string accessor is accepted",
			cond: `{"accessor":"tier","operator":"is","values":["hot","warm"]}`},
		{name: "contains on a string accessor is accepted",
			cond: `{"accessor":"tier","operator":"notContains","values":["co"]}`},
		{
			name: "an undeclared accessor is refused",
			cond: `{"accessor":"treatmentId","operator":"is","values":["premium"]}`,
			want: []string{"pathDefinition[0].accessor undeclared_accessor"},
		},
		{
			name: "an unknown operator is refused",
			cond: `{"accessor":"score","operator":"between","values":["1"]}`,
			want: []string{"pathDefinition[0].operator invalid_value"},
		},
		{
			name: "an order on a boolean accessor is refused",
			cond: `{"accessor":"ready","operator":"greaterThan","values":["true"]}`,
			want: []string{"pathDefinition[0].operator not_allowed"},
		},
		{
			name: "contains on a number accessor is refused",
			cond: `{"accessor":"ratio","operator":"contains","values":["1"]}`,
			want: []string{"pathDefinition[0].operator not_allowed"},
		},
		{
			name: "a value that is not a number for a number accessor is refused",
			cond: `{"accessor":"score","operator":"is","values":["high"]}`,
			want: []string{"pathDefinition[0].values[0] type"},
		},
		{
			name: "a value that is not true or false for a boolean accessor is refused",
			cond: `{"accessor":"ready","operator":"is","values":["yes"]}`,
			want: []string{"pathDefinition[0].values[0] type"},
		},
		{
			name: "a value outside the accessor's constraints is refused",
			cond: `{"accessor":"score","operator":"lessThan","values":["150"]}`,
			want: []string{"pathDefinition[0].values[0] out_of_range"},
		},
		{
			name: "a value not among allowedValues is refused",
			cond: `{"accessor":"tier","operator":"is","values":["lukewarm"]}`,
			want: []string{"pathDefinition[0].values[0] invalid_value"},
		},
		{
			name:    "split paths are refused when the definition does not enable them",
			cond:    `{"accessor":"score","operator":"is","values":["1"]}`,
			noSplit: true,
			want:    []string{"execution.actionConfig.pathConfig not_allowed"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := strings.Replace(base, "%s", tc.cond, 1)
			exec, err := callback.ParseExecutionRequest([]byte(doc))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			def := rulesDefinition(t, callback.EntityLead, !tc.noSplit)
			got := violationList(t, def.CheckRequest(exec), "execution.actionConfig.pathConfig[0].")
			if !sameList(got, tc.want) {
				t.Errorf("got %s\nwant %s", showList(got), showList(sorted(tc.want)))
			}
		})
	}
}

func TestParseExecutionRequestPathConfig(t *testing.T) {
	const base = `{"token":"tok","callbackUrl":"https://adobe.example/callback",
		"objectData":{"objectType":"lead","objectContext":{"leadId":"12345"}},
		"actionConfig":{"pathConfig":%s}}`
	cases := []struct {
		name string
		pc   string
		want []string
	}{
		{
			name: "a default path without conditions is read",
			pc:   `[{"pathId":"default","pathDefinition":[]}]`,
		},
		{
			name: "pathConfig must be an array",
			pc:   `{"pathId":"p"}`,
			want: []string{"execution.actionConfig.pathConfig type"},
		},
		{
			name: "a path needs a pathId",
			pc:   `[{"pathDefinition":[]}]`,
			want: []string{"execution.actionConfig.pathConfig[0].pathId required"},
		},
		{
			name: "a condition needs an accessor and an operator",
			pc:   `[{"pathId":"p","pathDefinition":[{"values":["1"]}]}]`,
			want: []string{
				"execution.actionConfig.pathConfig[0].pathDefinition[0].accessor required",
				"execution.actionConfig.pathConfig[0].pathDefinition[0].operator required",
			},
		},
		{
			name: "condition values must be strings",
			pc: `[{"pathId":"p","pathDefinition":[
				{"accessor":"a","operator":"is","values":[80]}]}]`,
			want: []string{"execution.actionConfig.pathConfig[0].pathDefinition[0].values[0] type"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := callback.ParseExecutionRequest([]byte(strings.Replace(base, "%s", tc.pc, 1)))
			if got := violationList(t, err, ""); !sameList(got, tc.want) {
				t.Errorf("got %s\nwant %s", showList(got), showList(sorted(tc.want)))
			}
		})
	}
}
