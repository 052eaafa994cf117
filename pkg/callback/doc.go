// Package callback implements the callback contract of Adobe Journey
// Optimizer B2B external actions: it reads the execution request Adobe sends
// a provider, checks a provider's result against it and against the
// provider's service definition, and builds the callback body Adobe expects.
//
// A producer refuses, before anything is queued, every callback Adobe would
// refuse. ParseExecutionRequest reads the request; LoadServiceDefinitions
// reads the definitions a provider serves at /getServiceDefinition, in JSON
// or YAML, and refuses to start on any problem; PrepareWith checks a result
// and reports every violation at once, each with a JSON path and a stable
// code (the Code constants). A Builder makes results in Go. A receiver, such
// as the Adobe simulator, checks a callback body with CheckEnvelopeWith,
// which applies the same rules, so both ends agree.
//
// Where Adobe's files leave a rule open, this package decides:
//
//   - IDs are read as strings or numbers and sent as numbers. With a
//     definition, a request whose ID is not an integer ("ACC-98765" in one
//     of Adobe's examples) cannot be answered, as Adobe's callback schema
//     wants integer IDs.
//   - integer and score values are signed 32-bit integers written without a
//     fraction or exponent; a score is the field's new value, not a "+5"
//     change, which no AJO B2B document describes for callbacks.
//   - A null field value is refused: the contract gives it no meaning. Null
//     activityData members are left out, as Adobe's examples carry some.
//   - A datetime needs an offset (Z or ±hh:mm); a time without one names no
//     instant.
//   - accessorValues are allowed when the definition sets enableSplitPaths,
//     whatever the request says; for accountPerson they belong in each
//     relationship, never in accountData.
//   - The required flag of callback fields and attributes is not enforced: a
//     callback sends only what changed.
package callback
