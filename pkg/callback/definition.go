package callback

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
)

// ServiceDefinition is the part of a provider's service definition (the
// document it serves at /getServiceDefinition) that decides what a callback
// may carry.
type ServiceDefinition struct {
	// APIName identifies the service; a callback names its service by it.
	APIName string
	// SupportedEntityType is lead, account or accountPerson.
	SupportedEntityType string
	// Timeout is the callback deadline in minutes, DefaultTimeoutMinutes
	// when the document gives none.
	Timeout int
	// EnableSplitPaths allows accessorValues in callbacks.
	EnableSplitPaths bool
	// Accessors is invocationPayloadDef.accessorsMetadata: the keys
	// accessorValues may carry.
	Accessors []Accessor
	// Fields is callbackPayloadDef.fields: what leadData may carry, for a
	// lead and for each relationship of an accountPerson.
	Fields []Field
	// AccountFields is callbackPayloadDef.accountFields: what accountData
	// may carry.
	AccountFields []Field
	// Attributes is callbackPayloadDef.attributes: the activityData members
	// allowed beside success, errorCode and reason.
	Attributes []Field
	// Source names where the definition was read from.
	Source string
	// Document is the definition as JSON, as a provider serves it. A YAML
	// definition is converted, without its comments and key order.
	Document json.RawMessage
}

// Field is a field or an attribute a service definition declares. Adobe's
// files name it with serviceAttribute or with apiName; both are read.
type Field struct {
	Name     string
	DataType DataType
	// Required is read but not enforced: a callback sends only the fields
	// it changes.
	Required bool
}

// Accessor is one entry of invocationPayloadDef.accessorsMetadata.
type Accessor struct {
	// Name is the accessorName, the key in accessorValues.
	Name        string
	DataType    DataType
	Constraints Constraints
}

// Constraints limit an accessor's values.
type Constraints struct {
	// MinValue and MaxValue bound a numeric accessor; nil means unbounded.
	MinValue *float64
	MaxValue *float64
	// AllowedValues, when not empty, lists every value the accessor may
	// take, as decoded from JSON: strings, booleans and json.Number.
	AllowedValues []any
}

// Names that a service definition cannot declare: Adobe reserves the
// activityData outcome, and id and accessorValues have their own meaning
// inside leadData and accountData.
var (
	reservedAttributes = []string{"success", "reason", "errorCode"}
	reservedFields     = []string{"id", "accessorValues"}
)

// ParseServiceDefinition reads a service definition in JSON or YAML and
// checks it. The name, usually a file name, picks the format by its
// extension (.json, .yaml, .yml), or else by the content, and is reported
// in errors. A bad definition yields a *DefinitionError listing every
// problem with its path.
func ParseServiceDefinition(data []byte, name string) (*ServiceDefinition, error) {
	tree, doc, err := decodeDefinition(data, name)
	if err != nil {
		return nil, &DefinitionError{Problems: []Problem{{File: name, Violation: Violation{
			Path: "$", Code: CodeSyntax, Message: err.Error(),
		}}}}
	}
	var vs Violations
	def := definitionFromTree(&vs, tree)
	if len(vs) > 0 {
		return nil, newDefinitionError(name, vs)
	}
	def.Source = name
	def.Document = doc
	return def, nil
}

func decodeDefinition(data []byte, name string) (any, json.RawMessage, error) {
	isJSON := bytes.HasPrefix(bytes.TrimSpace(data), []byte("{"))
	switch strings.ToLower(filepath.Ext(name)) {
	case ".json":
		isJSON = true
	case ".yaml", ".yml":
		isJSON = false
	}
	if isJSON {
		tree, err := decodeTree(data)
		if err != nil {
			return nil, nil, err
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, data); err != nil {
			return nil, nil, err
		}
		return tree, buf.Bytes(), nil
	}
	tree, err := decodeYAML(data)
	if err != nil {
		return nil, nil, err
	}
	doc, err := json.Marshal(tree)
	if err != nil {
		return nil, nil, err
	}
	return tree, doc, nil
}

func definitionFromTree(vs *Violations, tree any) *ServiceDefinition {
	root, ok := tree.(map[string]any)
	if !ok {
		vs.add("$", CodeType, "must be an object")
		return nil
	}
	def := &ServiceDefinition{
		APIName:             requiredString(vs, root, "", "apiName"),
		SupportedEntityType: requiredString(vs, root, "", "supportedEntityType"),
		Timeout:             definitionTimeout(vs, root),
		EnableSplitPaths:    optionalBool(vs, root, "", "enableSplitPaths"),
	}
	switch def.SupportedEntityType {
	case "", EntityLead, EntityAccount, EntityAccountPerson:
	default:
		vs.add("supportedEntityType", CodeInvalidValue,
			"must be one of lead, account, accountPerson; got %q", def.SupportedEntityType)
	}

	const inv = "invocationPayloadDef"
	invocation := optionalObject(vs, root, "", inv)
	for _, key := range []string{"globalAttributes", "flowAttributes"} {
		fieldsFromTree(vs, invocation, inv, key, nil)
	}
	for _, key := range []string{"fields", "accountFields"} {
		fieldsFromTree(vs, invocation, inv, key, reservedFields)
	}
	def.Accessors = accessorsFromTree(vs, invocation, inv)
	if def.EnableSplitPaths && len(def.Accessors) == 0 {
		vs.add(jsonPath(inv, "accessorsMetadata"), CodeRequired,
			"must declare at least one accessor when enableSplitPaths is true")
	}

	const cb = "callbackPayloadDef"
	callback := optionalObject(vs, root, "", cb)
	def.Fields = fieldsFromTree(vs, callback, cb, "fields", reservedFields)
	def.AccountFields = fieldsFromTree(vs, callback, cb, "accountFields", reservedFields)
	def.Attributes = fieldsFromTree(vs, callback, cb, "attributes", reservedAttributes)
	return def
}

func definitionTimeout(vs *Violations, root map[string]any) int {
	raw, ok := root["timeout"]
	if !ok || raw == nil {
		return DefaultTimeoutMinutes
	}
	n, isNum := raw.(json.Number)
	minutes, err := n.Int64()
	if !isNum || err != nil {
		vs.add("timeout", CodeType, "must be an integer number of minutes")
		return 0
	}
	if minutes < 1 || minutes > MaxTimeoutMinutes {
		vs.add("timeout", CodeOutOfRange, "must be between 1 and %d minutes, got %d",
			MaxTimeoutMinutes, minutes)
		return 0
	}
	return int(minutes)
}

// objectList returns obj[key] as a list of objects, recording a violation
// for the list or for any item that is not an object.
func objectList(vs *Violations, obj map[string]any, path, key string) ([]map[string]any, []string) {
	raw, ok := obj[key]
	if !ok || raw == nil {
		return nil, nil
	}
	p := jsonPath(path, key)
	list, ok := raw.([]any)
	if !ok {
		vs.add(p, CodeType, "must be an array")
		return nil, nil
	}
	items := make([]map[string]any, 0, len(list))
	paths := make([]string, 0, len(list))
	for i, raw := range list {
		item, ok := raw.(map[string]any)
		if !ok {
			vs.add(jsonIndex(p, i), CodeType, "must be an object")
			continue
		}
		items = append(items, item)
		paths = append(paths, jsonIndex(p, i))
	}
	return items, paths
}

// fieldsFromTree reads a list of fields or attributes, refusing unknown data
// types, duplicates and the reserved names.
func fieldsFromTree(vs *Violations, obj map[string]any, path, key string,
	reserved []string,
) []Field {
	items, paths := objectList(vs, obj, path, key)
	fields := make([]Field, 0, len(items))
	for i, item := range items {
		name, namePath := fieldName(vs, item, paths[i])
		f := Field{
			Name:     name,
			DataType: dataType(vs, item, paths[i]),
			Required: optionalBool(vs, item, paths[i], "required"),
		}
		switch {
		case name == "":
		case slices.Contains(reserved, name):
			vs.add(namePath, CodeReserved, "%q is a reserved name and cannot be declared", name)
		case slices.ContainsFunc(fields, func(g Field) bool { return g.Name == name }):
			vs.add(namePath, CodeDuplicate, "%q is declared more than once", name)
		}
		fields = append(fields, f)
	}
	return fields
}

// fieldName reads serviceAttribute or apiName, whichever the file uses.
func fieldName(vs *Violations, item map[string]any, path string) (string, string) {
	sa := optionalString(vs, item, path, "serviceAttribute")
	an := optionalString(vs, item, path, "apiName")
	switch {
	case sa != "" && an != "" && sa != an:
		vs.add(jsonPath(path, "apiName"), CodeInvalidValue,
			"is %q but serviceAttribute is %q; give one name", an, sa)
	case sa == "" && an == "":
		vs.add(jsonPath(path, "serviceAttribute"), CodeRequired,
			"is required (or apiName): a non-empty string")
		return "", ""
	case sa == "":
		return an, jsonPath(path, "apiName")
	}
	return sa, jsonPath(path, "serviceAttribute")
}

func dataType(vs *Violations, item map[string]any, path string) DataType {
	t := DataType(requiredString(vs, item, path, "dataType"))
	if t != "" && !t.Valid() {
		vs.add(jsonPath(path, "dataType"), CodeInvalidValue, "must be one of %v; got %q",
			dataTypes, string(t))
		return ""
	}
	return t
}

func accessorsFromTree(vs *Violations, obj map[string]any, path string) []Accessor {
	items, paths := objectList(vs, obj, path, "accessorsMetadata")
	accessors := make([]Accessor, 0, len(items))
	for i, item := range items {
		a := Accessor{
			Name:     requiredString(vs, item, paths[i], "accessorName"),
			DataType: dataType(vs, item, paths[i]),
		}
		if a.Name != "" && slices.ContainsFunc(accessors, func(b Accessor) bool {
			return b.Name == a.Name
		}) {
			vs.add(jsonPath(paths[i], "accessorName"), CodeDuplicate,
				"%q is declared more than once", a.Name)
		}
		if c := optionalObject(vs, item, paths[i], "constraints"); c != nil {
			a.Constraints = constraintsFromTree(vs, c, jsonPath(paths[i], "constraints"),
				a.DataType)
		}
		accessors = append(accessors, a)
	}
	return accessors
}

func constraintsFromTree(vs *Violations, c map[string]any, path string, t DataType) Constraints {
	var out Constraints
	for _, key := range sortedKeys(c) {
		p := jsonPath(path, key)
		switch key {
		case "minValue", "maxValue":
			f, ok := numberValue(c[key])
			switch {
			case !ok:
				vs.add(p, CodeType, "must be a number")
			case t != "" && !t.numeric():
				vs.add(p, CodeNotAllowed, "only bounds a numeric accessor, not a %s", t)
			case key == "minValue":
				out.MinValue = &f
			default:
				out.MaxValue = &f
			}
		case "allowedValues":
			out.AllowedValues = allowedValues(vs, c[key], p, t)
		default:
			vs.add(p, CodeUnknownProperty,
				"is not a constraint (known: minValue, maxValue, allowedValues)")
		}
	}
	if out.MinValue != nil && out.MaxValue != nil && *out.MinValue > *out.MaxValue {
		vs.add(jsonPath(path, "maxValue"), CodeOutOfRange, "must not be below minValue")
	}
	return out
}

func allowedValues(vs *Violations, raw any, path string, t DataType) []any {
	list, ok := raw.([]any)
	switch {
	case !ok:
		vs.add(path, CodeType, "must be an array")
		return nil
	case len(list) == 0:
		vs.add(path, CodeEmpty, "must list at least one value")
		return nil
	}
	for i, v := range list {
		if t != "" {
			checkValue(vs, at{base: jsonIndex(path, i)}, t, v)
		}
	}
	return list
}

// field returns the declared field of the given name.
func field(list []Field, name string) (Field, bool) {
	for _, f := range list {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// accessor returns the declared accessor of the given name.
func (d *ServiceDefinition) accessor(name string) (Accessor, bool) {
	for _, a := range d.Accessors {
		if a.Name == name {
			return a, true
		}
	}
	return Accessor{}, false
}
