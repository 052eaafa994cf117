package adobesim_test

import (
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/callback-dispatcher/dispatcher/internal/adobesim"
)

const (
	acmeOrg   = "ACME@AdobeOrg"
	globexOrg = "GLOBEX@AdobeOrg"
)

// twoClients are two credentials, the first limited to one org.
var twoClients = []adobesim.Client{
	{ID: "acme-client", Secrets: []string{"acme-secret"}, OrgIDs: []string{acmeOrg}},
	{ID: "globex-client", Secrets: []string{"globex-old", "globex-new"}},
}

// TestTokensRememberTheirClient checks that a callback's X-Api-Key must be
// the client id of the client its bearer token was minted for.
func TestTokensRememberTheirClient(t *testing.T) {
	t.Parallel()
	withDefault := adobesim.Config{ClientID: adobesim.DefaultClientID, Clients: twoClients}
	override := adobesim.Config{Clients: twoClients, APIKey: "gateway-key"}
	tests := []struct {
		name       string
		cfg        adobesim.Config
		id, secret string
		apiKey     string
		org        string
		wantStatus int
		wantCode   string
		wantIssue  string
	}{
		{name: "a token's own client id is accepted", cfg: adobesim.Config{Clients: twoClients},
			id: "acme-client", secret: "acme-secret", apiKey: "acme-client", org: acmeOrg,
			wantStatus: 200},
		{name: "a second client's token with its own id is accepted",
			cfg: adobesim.Config{Clients: twoClients}, id: "globex-client", secret: "globex-new",
			apiKey: "globex-client", org: globexOrg, wantStatus: 200},
		{name: "another client's id is refused", cfg: adobesim.Config{Clients: twoClients},
			id: "acme-client", secret: "acme-secret", apiKey: "globex-client", org: acmeOrg,
			wantStatus: 403, wantCode: "403003",
			wantIssue: "X-Api-Key is not the client id of the bearer token's client"},
		{name: "an org the client does not serve is forbidden",
			cfg: adobesim.Config{Clients: twoClients}, id: "acme-client", secret: "acme-secret",
			apiKey: "acme-client", org: globexOrg, wantStatus: 403, wantCode: "FORBIDDEN",
			wantIssue: "x-gw-ims-org-id is not an organization of the bearer token's client"},
		{name: "a client without orgs serves any org", cfg: adobesim.Config{Clients: twoClients},
			id: "globex-client", secret: "globex-old", apiKey: "globex-client", org: acmeOrg,
			wantStatus: 200},
		{name: "the default client beside the others keeps its own key", cfg: withDefault,
			id: adobesim.DefaultClientID, secret: adobesim.DefaultClientSecret,
			apiKey: adobesim.DefaultClientID, org: globexOrg, wantStatus: 200},
		{name: "the default client's token with another client's id is refused",
			cfg: withDefault, id: adobesim.DefaultClientID, secret: adobesim.DefaultClientSecret,
			apiKey: "acme-client", org: acmeOrg, wantStatus: 403, wantCode: "403003"},
		{name: "a configured API key is the only one accepted", cfg: override,
			id: "acme-client", secret: "acme-secret", apiKey: "gateway-key", org: acmeOrg,
			wantStatus: 200},
		{name: "with a configured API key the client id is refused", cfg: override,
			id: "acme-client", secret: "acme-secret", apiKey: "acme-client", org: acmeOrg,
			wantStatus: 403, wantCode: "403003",
			wantIssue: "X-Api-Key is not the configured API key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := startHarness(t, tt.cfg)
			h.bearer = h.mintTokenFor(tt.id, tt.secret)
			req := h.callback("tok-client", validBody)
			req.Header.Set("X-Api-Key", tt.apiKey)
			req.Header.Set("x-gw-ims-org-id", tt.org)

			got := h.do(req)
			if got.status != tt.wantStatus || got.code() != tt.wantCode {
				t.Fatalf("answer = %d %s, want %d with code %q", got.status, got.body,
					tt.wantStatus, tt.wantCode)
			}
			recs := h.sim.Received("tok-client")
			if len(recs) != 1 || recs[0].APIKey != tt.apiKey {
				t.Fatalf("records = %+v, want one with X-Api-Key %q", recs, tt.apiKey)
			}
			if tt.wantIssue != "" && recs[0].Problem != tt.wantIssue {
				t.Errorf("problem = %q, want %q", recs[0].Problem, tt.wantIssue)
			}
		})
	}
}

func TestClientsReplaceTheDefaultClient(t *testing.T) {
	t.Parallel()
	h := startHarness(t, adobesim.Config{Clients: twoClients})
	status, out := h.postToken("", tokenForm())
	if status != http.StatusBadRequest || out["error"] != "invalid_client" {
		t.Errorf("default credentials answered %d %v, want 400 invalid_client", status, out)
	}
	form := tokenForm()
	form.Set("client_id", "acme-client")
	form.Set("client_secret", "globex-new")
	if status, out := h.postToken("", form); status != http.StatusBadRequest ||
		out["error"] != "invalid_client" {
		t.Errorf("another client's secret answered %d %v, want 400 invalid_client", status, out)
	}
}

func TestBadClientsAreRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     adobesim.Config
		wantErr string
	}{
		{"a client without an id",
			adobesim.Config{Clients: []adobesim.Client{{Secrets: []string{"s3cr3t"}}}},
			"clients[0]: client id is empty"},
		{"a client without a secret",
			adobesim.Config{Clients: []adobesim.Client{{ID: "c", Secrets: []string{""}}}},
			"clients[0] (c): no client secret"},
		{"an empty org id",
			adobesim.Config{Clients: []adobesim.Client{
				{ID: "c", Secrets: []string{"s3cr3t"}, OrgIDs: []string{acmeOrg, ""}}}},
			"clients[0] (c): an org id is empty"},
		{"a client id twice", adobesim.Config{Clients: []adobesim.Client{twoClients[0],
			twoClients[1], twoClients[0]}}, "client id acme-client is listed twice"},
		{"a client id that is also the default client's",
			adobesim.Config{ClientID: "acme-client", Clients: twoClients},
			"client id acme-client is listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := adobesim.New(tt.cfg)
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("New = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestLoadClients(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "clients.json")
	doc := `[{"clientId":"acme-client","clientSecrets":["acme-secret"],"orgIds":["` +
		acmeOrg + `"]},{"clientId":"globex-client","clientSecrets":["globex-old","globex-new"]}]`
	if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	badFile := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(badFile, []byte(`[{"clientId":"c","clientSecrets":"s3cr3t"}]`),
		0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		spec    string
		want    []adobesim.Client
		wantErr string
	}{
		{name: "unset is no client", spec: " "},
		{name: "inline, with and without orgs",
			spec: "acme-client=acme-secret/" + acmeOrg + "; globex-client=globex-old, globex-new",
			want: twoClients},
		{name: "a JSON file", spec: file, want: twoClients},
		{name: "an inline client without =", spec: "a=s;b", wantErr: "client 2: want"},
		{name: "a missing file", spec: filepath.Join(dir, "none.json"), wantErr: "read clients"},
		{name: "a file of the wrong shape", spec: badFile,
			wantErr: "not an array of {clientId, clientSecrets, orgIds}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := adobesim.LoadClients(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("LoadClients = %v, want an error with %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "s3cr3t") {
					t.Errorf("error repeats a secret: %v", err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("LoadClients = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}
