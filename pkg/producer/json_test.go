package producer_test

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/callback-dispatcher/dispatcher/internal/testenv"
	"github.com/callback-dispatcher/dispatcher/pkg/callback"
	"github.com/callback-dispatcher/dispatcher/pkg/producer"
)

// TestEnqueueJSONAgreesWithParseRequest holds the one-pass EnqueueJSON to
// the answers of ParseRequest followed by EnqueueRequest, for every kind of
// bad request and for a good one.
func TestEnqueueJSONAgreesWithParseRequest(t *testing.T) {
	t.Parallel()
	_, redisURL := testenv.Redis(t)
	client, err := producer.New(producer.Config{RedisURL: redisURL, Queue: "json-test",
		AllowedHosts: []string{"adobe.com"}})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	exec := string(testenv.Testdata(t, "adobe/ajo-b2b/examples/examples-03.json"))
	ok := `{"activityData":{"success":true}}`
	req := func(members string) string { return `{` + members + `}` }
	tests := map[string]string{
		"not an object":           `[1,2]`,
		"a string":                `"x"`,
		"truncated":               `{"execution":{"token":"a"`,
		"trailing bracket":        req(`"execution":`+exec+`,"result":`+ok) + "\n]",
		"trailing data":           req(`"execution":`+exec+`,"result":`+ok) + ` {}`,
		"malformed inside":        `{"execution": {"token": }, "result": {}}`,
		"empty object":            `{}`,
		"null parts":              req(`"execution":null,"result":null`),
		"unknown member":          req(`"execution":` + exec + `,"result":` + ok + `,"extra":1`),
		"requestId not a string":  req(`"execution":` + exec + `,"result":` + ok + `,"requestId":5`),
		"service not a string":    req(`"execution":` + exec + `,"result":` + ok + `,"service":true`),
		"receivedAt not a time":   req(`"execution":` + exec + `,"result":` + ok + `,"receivedAt":"soon"`),
		"receivedAt a number":     req(`"execution":` + exec + `,"result":` + ok + `,"receivedAt":1`),
		"receivedAt in future":    req(`"execution":` + exec + `,"result":` + ok + `,"receivedAt":"2999-01-01T00:00:00Z"`),
		"receivedAt long ago":     req(`"execution":` + exec + `,"result":` + ok + `,"receivedAt":"2001-01-01T00:00:00Z"`),
		"execution not an object": req(`"execution":"x","result":` + ok),
		"execution violations":    req(`"execution":{"token":""},"result":` + ok),
		"result not an object":    req(`"execution":` + exec + `,"result":[]`),
		"result violations":       req(`"execution":` + exec + `,"result":{"activityData":{"success":false}}`),
		"control character":       req(`"execution":` + exec + `,"result":` + ok + `,"requestId":"a\u0001"`),
		"URL outside allowlist": req(`"execution":` + strings.Replace(exec, "https://adobe.com/",
			"https://evil.example.com/", 1) + `,"result":` + ok),
	}
	ctx := context.Background()
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			_, oneErr := client.EnqueueJSON(ctx, []byte(body))
			parsed, twoErr := producer.ParseRequest([]byte(body))
			if twoErr == nil {
				_, twoErr = client.EnqueueRequest(ctx, parsed)
			}
			if oneErr == nil || twoErr == nil {
				t.Fatalf("EnqueueJSON: %v; ParseRequest+EnqueueRequest: %v; want both refused",
					oneErr, twoErr)
			}
			if got, want := describe(oneErr), describe(twoErr); !reflect.DeepEqual(got, want) {
				t.Errorf("EnqueueJSON refused with\n  %v\nParseRequest+EnqueueRequest with\n  %v",
					got, want)
			}
		})
	}

	good := req(`"execution":` + exec + `,"result":` + ok + `,"requestId":"r-1",` +
		`"receivedAt":null,"service":null`)
	first, err := client.EnqueueJSON(ctx, []byte(good))
	if err != nil || first.Duplicate || first.RequestID != "r-1" || first.EntityType != "lead" {
		t.Fatalf("EnqueueJSON(good) = %+v, %v; want queued, request id r-1, entity lead", first, err)
	}
	parsed, err := producer.ParseRequest([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	second, err := client.EnqueueRequest(ctx, parsed)
	if err != nil || !second.Duplicate || second.ID != first.ID {
		t.Fatalf("EnqueueRequest(good) = %+v, %v; want a duplicate of %s", second, err, first.ID)
	}
}

// describe reduces an enqueue error to what a caller acts on: the offset
// of malformed JSON, or each violation's path and code.
func describe(err error) []string {
	var se *callback.SyntaxError
	if errors.As(err, &se) {
		return []string{"syntax at " + strconv.FormatInt(se.Offset, 10)}
	}
	var vs callback.Violations
	if errors.As(err, &vs) {
		var out []string
		for _, v := range vs {
			out = append(out, v.Path+" "+v.Code)
		}
		return out
	}
	return []string{"other: " + err.Error()}
}
