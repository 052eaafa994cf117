package producer_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/callback-dispatcher/dispatcher/internal/testenv"
	"github.com/callback-dispatcher/dispatcher/pkg/callback"
	"github.com/callback-dispatcher/dispatcher/pkg/producer"
)

func TestUnsendableValuesAreRefused(t *testing.T) {
	t.Parallel()
	_, redisURL := testenv.Redis(t)
	client, err := producer.New(producer.Config{RedisURL: redisURL, Queue: "hdr-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	future := time.Now().Add(time.Hour)
	tests := []struct {
		name     string
		edit     func(e map[string]any)
		req      producer.Request
		wantPath string
	}{
		{name: "a newline in the token", wantPath: "execution.token",
			edit: func(e map[string]any) { e["token"] = "tok\nX-Evil: 1" }},
		{name: "a carriage return in the org", wantPath: "execution.context.subscription.imsOrgId",
			edit: func(e map[string]any) {
				e["context"].(map[string]any)["subscription"].(map[string]any)["imsOrgId"] =
					"ORG\r\nX: y"
			}},
		{name: "a control character in the request id", wantPath: "requestId",
			req: producer.Request{RequestID: "r\x01"}},
		{name: "a NUL character in the result", wantPath: "result",
			req: producer.Request{Result: json.RawMessage(`{"activityData":{"success":false,` +
				`"errorCode":"E","reason":"bad \u0000 byte"}}`)}},
		{name: "a receivedAt in the future", wantPath: "receivedAt",
			req: producer.Request{ReceivedAt: &future}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e map[string]any
			_ = json.Unmarshal(testenv.Testdata(t, "adobe/ajo-b2b/examples/examples-03.json"), &e)
			e["token"] = "hdr-" + string(rune('a'+i))
			if tt.edit != nil {
				tt.edit(e)
			}
			req := tt.req
			req.Execution, _ = json.Marshal(e)
			if req.Result == nil {
				req.Result = json.RawMessage(`{"activityData":{"success":true}}`)
			}
			_, err := client.EnqueueRequest(context.Background(), req)
			var vs callback.Violations
			if !errors.As(err, &vs) {
				t.Fatalf("got %v, want violations", err)
			}
			for _, v := range vs {
				if v.Path == tt.wantPath {
					return
				}
			}
			t.Errorf("no violation at %s in %v", tt.wantPath, vs)
		})
	}
}

func TestTruncatedJSONIsLocatedAtItsEnd(t *testing.T) {
	t.Parallel()
	for _, in := range []string{`{"execution":{`, `{"execution":{"token":"a"`, `{`} {
		_, err := producer.ParseRequest([]byte(in))
		var se *callback.SyntaxError
		if !errors.As(err, &se) || se.Offset != int64(len(in)) {
			t.Errorf("ParseRequest(%q) = %v, want a syntax error at offset %d", in, err, len(in))
		}
	}
}
