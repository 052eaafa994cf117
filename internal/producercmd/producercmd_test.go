package producercmd

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/callback-dispatcher/dispatcher/internal/testenv"
)

func TestEnqueuePrintsOneLinePerInput(t *testing.T) {
	_, redisURL := testenv.Redis(t)
	t.Setenv("REDIS_URL", redisURL)
	t.Setenv("QUEUE", "cli-test")

	exec := string(testenv.Testdata(t, "adobe/ajo-b2b/examples/examples-03.json"))
	exec = strings.Join(strings.Fields(exec), " ")
	input := strings.Join([]string{
		`{"execution":` + exec + `,"result":{"activityData":{"success":true}}}`,
		``,
		`{"execution":` + exec + `,"result":{"activityData":{"success":"yes"}}}`,
		`{"execution": nope}`,
		`{"execution":` + exec + `,"result":{"activityData":{"success":true}}}`,
	}, "\n")
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), []string{"enqueue", "-"}, strings.NewReader(input),
		&stdout, &stderr)
	if code != 1 {
		t.Errorf("exit code %d, want 1 since two lines failed", code)
	}
	var results []lineResult
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var r lineResult
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("output line is not JSON: %q", line)
		}
		results = append(results, r)
	}
	if len(results) != 4 {
		t.Fatalf("got %d result lines, want 4:\n%s", len(results), stdout.String())
	}
	want := []struct {
		line      int
		status    string
		duplicate bool
	}{{1, "queued", false}, {3, "error", false}, {4, "error", false}, {5, "queued", true}}
	for i, w := range want {
		r := results[i]
		if r.Line != w.line || r.Status != w.status || r.Duplicate != w.duplicate {
			t.Errorf("result %d = %+v, want line %d %s duplicate=%v", i, r, w.line, w.status,
				w.duplicate)
		}
	}
	if len(results[1].Violations) != 1 || results[1].Violations[0].Path !=
		"result.activityData.success" {
		t.Errorf("line 3 violations %+v", results[1].Violations)
	}
	if !strings.Contains(results[2].Error, "offset") {
		t.Errorf("line 4 error %q does not give the offset", results[2].Error)
	}
	if results[0].ID != results[3].ID {
		t.Errorf("the same execution got two ids: %s, %s", results[0].ID, results[3].ID)
	}
	if !strings.Contains(stderr.String(), "2 line(s) not queued") {
		t.Errorf("stderr %q", stderr.String())
	}
}

func TestHelpAndUnknownCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Main(context.Background(), []string{"--help"}, nil, &out, &errOut); code != 0 ||
		!strings.Contains(out.String(), "API_TOKENS") {
		t.Errorf("--help: code %d, output %q", code, out.String())
	}
	if code := Main(context.Background(), []string{"frobnicate"}, nil, &out, &errOut); code != 2 {
		t.Errorf("unknown command: code %d, want 2", code)
	}
}

func TestFlagsAfterIDsAreRead(t *testing.T) {
	var stderr bytes.Buffer
	c := &dlqCmd{stderr: &stderr}
	fs := c.flags("requeue")
	dryRun := fs.Bool("dry-run", false, "")
	if !c.parse(fs, []string{"cb_1", "--dry-run", "cb_2"}, true) {
		t.Fatalf("parse failed: %s", stderr.String())
	}
	if !*dryRun || len(c.positional) != 2 || c.positional[1] != "cb_2" {
		t.Errorf("dry-run %v, ids %v", *dryRun, c.positional)
	}
	fs = c.flags("purge")
	fs.Bool("dry-run", false, "")
	if c.parse(fs, []string{"--dry-run", "typo"}, false) {
		t.Error("a stray argument to purge was accepted")
	}
}
