package callback

import (
	"encoding/json"
	"slices"
)

// scope says which object of a callback a set of fields belongs to.
type scope int

const (
	// scopeLead is the leadData of a lead callback.
	scopeLead scope = iota
	// scopeAccount is the accountData of an account or accountPerson
	// callback.
	scopeAccount
	// scopePerson is the leadData of one accountPersonData item.
	scopePerson
)

// checkFields holds the members of a leadData or accountData object to the
// service definition: declared fields of their data type, the id where the
// object has one, and accessorValues where split-path values belong.
func (c *itemCheck) checkFields(obj map[string]any, path string, s scope) {
	if c.def == nil {
		return
	}
	list, listName := c.def.Fields, "fields"
	if s == scopeAccount {
		list, listName = c.def.AccountFields, "accountFields"
	}
	for _, key := range sortedKeys(obj) {
		p := at{path, key}
		switch {
		case key == "id" && s == scopePerson:
			c.vs.add(p.String(), CodeNotAllowed, "is not allowed: personId names the person")
		case key == "id":
		case key == "accessorValues" && s == scopePerson:
			c.vs.add(p.String(), CodeNotAllowed,
				"belongs beside leadData, in the accountPersonData item")
		case key == "accessorValues" && c.entity == EntityAccountPerson:
			c.vs.add(p.String(), CodeNotAllowed,
				"belongs in each accountPersonData item of an accountPerson callback")
		case key == "accessorValues":
			c.checkAccessors(obj[key], p.String())
		default:
			c.checkField(list, listName, p, obj[key])
		}
	}
}

func (c *itemCheck) checkField(list []Field, listName string, path at, v any) {
	f, ok := field(list, path.key)
	if !ok {
		c.vs.add(path.String(), CodeUndeclaredField,
			"is not declared in callbackPayloadDef.%s of %s", listName, c.def.APIName)
		return
	}
	checkValue(c.vs, path, f.DataType, v)
}

// checkAccessors holds accessorValues to invocationPayloadDef.accessorsMetadata.
func (c *itemCheck) checkAccessors(raw any, path string) {
	if c.def == nil {
		return
	}
	obj, ok := raw.(map[string]any)
	switch {
	case !ok:
		c.vs.add(path, CodeType, "must be an object, not %s", kindOf(raw))
		return
	case !c.def.EnableSplitPaths:
		c.vs.add(path, CodeNotAllowed, "is only allowed when service %s sets enableSplitPaths",
			c.def.APIName)
		return
	}
	for _, name := range sortedKeys(obj) {
		p := at{path, name}
		a, ok := c.def.accessor(name)
		if !ok {
			c.vs.add(p.String(), CodeUndeclaredAccessor,
				"is not an accessorName in invocationPayloadDef.accessorsMetadata of %s",
				c.def.APIName)
			continue
		}
		if checkValue(c.vs, p, a.DataType, obj[name]) {
			checkConstraints(c.vs, p, a.Constraints, obj[name])
		}
	}
}

// checkConstraints checks a value already known to be of its accessor's
// data type against the accessor's constraints.
func checkConstraints(vs *Violations, path at, c Constraints, v any) {
	if f, ok := numberValue(v); ok {
		if c.MinValue != nil && f < *c.MinValue {
			vs.add(path.String(), CodeOutOfRange, "must be at least %v, got %v", *c.MinValue, v)
		}
		if c.MaxValue != nil && f > *c.MaxValue {
			vs.add(path.String(), CodeOutOfRange, "must be at most %v, got %v", *c.MaxValue, v)
		}
	}
	if len(c.AllowedValues) == 0 {
		return
	}
	if !slices.ContainsFunc(c.AllowedValues, func(w any) bool { return sameValue(v, w) }) {
		allowed, _ := json.Marshal(c.AllowedValues)
		vs.add(path.String(), CodeInvalidValue, "must be one of %s", allowed)
	}
}

// sameValue reports whether two decoded JSON scalars are equal, comparing
// numbers by value.
func sameValue(a, b any) bool {
	if x, ok := numberValue(a); ok {
		y, ok := numberValue(b)
		return ok && x == y
	}
	switch a := a.(type) {
	case string:
		b, ok := b.(string)
		return ok && a == b
	case bool:
		b, ok := b.(bool)
		return ok && a == b
	}
	return false
}
