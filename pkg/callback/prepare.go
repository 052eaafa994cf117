package callback

import (
	"encoding/json"
	"maps"
	"slices"
)

// Callback is a result checked against its execution request and turned
// into the exact body Adobe expects.
type Callback struct {
	// Execution is the request the callback answers.
	Execution *ExecutionRequest
	// EntityType is lead, account or accountPerson.
	EntityType string
	// EntityIDs are the IDs the callback carries: the lead or account ID, or
	// the accountPersonRelId of each relationship.
	EntityIDs []string
	// Body is the callback envelope, {"objectData":[…]}.
	Body []byte
}

// Prepare checks a provider's result (JSON of the Result shape) against the
// execution request and builds the callback body. Every contract violation
// is reported at once, as Violations with paths under "result"; malformed
// JSON yields a *SyntaxError.
func Prepare(exec *ExecutionRequest, result []byte) (*Callback, error) {
	tree, err := decodeTree(result)
	if err != nil {
		return nil, err
	}
	return prepareTree(exec, tree)
}

// PrepareResult is Prepare for a Result built in Go.
func PrepareResult(exec *ExecutionRequest, result Result) (*Callback, error) {
	data, err := json.Marshal(result)
	if err != nil {
		return nil, err
	}
	return Prepare(exec, data)
}

func prepareTree(exec *ExecutionRequest, tree any) (*Callback, error) {
	var vs Violations
	const path = "result"
	res, ok := tree.(map[string]any)
	if !ok {
		vs.add(path, CodeType, "must be a JSON object")
		return nil, vs
	}
	b := builder{exec: exec, vs: &vs}
	item := map[string]any{"activityData": b.activity(res, path)}
	allowed := []string{"activityData"}
	switch exec.ObjectData.ObjectType {
	case EntityLead:
		allowed = append(allowed, "leadData")
		item["leadData"] = b.entity(res, path, "leadData", exec.ObjectData.ObjectContext.LeadID)
	case EntityAccount:
		allowed = append(allowed, "accountData")
		item["accountData"] = b.entity(res, path, "accountData",
			exec.ObjectData.ObjectContext.AccountID)
	case EntityAccountPerson:
		allowed = append(allowed, "accountData", "accountPersonData")
		if _, ok := res["accountData"]; ok {
			item["accountData"] = b.entity(res, path, "accountData", b.personAccountID())
		}
		item["accountPersonData"] = b.people(res, path)
	}
	for _, key := range sortedKeys(res) {
		if !slices.Contains(allowed, key) {
			vs.add(jsonPath(path, key), CodeUnknownProperty,
				"is not part of a %s callback (allowed: %v)", exec.ObjectData.ObjectType, allowed)
		}
	}
	if err := vs.err(); err != nil {
		return nil, err
	}
	body, err := json.Marshal(map[string]any{"objectData": []any{item}})
	if err != nil {
		return nil, err
	}
	return &Callback{
		Execution:  exec,
		EntityType: exec.ObjectData.ObjectType,
		EntityIDs:  b.ids,
		Body:       body,
	}, nil
}

// builder copies a result into a callback item, filling in IDs and
// recording violations as it goes.
type builder struct {
	exec *ExecutionRequest
	vs   *Violations
	ids  []string
}

func (b *builder) activity(res map[string]any, path string) map[string]any {
	p := jsonPath(path, "activityData")
	raw, present := res["activityData"]
	act, ok := raw.(map[string]any)
	switch {
	case !present || raw == nil:
		b.vs.add(p, CodeRequired, "is required")
		return nil
	case !ok:
		b.vs.add(p, CodeType, "must be an object")
		return nil
	}
	out := checkActivity(b.vs, act, p)
	return out
}

// checkActivity applies the success/errorCode/reason rule and returns a
// copy without the null members Adobe's examples sometimes carry.
func checkActivity(vs *Violations, act map[string]any, path string) map[string]any {
	out := make(map[string]any, len(act))
	for k, v := range act {
		if v != nil {
			out[k] = v
		}
	}
	success, ok := act["success"].(bool)
	switch {
	case act["success"] == nil:
		vs.add(jsonPath(path, "success"), CodeRequired, "is required")
		return out
	case !ok:
		vs.add(jsonPath(path, "success"), CodeType, "must be a boolean")
		return out
	}
	for _, key := range []string{"errorCode", "reason"} {
		v, present := out[key]
		s, isString := v.(string)
		switch {
		case present && !isString:
			vs.add(jsonPath(path, key), CodeType, "must be a string")
		case !success && !present:
			vs.add(jsonPath(path, key), CodeRequired, "is required when success is false")
		case !success && s == "":
			vs.add(jsonPath(path, key), CodeEmpty, "must not be empty when success is false")
		}
	}
	return out
}

// entity copies leadData or accountData and sets its id to want, refusing
// an id that names another entity.
func (b *builder) entity(res map[string]any, path, key string, want ID) map[string]any {
	p := jsonPath(path, key)
	out := map[string]any{}
	if raw, present := res[key]; present && raw != nil {
		obj, ok := raw.(map[string]any)
		if !ok {
			b.vs.add(p, CodeType, "must be an object")
			return nil
		}
		maps.Copy(out, obj)
	}
	b.matchID(out, p, "id", want)
	if !want.IsZero() {
		out["id"] = want
		b.ids = append(b.ids, want.String())
	}
	return out
}

// matchID records a violation when obj[key] is present but is not want.
func (b *builder) matchID(obj map[string]any, path, key string, want ID) {
	raw, present := obj[key]
	if !present || raw == nil {
		return
	}
	got, ok := idFromValue(raw)
	switch {
	case !ok:
		b.vs.add(jsonPath(path, key), CodeType, "must be a non-empty string or an integer")
	case !want.IsZero() && !got.Equal(want):
		b.vs.add(jsonPath(path, key), CodeMismatch,
			"is %s but the execution request has %s", got, want)
	}
}

// personAccountID is the account ID of an accountPerson callback's
// accountData. Adobe's accountPerson example names the account "ACC-54321"
// in objectContext but 54321 in every relationship and in the callback, so
// the relationships' common accountId wins when there is one.
func (b *builder) personAccountID() ID {
	ctx := b.exec.ObjectData.ObjectContext
	var common ID
	for i, rel := range ctx.AccountPersonRelationships {
		if i > 0 && !rel.AccountID.Equal(common) {
			return ctx.AccountID
		}
		common = rel.AccountID
	}
	if common.IsZero() {
		return ctx.AccountID
	}
	return common
}

var personKeys = []string{"accountPersonRelId", "accountId", "personId", "leadData", "accessorValues"}

// people builds accountPersonData: the result's relationships with their
// IDs checked and completed, or every relationship of the request with its
// IDs when the result names none.
func (b *builder) people(res map[string]any, path string) []any {
	p := jsonPath(path, "accountPersonData")
	rels := b.exec.ObjectData.ObjectContext.AccountPersonRelationships
	raw, present := res["accountPersonData"]
	if !present || raw == nil {
		out := make([]any, 0, len(rels))
		for _, rel := range rels {
			out = append(out, b.person(map[string]any{}, rel))
		}
		return out
	}
	list, ok := raw.([]any)
	switch {
	case !ok:
		b.vs.add(p, CodeType, "must be an array")
		return nil
	case len(list) == 0:
		b.vs.add(p, CodeEmpty, "must hold at least one relationship, or be left out")
		return nil
	}
	out := make([]any, 0, len(list))
	seen := make(map[string]bool, len(list))
	for i, item := range list {
		ip := jsonIndex(p, i)
		obj, ok := item.(map[string]any)
		if !ok {
			b.vs.add(ip, CodeType, "must be an object")
			continue
		}
		for _, key := range sortedKeys(obj) {
			if !slices.Contains(personKeys, key) {
				b.vs.add(jsonPath(ip, key), CodeUnknownProperty,
					"is not allowed in a relationship (allowed: %v); relationship metadata "+
						"cannot be updated", personKeys)
			}
		}
		relID, ok := idFromValue(obj["accountPersonRelId"])
		if !ok {
			b.vs.add(jsonPath(ip, "accountPersonRelId"), CodeRequired,
				"is required: a string or an integer naming a relationship of the request")
			continue
		}
		rel, found := b.exec.Relationship(relID)
		if !found {
			b.vs.add(jsonPath(ip, "accountPersonRelId"), CodeUnknownRelation,
				"relationship %s is not in the execution request", relID)
			continue
		}
		if seen[relID.String()] {
			b.vs.add(jsonPath(ip, "accountPersonRelId"), CodeDuplicate,
				"relationship %s appears more than once", relID)
		}
		seen[relID.String()] = true
		b.matchID(obj, ip, "accountId", rel.AccountID)
		b.matchID(obj, ip, "personId", rel.PersonID)
		for _, key := range []string{"leadData", "accessorValues"} {
			if v, present := obj[key]; present && v != nil {
				if _, isObj := v.(map[string]any); !isObj {
					b.vs.add(jsonPath(ip, key), CodeType, "must be an object")
				}
			}
		}
		out = append(out, b.person(obj, rel))
	}
	return out
}

func (b *builder) person(obj map[string]any, rel Relationship) map[string]any {
	out := make(map[string]any, len(obj)+3)
	maps.Copy(out, obj)
	out["accountPersonRelId"] = rel.AccountPersonRelID
	out["accountId"] = rel.AccountID
	out["personId"] = rel.PersonID
	b.ids = append(b.ids, rel.AccountPersonRelID.String())
	return out
}

func sortedKeys(m map[string]any) []string {
	return slices.Sorted(maps.Keys(m))
}
