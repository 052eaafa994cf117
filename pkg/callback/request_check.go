package callback

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
)

// Operators of a split-path condition, by the data types they compare.
var (
	equalityOperators = []string{"is", "isNot"}
	orderOperators    = []string{"greaterThan", "greaterThanOrEqual", "lessThan", "lessThanOrEqual"}
	textOperators     = []string{"contains", "notContains"}
)

// CheckRequest reports, as Violations with paths under "execution", why an
// execution request cannot be answered under this definition: an objectType
// other than the supportedEntityType, an entity ID that a callback cannot
// carry (Adobe's callbacks want integers), or split paths that the
// definition does not allow or whose conditions name undeclared accessors,
// use an operator the accessor's data type cannot take, or compare with
// values not of that type.
func (d *ServiceDefinition) CheckRequest(exec *ExecutionRequest) error {
	if exec == nil {
		return errors.New("check execution request: no request")
	}
	var vs Violations
	if t := exec.ObjectData.ObjectType; t != d.SupportedEntityType {
		vs.add("execution.objectData.objectType", CodeEntityMismatch,
			"is %s, but service %s supports %s", t, d.APIName, d.SupportedEntityType)
		return vs
	}
	d.checkRequestIDs(&vs, exec)

	const pcPath = "execution.actionConfig.pathConfig"
	paths := exec.ActionConfig.PathConfig
	if len(paths) > 0 && !d.EnableSplitPaths {
		vs.add(pcPath, CodeNotAllowed, "is set, but service %s does not enable split paths",
			d.APIName)
		return vs
	}
	for i, pc := range paths {
		for j, cond := range pc.PathDefinition {
			p := jsonIndex(jsonPath(jsonIndex(pcPath, i), "pathDefinition"), j)
			d.checkCondition(&vs, cond, p)
		}
	}
	return vs.err()
}

func (d *ServiceDefinition) checkRequestIDs(vs *Violations, exec *ExecutionRequest) {
	ctx := exec.ObjectData.ObjectContext
	check := func(id ID, path string) {
		if !id.IsZero() && !id.Numeric() {
			vs.add(path, CodeType, "is %q, but a callback can only carry an integer id", id)
		}
	}
	switch d.SupportedEntityType {
	case EntityLead:
		check(ctx.LeadID, objectContextPath+".leadId")
	case EntityAccount:
		check(ctx.AccountID, objectContextPath+".accountId")
	case EntityAccountPerson:
		for i, rel := range ctx.AccountPersonRelationships {
			p := jsonIndex(objectContextPath+".accountPersonRelationships", i)
			check(rel.AccountPersonRelID, p+".accountPersonRelId")
			check(rel.AccountID, p+".accountId")
			check(rel.PersonID, p+".personId")
		}
	}
}

func (d *ServiceDefinition) checkCondition(vs *Violations, cond PathCondition, path string) {
	a, ok := d.accessor(cond.Accessor)
	if !ok {
		vs.add(jsonPath(path, "accessor"), CodeUndeclaredAccessor,
			"%q is not an accessorName in invocationPayloadDef.accessorsMetadata of %s",
			cond.Accessor, d.APIName)
		return
	}
	var fits bool
	switch {
	case slices.Contains(equalityOperators, cond.Operator):
		fits = true
	case slices.Contains(orderOperators, cond.Operator):
		fits = a.DataType.numeric() || a.DataType == TypeDate || a.DataType == TypeDateTime
	case slices.Contains(textOperators, cond.Operator):
		fits = !a.DataType.numeric() && a.DataType != TypeBoolean
	default:
		vs.add(jsonPath(path, "operator"), CodeInvalidValue, "%q is not a known operator",
			cond.Operator)
		return
	}
	if !fits {
		vs.add(jsonPath(path, "operator"), CodeNotAllowed, "%s cannot compare a %s accessor",
			cond.Operator, a.DataType)
	}
	for k, v := range cond.Values {
		p := jsonIndex(jsonPath(path, "values"), k)
		if slices.Contains(textOperators, cond.Operator) {
			checkValue(vs, at{base: p}, TypeText, v)
			continue
		}
		checkConditionValue(vs, p, a, v)
	}
}

// checkConditionValue checks a condition value, which Adobe sends as a
// string, as a value of the accessor's data type.
func checkConditionValue(vs *Violations, path string, a Accessor, s string) {
	var v any = s
	switch a.DataType {
	case TypeInteger, TypeScore, TypeFloat:
		n, ok := jsonNumber(s)
		if !ok {
			vs.add(path, CodeType, "must be a number, as %s is a %s, got %q",
				a.Name, a.DataType, s)
			return
		}
		v = n
	case TypeBoolean:
		b, err := strconv.ParseBool(s)
		if err != nil || (s != "true" && s != "false") {
			vs.add(path, CodeType, "must be true or false, as %s is a boolean, got %q", a.Name, s)
			return
		}
		v = b
	}
	if checkValue(vs, at{base: path}, a.DataType, v) {
		checkConstraints(vs, at{base: path}, a.Constraints, v)
	}
}

// jsonNumber returns s as a json.Number when it is written as one.
func jsonNumber(s string) (json.Number, bool) {
	if s == "" || strings.TrimSpace(s) != s || !json.Valid([]byte(s)) {
		return "", false
	}
	if c := s[0]; c != '-' && (c < '0' || c > '9') {
		return "", false
	}
	return json.Number(s), true
}
