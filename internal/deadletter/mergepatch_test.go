package deadletter

import (
	"testing"

	"github.com/callback-dispatcher/dispatcher/internal/job"
)

// The cases are RFC 7386's appendix A.
func TestMergePatch(t *testing.T) {
	t.Parallel()
	tests := []struct{ doc, patch, want string }{
		{`{"a":"b"}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"b"}`, `{"b":"c"}`, `{"a":"b","b":"c"}`},
		{`{"a":"b"}`, `{"a":null}`, `{}`},
		{`{"a":"b","b":"c"}`, `{"a":null}`, `{"b":"c"}`},
		{`{"a":["b"]}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"c"}`, `{"a":["b"]}`, `{"a":["b"]}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`, `{"a":{"b":"d"}}`},
		{`{"a":[{"b":"c"}]}`, `{"a":[1]}`, `{"a":[1]}`},
		{`["a","b"]`, `["c","d"]`, `["c","d"]`},
		{`{"a":"b"}`, `["c"]`, `["c"]`},
		{`{"a":"foo"}`, `null`, `null`},
		{`{"a":"foo"}`, `"bar"`, `"bar"`},
		{`{"e":null}`, `{"a":1}`, `{"a":1,"e":null}`},
		{`[1,2]`, `{"a":"b","c":null}`, `{"a":"b"}`},
		{`{}`, `{"a":{"bb":{"ccc":null}}}`, `{"a":{"bb":{}}}`},
		{`{"n":12345678901234567890}`, `{}`, `{"n":12345678901234567890}`},
	}
	for _, tt := range tests {
		got, err := MergePatch([]byte(tt.doc), []byte(tt.patch))
		if err != nil {
			t.Fatalf("MergePatch(%s, %s): %v", tt.doc, tt.patch, err)
		}
		if string(got) != tt.want {
			t.Errorf("MergePatch(%s, %s) = %s, want %s", tt.doc, tt.patch, got, tt.want)
		}
	}
	if _, err := MergePatch([]byte(`{`), []byte(`{}`)); err == nil {
		t.Error("a broken document was patched")
	}
}

func TestPatchedBodyMustKeepItsEntity(t *testing.T) {
	t.Parallel()
	lead := &job.Job{EntityType: "lead", EntityIDs: []string{"12345"}}
	people := &job.Job{EntityType: "accountPerson", EntityIDs: []string{"9001", "9002"}}
	tests := []struct {
		name string
		j    *job.Job
		body string
		ok   bool
	}{
		{"the same lead passes", lead,
			`{"objectData":[{"activityData":{"success":true},"leadData":{"id":12345,"x":1}}]}`, true},
		{"the same lead as a string passes", lead,
			`{"objectData":[{"activityData":{"success":true},"leadData":{"id":"12345"}}]}`, true},
		{"another lead is refused", lead,
			`{"objectData":[{"activityData":{"success":true},"leadData":{"id":999}}]}`, false},
		{"an account instead of the lead is refused", lead,
			`{"objectData":[{"activityData":{"success":true},"accountData":{"id":1}}]}`, false},
		{"a subset of the relationships passes", people,
			`{"objectData":[{"activityData":{"success":true},"accountPersonData":` +
				`[{"accountPersonRelId":9002,"accountId":1,"personId":2}]}]}`, true},
		{"an unknown relationship is refused", people,
			`{"objectData":[{"activityData":{"success":true},"accountPersonData":` +
				`[{"accountPersonRelId":7,"accountId":1,"personId":2}]}]}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkSameEntity([]byte(tt.body), tt.j)
			if (err == nil) != tt.ok {
				t.Errorf("checkSameEntity = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
