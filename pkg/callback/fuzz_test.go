package callback_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/callback-dispatcher/dispatcher/pkg/callback"
)

// exampleFiles returns every JSON example of Adobe's, as fuzz seeds.
func exampleFiles(f *testing.F) [][]byte {
	f.Helper()
	names, err := filepath.Glob(filepath.Join(adobeDir, "examples", "*.json"))
	if err != nil || len(names) == 0 {
		f.Fatalf("list examples: %v", err)
	}
	var out [][]byte
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatalf("read seed: %v", err)
		}
		out = append(out, data)
	}
	return out
}

// checkErrorKind fails unless err is nil, Violations or a *SyntaxError:
// bad input must be reported, never anything else.
func checkErrorKind(t *testing.T, err error) {
	t.Helper()
	var vs callback.Violations
	var se *callback.SyntaxError
	switch {
	case err == nil:
	case errors.As(err, &vs):
		if len(vs) == 0 {
			t.Fatal("empty Violations returned as an error")
		}
	case errors.As(err, &se):
	default:
		t.Fatalf("unexpected error kind %T: %v", err, err)
	}
}

func FuzzParseExecutionRequest(f *testing.F) {
	for _, seed := range exampleFiles(f) {
		f.Add(seed)
	}
	defs := []*callback.ServiceDefinition{
		adobeDefinition(f, "lead-enrichment.yaml"),
		adobeDefinition(f, "account-enrichment.json"),
		adobeDefinition(f, "accountPerson-buying-group.json"),
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		exec, err := callback.ParseExecutionRequest(data)
		checkErrorKind(t, err)
		if err != nil {
			return
		}
		if exec == nil {
			t.Fatal("no request and no error")
		}
		for _, def := range defs {
			checkErrorKind(t, def.CheckRequest(exec))
		}
	})
}

// fuzzTarget is a request and definition a fuzzed result answers.
type fuzzTarget struct {
	exec *callback.ExecutionRequest
	def  *callback.ServiceDefinition
}

func FuzzPrepare(f *testing.F) {
	targets := []fuzzTarget{
		{adobeRequest(f, "examples-03.json"), adobeDefinition(f, "lead-enrichment.yaml")},
		{
			adobeRequest(f, "examples-04.json", fragment{file: "execution-request-05.json"}),
			adobeDefinition(f, "account-enrichment.json"),
		},
		{
			adobeRequest(f, "examples-05.json"),
			adobeDefinition(f, "accountPerson-buying-group.json"),
		},
	}
	for _, seed := range exampleFiles(f) {
		var env struct{ ObjectData []json.RawMessage }
		if json.Unmarshal(seed, &env) == nil && len(env.ObjectData) == 1 {
			seed = env.ObjectData[0]
		}
		for i := range targets {
			f.Add(seed, uint8(i))
		}
	}
	f.Fuzz(func(t *testing.T, result []byte, which uint8) {
		target := targets[int(which)%len(targets)]
		cb, err := callback.PrepareWith(target.exec, result, target.def)
		checkErrorKind(t, err)
		if err != nil {
			return
		}
		// What a producer prepares, the receiver must accept.
		if err := callback.CheckEnvelopeWith(cb.Body, target.exec, target.def); err != nil {
			t.Fatalf("the receiver refuses the prepared callback %s: %v", cb.Body, err)
		}
	})
}

func FuzzParseServiceDefinition(f *testing.F) {
	for _, name := range []string{
		"lead-scoring.json", "account-enrichment.json", "accountPerson-buying-group.json",
		"lead-enrichment.yaml", "examples/examples-01.json", "examples/examples-02.json",
	} {
		f.Add(adobeFile(f, name), filepath.Ext(name) == ".yaml")
	}
	f.Add([]byte(minimalDefinition), true)
	f.Fuzz(func(t *testing.T, data []byte, asYAML bool) {
		name := "fuzz.json"
		if asYAML {
			name = "fuzz.yaml"
		}
		def, err := callback.ParseServiceDefinition(data, name)
		if err != nil {
			var de *callback.DefinitionError
			if !errors.As(err, &de) || len(de.Problems) == 0 {
				t.Fatalf("unexpected error %T: %v", err, err)
			}
			return
		}
		if def == nil {
			t.Fatal("no definition and no error")
		}
		// The JSON a provider serves must load as the same definition.
		again, err := callback.ParseServiceDefinition(def.Document, "again.json")
		if err != nil {
			t.Fatalf("the served document %s does not load: %v", def.Document, err)
		}
		if again.APIName != def.APIName || len(again.Fields) != len(def.Fields) ||
			len(again.Accessors) != len(def.Accessors) {
			t.Fatalf("the served document loads differently: %+v, want %+v", again, def)
		}
	})
}
