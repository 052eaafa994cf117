package callback

import (
	"encoding/json"
	"errors"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DataType is the dataType of a field, an attribute or an accessor in a
// service definition. The AJO B2B schema names string, integer, float,
// boolean, date and datetime; Adobe's examples add email and url, and
// Marketo adds text and score.
type DataType string

// The data types a service definition may declare.
const (
	TypeString   DataType = "string"
	TypeText     DataType = "text"
	TypeEmail    DataType = "email"
	TypeURL      DataType = "url"
	TypeInteger  DataType = "integer"
	TypeScore    DataType = "score"
	TypeFloat    DataType = "float"
	TypeBoolean  DataType = "boolean"
	TypeDate     DataType = "date"
	TypeDateTime DataType = "datetime"
)

// Byte limits of the string types, from Marketo's field limits.
const (
	MaxStringBytes = 255
	MaxTextBytes   = 2000
)

// DateLayout is the form of a date value, as Go's time package spells it.
const DateLayout = "2006-01-02"

// dateTimeLayouts are the ISO 8601 forms a datetime value may take: RFC 3339
// with or without a fraction of a second, a basic-format offset such as
// +0100, and minute precision. A time without an offset is refused: it
// names no instant.
var dateTimeLayouts = []string{
	time.RFC3339,
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04Z0700",
}

var dataTypes = []DataType{
	TypeString, TypeText, TypeEmail, TypeURL, TypeInteger, TypeScore,
	TypeFloat, TypeBoolean, TypeDate, TypeDateTime,
}

// Valid reports whether t is one of the known data types.
func (t DataType) Valid() bool {
	for _, known := range dataTypes {
		if t == known {
			return true
		}
	}
	return false
}

// numeric reports whether values of t are JSON numbers.
func (t DataType) numeric() bool {
	return t == TypeInteger || t == TypeScore || t == TypeFloat
}

// checkValue records a violation when v, a value decoded with UseNumber, is
// not a value of type t. It reports whether v is valid.
//
// integer and score are signed 32-bit integers written without a fraction
// or exponent; score is the new value of a score field, not a "+5" change.
// float is any JSON number that fits a float64. A null is never a value:
// the contract gives it no meaning.
func checkValue(vs *Violations, path at, t DataType, v any) bool {
	switch t {
	case TypeBoolean:
		if _, ok := v.(bool); !ok {
			vs.add(path.String(), CodeType, "must be a boolean, not %s", kindOf(v))
			return false
		}
		return true
	case TypeInteger, TypeScore, TypeFloat:
		return checkNumber(vs, path, t, v)
	}
	s, ok := v.(string)
	if !ok {
		vs.add(path.String(), CodeType, "must be a string (%s), not %s", t, kindOf(v))
		return false
	}
	return checkString(vs, path, t, s)
}

func checkNumber(vs *Violations, path at, t DataType, v any) bool {
	n, ok := v.(json.Number)
	if !ok {
		vs.add(path.String(), CodeType, "must be a number (%s), not %s", t, kindOf(v))
		return false
	}
	if t == TypeFloat {
		if _, err := strconv.ParseFloat(n.String(), 64); err != nil {
			vs.add(path.String(), CodeOutOfRange, "does not fit a 64-bit float")
			return false
		}
		return true
	}
	if strings.ContainsAny(n.String(), ".eE") {
		vs.add(path.String(), CodeType,
			"must be an integer, written without a fraction or exponent")
		return false
	}
	if _, err := strconv.ParseInt(n.String(), 10, 32); err != nil {
		vs.add(path.String(), CodeOutOfRange, "must fit a signed 32-bit integer, got %s", n)
		return false
	}
	return true
}

func checkString(vs *Violations, path at, t DataType, s string) bool {
	limit := MaxStringBytes
	if t == TypeText {
		limit = MaxTextBytes
	}
	if len(s) > limit {
		vs.add(path.String(), CodeTooLong, "is %d bytes long; a %s holds at most %d", len(s), t,
			limit)
		return false
	}
	var problem string
	switch t {
	case TypeEmail:
		problem = emailProblem(s)
	case TypeURL:
		problem = urlProblem(s)
	case TypeDate:
		if _, err := time.Parse(DateLayout, s); err != nil {
			problem = "must be a date of the form YYYY-MM-DD"
		}
	case TypeDateTime:
		if _, ok := parseDateTime(s); !ok {
			problem = "must be an ISO 8601 date and time with an offset, " +
				"such as 2024-01-15T10:30:00Z"
		}
	}
	if problem != "" {
		vs.add(path.String(), CodeFormat, "%s, got %q", problem, s)
		return false
	}
	return true
}

func emailProblem(s string) string {
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Name != "" || addr.Address != s {
		return "must be a bare e-mail address such as jane@example.com"
	}
	return ""
}

func urlProblem(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "must be an absolute http or https URL"
	}
	return ""
}

func parseDateTime(s string) (time.Time, bool) {
	for _, layout := range dateTimeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// at is a JSON path whose last key is joined only when a violation needs
// it, so that checking valid values builds no strings.
type at struct {
	base, key string
}

// String returns the joined path.
func (a at) String() string {
	if a.key == "" {
		return a.base
	}
	return jsonPath(a.base, a.key)
}

// numberValue returns a JSON number as a float64.
func numberValue(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(n.String(), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, false
	}
	return f, true
}

// kindOf names the JSON kind of a decoded value for messages.
func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return "an unknown value"
}
