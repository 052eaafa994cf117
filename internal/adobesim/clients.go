package adobesim

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/callback-dispatcher/dispatcher/internal/envconfig"
)

// Client is one OAuth Server-to-Server credential the simulator knows. Its
// tokens remember it: a callback sent with one must carry the client's ID as
// X-Api-Key, as on Adobe's gateways.
type Client struct {
	// ID is the client_id, and the X-Api-Key of its tokens' callbacks.
	ID string `json:"clientId"`
	// Secrets are the client secrets accepted with ID; more than one models
	// a secret being rotated.
	Secrets []string `json:"clientSecrets"`
	// OrgIDs, when set, are the only x-gw-ims-org-id values its tokens'
	// callbacks may carry; the others get 403 FORBIDDEN. Empty means any.
	OrgIDs []string `json:"orgIds,omitempty"`
}

// serves reports whether a callback of orgID may be sent with the client's
// tokens.
func (c *Client) serves(orgID string) bool {
	return len(c.OrgIDs) == 0 || slices.Contains(c.OrgIDs, orgID)
}

// clientsOf lists the clients of cfg, whose defaults are filled in: the
// default client, if any, then each of Clients. It checks each and names
// the problem, never a secret.
func clientsOf(cfg Config) ([]*Client, error) {
	var out []*Client
	if cfg.ClientID != "" {
		out = append(out, &Client{ID: cfg.ClientID, Secrets: cfg.ClientSecrets})
	}
	for i, c := range cfg.Clients {
		c.Secrets = nonEmpty(c.Secrets)
		switch {
		case c.ID == "":
			return nil, fmt.Errorf("clients[%d]: client id is empty", i)
		case len(c.Secrets) == 0:
			return nil, fmt.Errorf("clients[%d] (%s): no client secret", i, c.ID)
		case slices.Contains(c.OrgIDs, ""):
			return nil, fmt.Errorf("clients[%d] (%s): an org id is empty", i, c.ID)
		}
		out = append(out, &Client{ID: c.ID, Secrets: c.Secrets, OrgIDs: slices.Clone(c.OrgIDs)})
	}
	seen := map[string]bool{}
	for _, c := range out {
		if seen[c.ID] {
			return nil, fmt.Errorf("client id %s is listed twice", c.ID)
		}
		seen[c.ID] = true
	}
	return out, nil
}

func nonEmpty(list []string) []string {
	return slices.DeleteFunc(slices.Clone(list), func(s string) bool { return s == "" })
}

// clientFor returns the client whose id and one of whose secrets match, or
// nil. It compares in constant time and tries every client and secret, so
// the time taken does not tell which one came close.
func (s *Simulator) clientFor(id, secret string) *Client {
	var found *Client
	for _, c := range s.clients {
		idOK := subtle.ConstantTimeCompare([]byte(id), []byte(c.ID))
		match := 0
		for _, want := range c.Secrets {
			match |= subtle.ConstantTimeCompare([]byte(secret), []byte(want))
		}
		if idOK&match == 1 {
			found = c
		}
	}
	return found
}

// LoadClients reads the SIM_CLIENTS setting: either the path of a JSON file
// holding an array of clients, or clients written inline as
// "id=secret,secret/org,org;id=secret". A value without "=", or ending in
// ".json", is a path. Inline, a secret holds none of ",;/". Its errors name
// a client by its place and id, never by a secret.
func LoadClients(spec string) ([]Client, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, nil
	}
	if !strings.Contains(spec, "=") || strings.HasSuffix(spec, ".json") {
		return readClientsFile(spec)
	}
	var clients []Client
	for i, item := range strings.Split(spec, ";") {
		if strings.TrimSpace(item) == "" {
			continue
		}
		id, rest, found := strings.Cut(item, "=")
		if !found {
			return nil, fmt.Errorf("client %d: want id=secret[,secret][/org[,org]]", i+1)
		}
		secrets, orgs, _ := strings.Cut(rest, "/")
		clients = append(clients, Client{ID: strings.TrimSpace(id),
			Secrets: envconfig.SplitList(secrets), OrgIDs: envconfig.SplitList(orgs)})
	}
	return clients, nil
}

func readClientsFile(name string) ([]Client, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("read clients: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var clients []Client
	if err := dec.Decode(&clients); err != nil {
		// A JSON syntax or type error may quote a secret; say only where.
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			return nil, fmt.Errorf("decode clients %s: malformed JSON at byte %d", name,
				syntax.Offset)
		}
		return nil, fmt.Errorf("decode clients %s: not an array of "+
			"{clientId, clientSecrets, orgIds}", name)
	}
	return clients, nil
}
