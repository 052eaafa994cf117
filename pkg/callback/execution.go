package callback

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Entity types of AJO B2B external actions, as Adobe spells them.
const (
	EntityLead          = "lead"
	EntityAccount       = "account"
	EntityAccountPerson = "accountPerson"
)

// Deadline bounds from actionConfig.timeout, in minutes.
const (
	DefaultTimeoutMinutes = 60
	MaxTimeoutMinutes     = 240
)

// ExecutionRequest is the part of an AJO B2B execution request (the body
// Adobe POSTs to a provider's /submitAsyncAction) that a callback depends on.
// Fields Adobe sends that a callback does not need are ignored.
type ExecutionRequest struct {
	Token            string         `json:"token"`
	CallbackURL      string         `json:"callbackUrl"`
	ObjectData       ObjectContext  `json:"objectData"`
	ActionConfig     ActionConfig   `json:"actionConfig"`
	Context          RequestContext `json:"context"`
	EnableSplitPaths bool           `json:"enableSplitPaths"`
}

// ObjectContext is the execution request's objectData: the entity the action
// runs on.
type ObjectContext struct {
	ObjectType      string         `json:"objectType"`
	ObjectContext   EntityContext  `json:"objectContext"`
	FlowStepContext map[string]any `json:"flowStepContext,omitempty"`
}

// EntityContext is objectData.objectContext. Which members are set depends
// on the object type.
type EntityContext struct {
	LeadID                     ID             `json:"leadId"`
	LeadData                   map[string]any `json:"leadData,omitempty"`
	AccountID                  ID             `json:"accountId"`
	AccountData                map[string]any `json:"accountData,omitempty"`
	AccountPersonRelationships []Relationship `json:"accountPersonRelationships,omitempty"`
}

// Relationship is one account–person relationship of an accountPerson
// execution request.
type Relationship struct {
	AccountPersonRelID ID             `json:"accountPersonRelId"`
	AccountID          ID             `json:"accountId"`
	PersonID           ID             `json:"personId"`
	LeadData           map[string]any `json:"leadData,omitempty"`
}

// ActionConfig is the execution request's actionConfig.
type ActionConfig struct {
	// Timeout is the callback deadline in minutes after receipt; 0 means
	// the default of 60.
	Timeout int `json:"timeout,omitempty"`
	// PathConfig lists the journey's split paths, whose conditions test
	// the accessorValues of the callback.
	PathConfig []PathConfig `json:"pathConfig,omitempty"`
}

// PathConfig is one split path of actionConfig.pathConfig. A path without
// conditions is the default path.
type PathConfig struct {
	PathID string `json:"pathId"`
	// PathDefinition lists conditions that must all hold for the path.
	PathDefinition []PathCondition `json:"pathDefinition"`
}

// PathCondition is one condition of a split path: an accessor compared with
// values, which Adobe sends as strings whatever the accessor's data type.
type PathCondition struct {
	// Accessor is an accessorName of the service definition.
	Accessor string `json:"accessor"`
	// Operator is one of is, isNot, greaterThan, greaterThanOrEqual,
	// lessThan, lessThanOrEqual, contains and notContains.
	Operator string   `json:"operator"`
	Values   []string `json:"values"`
}

// TimeoutMinutes returns the callback deadline in minutes, with the default
// applied and the maximum enforced.
func (c ActionConfig) TimeoutMinutes() int {
	switch {
	case c.Timeout <= 0:
		return DefaultTimeoutMinutes
	case c.Timeout > MaxTimeoutMinutes:
		return MaxTimeoutMinutes
	}
	return c.Timeout
}

// RequestContext is the execution request's context.
type RequestContext struct {
	Subscription Subscription `json:"subscription"`
}

// Subscription is context.subscription: the customer's instance.
type Subscription struct {
	IMSOrgID     string `json:"imsOrgId,omitempty"`
	MunchkinID   string `json:"munchkinId,omitempty"`
	Prefix       string `json:"prefix,omitempty"`
	InstanceName string `json:"instanceName,omitempty"`
}

// Relationship returns the relationship with the given accountPersonRelId.
func (r *ExecutionRequest) Relationship(relID ID) (Relationship, bool) {
	for _, rel := range r.ObjectData.ObjectContext.AccountPersonRelationships {
		if rel.AccountPersonRelID.Equal(relID) {
			return rel, true
		}
	}
	return Relationship{}, false
}

// ParseExecutionRequest reads and checks an execution request. A request
// that breaks the contract yields Violations with paths under "execution";
// malformed JSON yields a *SyntaxError.
func ParseExecutionRequest(data []byte) (*ExecutionRequest, error) {
	tree, err := decodeTree(data)
	if err != nil {
		return nil, err
	}
	return executionFromTree(tree, "execution")
}

// DecodeValue decodes JSON the way this package reads it: objects as
// map[string]any, arrays as []any, numbers as json.Number, and no data after
// the value. Malformed JSON yields a *SyntaxError. A document that carries
// an execution request and a result together is decoded once with it and
// its parts are handed to ExecutionRequestFromValue and PrepareValue.
func DecodeValue(data []byte) (any, error) { return decodeTree(data) }

// ExecutionRequestFromValue is ParseExecutionRequest for a value from
// DecodeValue. Values decoded some other way (numbers as float64) are
// refused as the wrong type.
func ExecutionRequestFromValue(v any) (*ExecutionRequest, error) {
	return executionFromTree(v, "execution")
}

// SyntaxError reports malformed JSON and where it is.
type SyntaxError struct {
	// Offset is the byte offset at which the JSON stopped making sense.
	Offset int64
	Err    error
}

// Error says where the JSON stopped making sense and why.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("malformed JSON at byte offset %d: %v", e.Offset, e.Err)
}

// Unwrap returns the decoder's own error.
func (e *SyntaxError) Unwrap() error { return e.Err }

// decodeTree decodes JSON into maps, slices, strings, bools, nil and
// json.Number, refusing trailing data.
func decodeTree(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, syntaxError(err, dec.InputOffset(), len(data))
	}
	if err := trailingData(data, dec.InputOffset()); err != nil {
		return nil, err
	}
	return tree, nil
}

// trailingData refuses anything but white space in data after the JSON
// value that ends at offset end, naming where the extra data starts.
func trailingData(data []byte, end int64) error {
	for i := end; i < int64(len(data)); i++ {
		switch data[i] {
		case ' ', '\t', '\r', '\n':
		default:
			return &SyntaxError{Offset: i, Err: errors.New("data after the JSON value")}
		}
	}
	return nil
}

// syntaxError turns a decoder's error into a *SyntaxError; JSON that stops
// short is located at its end, size.
func syntaxError(err error, offset int64, size int) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &SyntaxError{Offset: se.Offset, Err: err}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &SyntaxError{Offset: int64(size), Err: errors.New("unexpected end of JSON input")}
	}
	return &SyntaxError{Offset: offset, Err: err}
}

func executionFromTree(tree any, path string) (*ExecutionRequest, error) {
	var vs Violations
	root, ok := tree.(map[string]any)
	if !ok {
		vs.add(path, CodeType, "must be a JSON object")
		return nil, vs
	}
	req := &ExecutionRequest{}
	req.Token = requiredString(&vs, root, path, "token")
	req.CallbackURL = requiredString(&vs, root, path, "callbackUrl")
	req.EnableSplitPaths = optionalBool(&vs, root, path, "enableSplitPaths")

	if ctx := optionalObject(&vs, root, path, "context"); ctx != nil {
		cpath := jsonPath(path, "context")
		if sub := optionalObject(&vs, ctx, cpath, "subscription"); sub != nil {
			spath := jsonPath(cpath, "subscription")
			req.Context.Subscription = Subscription{
				IMSOrgID:     optionalString(&vs, sub, spath, "imsOrgId"),
				MunchkinID:   optionalString(&vs, sub, spath, "munchkinId"),
				Prefix:       optionalString(&vs, sub, spath, "prefix"),
				InstanceName: optionalString(&vs, sub, spath, "instanceName"),
			}
		}
	}

	if ac := optionalObject(&vs, root, path, "actionConfig"); ac != nil {
		acPath := jsonPath(path, "actionConfig")
		req.ActionConfig.Timeout = timeoutMinutes(&vs, ac, acPath)
		req.ActionConfig.PathConfig = pathConfigFromTree(&vs, ac, acPath)
	}

	odPath := jsonPath(path, "objectData")
	od, present := root["objectData"]
	switch odMap, isMap := od.(map[string]any); {
	case !present || od == nil:
		vs.add(odPath, CodeRequired, "is required")
	case !isMap:
		vs.add(odPath, CodeType, "must be an object")
	default:
		req.ObjectData = objectContextFromTree(&vs, odMap, odPath)
	}
	if err := vs.err(); err != nil {
		return nil, err
	}
	return req, nil
}

func timeoutMinutes(vs *Violations, ac map[string]any, path string) int {
	raw, ok := ac["timeout"]
	if !ok || raw == nil {
		return 0
	}
	p := jsonPath(path, "timeout")
	n, isNum := raw.(json.Number)
	minutes, err := n.Int64()
	if !isNum || err != nil {
		vs.add(p, CodeType, "must be an integer number of minutes")
		return 0
	}
	if minutes < 1 || minutes > MaxTimeoutMinutes {
		vs.add(p, CodeOutOfRange, "must be between 1 and %d minutes, got %d",
			MaxTimeoutMinutes, minutes)
		return 0
	}
	return int(minutes)
}

func pathConfigFromTree(vs *Violations, ac map[string]any, path string) []PathConfig {
	items, paths := objectList(vs, ac, path, "pathConfig")
	out := make([]PathConfig, 0, len(items))
	for i, item := range items {
		pc := PathConfig{PathID: requiredString(vs, item, paths[i], "pathId")}
		conds, condPaths := objectList(vs, item, paths[i], "pathDefinition")
		for j, cond := range conds {
			pc.PathDefinition = append(pc.PathDefinition, PathCondition{
				Accessor: requiredString(vs, cond, condPaths[j], "accessor"),
				Operator: requiredString(vs, cond, condPaths[j], "operator"),
				Values:   stringList(vs, cond, condPaths[j], "values"),
			})
		}
		out = append(out, pc)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func stringList(vs *Violations, obj map[string]any, path, key string) []string {
	raw, ok := obj[key]
	if !ok || raw == nil {
		return nil
	}
	list, ok := raw.([]any)
	if !ok {
		vs.add(jsonPath(path, key), CodeType, "must be an array of strings")
		return nil
	}
	out := make([]string, 0, len(list))
	for i, v := range list {
		s, ok := v.(string)
		if !ok {
			vs.add(jsonIndex(jsonPath(path, key), i), CodeType, "must be a string")
			continue
		}
		out = append(out, s)
	}
	return out
}

func objectContextFromTree(vs *Violations, od map[string]any, path string) ObjectContext {
	oc := ObjectContext{ObjectType: requiredString(vs, od, path, "objectType")}
	typePath := jsonPath(path, "objectType")
	switch oc.ObjectType {
	case "", EntityLead, EntityAccount, EntityAccountPerson:
	default:
		vs.add(typePath, CodeInvalidValue, "must be one of lead, account, accountPerson; got %q",
			oc.ObjectType)
	}
	oc.FlowStepContext = optionalObject(vs, od, path, "flowStepContext")

	ctxPath := jsonPath(path, "objectContext")
	ctx, ok := od["objectContext"].(map[string]any)
	if !ok {
		if od["objectContext"] == nil {
			vs.add(ctxPath, CodeRequired, "is required")
		} else {
			vs.add(ctxPath, CodeType, "must be an object")
		}
		return oc
	}
	ec := &oc.ObjectContext
	switch oc.ObjectType {
	case EntityLead:
		ec.LeadID = requiredID(vs, ctx, ctxPath, "leadId")
		ec.LeadData = optionalObject(vs, ctx, ctxPath, "leadData")
	case EntityAccount:
		ec.AccountID = requiredID(vs, ctx, ctxPath, "accountId")
		ec.AccountData = optionalObject(vs, ctx, ctxPath, "accountData")
	case EntityAccountPerson:
		ec.AccountID = optionalID(vs, ctx, ctxPath, "accountId")
		ec.AccountData = optionalObject(vs, ctx, ctxPath, "accountData")
		ec.AccountPersonRelationships = relationshipsFromTree(vs, ctx, ctxPath)
	}
	return oc
}

func relationshipsFromTree(vs *Violations, ctx map[string]any, path string) []Relationship {
	p := jsonPath(path, "accountPersonRelationships")
	list, ok := ctx["accountPersonRelationships"].([]any)
	switch {
	case ctx["accountPersonRelationships"] == nil:
		vs.add(p, CodeRequired, "is required for an accountPerson request")
		return nil
	case !ok:
		vs.add(p, CodeType, "must be an array")
		return nil
	case len(list) == 0:
		vs.add(p, CodeEmpty, "must hold at least one relationship")
		return nil
	}
	rels := make([]Relationship, 0, len(list))
	seen := make(map[string]bool, len(list))
	for i, item := range list {
		ip := jsonIndex(p, i)
		obj, ok := item.(map[string]any)
		if !ok {
			vs.add(ip, CodeType, "must be an object")
			continue
		}
		rel := Relationship{
			AccountPersonRelID: requiredID(vs, obj, ip, "accountPersonRelId"),
			AccountID:          requiredID(vs, obj, ip, "accountId"),
			PersonID:           requiredID(vs, obj, ip, "personId"),
			LeadData:           optionalObject(vs, obj, ip, "leadData"),
		}
		if key := rel.AccountPersonRelID.String(); key != "" {
			if seen[key] {
				vs.add(jsonPath(ip, "accountPersonRelId"), CodeDuplicate,
					"relationship %s appears more than once", key)
			}
			seen[key] = true
		}
		rels = append(rels, rel)
	}
	return rels
}

// The helpers below read one member of a JSON object, recording a violation
// when it is missing or of the wrong type.

func requiredString(vs *Violations, obj map[string]any, path, key string) string {
	p := jsonPath(path, key)
	raw, ok := obj[key]
	if !ok || raw == nil {
		vs.add(p, CodeRequired, "is required")
		return ""
	}
	s, ok := raw.(string)
	if !ok {
		vs.add(p, CodeType, "must be a string")
		return ""
	}
	if s == "" {
		vs.add(p, CodeEmpty, "must not be empty")
	}
	return s
}

func optionalString(vs *Violations, obj map[string]any, path, key string) string {
	raw, ok := obj[key]
	if !ok || raw == nil {
		return ""
	}
	s, ok := raw.(string)
	if !ok {
		vs.add(jsonPath(path, key), CodeType, "must be a string")
	}
	return s
}

func optionalBool(vs *Violations, obj map[string]any, path, key string) bool {
	raw, ok := obj[key]
	if !ok || raw == nil {
		return false
	}
	b, ok := raw.(bool)
	if !ok {
		vs.add(jsonPath(path, key), CodeType, "must be a boolean")
	}
	return b
}

func optionalObject(vs *Violations, obj map[string]any, path, key string) map[string]any {
	raw, ok := obj[key]
	if !ok || raw == nil {
		return nil
	}
	m, ok := raw.(map[string]any)
	if !ok {
		vs.add(jsonPath(path, key), CodeType, "must be an object")
	}
	return m
}

func requiredID(vs *Violations, obj map[string]any, path, key string) ID {
	raw, ok := obj[key]
	if !ok || raw == nil {
		vs.add(jsonPath(path, key), CodeRequired, "is required")
		return ID{}
	}
	return optionalID(vs, obj, path, key)
}

func optionalID(vs *Violations, obj map[string]any, path, key string) ID {
	raw, ok := obj[key]
	if !ok || raw == nil {
		return ID{}
	}
	id, ok := idFromValue(raw)
	if !ok {
		vs.add(jsonPath(path, key), CodeType, "must be a non-empty string or an integer")
	}
	return id
}
