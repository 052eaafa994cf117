package ims_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/callback-dispatcher/dispatcher/internal/adobesim"
	"github.com/callback-dispatcher/dispatcher/internal/ims"
	"github.com/callback-dispatcher/dispatcher/internal/ims/imstest"
)

func creds(tokenURL string, secret ims.Secret) ims.Credentials {
	return ims.Credentials{ClientID: adobesim.DefaultClientID, ClientSecret: secret,
		Scopes: []string{"openid", "AdobeID"}, TokenURL: tokenURL}
}

func TestRefreshAt(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		lifetime, margin, want time.Duration
	}{
		{24 * time.Hour, 10 * time.Minute, 24*time.Hour - 10*time.Minute},
		{20 * time.Second, 10 * time.Minute, 10 * time.Second},
		{20 * time.Second, 2 * time.Second, 18 * time.Second},
		{20 * time.Minute, 10 * time.Minute, 10 * time.Minute},
	}
	for _, tt := range tests {
		if got := ims.RefreshAt(t0, t0.Add(tt.lifetime), tt.margin).Sub(t0); got != tt.want {
			t.Errorf("lifetime %s margin %s: refresh after %s, want %s", tt.lifetime, tt.margin,
				got, tt.want)
		}
	}
	if !ims.RefreshAt(t0, time.Time{}, time.Minute).IsZero() {
		t.Error("a token without expiry should never be refreshed ahead")
	}
}

func TestFetchErrors(t *testing.T) {
	t.Parallel()
	_, front, srv := imstest.Start(t, adobesim.Config{})
	tokenURL := srv.URL + imstest.TokenPath
	tests := []struct {
		name          string
		url           string
		secret        ims.Secret
		fail          func()
		wantTemporary bool
		wantCode      string
		wantStatus    int
		wantMessage   string
	}{
		{name: "a wrong secret is a permanent invalid_client", url: tokenURL, secret: "wrong",
			wantCode: "invalid_client", wantStatus: 400,
			wantMessage: "fetch IMS token: invalid_client (status 400)"},
		{name: "an unreachable IMS is temporary", url: "http://127.0.0.1:1/ims/token/v3",
			secret: "x", wantTemporary: true},
		{name: "an IMS 503 is temporary", url: tokenURL, secret: adobesim.DefaultClientSecret,
			fail:          func() { front.FailNext(1, 503, `{"error":"server_error"}`) },
			wantTemporary: true, wantCode: "server_error", wantStatus: 503},
		{name: "an IMS 429 is temporary", url: tokenURL, secret: adobesim.DefaultClientSecret,
			fail:          func() { front.FailNext(1, 429, `{"error":"too_many_requests"}`) },
			wantTemporary: true, wantCode: "too_many_requests", wantStatus: 429},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.fail != nil {
				tt.fail()
			}
			_, err := ims.NewFetcher(creds(tt.url, tt.secret), nil).Fetch(context.Background())
			var fe *ims.FetchError
			if !errors.As(err, &fe) {
				t.Fatalf("got %v, want a *FetchError", err)
			}
			if fe.Temporary != tt.wantTemporary || fe.Code != tt.wantCode ||
				fe.Status != tt.wantStatus {
				t.Errorf("got temporary=%t code=%q status=%d, want %t %q %d", fe.Temporary,
					fe.Code, fe.Status, tt.wantTemporary, tt.wantCode, tt.wantStatus)
			}
			if tt.wantMessage != "" && fe.Error() != tt.wantMessage {
				t.Errorf("message %q, want %q", fe.Error(), tt.wantMessage)
			}
		})
	}
}
