// Package ims gets Adobe IMS access tokens with the OAuth Server-to-Server
// (client credentials) grant and caches them.
package ims

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// DefaultTokenURL is Adobe's IMS token endpoint.
const DefaultTokenURL = "https://ims-na1.adobelogin.com/ims/token/v3"

// DefaultRefreshMargin is how long before expiry a token counts as expired;
// Adobe's own library uses ten minutes.
const DefaultRefreshMargin = 10 * time.Minute

// Source hands out bearer tokens for callbacks.
type Source interface {
	// Token returns a valid access token, fetching one when needed.
	Token(ctx context.Context) (string, error)
	// Invalidate drops token if it is still the one cached, so the next
	// Token call fetches a fresh one. It is called after a 401.
	Invalidate(ctx context.Context, token string)
}

// Credentials identify an OAuth Server-to-Server credential.
type Credentials struct {
	ClientID     string
	ClientSecret string
	Scopes       []string
	TokenURL     string
}

// FetchError is a failed token request. Temporary errors (network faults,
// IMS 5xx and 429) may succeed later; the others need a configuration fix.
type FetchError struct {
	Temporary bool
	// Code is IMS's error code, such as invalid_client, when it sent one.
	Code string
	// Status is the HTTP status of IMS's answer, or 0.
	Status int
	Err    error
}

func (e *FetchError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("fetch IMS token: %s (status %d)", e.Code, e.Status)
	}
	return fmt.Sprintf("fetch IMS token: %v", e.Err)
}

func (e *FetchError) Unwrap() error { return e.Err }

// Fetcher requests new tokens from IMS.
type Fetcher struct {
	cfg    clientcredentials.Config
	client *http.Client
}

// NewFetcher returns a fetcher for creds that sends requests with client.
// client_id, client_secret and scope go in the form body, never the query.
func NewFetcher(creds Credentials, client *http.Client) *Fetcher {
	tokenURL := creds.TokenURL
	if tokenURL == "" {
		tokenURL = DefaultTokenURL
	}
	params := url.Values{}
	if len(creds.Scopes) > 0 {
		// Adobe wants a comma-separated list, not OAuth's usual spaces.
		params.Set("scope", strings.Join(creds.Scopes, ","))
	}
	return &Fetcher{
		cfg: clientcredentials.Config{
			ClientID:       creds.ClientID,
			ClientSecret:   creds.ClientSecret,
			TokenURL:       tokenURL,
			EndpointParams: params,
			AuthStyle:      oauth2.AuthStyleInParams,
		},
		client: client,
	}
}

// Fetch asks IMS for a new token.
func (f *Fetcher) Fetch(ctx context.Context) (*oauth2.Token, error) {
	if f.client != nil {
		ctx = context.WithValue(ctx, oauth2.HTTPClient, f.client)
	}
	tok, err := f.cfg.Token(ctx)
	if err != nil {
		return nil, classify(err)
	}
	if tok.AccessToken == "" {
		return nil, &FetchError{Temporary: true, Err: errors.New("IMS answered without a token")}
	}
	return tok, nil
}

func classify(err error) *FetchError {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return &FetchError{Temporary: true, Err: err}
	}
	status := 0
	if re.Response != nil {
		status = re.Response.StatusCode
	}
	return &FetchError{
		Temporary: status >= 500 || status == http.StatusTooManyRequests || status == 0,
		Code:      re.ErrorCode,
		Status:    status,
		Err:       err,
	}
}

// Cache is a Source that keeps one token in memory for this process and
// fetches a new one, once, when it is about to expire.
type Cache struct {
	fetcher *Fetcher
	margin  time.Duration
	now     func() time.Time

	mu        sync.RWMutex
	tok       *oauth2.Token
	refreshAt time.Time

	// fetchMu makes concurrent callers share one fetch.
	fetchMu sync.Mutex
}

// NewCache returns an in-process token cache. A token with less than
// margin left is refreshed; zero means DefaultRefreshMargin.
func NewCache(f *Fetcher, margin time.Duration) *Cache {
	if margin <= 0 {
		margin = DefaultRefreshMargin
	}
	return &Cache{fetcher: f, margin: margin, now: time.Now}
}

// Token returns the cached token or fetches one.
func (c *Cache) Token(ctx context.Context) (string, error) {
	if tok := c.fresh(); tok != "" {
		return tok, nil
	}
	c.fetchMu.Lock()
	defer c.fetchMu.Unlock()
	if tok := c.fresh(); tok != "" {
		return tok, nil
	}
	tok, err := c.fetcher.Fetch(ctx)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	c.tok, c.refreshAt = tok, RefreshAt(c.now(), tok.Expiry, c.margin)
	c.mu.Unlock()
	return tok.AccessToken, nil
}

func (c *Cache) fresh() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.tok == nil {
		return ""
	}
	if !c.refreshAt.IsZero() && !c.now().Before(c.refreshAt) {
		return ""
	}
	return c.tok.AccessToken
}

// RefreshAt is when a token fetched at fetched and expiring at expiry should
// be replaced: margin before expiry, or half-way through its life when the
// lifetime is shorter than twice the margin (so short-lived tokens, as in
// tests, are still reused). A token with no expiry is kept until a 401.
func RefreshAt(fetched, expiry time.Time, margin time.Duration) time.Time {
	if expiry.IsZero() {
		return time.Time{}
	}
	lifetime := expiry.Sub(fetched)
	return expiry.Add(-min(margin, lifetime/2))
}

// Invalidate drops token if it is still the cached one.
func (c *Cache) Invalidate(_ context.Context, token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok != nil && c.tok.AccessToken == token {
		c.tok = nil
	}
}
