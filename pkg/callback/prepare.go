package callback

import (
	"encoding/json"
	"errors"
	"fmt"
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
	return PrepareWith(exec, result, nil)
}

// PrepareResult is Prepare for a Result built in Go.
func PrepareResult(exec *ExecutionRequest, result Result) (*Callback, error) {
	return PrepareResultWith(exec, result, nil)
}

// PrepareWith is Prepare that also holds the result to the service
// definition, as Adobe does: the execution request's objectType must be the
// definition's supportedEntityType; activityData, leadData and accountData
// may carry only the attributes and fields it declares, each of its
// declared data type; accessorValues only when it enables split paths, with
// declared names and values inside their constraints; and IDs must be
// integers. With a nil definition it is Prepare: the envelope, the success
// rule and the IDs only.
func PrepareWith(exec *ExecutionRequest, result []byte, def *ServiceDefinition) (*Callback, error) {
	if exec == nil {
		return nil, errors.New("prepare callback: no execution request")
	}
	tree, err := decodeTree(result)
	if err != nil {
		return nil, err
	}
	return prepareTree(exec, tree, def)
}

// PrepareValue is PrepareWith for a result decoded by DecodeValue.
func PrepareValue(exec *ExecutionRequest, result any, def *ServiceDefinition) (*Callback, error) {
	if exec == nil {
		return nil, errors.New("prepare callback: no execution request")
	}
	return prepareTree(exec, result, def)
}

// PrepareResultWith is PrepareWith for a Result built in Go.
func PrepareResultWith(exec *ExecutionRequest, result Result, def *ServiceDefinition) (
	*Callback, error,
) {
	data, err := json.Marshal(result)
	if err != nil {
		return nil, fmt.Errorf("encode result: %w", err)
	}
	return PrepareWith(exec, data, def)
}

func prepareTree(exec *ExecutionRequest, tree any, def *ServiceDefinition) (*Callback, error) {
	var vs Violations
	c := newItemCheck(exec, def, &vs, false)
	const path = "result"
	res, ok := tree.(map[string]any)
	if !ok {
		vs.add(path, CodeType, "must be a JSON object")
		return nil, vs
	}
	item := c.item(res, path)
	if err := vs.err(); err != nil {
		return nil, err
	}
	body, err := json.Marshal(map[string]any{"objectData": []any{item}})
	if err != nil {
		return nil, fmt.Errorf("encode callback: %w", err)
	}
	return &Callback{
		Execution:  exec,
		EntityType: exec.ObjectData.ObjectType,
		EntityIDs:  c.ids,
		Body:       body,
	}, nil
}

// itemCheck checks one objectData item of a callback and copies it,
// recording violations as it goes. A producer's item may leave IDs out:
// they are filled in from the execution request. A receiver's item
// (receiving) must carry every ID, as a JSON integer.
type itemCheck struct {
	// exec is the request the callback answers; nil only when receiving.
	exec *ExecutionRequest
	// def, when set, holds fields, attributes and accessors to the
	// service definition.
	def       *ServiceDefinition
	entity    string
	receiving bool
	vs        *Violations
	ids       []string
}

const objectContextPath = "execution.objectData.objectContext"

func newItemCheck(exec *ExecutionRequest, def *ServiceDefinition, vs *Violations,
	receiving bool,
) *itemCheck {
	c := &itemCheck{exec: exec, def: def, vs: vs, receiving: receiving}
	if exec != nil {
		c.entity = exec.ObjectData.ObjectType
	}
	switch {
	case def == nil:
	case c.entity == "":
		c.entity = def.SupportedEntityType
	case c.entity != def.SupportedEntityType:
		vs.add("execution.objectData.objectType", CodeEntityMismatch,
			"is %s, but service %s supports %s", c.entity, def.APIName, def.SupportedEntityType)
		c.def = nil
	}
	return c
}

func (c *itemCheck) context() EntityContext {
	if c.exec == nil {
		return EntityContext{}
	}
	return c.exec.ObjectData.ObjectContext
}

func (c *itemCheck) item(res map[string]any, path string) map[string]any {
	item := map[string]any{"activityData": c.activity(res, path)}
	ctx := c.context()
	allowed := []string{"activityData"}
	switch c.entity {
	case EntityLead:
		allowed = append(allowed, "leadData")
		item["leadData"] = c.entityData(res, path, "leadData", ctx.LeadID,
			objectContextPath+".leadId")
	case EntityAccount:
		allowed = append(allowed, "accountData")
		item["accountData"] = c.entityData(res, path, "accountData", ctx.AccountID,
			objectContextPath+".accountId")
	case EntityAccountPerson:
		allowed = append(allowed, "accountData", "accountPersonData")
		if _, ok := res["accountData"]; ok {
			id, idPath := c.personAccountID()
			item["accountData"] = c.entityData(res, path, "accountData", id, idPath)
		}
		item["accountPersonData"] = c.people(res, path)
	}
	for _, key := range sortedKeys(res) {
		if !slices.Contains(allowed, key) {
			c.vs.add(jsonPath(path, key), CodeUnknownProperty,
				"is not part of a %s callback (allowed: %v)", c.entity, allowed)
		}
	}
	return item
}

func (c *itemCheck) activity(res map[string]any, path string) map[string]any {
	p := jsonPath(path, "activityData")
	raw, present := res["activityData"]
	act, ok := raw.(map[string]any)
	switch {
	case !present || raw == nil:
		c.vs.add(p, CodeRequired, "is required")
		return nil
	case !ok:
		c.vs.add(p, CodeType, "must be an object")
		return nil
	}
	out := checkActivity(c.vs, act, p)
	if c.def != nil {
		c.checkAttributes(out, p)
	}
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

// checkAttributes holds the activityData members other than the outcome to
// callbackPayloadDef.attributes.
func (c *itemCheck) checkAttributes(act map[string]any, path string) {
	for _, key := range sortedKeys(act) {
		if slices.Contains(reservedAttributes, key) {
			continue
		}
		p := at{path, key}
		f, ok := field(c.def.Attributes, key)
		if !ok {
			c.vs.add(p.String(), CodeUndeclaredAttribute,
				"is not declared in callbackPayloadDef.attributes of %s", c.def.APIName)
			continue
		}
		checkValue(c.vs, p, f.DataType, act[key])
	}
}

// entityData copies leadData or accountData. A producer's copy gets its id
// set to want; an id that names another entity is refused.
func (c *itemCheck) entityData(res map[string]any, path, key string, want ID, wantPath string,
) map[string]any {
	p := jsonPath(path, key)
	out := map[string]any{}
	raw, present := res[key]
	obj, isObj := raw.(map[string]any)
	switch {
	case isObj:
		maps.Copy(out, obj)
	case c.receiving:
		c.vs.add(p, CodeRequired, "is required and must be an object in a %s callback", c.entity)
		return nil
	case present && raw != nil:
		c.vs.add(p, CodeType, "must be an object")
		return nil
	}
	c.matchID(out, p, "id", want)
	if key == "leadData" {
		c.checkFields(out, p, scopeLead)
	} else {
		c.checkFields(out, p, scopeAccount)
	}
	if c.receiving || want.IsZero() {
		return out
	}
	c.checkNumeric(want, wantPath)
	out["id"] = want
	c.ids = append(c.ids, want.String())
	return out
}

// checkNumeric refuses, when a definition is given, a request ID that a
// callback cannot carry: Adobe's callback schema wants integer IDs.
func (c *itemCheck) checkNumeric(id ID, path string) {
	if c.def != nil && !id.Numeric() {
		c.vs.add(path, CodeType, "is %q, but a callback can only carry an integer id", id)
	}
}

// matchID records a violation when obj[key] is present but is not want,
// or, when receiving, when it is missing or not a JSON integer.
func (c *itemCheck) matchID(obj map[string]any, path, key string, want ID) {
	p := at{path, key}
	raw, present := obj[key]
	if !present || raw == nil {
		if c.receiving {
			c.vs.add(p.String(), CodeRequired, "is required: an integer")
		}
		return
	}
	got, ok := idFromValue(raw)
	_, isNumber := raw.(json.Number)
	switch {
	case c.receiving && (!ok || !isNumber):
		c.vs.add(p.String(), CodeType, "must be an integer, not %s", kindOf(raw))
	case !ok:
		c.vs.add(p.String(), CodeType, "must be a non-empty string or an integer")
	case !want.IsZero() && !got.Equal(want):
		c.vs.add(p.String(), CodeMismatch, "is %s but the execution request has %s", got, want)
	}
}

// personAccountID is the account ID of an accountPerson callback's
// accountData, and the request path it comes from. Adobe's accountPerson
// example names the account "ACC-54321" in objectContext but 54321 in every
// relationship and in the callback, so the relationships' common accountId
// wins when there is one.
func (c *itemCheck) personAccountID() (ID, string) {
	ctx := c.context()
	var common ID
	for i, rel := range ctx.AccountPersonRelationships {
		if i > 0 && !rel.AccountID.Equal(common) {
			return ctx.AccountID, objectContextPath + ".accountId"
		}
		common = rel.AccountID
	}
	if common.IsZero() {
		return ctx.AccountID, objectContextPath + ".accountId"
	}
	return common, objectContextPath + ".accountPersonRelationships[0].accountId"
}

var personKeys = []string{
	"accountPersonRelId", "accountId", "personId", "leadData", "accessorValues",
}

// people builds accountPersonData: the result's relationships with their
// IDs checked and completed, or, for a producer, every relationship of the
// request with its IDs when the result names none.
func (c *itemCheck) people(res map[string]any, path string) []any {
	p := jsonPath(path, "accountPersonData")
	rels := c.context().AccountPersonRelationships
	raw, present := res["accountPersonData"]
	if (!present || raw == nil) && !c.receiving {
		if len(rels) == 0 {
			c.vs.add(objectContextPath+".accountPersonRelationships", CodeEmpty,
				"holds no relationship to answer for")
		}
		out := make([]any, 0, len(rels))
		for i, rel := range rels {
			out = append(out, c.person(map[string]any{}, rel, i))
		}
		return out
	}
	list, ok := raw.([]any)
	switch {
	case !present || raw == nil:
		c.vs.add(p, CodeRequired, "is required in an accountPerson callback")
		return nil
	case !ok:
		c.vs.add(p, CodeType, "must be an array")
		return nil
	case len(list) == 0 && c.receiving:
		c.vs.add(p, CodeEmpty, "must hold at least one relationship")
		return nil
	case len(list) == 0:
		c.vs.add(p, CodeEmpty, "must hold at least one relationship, or be left out")
		return nil
	}
	out := make([]any, 0, len(list))
	seen := make(map[string]bool, len(list))
	for i, item := range list {
		if person := c.relationship(item, jsonIndex(p, i), seen); person != nil {
			out = append(out, person)
		}
	}
	return out
}

// relationship checks one accountPersonData item.
func (c *itemCheck) relationship(item any, path string, seen map[string]bool) map[string]any {
	obj, ok := item.(map[string]any)
	if !ok {
		c.vs.add(path, CodeType, "must be an object")
		return nil
	}
	for _, key := range sortedKeys(obj) {
		if !slices.Contains(personKeys, key) {
			c.vs.add(jsonPath(path, key), CodeUnknownProperty,
				"is not allowed in a relationship (allowed: %v); relationship metadata "+
					"cannot be updated", personKeys)
		}
	}
	c.checkPersonParts(obj, path)

	relID, ok := idFromValue(obj["accountPersonRelId"])
	if !ok {
		c.vs.add(jsonPath(path, "accountPersonRelId"), CodeRequired,
			"is required: a string or an integer naming a relationship of the request")
		return nil
	}
	if _, isNumber := obj["accountPersonRelId"].(json.Number); c.receiving && !isNumber {
		c.vs.add(jsonPath(path, "accountPersonRelId"), CodeType, "must be an integer, not a string")
	}
	if seen[relID.String()] {
		c.vs.add(jsonPath(path, "accountPersonRelId"), CodeDuplicate,
			"relationship %s appears more than once", relID)
	}
	seen[relID.String()] = true
	if c.exec == nil {
		c.matchID(obj, path, "accountId", ID{})
		c.matchID(obj, path, "personId", ID{})
		return obj
	}
	idx := slices.IndexFunc(c.context().AccountPersonRelationships, func(r Relationship) bool {
		return r.AccountPersonRelID.Equal(relID)
	})
	if idx < 0 {
		c.vs.add(jsonPath(path, "accountPersonRelId"), CodeUnknownRelation,
			"relationship %s is not in the execution request", relID)
		return nil
	}
	rel := c.context().AccountPersonRelationships[idx]
	c.matchID(obj, path, "accountId", rel.AccountID)
	c.matchID(obj, path, "personId", rel.PersonID)
	return c.person(obj, rel, idx)
}

// checkPersonParts checks a relationship's leadData and accessorValues.
func (c *itemCheck) checkPersonParts(obj map[string]any, path string) {
	for _, key := range []string{"leadData", "accessorValues"} {
		v, present := obj[key]
		if !present || v == nil {
			continue
		}
		m, isObj := v.(map[string]any)
		switch {
		case !isObj:
			c.vs.add(jsonPath(path, key), CodeType, "must be an object")
		case key == "leadData":
			c.checkFields(m, jsonPath(path, key), scopePerson)
		default:
			c.checkAccessors(m, jsonPath(path, key))
		}
	}
}

// person copies a relationship; a producer's copy gets the request's IDs.
func (c *itemCheck) person(obj map[string]any, rel Relationship, idx int) map[string]any {
	if c.receiving {
		return obj
	}
	out := make(map[string]any, len(obj)+3)
	maps.Copy(out, obj)
	out["accountPersonRelId"] = rel.AccountPersonRelID
	out["accountId"] = rel.AccountID
	out["personId"] = rel.PersonID
	if c.def != nil {
		relPath := jsonIndex(objectContextPath+".accountPersonRelationships", idx)
		c.checkNumeric(rel.AccountPersonRelID, relPath+".accountPersonRelId")
		c.checkNumeric(rel.AccountID, relPath+".accountId")
		c.checkNumeric(rel.PersonID, relPath+".personId")
	}
	c.ids = append(c.ids, rel.AccountPersonRelID.String())
	return out
}

func sortedKeys(m map[string]any) []string {
	return slices.Sorted(maps.Keys(m))
}
