package deadletter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/callback-dispatcher/dispatcher/internal/job"
	"github.com/callback-dispatcher/dispatcher/pkg/callback"
)

// checkSameEntity refuses a patched body that no longer answers for the
// callback's own entity: a patch may change fields and outcomes, never whom
// the callback is about.
func checkSameEntity(body []byte, j *job.Job) error {
	var env struct {
		ObjectData []map[string]json.RawMessage `json:"objectData"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&env); err != nil || len(env.ObjectData) != 1 {
		return fmt.Errorf("the patched body is not a one-item callback envelope")
	}
	item := env.ObjectData[0]
	var ids []string
	entity := ""
	switch {
	case item["accountPersonData"] != nil:
		entity = callback.EntityAccountPerson
		var rels []struct {
			RelID json.Number `json:"accountPersonRelId"`
		}
		if err := json.Unmarshal(item["accountPersonData"], &rels); err != nil {
			return fmt.Errorf("accountPersonData: %w", err)
		}
		for _, r := range rels {
			ids = append(ids, idText(r.RelID))
		}
	case item["leadData"] != nil:
		entity, ids = callback.EntityLead, objectID(item["leadData"])
	case item["accountData"] != nil:
		entity, ids = callback.EntityAccount, objectID(item["accountData"])
	}
	if entity != j.EntityType {
		return fmt.Errorf("the patched body is a %q callback; this callback is about a %q",
			entity, j.EntityType)
	}
	for _, id := range ids {
		if !slices.Contains(j.EntityIDs, id) {
			return fmt.Errorf("the patched body names %s %s, which the callback was not about",
				entity, id)
		}
	}
	if entity != callback.EntityAccountPerson && len(ids) != 1 {
		return fmt.Errorf("the patched body carries no %s id", entity)
	}
	return nil
}

// objectID reads the id of a leadData or accountData object.
func objectID(raw json.RawMessage) []string {
	var obj struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(raw, &obj) != nil || len(obj.ID) == 0 {
		return nil
	}
	var id callback.ID
	if id.UnmarshalJSON(obj.ID) != nil {
		return nil
	}
	return []string{id.String()}
}

func idText(n json.Number) string {
	var id callback.ID
	if id.UnmarshalJSON([]byte(n)) != nil {
		return string(n)
	}
	return id.String()
}
