package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/callback-dispatcher/dispatcher/internal/adobesim"
	"github.com/callback-dispatcher/dispatcher/internal/envconfig"
)

func TestReadSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		check   func(t *testing.T, st settings)
		wantErr string
	}{
		{"defaults", nil, func(t *testing.T, st settings) {
			if st.listen != "127.0.0.1:8089" || st.level != slog.LevelInfo {
				t.Errorf("listen %q level %v, want 127.0.0.1:8089 and info", st.listen, st.level)
			}
			want := adobesim.Config{ClientID: "sim-client", TokenLifetime: 24 * time.Hour,
				KeepBodies: 10000}
			if !reflect.DeepEqual(st.sim, want) {
				t.Errorf("config = %+v, want %+v", st.sim, want)
			}
		}, ""},
		{"everything set", map[string]string{
			"SIM_LISTEN":         "127.0.0.1:0",
			"SIM_CLIENT_ID":      "client-x",
			"SIM_CLIENT_SECRETS": "s1, s2,",
			"SIM_CLIENTS":        "client-y=s3/ORG@AdobeOrg,ORG-2@AdobeOrg;client-z=s4,s5",
			"SIM_API_KEY":        "key-x",
			"SIM_ORG_ID":         "ORG@AdobeOrg",
			"SIM_TOKEN_LIFETIME": "90s",
			"SIM_RULES":          "*-fail-*=503,200;tok-1=close",
			"SIM_KEEP_BODIES":    "0",
			"LOG_LEVEL":          "debug",
		}, func(t *testing.T, st settings) {
			want := adobesim.Config{
				ClientID: "client-x", ClientSecrets: []string{"s1", "s2"}, APIKey: "key-x",
				Clients: []adobesim.Client{
					{ID: "client-y", Secrets: []string{"s3"},
						OrgIDs: []string{"ORG@AdobeOrg", "ORG-2@AdobeOrg"}},
					{ID: "client-z", Secrets: []string{"s4", "s5"}},
				},
				OrgID: "ORG@AdobeOrg", TokenLifetime: 90 * time.Second, KeepBodies: -1,
				Rules: []adobesim.Rule{
					{Match: "*-fail-*", Script: "503,200"}, {Match: "tok-1", Script: "close"},
				},
			}
			if !reflect.DeepEqual(st.sim, want) || st.level != slog.LevelDebug ||
				st.listen != "127.0.0.1:0" {
				t.Errorf("settings = %+v, want %+v at debug on 127.0.0.1:0", st, want)
			}
		}, ""},
		{"a bad lifetime", map[string]string{"SIM_TOKEN_LIFETIME": "a day"}, nil,
			"SIM_TOKEN_LIFETIME"},
		{"a bad log level", map[string]string{"LOG_LEVEL": "loud"}, nil,
			`LOG_LEVEL: "loud" is not debug, info, warn or error`},
		{"a missing rules file", map[string]string{"SIM_RULES": "/nonexistent/rules.json"}, nil,
			"SIM_RULES: read rules"},
		{"a negative body count", map[string]string{"SIM_KEEP_BODIES": "-5"}, nil,
			"SIM_KEEP_BODIES"},
		{"a missing clients file", map[string]string{"SIM_CLIENTS": "/nonexistent/c.json"}, nil,
			"SIM_CLIENTS: read clients"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st, env := readSettings(envconfig.MapLookup(tt.env))
			err := env.Err()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error = %v, want one naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("readSettings: %v", err)
			}
			tt.check(t, st)
		})
	}
}

func TestUsageListsEverySetting(t *testing.T) {
	t.Parallel()
	_, env := readSettings(envconfig.MapLookup(map[string]string{"SIM_CLIENT_SECRETS": "s3cr3t",
		"SIM_CLIENTS": "client-y=s3cr3t"}))
	var out bytes.Buffer
	env.Usage(&out, summary)
	for _, name := range []string{"SIM_LISTEN", "SIM_CLIENT_ID", "SIM_CLIENT_SECRETS",
		"SIM_CLIENTS", "SIM_API_KEY", "SIM_ORG_ID", "SIM_TOKEN_LIFETIME", "SIM_RULES", "SIM_KEEP_BODIES",
		"LOG_LEVEL"} {
		if !strings.Contains(out.String(), name) {
			t.Errorf("usage does not list %s:\n%s", name, out.String())
		}
	}
	if strings.Contains(out.String(), "s3cr3t") {
		t.Errorf("usage shows a secret:\n%s", out.String())
	}
}

func TestParseArgs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args     []string
		wantHelp bool
		wantErr  bool
	}{
		{nil, false, false},
		{[]string{"-h"}, true, false},
		{[]string{"--help"}, true, false},
		{[]string{"-help"}, true, false},
		{[]string{"serve"}, false, true},
		{[]string{"serve", "--help"}, true, false},
	}
	for _, tt := range tests {
		help, err := parseArgs(tt.args)
		if help != tt.wantHelp || (err != nil) != tt.wantErr {
			t.Errorf("parseArgs(%q) = %t, %v; want help %t, error %t",
				tt.args, help, err, tt.wantHelp, tt.wantErr)
		}
	}
}

// lineWriter hands each log line to a channel.
type lineWriter chan string

func (w lineWriter) Write(p []byte) (int, error) {
	w <- string(p)
	return len(p), nil
}

func TestRunServesUntilCancelled(t *testing.T) {
	t.Parallel()
	lines := make(lineWriter, 16)
	logger := slog.New(slog.NewJSONHandler(lines, nil))
	st, env := readSettings(envconfig.MapLookup(map[string]string{"SIM_LISTEN": "127.0.0.1:0"}))
	if err := env.Err(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, st, logger) }()

	var first struct {
		Msg  string `json:"msg"`
		Addr string `json:"addr"`
	}
	if err := json.Unmarshal([]byte(<-lines), &first); err != nil {
		t.Fatal(err)
	}
	if first.Msg != "adobe simulator listening" || !strings.HasPrefix(first.Addr, "127.0.0.1:") ||
		strings.HasSuffix(first.Addr, ":0") {
		t.Fatalf("first log line = %+v, want the real listen address", first)
	}

	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"sim-client"},
		"client_secret": {"sim-secret"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		"http://"+first.Addr+"/ims/token/v3", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("token request = %d, want 200", resp.StatusCode)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run = %v, want nil after a graceful shutdown", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
}

func TestRunFailsOnABadRule(t *testing.T) {
	t.Parallel()
	st, _ := readSettings(envconfig.MapLookup(map[string]string{
		"SIM_LISTEN": "127.0.0.1:0", "SIM_RULES": "tok=fast",
	}))
	err := run(context.Background(), st, slog.New(slog.DiscardHandler))
	want := `build simulator: rule 1 ("tok"): step 1 "fast": status "fast" is not a number or close`
	if err == nil || err.Error() != want {
		t.Errorf("run = %v, want %q", err, want)
	}
}
