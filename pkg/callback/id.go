package callback

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// ID is an Adobe entity identifier. Adobe's files disagree on its JSON form:
// execution requests carry "leadId":"12345" while callbacks carry
// "id":12345, and relationship IDs are numbers in both. ID accepts both forms
// and emits a JSON number whenever the value is a plain integer, as the
// callback contract shows. A non-numeric ID such as "ACC-98765" (seen in
// Adobe's own examples) is kept verbatim and emitted as a string.
type ID struct {
	s string
}

// NewID returns the ID with the given text.
func NewID(s string) ID { return ID{s: s} }

// IntID returns the ID of an integer.
func IntID(n int64) ID { return ID{s: strconv.FormatInt(n, 10)} }

// String returns the ID's text, or "" for the zero ID.
func (id ID) String() string { return id.s }

// IsZero reports whether the ID is absent.
func (id ID) IsZero() bool { return id.s == "" }

// Equal reports whether two IDs name the same entity, whatever JSON form
// each came in.
func (id ID) Equal(other ID) bool { return id.s == other.s }

// Numeric reports whether the ID is a canonical integer (no sign other than
// a leading minus, no leading zeros) that fits in 64 bits.
func (id ID) Numeric() bool {
	if _, err := strconv.ParseInt(id.s, 10, 64); err != nil {
		return false
	}
	return canonicalInt(id.s)
}

func canonicalInt(s string) bool {
	digits := s
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	return digits != "" && (digits == "0" || digits[0] != '0') && digits != "-0"
}

// MarshalJSON emits a number for a numeric ID and a string otherwise.
func (id ID) MarshalJSON() ([]byte, error) {
	if id.Numeric() {
		return []byte(id.s), nil
	}
	return json.Marshal(id.s)
}

// UnmarshalJSON accepts a JSON string or a JSON integer.
func (id *ID) UnmarshalJSON(data []byte) error {
	parsed, ok := parseID(data)
	if !ok {
		return fmt.Errorf("id must be a string or an integer, not %s", kindOfJSON(data))
	}
	*id = parsed
	return nil
}

// parseID reads an ID from raw JSON: a non-empty string, or an integer.
func parseID(data []byte) (ID, bool) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return ID{}, false
	}
	if data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil || s == "" {
			return ID{}, false
		}
		return ID{s: s}, true
	}
	return idFromNumber(json.Number(data))
}

// idFromValue reads an ID from a value decoded with json.Decoder.UseNumber.
func idFromValue(v any) (ID, bool) {
	switch v := v.(type) {
	case string:
		if v == "" {
			return ID{}, false
		}
		return ID{s: v}, true
	case json.Number:
		return idFromNumber(v)
	}
	return ID{}, false
}

func idFromNumber(n json.Number) (ID, bool) {
	i, err := n.Int64()
	if err != nil {
		return ID{}, false
	}
	return IntID(i), true
}

func kindOfJSON(data []byte) string {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return "empty"
	}
	switch data[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case '"':
		return "an empty string"
	}
	return "a non-integer number"
}
