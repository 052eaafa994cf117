package ims_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/callback-dispatcher/dispatcher/internal/adobesim"
	"github.com/callback-dispatcher/dispatcher/internal/ims"
)

func simulator(t *testing.T, lifetime time.Duration) (*adobesim.Simulator, string) {
	t.Helper()
	sim, err := adobesim.New(adobesim.Config{TokenLifetime: lifetime})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	return sim, srv.URL + "/ims/token/v3"
}

func creds(tokenURL, secret string) ims.Credentials {
	return ims.Credentials{ClientID: adobesim.DefaultClientID, ClientSecret: secret,
		Scopes: []string{"openid", "AdobeID"}, TokenURL: tokenURL}
}

func TestConcurrentCallersShareOneFetch(t *testing.T) {
	t.Parallel()
	sim, url := simulator(t, time.Hour)
	cache := ims.NewCache(ims.NewFetcher(creds(url, adobesim.DefaultClientSecret), nil), 0)
	var wg sync.WaitGroup
	tokens := make([]string, 50)
	for i := range tokens {
		wg.Go(func() {
			tok, err := cache.Token(context.Background())
			if err != nil {
				t.Error(err)
			}
			tokens[i] = tok
		})
	}
	wg.Wait()
	if got := sim.TokenFetches(); got != 1 {
		t.Errorf("%d fetches, want 1", got)
	}
	for _, tok := range tokens {
		if tok != tokens[0] || tok == "" {
			t.Fatalf("callers got different tokens: %q vs %q", tok, tokens[0])
		}
	}
}

func TestInvalidateDropsOnlyTheFailedToken(t *testing.T) {
	t.Parallel()
	sim, url := simulator(t, time.Hour)
	cache := ims.NewCache(ims.NewFetcher(creds(url, adobesim.DefaultClientSecret), nil), 0)
	ctx := context.Background()
	first, _ := cache.Token(ctx)
	cache.Invalidate(ctx, "some-older-token")
	if again, _ := cache.Token(ctx); again != first || sim.TokenFetches() != 1 {
		t.Fatalf("invalidating another token dropped the cached one")
	}
	cache.Invalidate(ctx, first)
	second, _ := cache.Token(ctx)
	if second == first || sim.TokenFetches() != 2 {
		t.Fatalf("after invalidation got %q (fetches %d), want a new token", second,
			sim.TokenFetches())
	}
}

func TestShortLivedTokensAreReusedForHalfTheirLife(t *testing.T) {
	t.Parallel()
	sim, url := simulator(t, 10*time.Minute)
	cache := ims.NewCache(ims.NewFetcher(creds(url, adobesim.DefaultClientSecret), nil),
		ims.DefaultRefreshMargin)
	for range 5 {
		if _, err := cache.Token(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if got := sim.TokenFetches(); got != 1 {
		t.Errorf("%d fetches for a 10-minute token with a 10-minute margin, want 1", got)
	}
}

func TestRefreshAt(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		lifetime, margin, want time.Duration
	}{
		{24 * time.Hour, 10 * time.Minute, 24*time.Hour - 10*time.Minute},
		{20 * time.Second, 10 * time.Minute, 10 * time.Second},
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

func TestBadSecretIsAPermanentError(t *testing.T) {
	t.Parallel()
	_, url := simulator(t, time.Hour)
	_, err := ims.NewFetcher(creds(url, "wrong"), nil).Fetch(context.Background())
	var fe *ims.FetchError
	if !errors.As(err, &fe) || fe.Temporary || fe.Code != "invalid_client" || fe.Status != 400 {
		t.Fatalf("got %#v, want a permanent invalid_client error", err)
	}
	if got := fe.Error(); got != "fetch IMS token: invalid_client (status 400)" {
		t.Errorf("message %q", got)
	}
}

func TestUnreachableIMSIsTemporary(t *testing.T) {
	t.Parallel()
	_, err := ims.NewFetcher(creds("http://127.0.0.1:1/ims/token/v3", "x"), nil).Fetch(
		context.Background())
	var fe *ims.FetchError
	if !errors.As(err, &fe) || !fe.Temporary {
		t.Fatalf("got %v, want a temporary error", err)
	}
}
