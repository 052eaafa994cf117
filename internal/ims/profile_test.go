package ims_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/callback-dispatcher/dispatcher/internal/ims"
)

const profilesYAML = `
- name: acme
  orgIds: [ACME@AdobeOrg, ACME2@AdobeOrg]
  clientId: acme-client
  clientSecrets: [first-secret-value, second-secret-value]
  scopes: [openid, AdobeID, read_organizations]
  tokenUrl: https://ims-na1.adobelogin.com/ims/token/v3
- name: everyone-else
  orgIds: ["*"]
  clientId: shared-client
  clientSecrets: [third-secret-value]
`

const profilesJSON = `[
  {"name": "acme", "orgIds": ["ACME@AdobeOrg", "ACME2@AdobeOrg"], "clientId": "acme-client",
   "clientSecrets": ["first-secret-value", "second-secret-value"],
   "scopes": ["openid", "AdobeID", "read_organizations"],
   "tokenUrl": "https://ims-na1.adobelogin.com/ims/token/v3"},
  {"name": "everyone-else", "orgIds": ["*"], "clientId": "shared-client",
   "clientSecrets": ["third-secret-value"]}
]`

func TestParseProfilesReadsYAMLAndJSON(t *testing.T) {
	t.Parallel()
	want := []ims.Profile{
		{Name: "acme", OrgIDs: []string{"ACME@AdobeOrg", "ACME2@AdobeOrg"},
			ClientID: "acme-client", ClientSecrets: []ims.Secret{"first-secret-value",
				"second-secret-value"}, Scopes: []string{"openid", "AdobeID", "read_organizations"},
			TokenURL: ims.DefaultTokenURL},
		{Name: "everyone-else", OrgIDs: []string{"*"}, ClientID: "shared-client",
			ClientSecrets: []ims.Secret{"third-secret-value"}, Scopes: ims.DefaultScopes,
			TokenURL: ims.DefaultTokenURL},
	}
	for name, doc := range map[string]string{"yaml": profilesYAML, "json": profilesJSON} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "profiles."+name)
			if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := ims.ReadProfilesFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(got, want, equalProfiles) {
				t.Errorf("got %#v\nwant %#v", got, want)
			}
			if err := ims.ValidateProfiles(got); err != nil {
				t.Errorf("valid profiles refused: %v", err)
			}
			orgs, anyOrg := ims.OrgIDsOf(got)
			if !anyOrg || strings.Join(orgs, ",") != "ACME2@AdobeOrg,ACME@AdobeOrg" {
				t.Errorf("OrgIDsOf = %v, %t", orgs, anyOrg)
			}
		})
	}
}

func equalProfiles(a, b ims.Profile) bool {
	return a.Name == b.Name && slices.Equal(a.OrgIDs, b.OrgIDs) && a.ClientID == b.ClientID &&
		slices.Equal(a.ClientSecrets, b.ClientSecrets) && slices.Equal(a.Scopes, b.Scopes) &&
		a.TokenURL == b.TokenURL
}

func TestParseProfilesNeverQuotesASecret(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, doc, wantErr string
	}{
		{name: "a secret given as a string instead of a list",
			doc:     "- name: a\n  clientSecrets: first-secret-value\n",
			wantErr: "parse IMS profiles"},
		{name: "a misspelt field",
			doc:     "- name: a\n  clientSecret: first-secret-value\n",
			wantErr: "field clientSecret not found"},
		{name: "a map instead of a list", doc: "name: first-secret-value\n",
			wantErr: "parse IMS profiles"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ims.ParseProfiles([]byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error with %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "first-secret-value") {
				t.Errorf("error quotes the secret: %v", err)
			}
		})
	}
}

func TestValidateProfilesNamesEachProblem(t *testing.T) {
	t.Parallel()
	good := func() ims.Profile {
		return ims.Profile{Name: "acme", OrgIDs: []string{"ACME@AdobeOrg"}, ClientID: "c",
			ClientSecrets: []ims.Secret{"first-secret-value"}, Scopes: []string{"openid"},
			TokenURL: ims.DefaultTokenURL}
	}
	tests := []struct {
		name    string
		change  func(ps []ims.Profile) []ims.Profile
		wantErr string
	}{
		{name: "no profile at all", change: func([]ims.Profile) []ims.Profile { return nil },
			wantErr: "no IMS profile"},
		{name: "a name unfit for a metric label", change: func(ps []ims.Profile) []ims.Profile {
			ps[0].Name = "Acme Corp"
			return ps
		}, wantErr: "profiles[0].name"},
		{name: "two profiles with one name", change: func(ps []ims.Profile) []ims.Profile {
			p := good()
			p.OrgIDs = []string{"OTHER@AdobeOrg"}
			return append(ps, p)
		}, wantErr: `profiles[1].name: "acme" is also the name of profiles[0]`},
		{name: "one org in two profiles", change: func(ps []ims.Profile) []ims.Profile {
			p := good()
			p.Name = "other"
			return append(ps, p)
		}, wantErr: `profiles[1].orgIds: "ACME@AdobeOrg" is also served by profiles[0]`},
		{name: "two catch-all profiles", change: func(ps []ims.Profile) []ims.Profile {
			ps[0].OrgIDs = []string{"*"}
			p := good()
			p.Name, p.OrgIDs = "other", []string{"*"}
			return append(ps, p)
		}, wantErr: `profiles[1].orgIds: "*" is also served`},
		{name: "no org", change: func(ps []ims.Profile) []ims.Profile {
			ps[0].OrgIDs = nil
			return ps
		}, wantErr: "profiles[0].orgIds"},
		{name: "no client id", change: func(ps []ims.Profile) []ims.Profile {
			ps[0].ClientID = ""
			return ps
		}, wantErr: "profiles[0].clientId: is required"},
		{name: "three secrets", change: func(ps []ims.Profile) []ims.Profile {
			ps[0].ClientSecrets = []ims.Secret{"first-secret-value", "b", "c"}
			return ps
		}, wantErr: "profiles[0].clientSecrets: must hold one or two secrets, not 3"},
		{name: "no secret", change: func(ps []ims.Profile) []ims.Profile {
			ps[0].ClientSecrets = nil
			return ps
		}, wantErr: "profiles[0].clientSecrets"},
		{name: "a token URL that is not http", change: func(ps []ims.Profile) []ims.Profile {
			ps[0].TokenURL = "ftp://ims.example/token"
			return ps
		}, wantErr: "profiles[0].tokenUrl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := ims.ValidateProfiles(tt.change([]ims.Profile{good()}))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error with %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "first-secret-value") {
				t.Errorf("error quotes the secret: %v", err)
			}
		})
	}
}

func TestSecretIsNeverPrinted(t *testing.T) {
	t.Parallel()
	p := ims.Profile{Name: "acme", ClientSecrets: []ims.Secret{"first-secret-value"}}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("profile", "profile", p,
		"secret", p.ClientSecrets[0])
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"%v":   fmt.Sprintf("%v", p),
		"%+v":  fmt.Sprintf("%+v", p),
		"%#v":  fmt.Sprintf("%#v", p),
		"%s":   fmt.Sprintf("%s", p.ClientSecrets[0]), //nolint:staticcheck // tests fmt's %s verb
		"%q":   fmt.Sprintf("%q", p.ClientSecrets),
		"slog": logs.String(),
		"json": string(data),
	}
	for how, out := range outputs {
		if strings.Contains(out, "first-secret-value") {
			t.Errorf("%s prints the secret: %s", how, out)
		}
	}
}

func TestParseTokenKey(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{0xfb}, ims.TokenKeySize)
	tests := []struct {
		name    string
		text    string
		wantErr string
	}{
		{name: "standard base64", text: base64.StdEncoding.EncodeToString(key)},
		{name: "unpadded URL-safe base64", text: base64.RawURLEncoding.EncodeToString(key)},
		{name: "a 16-byte key", text: base64.StdEncoding.EncodeToString(key[:16]),
			wantErr: "key is 16 bytes, want 32"},
		{name: "not base64", text: "not a key!", wantErr: "key is not base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ims.ParseTokenKey(tt.text)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !bytes.Equal(got, key) {
				t.Fatalf("got %x, %v", got, err)
			}
		})
	}
}

func FuzzParseProfiles(f *testing.F) {
	for _, seed := range []string{profilesYAML, profilesJSON, "[]", "- {}", "- name: [1, 2]"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		profiles, err := ims.ParseProfiles(data)
		if err != nil {
			return
		}
		for _, p := range profiles {
			if len(p.Scopes) == 0 || p.TokenURL == "" {
				t.Fatalf("defaults not filled in: %#v", p)
			}
		}
		_ = ims.ValidateProfiles(profiles)
	})
}
