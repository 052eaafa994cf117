package job_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/callback-dispatcher/dispatcher/internal/job"
)

func sample(body string) *job.Job {
	at := time.Date(2026, 12, 4, 16, 0, 0, 0, time.UTC)
	return &job.Job{CallbackURL: "https://adobe.io/callback/abc", Token: "abc",
		RequestID: "req-1", OrgID: "12345ABCDE@AdobeOrg", EntityType: "lead",
		EntityIDs: []string{"12345"}, Service: "enrich", Body: json.RawMessage(body),
		Deadline: at.Add(time.Hour), EnqueuedAt: at}
}

func TestDecodeReadsWhatEncodeWrote(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, body string }{
		{name: "a compact body", body: `{"objectData":[{"activityData":{"success":true}}]}`},
		{name: "a body with newlines and spaces",
			body: "{\n  \"objectData\": [\n    {\"activityData\": {\"success\": true}}\n  ]\n}"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			want := sample(c.body)
			payload, err := want.Encode()
			if err != nil {
				t.Fatal(err)
			}
			got, err := job.Decode(payload)
			if err != nil {
				t.Fatal(err)
			}
			if string(got.Body) != c.body {
				t.Errorf("body = %q, want %q", got.Body, c.body)
			}
			got.Body, want.Body = nil, nil
			if g, w := mustJSON(t, got), mustJSON(t, want); g != w {
				t.Errorf("fields = %s, want %s", g, w)
			}
		})
	}
}

func TestDecodeReadsPayloadsQueuedAsOneJSONObject(t *testing.T) {
	t.Parallel()
	want := sample(`{"objectData":[{"activityData":{"success":true}}]}`)
	old, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := job.Decode(old)
	if err != nil {
		t.Fatal(err)
	}
	if mustJSON(t, got) != string(old) {
		t.Errorf("decoded %s, want %s", mustJSON(t, got), old)
	}
}

func TestDecodeRefusesIncompleteJobs(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, payload string }{
		{name: "no body after the frame",
			payload: `{"callbackUrl":"https://a","token":"t"}` + "\n"},
		{name: "no body at all", payload: `{"callbackUrl":"https://a","token":"t"}`},
		{name: "no token", payload: `{"callbackUrl":"https://a"}` + "\n{}"},
		{name: "a header that is not JSON", payload: "callbackUrl\n{}"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if _, err := job.Decode([]byte(c.payload)); err == nil ||
				!strings.HasPrefix(err.Error(), "decode callback job") {
				t.Errorf("Decode(%q) = %v, want a decode error", c.payload, err)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// body1KiB is a callback body of about 1 KiB, the size make bench uses.
var body1KiB = `{"objectData":[{"activityData":{"success":true},"leadData":{"id":12345,` +
	`"mobilePhone":"+1-555-0101","notes":"` + strings.Repeat("n", 940) + `"}}]}`

func BenchmarkEncode1KiB(b *testing.B) {
	j := sample(body1KiB)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := j.Encode(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode1KiB(b *testing.B) {
	payload, err := sample(body1KiB).Encode()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := job.Decode(payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecode1KiBOneObject decodes the payload as it was before the body
// was framed, for comparison.
func BenchmarkDecode1KiBOneObject(b *testing.B) {
	payload, err := json.Marshal(sample(body1KiB))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := job.Decode(payload); err != nil {
			b.Fatal(err)
		}
	}
}
