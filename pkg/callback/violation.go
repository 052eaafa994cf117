package callback

import (
	"fmt"
	"strconv"
	"strings"
)

// Violation codes. They are stable: clients may match on them.
const (
	CodeRequired        = "required"
	CodeType            = "type"
	CodeEmpty           = "empty"
	CodeUnknownProperty = "unknown_property"
	CodeMismatch        = "mismatch"
	CodeUnknownRelation = "unknown_relationship"
	CodeDuplicate       = "duplicate"
	CodeNotAllowed      = "not_allowed"
	CodeOutOfRange      = "out_of_range"
	CodeInvalidValue    = "invalid_value"
	CodeURLRefused      = "url_refused"

	// CodeSyntax marks a document that is not well-formed JSON or YAML.
	CodeSyntax = "syntax"
	// CodeTooLong marks a string longer than its data type allows.
	CodeTooLong = "too_long"
	// CodeFormat marks a string that does not have its data type's form,
	// such as a date that is not YYYY-MM-DD.
	CodeFormat = "format"
	// CodeUndeclaredField marks a leadData or accountData member that the
	// service definition does not declare in callbackPayloadDef.
	CodeUndeclaredField = "undeclared_field"
	// CodeUndeclaredAttribute marks an activityData member that is not in
	// callbackPayloadDef.attributes.
	CodeUndeclaredAttribute = "undeclared_attribute"
	// CodeUndeclaredAccessor marks an accessorValues key that is not an
	// accessorName of invocationPayloadDef.accessorsMetadata.
	CodeUndeclaredAccessor = "undeclared_accessor"
	// CodeEntityMismatch marks an execution request whose objectType is not
	// the service definition's supportedEntityType.
	CodeEntityMismatch = "entity_mismatch"
	// CodeReserved marks a service definition that declares a reserved
	// name (success, reason, errorCode; id or accessorValues as a field).
	CodeReserved = "reserved"
)

// Violation is one way in which an input breaks the callback contract.
type Violation struct {
	// Path is a JSON path to the offending value, such as
	// "result.accountPersonData[1].personId".
	Path string `json:"path"`
	// Code is one of the Code constants.
	Code string `json:"code"`
	// Message says what is wrong in words.
	Message string `json:"message"`
}

// String formats the violation as "path: message (code)".
func (v Violation) String() string {
	return fmt.Sprintf("%s: %s (%s)", v.Path, v.Message, v.Code)
}

// Violations is the error returned when an input breaks the contract. It
// lists every violation found, not only the first.
type Violations []Violation

// Error joins all violations into one line.
func (vs Violations) Error() string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = v.String()
	}
	return "contract violations: " + strings.Join(parts, "; ")
}

// add records a violation with a formatted message.
func (vs *Violations) add(path, code, format string, args ...any) {
	*vs = append(*vs, Violation{Path: path, Code: code, Message: fmt.Sprintf(format, args...)})
}

// err returns the violations as an error, or nil when there are none.
func (vs Violations) err() error {
	if len(vs) == 0 {
		return nil
	}
	return vs
}

// jsonPath builds JSON paths: dotted keys and [i] indexes.
func jsonPath(base string, key string) string {
	if base == "" {
		return key
	}
	return base + "." + key
}

func jsonIndex(base string, i int) string {
	return base + "[" + strconv.Itoa(i) + "]"
}
