package adobesim

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// stepView is the part of a parsed step a test compares.
type stepView struct {
	Status int
	Retry  int
	Date   bool
	Delay  time.Duration
	Close  bool
	Repeat int
}

func view(sc script) []stepView {
	out := make([]stepView, len(sc.steps))
	for i, st := range sc.steps {
		out[i] = stepView{st.status, st.retryAfter, st.retryDate, st.delay, st.hangUp, st.repeat}
	}
	return out
}

func TestParseScriptAcceptsGoodScripts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		script string
		want   []stepView
	}{
		{"two failures then success", "503,503,200", []stepView{
			{Status: 503, Retry: -1, Repeat: 1},
			{Status: 503, Retry: -1, Repeat: 1},
			{Status: 200, Retry: -1, Repeat: 1},
		}},
		{"a repeated status", "503*5", []stepView{{Status: 503, Retry: -1, Repeat: 5}}},
		{"a bad request", "400", []stepView{{Status: 400, Retry: -1, Repeat: 1}}},
		{"an expired bearer token", "401", []stepView{{Status: 401, Retry: -1, Repeat: 1}}},
		{"retry after seconds", "429:2", []stepView{{Status: 429, Retry: 2, Repeat: 1}}},
		{"retry after a date", "429:date2", []stepView{
			{Status: 429, Retry: 2, Date: true, Repeat: 1},
		}},
		{"a 503 with retry after", "503:0", []stepView{{Status: 503, Retry: 0, Repeat: 1}}},
		{"a delay in milliseconds", "200@1500ms", []stepView{
			{Status: 200, Retry: -1, Delay: 1500 * time.Millisecond, Repeat: 1},
		}},
		{"a delay in seconds", "503@2s", []stepView{
			{Status: 503, Retry: -1, Delay: 2 * time.Second, Repeat: 1},
		}},
		{"a dropped connection", "close", []stepView{{Retry: -1, Close: true, Repeat: 1}}},
		{"every option at once", "429:date3@10ms*2", []stepView{
			{Status: 429, Retry: 3, Date: true, Delay: 10 * time.Millisecond, Repeat: 2},
		}},
		{"spaces around steps", " 500 , close@1s*3 ", []stepView{
			{Status: 500, Retry: -1, Repeat: 1},
			{Retry: -1, Delay: time.Second, Close: true, Repeat: 3},
		}},
		{"no content", "204", []stepView{{Status: 204, Retry: -1, Repeat: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sc, err := parseScript(tt.script)
			if err != nil {
				t.Fatalf("parseScript(%q) failed: %v", tt.script, err)
			}
			if got := view(sc); !slices.Equal(got, tt.want) {
				t.Errorf("parseScript(%q) = %+v, want %+v", tt.script, got, tt.want)
			}
		})
	}
}

func TestParseScriptRefusesBadScripts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		script  string
		wantErr string
	}{
		{"an empty script", " ", "script is empty"},
		{"an empty step", "503,,200", "step 2 is empty"},
		{"a word for a status", "oops", `step 1 "oops": status "oops" is not a number or close`},
		{"an informational status", "100", `step 1 "100": status 100 is not 2xx, 3xx, 4xx or 5xx`},
		{"a status past 599", "600", `step 1 "600": status 600 is not 2xx, 3xx, 4xx or 5xx`},
		{"a zero repeat", "503*0",
			`step 1 "503*0": repeat "0" is not a whole number from 1 to 1000000`},
		{"a huge repeat", "503*2000000",
			`step 1 "503*2000000": repeat "2000000" is not a whole number from 1 to 1000000`},
		{"options out of order", "503*2@1s",
			`step 1 "503*2@1s": repeat "2@1s" is not a whole number from 1 to 1000000`},
		{"a delay without a unit", "200@15",
			`step 1 "200@15": delay "15" is not a duration such as 500ms or 2s`},
		{"a negative delay", "200@-1s", `step 1 "200@-1s": delay -1s is not positive`},
		{"a delay over the maximum", "200@6m",
			`step 1 "200@6m": delay 6m is longer than the maximum of 5m0s`},
		{"retry after on a 500", "500:2", `step 1 "500:2": only 429 and 503 take a Retry-After`},
		{"retry after on close", "close:2",
			`step 1 "close:2": only 429 and 503 take a Retry-After`},
		{"retry after that is not a number", "429:soon",
			`step 1 "429:soon": retry "soon" is not seconds or date and seconds, from 0 to 86400`},
		{"a negative retry after", "429:-1",
			`step 1 "429:-1": retry "-1" is not seconds or date and seconds, from 0 to 86400`},
		{"a date without seconds", "429:date",
			`step 1 "429:date": retry "date" is not seconds or date and seconds, from 0 to 86400`},
		{"a bad later step", "503,200,429:x",
			`step 3 "429:x": retry "x" is not seconds or date and seconds, from 0 to 86400`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseScript(tt.script)
			if err == nil {
				t.Fatalf("parseScript(%q) succeeded, want error %q", tt.script, tt.wantErr)
			}
			if err.Error() != tt.wantErr {
				t.Errorf("parseScript(%q) error = %q, want %q", tt.script, err, tt.wantErr)
			}
		})
	}
}

func TestScriptStepsAreUsedInOrderThenRunOut(t *testing.T) {
	t.Parallel()
	sc, err := parseScript("503*2,429,200")
	if err != nil {
		t.Fatal(err)
	}
	want := []int{503, 503, 429, 200}
	for i, status := range want {
		if got := sc.at(i); got == nil || got.status != status {
			t.Fatalf("step %d = %+v, want status %d", i, got, status)
		}
	}
	if got := sc.at(len(want)); got != nil {
		t.Errorf("step %d = %+v, want nil once the script is used up", len(want), got)
	}
}

func TestScriptedBodiesLookLikeAdobe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status int
		want   string
	}{
		{http.StatusOK, `{"status":"accepted"}`},
		{http.StatusBadRequest, `"code":"INVALID_CALLBACK"`},
		{http.StatusUnauthorized, `"error_code":"401013"`},
		{http.StatusForbidden, `"code":"FORBIDDEN"`},
		{http.StatusNotFound, `"code":"NOT_FOUND"`},
		{http.StatusTooManyRequests, `"code":"RATE_LIMIT_EXCEEDED"`},
		{http.StatusInternalServerError, `"code":"INTERNAL_ERROR"`},
		{http.StatusServiceUnavailable, `"code":"SERVICE_UNAVAILABLE"`},
		{http.StatusGatewayTimeout, `"code":"GATEWAY_TIMEOUT"`},
		{599, `"code":"HTTP_599"`},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			t.Parallel()
			if got := string(scriptedBody(tt.status, -1)); !strings.Contains(got, tt.want) {
				t.Errorf("scriptedBody(%d) = %s, want it to hold %s", tt.status, got, tt.want)
			}
		})
	}
}

func FuzzParseScript(f *testing.F) {
	for _, seed := range []string{"503,503,200", "429:date2@1s*3", "close", "200@1500ms", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		sc, err := parseScript(text)
		if err != nil {
			return
		}
		first := sc.at(0)
		if first == nil {
			t.Fatalf("parseScript(%q) gave a script with no steps", text)
		}
		if first.delay < 0 || first.delay > MaxDelay {
			t.Fatalf("parseScript(%q) gave a delay of %s", text, first.delay)
		}
	})
}
