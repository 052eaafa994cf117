package ims

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// AnyOrg in a profile's OrgIDs makes it serve every org that no other
// profile names.
const AnyOrg = "*"

// DefaultScopes are the scopes asked for when a profile names none. Adobe
// does not document which scopes callbacks need.
var DefaultScopes = []string{"openid", "AdobeID"}

// Secret is a value that must never be printed: fmt, slog and encoding/json
// all show a placeholder instead of it.
type Secret string

const redacted = "[redacted]"

// String returns a placeholder, never the secret.
func (Secret) String() string { return redacted }

// GoString returns a placeholder, never the secret.
func (Secret) GoString() string { return `"` + redacted + `"` }

// LogValue returns a placeholder, never the secret.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON writes a placeholder, never the secret.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// Profile is one OAuth Server-to-Server credential and the IMS orgs whose
// callbacks are sent with its tokens.
type Profile struct {
	// Name labels the profile in logs and metrics: 1 to 63 characters from
	// a-z, 0-9, '_' and '-'.
	Name string `yaml:"name"`
	// OrgIDs are the IMS org ids served, such as "ABC123@AdobeOrg"; AnyOrg
	// serves every org no other profile names.
	OrgIDs []string `yaml:"orgIds"`
	// ClientID is the credential's client id.
	ClientID string `yaml:"clientId"`
	// ClientSecrets holds one secret, or two while one is being rotated:
	// when IMS answers invalid_client for one, the other is tried.
	ClientSecrets []Secret `yaml:"clientSecrets"`
	// Scopes are the IMS scopes asked for; DefaultScopes when empty.
	Scopes []string `yaml:"scopes"`
	// TokenURL is the IMS token endpoint; DefaultTokenURL when empty.
	TokenURL string `yaml:"tokenUrl"`
}

// withDefaults fills in the scopes and the token URL.
func (p Profile) withDefaults() Profile {
	if len(p.Scopes) == 0 {
		p.Scopes = slices.Clone(DefaultScopes)
	}
	if p.TokenURL == "" {
		p.TokenURL = DefaultTokenURL
	}
	return p
}

// credentials returns the profile's credentials with its i-th secret.
func (p Profile) credentials(i int) Credentials {
	return Credentials{ClientID: p.ClientID, ClientSecret: p.ClientSecrets[i], Scopes: p.Scopes,
		TokenURL: p.TokenURL}
}

// cacheID names the profile's token in the shared cache: the client id and a
// hash of the scopes, never the secret. Profiles with the same credential and
// scopes share one token.
func (p Profile) cacheID() string {
	scopes := slices.Clone(p.Scopes)
	slices.Sort(scopes)
	scopes = slices.Compact(scopes)
	sum := sha256.Sum256([]byte(strings.Join(scopes, ",")))
	return p.ClientID + ":" + hex.EncodeToString(sum[:8])
}

// ReadProfilesFile reads a JSON or YAML list of profiles, such as a mounted
// Kubernetes secret, and fills in the defaults. It does not validate them:
// see ValidateProfiles.
func ReadProfilesFile(name string) ([]Profile, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("read IMS profiles: %w", err)
	}
	return ParseProfiles(data)
}

// ParseProfiles reads a JSON or YAML list of profiles and fills in the
// defaults. Its errors never quote a value from data, which may hold secrets.
func ParseProfiles(data []byte) ([]Profile, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var profiles []Profile
	if err := dec.Decode(&profiles); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parse IMS profiles: %s", scrubYAMLError(err))
	}
	for i := range profiles {
		profiles[i] = profiles[i].withDefaults()
	}
	return profiles, nil
}

// quotedValue matches the values yaml quotes in its type errors.
var quotedValue = regexp.MustCompile("`[^`]*`")

// scrubYAMLError drops the values yaml quotes in its messages, since a
// misplaced secret would otherwise be printed at start-up.
func scrubYAMLError(err error) string {
	return quotedValue.ReplaceAllString(err.Error(), "a value")
}

// profileName is what a profile name may look like: short, and safe as a
// metric label.
var profileName = regexp.MustCompile(`^[a-z0-9_-]{1,63}$`)

// ValidateProfiles checks each profile and the set as a whole: unique
// names, each org served by one profile, at most one AnyOrg. Each problem
// names its field as profiles[i].field; no message carries a secret.
func ValidateProfiles(profiles []Profile) error {
	var errs []error
	fail := func(i int, field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("profiles[%d].%s: %s", i, field,
			fmt.Sprintf(format, args...)))
	}
	if len(profiles) == 0 {
		return errors.New("no IMS profile is configured")
	}
	names := map[string]int{}
	orgs := map[string]int{}
	for i, p := range profiles {
		if !profileName.MatchString(p.Name) {
			fail(i, "name", "%q must be 1 to 63 of a-z, 0-9, _ and -", p.Name)
		} else if j, dup := names[p.Name]; dup {
			fail(i, "name", "%q is also the name of profiles[%d]", p.Name, j)
		}
		names[p.Name] = i
		if len(p.OrgIDs) == 0 {
			fail(i, "orgIds", "must name at least one IMS org id, or %q for any", AnyOrg)
		}
		for _, org := range p.OrgIDs {
			if strings.TrimSpace(org) == "" {
				fail(i, "orgIds", "holds an empty org id")
				continue
			}
			if j, dup := orgs[org]; dup && j != i {
				fail(i, "orgIds", "%q is also served by profiles[%d]", org, j)
			}
			orgs[org] = i
		}
		if p.ClientID == "" {
			fail(i, "clientId", "is required")
		}
		if n := len(p.ClientSecrets); n < 1 || n > 2 {
			fail(i, "clientSecrets", "must hold one or two secrets, not %d", n)
		}
		if slices.Contains(p.ClientSecrets, "") {
			fail(i, "clientSecrets", "holds an empty secret")
		}
		if strings.ContainsFunc(p.ClientID, unicode.IsControl) {
			fail(i, "clientId", "holds a control character, which no HTTP header may carry")
		}
		if err := CheckTokenURL(p.TokenURL); err != nil {
			fail(i, "tokenUrl", "%v", err)
		}
		if slices.Contains(p.Scopes, "") {
			fail(i, "scopes", "holds an empty scope")
		}
	}
	return errors.Join(errs...)
}

// CheckTokenURL accepts an IMS token endpoint: https, or plain http to a
// loopback address only (a local simulator), since the client secret
// travels in the request.
func CheckTokenURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("%q is not an http(s) URL", raw)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return fmt.Errorf("%q would send the client secret unencrypted: use https "+
			"(plain http is for a simulator on a loopback address)", raw)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// OrgIDsOf lists the orgs the profiles serve; anyOrg is true when one of
// them serves every org.
func OrgIDsOf(profiles []Profile) (orgs []string, anyOrg bool) {
	for _, p := range profiles {
		for _, org := range p.OrgIDs {
			if org == AnyOrg {
				anyOrg = true
				continue
			}
			orgs = append(orgs, org)
		}
	}
	slices.Sort(orgs)
	return slices.Compact(orgs), anyOrg
}
