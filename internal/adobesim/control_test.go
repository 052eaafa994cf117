package adobesim_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/callback-dispatcher/dispatcher/internal/adobesim"
)

func TestControlEndpoints(t *testing.T) {
	t.Parallel()
	h := newHarness(t, adobesim.Config{})

	put := h.control(http.MethodPut, "/sim/rules", `{"match":"tok-c","script":"503"}`)
	if put.status != 204 {
		t.Fatalf("PUT /sim/rules = %d %s, want 204", put.status, put.body)
	}
	bad := h.control(http.MethodPut, "/sim/rules", `{"match":"tok-c","script":"503*0"}`)
	if bad.status != 400 || !strings.Contains(string(bad.body), `repeat \"0\"`) {
		t.Errorf("PUT of a bad rule = %d %s, want 400 naming the repeat", bad.status, bad.body)
	}
	unknown := h.control(http.MethodPut, "/sim/rules", `{"match":"x","script":"200","when":1}`)
	if unknown.status != 400 || unknown.code() != "INVALID_RULE" {
		t.Errorf("PUT with an unknown field = %d %s, want 400 INVALID_RULE",
			unknown.status, unknown.body)
	}
	rules := h.control(http.MethodGet, "/sim/rules", "")
	if string(rules.body) != `[{"match":"tok-c","script":"503"}]`+"\n" {
		t.Errorf("GET /sim/rules = %s, want the one rule set", rules.body)
	}

	h.send("tok-c")
	h.send("tok-c")
	h.send("tok-d")
	var report struct {
		TokenFetches int               `json:"tokenFetches"`
		Callbacks    []adobesim.Record `json:"callbacks"`
	}
	got := h.control(http.MethodGet, "/sim/received?token=tok-c", "")
	if err := json.Unmarshal(got.body, &report); err != nil {
		t.Fatalf("decode /sim/received: %v", err)
	}
	if report.TokenFetches != 1 || len(report.Callbacks) != 2 ||
		report.Callbacks[0].Status != 503 || report.Callbacks[1].Status != 200 {
		t.Errorf("GET /sim/received?token=tok-c = %s, want 1 fetch and 503 then 200", got.body)
	}
	all := h.control(http.MethodGet, "/sim/received", "")
	if err := json.Unmarshal(all.body, &report); err != nil || len(report.Callbacks) != 3 {
		t.Errorf("GET /sim/received = %s, want all 3 callbacks", all.body)
	}
	none := h.control(http.MethodGet, "/sim/received?token=never", "")
	if !strings.Contains(string(none.body), `"callbacks":[]`) {
		t.Errorf("GET /sim/received for an unseen token = %s, want an empty list", none.body)
	}

	var stats adobesim.Stats
	if err := json.Unmarshal(h.control(http.MethodGet, "/sim/stats", "").body, &stats); err != nil {
		t.Fatal(err)
	}
	want := adobesim.Stats{TokenFetches: 1, Received: 3, Accepted: 2, Rejected: 1}
	if stats != want {
		t.Errorf("GET /sim/stats = %+v, want %+v", stats, want)
	}

	if got := h.control(http.MethodDelete, "/sim/rules", ""); got.status != 204 {
		t.Errorf("DELETE /sim/rules = %d, want 204", got.status)
	}
	if len(h.sim.Rules()) != 0 {
		t.Errorf("rules after DELETE = %v, want none", h.sim.Rules())
	}

	if got := h.control(http.MethodPost, "/sim/revoke", ""); got.status != 204 {
		t.Errorf("POST /sim/revoke = %d, want 204", got.status)
	}
	if got := h.send("tok-e"); got.status != http.StatusUnauthorized {
		t.Errorf("callback after revoke = %d, want 401", got.status)
	}

	if got := h.control(http.MethodPost, "/sim/reset", ""); got.status != 204 {
		t.Errorf("POST /sim/reset = %d, want 204", got.status)
	}
	if st := h.sim.Stats(); st != (adobesim.Stats{}) || len(h.sim.Received("")) != 0 {
		t.Errorf("after reset: stats %+v and %d records, want nothing", st,
			len(h.sim.Received("")))
	}
}

func TestResetRestoresTheConfiguredRules(t *testing.T) {
	t.Parallel()
	initial := []adobesim.Rule{{Match: "tok-r", Script: "503"}}
	h := newHarness(t, adobesim.Config{Rules: initial})
	h.sim.ClearRules()
	if got := h.send("tok-r"); got.status != http.StatusOK {
		t.Fatalf("without rules: %d, want 200", got.status)
	}

	h.sim.Reset()
	if !reflect.DeepEqual(h.sim.Rules(), initial) {
		t.Errorf("rules after reset = %v, want %v", h.sim.Rules(), initial)
	}
	if got := h.send("tok-r"); got.status != http.StatusServiceUnavailable {
		t.Errorf("after reset: %d, want the script's 503 again", got.status)
	}
}

func TestLoadRules(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "rules.json")
	content := `[{"match":"*-fail-*","script":"503,503,200"},{"match":"tok-1","script":"close"}]`
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	badFile := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(badFile, []byte(`[{"match":"x","scrip":"200"}]`), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		spec    string
		want    []adobesim.Rule
		wantErr string
	}{
		{"nothing", "  ", nil, ""},
		{"a JSON file", file, []adobesim.Rule{
			{Match: "*-fail-*", Script: "503,503,200"}, {Match: "tok-1", Script: "close"},
		}, ""},
		{"inline rules", "*-fail-*=503,503,200; tok-1=429:2 ;", []adobesim.Rule{
			{Match: "*-fail-*", Script: "503,503,200"}, {Match: "tok-1", Script: "429:2"},
		}, ""},
		{"a token ending in =", "dG9rZW4==503", []adobesim.Rule{
			{Match: "dG9rZW4=", Script: "503"},
		}, ""},
		{"a missing file", filepath.Join(dir, "none.json"), nil, "read rules: open "},
		{"a file with an unknown field", badFile, nil, "decode rules " + badFile},
		{"an inline rule without =", "a=503;b", nil, `rule 2 "b": want match=script`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := adobesim.LoadRules(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Errorf("LoadRules(%q) error = %v, want one starting %q",
						tt.spec, err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("LoadRules(%q) = %v, %v; want %v", tt.spec, got, err, tt.want)
			}
		})
	}
}
