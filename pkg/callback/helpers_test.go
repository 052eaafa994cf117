package callback_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/callback-dispatcher/dispatcher/pkg/callback"
)

// adobeDir holds Adobe's AJO B2B files, with their licence, in the
// repository's testdata.
const adobeDir = "../../testdata/adobe/ajo-b2b"

func adobeFile(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(adobeDir, name))
	if err != nil {
		t.Fatalf("read Adobe file: %v", err)
	}
	return data
}

func adobeDefinition(t testing.TB, name string) *callback.ServiceDefinition {
	t.Helper()
	def, err := callback.ParseServiceDefinition(adobeFile(t, name), name)
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return def
}

// fragment is an example file that shows part of an execution request,
// spliced into a full one: its members go at the top level of the request,
// or inside the member named by at.
type fragment struct {
	file string
	at   string
}

// adobeRequestJSON returns the execution request examples/base, with the
// fragments spliced in.
func adobeRequestJSON(t testing.TB, base string, frags ...fragment) []byte {
	t.Helper()
	data := adobeFile(t, filepath.Join("examples", base))
	if len(frags) == 0 {
		return data
	}
	var req map[string]any
	if err := json.Unmarshal(data, &req); err != nil {
		t.Fatalf("decode %s: %v", base, err)
	}
	for _, f := range frags {
		var part map[string]any
		data := adobeFile(t, filepath.Join("examples", f.file))
		if err := json.Unmarshal(data, &part); err != nil {
			t.Fatalf("decode %s: %v", f.file, err)
		}
		into := req
		if f.at != "" {
			into = req[f.at].(map[string]any)
		}
		for k, v := range part {
			into[k] = v
		}
	}
	out, err := json.Marshal(req)
	if err != nil {
		t.Fatalf("encode request: %v", err)
	}
	return out
}

func adobeRequest(t testing.TB, base string, frags ...fragment) *callback.ExecutionRequest {
	t.Helper()
	exec, err := callback.ParseExecutionRequest(adobeRequestJSON(t, base, frags...))
	if err != nil {
		t.Fatalf("parse request %s: %v", base, err)
	}
	return exec
}

// violationList turns an error into sorted "path code" lines, with prefix
// cut from each path; nil for no error. Any error other than Violations
// fails the test.
func violationList(t testing.TB, err error, prefix string) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var vs callback.Violations
	if !errors.As(err, &vs) {
		t.Fatalf("got error %v, want contract violations", err)
	}
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = strings.TrimPrefix(v.Path, prefix) + " " + v.Code
	}
	slices.Sort(out)
	return out
}

func sorted(list []string) []string {
	out := slices.Clone(list)
	slices.Sort(out)
	return out
}

func verdictWord(violations []string) string {
	if len(violations) == 0 {
		return "accepted"
	}
	return "refused"
}

func sameList(a, b []string) bool {
	return slices.Equal(sorted(a), sorted(b))
}

func showList(list []string) string {
	if len(list) == 0 {
		return "(none)"
	}
	return "\n\t" + strings.Join(list, "\n\t")
}
