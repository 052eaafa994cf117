package callback

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Builder builds the result of one execution request in Go: the outcome,
// the fields and accessorValues to send back, and the IDs, which it takes
// from the request. Its setters never fail; the first misuse is reported by
// Result and Build.
//
//	cb, err := callback.NewSuccess(exec).
//		LeadData().SetString("mobilePhone", "+1-555-0101").Accessor("enrichmentScore", 92).
//		Builder().DropUnchanged().Build(def)
type Builder struct {
	exec          *ExecutionRequest
	activity      ActivityData
	lead          *Object
	account       *Object
	people        []*Object
	dropUnchanged bool
	err           error
}

// Object collects what a callback sends back in one of its objects: the
// leadData of a lead, the accountData of an account or an accountPerson, or
// one relationship of an accountPerson (its leadData fields and its
// accessorValues).
type Object struct {
	b         *Builder
	rel       *Relationship
	base      map[string]any
	fields    map[string]any
	accessors map[string]any
}

// NewSuccess starts a successful result for exec.
func NewSuccess(exec *ExecutionRequest) *Builder {
	b := &Builder{exec: exec, activity: ActivityData{Success: true}}
	if exec == nil {
		b.fail(errors.New("no execution request"))
	}
	return b
}

// NewFailure starts a failed result for exec, with an errorCode (one of the
// Error constants, or a code of the provider's own) and an actionable
// reason. The IDs are filled in on failures too, as the contract asks.
func NewFailure(exec *ExecutionRequest, code, reason string) *Builder {
	b := NewSuccess(exec)
	b.activity = ActivityData{Success: false, ErrorCode: code, Reason: reason}
	return b
}

func (b *Builder) fail(err error) {
	if b.err == nil {
		b.err = fmt.Errorf("build callback: %w", err)
	}
}

func (b *Builder) objectType() string {
	if b.exec == nil {
		return ""
	}
	return b.exec.ObjectData.ObjectType
}

// Attribute sets an activityData attribute declared in
// callbackPayloadDef.attributes. v is a string, a bool, an integer or a
// float; format a date or a datetime with DateLayout or time.RFC3339.
func (b *Builder) Attribute(name string, v any) *Builder {
	jv, err := jsonScalar(v)
	if err != nil {
		b.fail(fmt.Errorf("attribute %s: %w", name, err))
		return b
	}
	if b.activity.Attributes == nil {
		b.activity.Attributes = map[string]any{}
	}
	b.activity.Attributes[name] = jv
	return b
}

// DropUnchanged leaves out every field whose value is the one the
// execution request already carries, as the contract asks for changed
// fields only. Accessor values are always sent.
func (b *Builder) DropUnchanged() *Builder {
	b.dropUnchanged = true
	return b
}

// LeadData returns the leadData of a lead request.
func (b *Builder) LeadData() *Object {
	if b.objectType() != EntityLead {
		b.fail(fmt.Errorf("leadData is not part of a %q callback", b.objectType()))
		return &Object{b: b}
	}
	if b.lead == nil {
		b.lead = &Object{b: b, base: b.exec.ObjectData.ObjectContext.LeadData}
	}
	return b.lead
}

// AccountData returns the accountData of an account or accountPerson
// request. For an accountPerson it holds the account-level updates.
func (b *Builder) AccountData() *Object {
	if t := b.objectType(); t != EntityAccount && t != EntityAccountPerson {
		b.fail(fmt.Errorf("accountData is not part of a %q callback", t))
		return &Object{b: b}
	}
	if b.account == nil {
		b.account = &Object{b: b, base: b.exec.ObjectData.ObjectContext.AccountData}
	}
	return b.account
}

// ForRelationship returns the relationship of an accountPerson request that
// relID names: its fields go into the relationship's leadData. A result
// that uses no relationship names every relationship of the request.
func (b *Builder) ForRelationship(relID ID) *Object {
	if b.objectType() != EntityAccountPerson {
		b.fail(fmt.Errorf("relationships are not part of a %q callback", b.objectType()))
		return &Object{b: b}
	}
	for _, o := range b.people {
		if o.rel.AccountPersonRelID.Equal(relID) {
			return o
		}
	}
	rel, ok := b.exec.Relationship(relID)
	if !ok {
		b.fail(fmt.Errorf("relationship %s is not in the execution request", relID))
		return &Object{b: b}
	}
	o := &Object{b: b, rel: &rel, base: rel.LeadData}
	b.people = append(b.people, o)
	return o
}

// Builder returns the builder the object belongs to, for chaining.
func (o *Object) Builder() *Builder { return o.b }

// SetString sets a field of type string, text, email or url.
func (o *Object) SetString(field, v string) *Object { return o.set(field, v) }

// SetInt sets a field of type integer or score.
func (o *Object) SetInt(field string, v int) *Object { return o.set(field, int64(v)) }

// SetFloat sets a field of type float.
func (o *Object) SetFloat(field string, v float64) *Object {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		o.b.fail(fmt.Errorf("field %s: %v is not a JSON number", field, v))
		return o
	}
	return o.set(field, v)
}

// SetBool sets a field of type boolean.
func (o *Object) SetBool(field string, v bool) *Object { return o.set(field, v) }

// SetDate sets a field of type date to the day of v, in v's location.
func (o *Object) SetDate(field string, v time.Time) *Object {
	return o.set(field, v.Format(DateLayout))
}

// SetDateTime sets a field of type datetime, in RFC 3339 form.
func (o *Object) SetDateTime(field string, v time.Time) *Object {
	return o.set(field, v.Format(time.RFC3339Nano))
}

func (o *Object) set(field string, v any) *Object {
	if o.fields == nil {
		o.fields = map[string]any{}
	}
	o.fields[field] = v
	return o
}

// Accessor sets a split-path accessor value. v is a string, a bool, an
// integer or a float, as the accessor's dataType asks.
func (o *Object) Accessor(name string, v any) *Object {
	jv, err := jsonScalar(v)
	if err != nil {
		o.b.fail(fmt.Errorf("accessor %s: %w", name, err))
		return o
	}
	if o.accessors == nil {
		o.accessors = map[string]any{}
	}
	o.accessors[name] = jv
	return o
}

// changedFields returns the fields to send, without the unchanged ones
// when asked to drop them.
func (o *Object) changedFields() map[string]any {
	if !o.b.dropUnchanged || len(o.fields) == 0 {
		return o.fields
	}
	out := make(map[string]any, len(o.fields))
	for k, v := range o.fields {
		if old, ok := o.base[k]; !ok || !sameAsRequest(old, v) {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// Result returns the built result, or the first misuse of the builder.
func (b *Builder) Result() (Result, error) {
	if b.err != nil {
		return Result{}, b.err
	}
	res := Result{ActivityData: b.activity}
	ctx := b.exec.ObjectData.ObjectContext
	switch b.objectType() {
	case EntityLead:
		res.LeadData = &EntityData{ID: ctx.LeadID}
		if b.lead != nil {
			res.LeadData.Fields = b.lead.changedFields()
			res.LeadData.AccessorValues = b.lead.accessors
		}
	case EntityAccount:
		res.AccountData = &EntityData{ID: ctx.AccountID}
		if b.account != nil {
			res.AccountData.Fields = b.account.changedFields()
			res.AccountData.AccessorValues = b.account.accessors
		}
	case EntityAccountPerson:
		if b.account != nil {
			fields := b.account.changedFields()
			if len(fields) > 0 || len(b.account.accessors) > 0 {
				res.AccountData = &EntityData{Fields: fields, AccessorValues: b.account.accessors}
			}
		}
		for _, o := range b.people {
			res.AccountPersonData = append(res.AccountPersonData, o.person())
		}
	}
	return res, nil
}

func (o *Object) person() PersonData {
	p := PersonData{
		AccountPersonRelID: o.rel.AccountPersonRelID,
		AccountID:          o.rel.AccountID,
		PersonID:           o.rel.PersonID,
		AccessorValues:     o.accessors,
	}
	if fields := o.changedFields(); len(fields) > 0 {
		p.LeadData = &EntityData{Fields: fields}
	}
	return p
}

// Build checks the result against the execution request and, when def is
// not nil, the service definition, and returns the callback; see
// PrepareWith.
func (b *Builder) Build(def *ServiceDefinition) (*Callback, error) {
	res, err := b.Result()
	if err != nil {
		return nil, err
	}
	return PrepareResultWith(b.exec, res, def)
}

// jsonScalar normalises a Go value given for an attribute or an accessor.
func jsonScalar(v any) (any, error) {
	switch v := v.(type) {
	case string, bool:
		return v, nil
	case int:
		return int64(v), nil
	case int32:
		return int64(v), nil
	case int64:
		return v, nil
	case float32:
		return jsonScalar(float64(v))
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%v is not a JSON number", v)
		}
		return v, nil
	}
	return nil, fmt.Errorf("%T is not a string, bool, integer or float", v)
}

// sameAsRequest reports whether a field value set in Go equals the value
// the execution request carries for it. Datetimes that name the same
// instant are equal.
func sameAsRequest(old, v any) bool {
	switch v := v.(type) {
	case string:
		s, ok := old.(string)
		if ok && s == v {
			return true
		}
		t1, ok1 := parseDateTime(v)
		t2, ok2 := parseDateTime(s)
		return ok && ok1 && ok2 && t1.Equal(t2)
	case bool:
		b, ok := old.(bool)
		return ok && b == v
	case int64:
		f, ok := numberValue(old)
		return ok && f == float64(v)
	case float64:
		f, ok := numberValue(old)
		return ok && f == v
	}
	return false
}
