package adobesim_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/callback-dispatcher/dispatcher/internal/adobesim"
)

func TestTokenEndpoint(t *testing.T) {
	t.Parallel()
	rotating := adobesim.Config{ClientSecrets: []string{"old-secret", "new-secret"}}
	with := func(key, value string) url.Values {
		form := tokenForm()
		form.Set(key, value)
		return form
	}
	tests := []struct {
		name      string
		cfg       adobesim.Config
		query     string
		form      url.Values
		wantCode  int
		wantError string
	}{
		{"good credentials get a token", adobesim.Config{}, "", tokenForm(), 200, ""},
		{"a wrong secret is an invalid client", adobesim.Config{}, "",
			with("client_secret", "guess"), 400, "invalid_client"},
		{"an unknown client is an invalid client", adobesim.Config{}, "",
			with("client_id", "someone-else"), 400, "invalid_client"},
		{"the second of two secrets is accepted", rotating, "",
			with("client_secret", "new-secret"), 200, ""},
		{"the first of two secrets is accepted", rotating, "",
			with("client_secret", "old-secret"), 200, ""},
		{"the default secret is refused once secrets are set", rotating, "",
			tokenForm(), 400, "invalid_client"},
		{"credentials in the query string are refused", adobesim.Config{},
			"client_id=sim-client&client_secret=sim-secret", tokenForm(), 400, "invalid_request"},
		{"a missing secret is an invalid request", adobesim.Config{}, "",
			with("client_secret", ""), 400, "invalid_request"},
		{"another grant type is unsupported", adobesim.Config{}, "",
			with("grant_type", "password"), 400, "unsupported_grant_type"},
		{"any scope is accepted", adobesim.Config{}, "",
			with("scope", "anything,at,all"), 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, tt.cfg)
			status, out := h.postToken(tt.query, tt.form)
			if status != tt.wantCode {
				t.Fatalf("status = %d, want %d (%v)", status, tt.wantCode, out)
			}
			stats := h.sim.Stats()
			if tt.wantError != "" {
				if out["error"] != tt.wantError || out["error_description"] == "" {
					t.Errorf("answer = %v, want error %q with a description", out, tt.wantError)
				}
				if stats.TokenFetches != 1 || stats.TokenFailures != 1 {
					t.Errorf("stats = %+v, want 1 fetch (the harness's) and 1 failure", stats)
				}
				return
			}
			token, _ := out["access_token"].(string)
			if len(token) < 20 || token == h.bearer {
				t.Errorf("access_token = %q, want a new random token", token)
			}
			if out["token_type"] != "bearer" || out["expires_in"] != float64(86400) {
				t.Errorf("answer = %v, want token_type bearer and expires_in 86400", out)
			}
			if stats.TokenFetches != 2 || h.sim.TokenFetches() != 2 || stats.TokenFailures != 0 {
				t.Errorf("stats = %+v, want 2 fetches and no failure", stats)
			}
		})
	}
}

func TestTokenRequestMustBeAForm(t *testing.T) {
	t.Parallel()
	h := newHarness(t, adobesim.Config{})
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost,
		h.srv.URL+"/ims/token/v3", strings.NewReader(`{"client_id":"sim-client"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusBadRequest || out["error"] != "invalid_request" {
		t.Errorf("answer = %d %v, want 400 invalid_request", resp.StatusCode, out)
	}
}

func TestTokenExpiresInFollowsTheLifetime(t *testing.T) {
	t.Parallel()
	h := newHarness(t, adobesim.Config{TokenLifetime: 90 * time.Second})
	_, out := h.postToken("", tokenForm())
	if out["expires_in"] != float64(90) {
		t.Errorf("expires_in = %v, want 90", out["expires_in"])
	}
}

func TestTokenStopsWorkingAfterItsLifetime(t *testing.T) {
	t.Parallel()
	h := newHarness(t, adobesim.Config{TokenLifetime: 200 * time.Millisecond})
	var last reply
	eventually(t, "the bearer token to expire", func() bool {
		last = h.send("tok-expiry")
		return last.status == http.StatusUnauthorized
	})
	if last.code() != "401013" {
		t.Errorf("expired token answer = %s, want error_code 401013", last.body)
	}

	h.bearer = h.mintToken()
	if got := h.send("tok-expiry"); got.status != http.StatusOK {
		t.Errorf("fresh token answer = %d %s, want 200", got.status, got.body)
	}
}

func TestRevokedTokensFail(t *testing.T) {
	t.Parallel()
	h := newHarness(t, adobesim.Config{})
	if got := h.send("tok-revoke"); got.status != http.StatusOK {
		t.Fatalf("before revoking: %d %s, want 200", got.status, got.body)
	}

	h.sim.RevokeTokens()
	got := h.send("tok-revoke")
	if got.status != http.StatusUnauthorized || got.code() != "401013" {
		t.Errorf("after revoking: %d %s, want 401 with error_code 401013", got.status, got.body)
	}

	h.bearer = h.mintToken()
	if got := h.send("tok-revoke"); got.status != http.StatusOK {
		t.Errorf("with a new token: %d %s, want 200", got.status, got.body)
	}
}
