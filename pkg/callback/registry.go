package callback

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Problem is one problem found in a service definition file.
type Problem struct {
	// File names the definition, as given to ParseServiceDefinition or as
	// found by LoadServiceDefinitions.
	File string
	Violation
}

// String formats the problem as "file: path: message (code)".
func (p Problem) String() string {
	return p.File + ": " + p.Violation.String()
}

// DefinitionError reports every problem found in one or more service
// definitions. A service must not start with any of them.
type DefinitionError struct {
	Problems []Problem
}

// Error lists the problems one a line.
func (e *DefinitionError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return "bad service definition: " + strings.Join(lines, "\n")
}

func newDefinitionError(file string, vs Violations) *DefinitionError {
	e := &DefinitionError{Problems: make([]Problem, len(vs))}
	for i, v := range vs {
		e.Problems[i] = Problem{File: file, Violation: v}
	}
	return e
}

// Registry holds the service definitions a provider serves, by apiName.
// It is safe for concurrent reads once built.
type Registry struct {
	defs        []*ServiceDefinition
	defaultName string
}

// NewRegistry returns a registry of the given definitions, refusing two
// definitions with the same apiName.
func NewRegistry(defs ...*ServiceDefinition) (*Registry, error) {
	r := &Registry{}
	var problems []Problem
	for _, def := range defs {
		if def == nil {
			return nil, errors.New("new registry: nil service definition")
		}
		if prev, ok := r.Lookup(def.APIName); ok && def.APIName != "" {
			problems = append(problems, Problem{File: def.Source, Violation: Violation{
				Path:    "apiName",
				Code:    CodeDuplicate,
				Message: fmt.Sprintf("%q is also the apiName of %s", def.APIName, prev.Source),
			}})
			continue
		}
		r.defs = append(r.defs, def)
	}
	if len(problems) > 0 {
		return nil, &DefinitionError{Problems: problems}
	}
	return r, nil
}

// LoadServiceDefinitions reads every .json, .yaml and .yml file of dir (not
// its subdirectories) as a service definition. Any problem in any file, or a
// directory without definitions, stops the load: the *DefinitionError lists
// every problem of every file.
func LoadServiceDefinitions(dir string) (*Registry, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("load service definitions: %w", err)
	}
	var defs []*ServiceDefinition
	var problems []Problem
	for _, entry := range entries {
		ext := strings.ToLower(filepath.Ext(entry.Name()))
		if entry.IsDir() || !slices.Contains([]string{".json", ".yaml", ".yml"}, ext) {
			continue
		}
		name := filepath.Join(dir, entry.Name())
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("load service definitions: %w", err)
		}
		def, err := ParseServiceDefinition(data, name)
		var de *DefinitionError
		switch {
		case errors.As(err, &de):
			problems = append(problems, de.Problems...)
		case err != nil:
			return nil, fmt.Errorf("load service definitions: %w", err)
		default:
			defs = append(defs, def)
		}
	}
	if len(problems) > 0 {
		return nil, &DefinitionError{Problems: problems}
	}
	if len(defs) == 0 {
		return nil, fmt.Errorf("load service definitions: no .json, .yaml or .yml file in %s", dir)
	}
	return NewRegistry(defs...)
}

// SetDefault makes the named definition the one Lookup returns for a
// callback that names no service.
func (r *Registry) SetDefault(apiName string) error {
	if _, ok := r.Lookup(apiName); !ok || apiName == "" {
		return fmt.Errorf("set default service definition: no definition named %q", apiName)
	}
	r.defaultName = apiName
	return nil
}

// Lookup returns the definition with the given apiName. An empty apiName
// asks for the default: the one set with SetDefault, or else the only
// definition when exactly one is loaded.
func (r *Registry) Lookup(apiName string) (*ServiceDefinition, bool) {
	if apiName == "" {
		switch {
		case r.defaultName != "":
			apiName = r.defaultName
		case len(r.defs) == 1:
			return r.defs[0], true
		default:
			return nil, false
		}
	}
	for _, def := range r.defs {
		if def.APIName == apiName {
			return def, true
		}
	}
	return nil, false
}

// Definitions returns the loaded definitions in load order.
func (r *Registry) Definitions() []*ServiceDefinition {
	return slices.Clone(r.defs)
}
