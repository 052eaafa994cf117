package config

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/callback-dispatcher/dispatcher/internal/envconfig"
	"github.com/callback-dispatcher/dispatcher/internal/ims"
)

const profilesFile = `
- name: acme
  orgIds: [ACME@AdobeOrg]
  clientId: acme-client
  clientSecrets: [file-secret-one, file-secret-two]
- name: globex
  orgIds: [GLOBEX@AdobeOrg, GLOBEX-EU@AdobeOrg]
  clientId: globex-client
  clientSecrets: [file-secret-three]
  scopes: [openid]
`

func writeProfiles(t *testing.T, doc string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "profiles.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestWorkerProfiles(t *testing.T) {
	t.Parallel()
	file := writeProfiles(t, profilesFile)
	tests := []struct {
		name      string
		env       map[string]string
		wantNames []string
		wantOrgs  map[string][]string
	}{
		{name: "the environment alone makes a catch-all default profile",
			env: map[string]string{"IMS_CLIENT_ID": "env-client", "IMS_CLIENT_SECRET": "s1",
				"IMS_CLIENT_SECRET_2": "s2"},
			wantNames: []string{"default"}, wantOrgs: map[string][]string{"default": {"*"}}},
		{name: "IMS_ORG_IDS limits the default profile",
			env: map[string]string{"IMS_CLIENT_ID": "env-client", "IMS_CLIENT_SECRET": "s1",
				"IMS_ORG_IDS": "A@AdobeOrg, B@AdobeOrg", "IMS_ORG_ID": "B@AdobeOrg"},
			wantNames: []string{"default"},
			wantOrgs:  map[string][]string{"default": {"A@AdobeOrg", "B@AdobeOrg"}}},
		{name: "the file alone", env: map[string]string{"IMS_PROFILES_FILE": file},
			wantNames: []string{"acme", "globex"},
			wantOrgs: map[string][]string{"acme": {"ACME@AdobeOrg"},
				"globex": {"GLOBEX@AdobeOrg", "GLOBEX-EU@AdobeOrg"}}},
		{name: "the file with the environment as catch-all",
			env: map[string]string{"IMS_PROFILES_FILE": file, "IMS_CLIENT_ID": "env-client",
				"IMS_CLIENT_SECRET": "s1"},
			wantNames: []string{"acme", "globex", "default"},
			wantOrgs:  map[string][]string{"default": {"*"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w, _, err := LoadWorker(envconfig.MapLookup(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, p := range w.IMSProfiles {
				names = append(names, p.Name)
				if want, ok := tt.wantOrgs[p.Name]; ok && !slices.Equal(p.OrgIDs, want) {
					t.Errorf("profile %s serves %v, want %v", p.Name, p.OrgIDs, want)
				}
			}
			if !slices.Equal(names, tt.wantNames) {
				t.Errorf("profiles %v, want %v", names, tt.wantNames)
			}
			if _, err := ims.NewPool(w.IMSProfiles, ims.Options{}); err != nil {
				t.Errorf("the pool refuses the loaded profiles: %v", err)
			}
		})
	}
}

// TestWorkerAPIKeyIsAnOverride: without CALLBACK_API_KEY the worker sends
// each profile's own client id, so no single key is chosen at load.
func TestWorkerAPIKeyIsAnOverride(t *testing.T) {
	t.Parallel()
	file := writeProfiles(t, profilesFile)
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{name: "unset, no key is fixed for every profile",
			env: map[string]string{"IMS_PROFILES_FILE": file, "IMS_CLIENT_ID": "env-client",
				"IMS_CLIENT_SECRET": "s1"}},
		{name: "CALLBACK_API_KEY is kept for every callback",
			env: map[string]string{"IMS_PROFILES_FILE": file,
				"CALLBACK_API_KEY": "gateway-key"},
			want: "gateway-key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w, _, err := LoadWorker(envconfig.MapLookup(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if w.APIKey != tt.want {
				t.Errorf("APIKey %q, want %q", w.APIKey, tt.want)
			}
		})
	}
}

func TestWorkerRefusesBadIMSSettings(t *testing.T) {
	t.Parallel()
	file := writeProfiles(t, profilesFile)
	catchAll := writeProfiles(t, strings.ReplaceAll(profilesFile, "[ACME@AdobeOrg]", `["*"]`))
	creds := func(m map[string]string) map[string]string {
		m["IMS_CLIENT_ID"], m["IMS_CLIENT_SECRET"] = "env-client", "env-secret-value"
		return m
	}
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{name: "no credential at all", env: map[string]string{},
			wantErr: "IMS_CLIENT_ID: is required unless IMS_PROFILES_FILE lists profiles"},
		{name: "a client id without a secret", env: map[string]string{"IMS_CLIENT_ID": "c"},
			wantErr: "IMS_CLIENT_SECRET: is required with IMS_CLIENT_ID"},
		{name: "a profiles file that is missing",
			env:     map[string]string{"IMS_PROFILES_FILE": "/nonexistent/profiles.yaml"},
			wantErr: "IMS_PROFILES_FILE: read IMS profiles"},
		{name: "a bad profile in the file",
			env: map[string]string{"IMS_PROFILES_FILE": writeProfiles(t,
				"- name: x\n  orgIds: [A]\n  clientSecrets: [file-secret-one]\n")},
			wantErr: "IMS_PROFILES_FILE: profiles[0].clientId: is required"},
		{name: "an org of the environment also in the file",
			env: creds(map[string]string{"IMS_PROFILES_FILE": file,
				"IMS_ORG_IDS": "ACME@AdobeOrg"}),
			wantErr: `IMS_ORG_IDS: "ACME@AdobeOrg" is also served by profile "acme"`},
		{name: "two catch-alls",
			env:     creds(map[string]string{"IMS_PROFILES_FILE": catchAll}),
			wantErr: `IMS_ORG_IDS: "*" is also served by profile "acme"`},
		{name: "a default org no profile serves",
			env:     map[string]string{"IMS_PROFILES_FILE": file, "IMS_ORG_ID": "NOPE@AdobeOrg"},
			wantErr: `IMS_ORG_ID: "NOPE@AdobeOrg" has no IMS profile`},
		{name: "a token key of the wrong size",
			env: creds(map[string]string{"IMS_TOKEN_KEY": base64.StdEncoding.EncodeToString(
				[]byte("sixteen byte key"))}),
			wantErr: "IMS_TOKEN_KEY: key is 16 bytes, want 32"},
		{name: "a wait shorter than a fetch",
			env:     creds(map[string]string{"IMS_WAIT_TIMEOUT": "2s", "IMS_TIMEOUT": "5s"}),
			wantErr: "IMS_WAIT_TIMEOUT: 2s is below IMS_TIMEOUT"},
		{name: "a lock shorter than a fetch",
			env:     creds(map[string]string{"IMS_LOCK_TIMEOUT": "5s", "IMS_TIMEOUT": "5s"}),
			wantErr: "IMS_LOCK_TIMEOUT: 5s must exceed IMS_TIMEOUT"},
		{name: "a task too short for two waits and two sends",
			env:     creds(map[string]string{"TASK_TIMEOUT": "30s"}),
			wantErr: "TASK_TIMEOUT: 30s must exceed 2×(IMS_WAIT_TIMEOUT+HTTP_TIMEOUT) = 36s"},
		{name: "a token URL in plain http to another host",
			env:     creds(map[string]string{"IMS_TOKEN_URL": "http://ims.example.com/token"}),
			wantErr: "IMS_TOKEN_URL: \"http://ims.example.com/token\" would send the client secret"},
		{name: "a profile's token URL in plain http to another host",
			env: map[string]string{"IMS_PROFILES_FILE": writeProfiles(t, "- name: x\n"+
				"  orgIds: [A]\n  clientId: c\n  clientSecrets: [file-secret-one]\n"+
				"  tokenUrl: http://10.0.0.1/ims/token/v3\n")},
			wantErr: "IMS_PROFILES_FILE: profiles[0].tokenUrl: \"http://10.0.0.1/ims/token/v3\" would"},
		{name: "an API key that would break the headers",
			env:     creds(map[string]string{"CALLBACK_API_KEY": "key\r\nX-Evil: 1"}),
			wantErr: "CALLBACK_API_KEY: holds a control character"},
		{name: "a client id that would break the headers",
			env:     map[string]string{"IMS_CLIENT_ID": "c\x01d", "IMS_CLIENT_SECRET": "env-secret-value"},
			wantErr: "IMS_CLIENT_ID: holds a control character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := LoadWorker(envconfig.MapLookup(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error with %q", err, tt.wantErr)
			}
			if tt.env["IMS_PROFILES_FILE"] != "" &&
				strings.Contains(err.Error(), "IMS_CLIENT_ID: is required") {
				t.Errorf("a bad profiles file also blames IMS_CLIENT_ID: %v", err)
			}
			for _, secret := range []string{"env-secret-value", "file-secret-one"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error repeats a secret: %v", err)
				}
			}
		})
	}
}

func TestWorkerReadsTheTokenKey(t *testing.T) {
	t.Parallel()
	key := []byte("0123456789abcdef0123456789abcdef")
	w, _, err := LoadWorker(envconfig.MapLookup(map[string]string{"IMS_CLIENT_ID": "c",
		"IMS_CLIENT_SECRET": "s", "IMS_TOKEN_KEY": base64.StdEncoding.EncodeToString(key),
		"IMS_LOCK_TIMEOUT": "20s", "IMS_WAIT_TIMEOUT": "6s", "IMS_REFRESH_MARGIN": "5m"}))
	if err != nil {
		t.Fatal(err)
	}
	if string(w.IMSTokenKey) != string(key) || w.IMSLockTimeout.String() != "20s" ||
		w.IMSWaitTimeout.String() != "6s" || w.RefreshMargin.String() != "5m0s" {
		t.Errorf("got key %d bytes, lock %s, wait %s, margin %s", len(w.IMSTokenKey),
			w.IMSLockTimeout, w.IMSWaitTimeout, w.RefreshMargin)
	}
}

func TestProducerKnownOrgs(t *testing.T) {
	t.Parallel()
	file := writeProfiles(t, profilesFile)
	catchAll := writeProfiles(t, strings.ReplaceAll(profilesFile, "[ACME@AdobeOrg]", `["*"]`))
	tests := []struct {
		name    string
		env     map[string]string
		want    []string
		wantErr string
	}{
		{name: "neither file nor list accepts any org", env: map[string]string{}},
		{name: "the file's orgs", env: map[string]string{"IMS_PROFILES_FILE": file},
			want: []string{"ACME@AdobeOrg", "GLOBEX-EU@AdobeOrg", "GLOBEX@AdobeOrg"}},
		{name: "the file's orgs and the list's",
			env:  map[string]string{"IMS_PROFILES_FILE": file, "IMS_ORG_IDS": "Z@AdobeOrg"},
			want: []string{"Z@AdobeOrg", "ACME@AdobeOrg", "GLOBEX-EU@AdobeOrg", "GLOBEX@AdobeOrg"}},
		{name: "a catch-all in the file accepts any org",
			env: map[string]string{"IMS_PROFILES_FILE": catchAll}},
		{name: "a catch-all in the list accepts any org",
			env: map[string]string{"IMS_PROFILES_FILE": file, "IMS_ORG_IDS": "*"}},
		{name: "a default org without a profile is refused",
			env:     map[string]string{"IMS_ORG_IDS": "A@AdobeOrg", "IMS_ORG_ID": "B@AdobeOrg"},
			wantErr: `IMS_ORG_ID: "B@AdobeOrg" has no IMS profile`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, _, err := LoadProducer(envconfig.MapLookup(tt.env), false)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p.KnownOrgIDs, tt.want) {
				t.Errorf("known orgs %v, want %v", p.KnownOrgIDs, tt.want)
			}
		})
	}
}
