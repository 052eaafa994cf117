// Package ims gets Adobe IMS access tokens with the OAuth Server-to-Server
// (client credentials) grant and shares them between every worker process
// through Redis, so that IMS sees about one token request per credential per
// token lifetime however many workers run.
package ims

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
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
	// Token returns a valid access token for a callback of orgID's,
	// fetching one when needed.
	Token(ctx context.Context, orgID string) (string, error)
	// Invalidate drops token if it is still the one cached for orgID, so
	// the next Token call fetches a fresh one. It is called after a 401.
	Invalidate(ctx context.Context, orgID, token string)
}

// Credentials identify an OAuth Server-to-Server credential with one of its
// client secrets.
type Credentials struct {
	// ClientID is the credential's client id (also its API key).
	ClientID string
	// ClientSecret is one of the credential's client secrets.
	ClientSecret Secret
	// Scopes are sent comma-separated, as Adobe expects.
	Scopes []string
	// TokenURL is the IMS token endpoint; DefaultTokenURL when empty.
	TokenURL string
}

// FetchError is a failed token request. Temporary errors (network faults,
// IMS 5xx and 429) may succeed later; the others need a configuration fix.
type FetchError struct {
	// Profile names the credential profile, when the request was made for
	// one.
	Profile   string
	Temporary bool
	// Code is IMS's error code, such as invalid_client, when it sent one.
	Code string
	// Status is the HTTP status of IMS's answer, or 0.
	Status int
	Err    error
}

// Error names the profile and IMS's error code, or the cause.
func (e *FetchError) Error() string {
	what := "fetch IMS token"
	if e.Profile != "" {
		what += " for profile " + e.Profile
	}
	if e.Code != "" {
		return fmt.Sprintf("%s: %s (status %d)", what, e.Code, e.Status)
	}
	return fmt.Sprintf("%s: %v", what, e.Err)
}

// Unwrap returns the cause.
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
			ClientSecret:   string(creds.ClientSecret),
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
