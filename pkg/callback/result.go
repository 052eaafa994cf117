package callback

import (
	"encoding/json"
	"maps"
)

// Recommended activityData.errorCode values from the callback contract.
const (
	ErrorEnrichmentFailed  = "ENRICHMENT_FAILED"
	ErrorRateLimitExceeded = "RATE_LIMIT_EXCEEDED"
	ErrorInvalidData       = "INVALID_DATA"
	ErrorTimeout           = "TIMEOUT"
	ErrorNotFound          = "NOT_FOUND"
)

// Result is what a provider's work produced for one execution request. It
// has the shape of the callback's single objectData item, as Adobe spells
// it, except that IDs may be left out: they are filled in from the
// execution request, on failures too. IDs that are given must match it.
type Result struct {
	ActivityData      ActivityData `json:"activityData"`
	LeadData          *EntityData  `json:"leadData,omitempty"`
	AccountData       *EntityData  `json:"accountData,omitempty"`
	AccountPersonData []PersonData `json:"accountPersonData,omitempty"`
}

// ActivityData is the callback's activityData: the outcome of the action.
type ActivityData struct {
	Success   bool
	ErrorCode string
	Reason    string
	// Attributes holds the extra activityData attributes a service declares
	// in callbackPayloadDef.attributes.
	Attributes map[string]any
}

// MarshalJSON flattens Attributes beside success, errorCode and reason.
func (a ActivityData) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(a.Attributes)+3)
	maps.Copy(m, a.Attributes)
	m["success"] = a.Success
	if a.ErrorCode != "" {
		m["errorCode"] = a.ErrorCode
	}
	if a.Reason != "" {
		m["reason"] = a.Reason
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads success, errorCode and reason, and keeps every other
// member in Attributes.
func (a *ActivityData) UnmarshalJSON(data []byte) error {
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	var out ActivityData
	if v, ok := m["success"].(bool); ok {
		out.Success = v
	}
	out.ErrorCode, _ = m["errorCode"].(string)
	out.Reason, _ = m["reason"].(string)
	delete(m, "success")
	delete(m, "errorCode")
	delete(m, "reason")
	if len(m) > 0 {
		out.Attributes = m
	}
	*a = out
	return nil
}

// EntityData is a callback's leadData or accountData: the entity's ID, the
// changed fields, and the split-path accessorValues.
type EntityData struct {
	ID             ID
	Fields         map[string]any
	AccessorValues map[string]any
}

// MarshalJSON flattens Fields beside id and accessorValues.
func (e EntityData) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(e.Fields)+2)
	maps.Copy(m, e.Fields)
	if !e.ID.IsZero() {
		m["id"] = e.ID
	}
	if e.AccessorValues != nil {
		m["accessorValues"] = e.AccessorValues
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads id and accessorValues, and keeps every other member in
// Fields.
func (e *EntityData) UnmarshalJSON(data []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	var out EntityData
	if raw, ok := m["id"]; ok {
		if err := out.ID.UnmarshalJSON(raw); err != nil {
			return err
		}
	}
	if raw, ok := m["accessorValues"]; ok {
		if err := json.Unmarshal(raw, &out.AccessorValues); err != nil {
			return err
		}
	}
	delete(m, "id")
	delete(m, "accessorValues")
	for k, raw := range m {
		if out.Fields == nil {
			out.Fields = make(map[string]any, len(m))
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		out.Fields[k] = v
	}
	*e = out
	return nil
}

// PersonData is one element of a callback's accountPersonData: the IDs of a
// relationship of the execution request, with per-person updates.
// AccountID and PersonID may be left zero: they are filled in from the
// relationship that AccountPersonRelID names.
type PersonData struct {
	AccountPersonRelID ID             `json:"accountPersonRelId"`
	AccountID          ID             `json:"accountId,omitzero"`
	PersonID           ID             `json:"personId,omitzero"`
	LeadData           *EntityData    `json:"leadData,omitempty"`
	AccessorValues     map[string]any `json:"accessorValues,omitempty"`
}

// Envelope is the body of a callback POST.
type Envelope struct {
	ObjectData []json.RawMessage `json:"objectData"`
}
