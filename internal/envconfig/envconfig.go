// Package envconfig reads a program's settings from environment variables
// once, records each variable with its default and help text for --help, and
// collects every bad value into one error that names the variable.
package envconfig

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Var describes one environment variable a program reads.
type Var struct {
	Name    string
	Default string
	Help    string
}

// Reader reads variables through a lookup function and remembers them.
type Reader struct {
	lookup func(string) (string, bool)
	vars   []Var
	errs   []error
}

// New returns a Reader over lookup; nil means os.LookupEnv.
func New(lookup func(string) (string, bool)) *Reader {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	return &Reader{lookup: lookup}
}

// MapLookup returns a lookup function over a map, for tests.
func MapLookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func (r *Reader) raw(name, def, help string) (string, bool) {
	r.vars = append(r.vars, Var{Name: name, Default: def, Help: help})
	v, ok := r.lookup(name)
	v = strings.TrimSpace(v)
	if !ok || v == "" {
		return def, false
	}
	return v, true
}

// SetButBlank reports whether a variable is present in the environment
// with a blank value, which usually is a mistake rather than a wish for the
// default.
func (r *Reader) SetButBlank(name string) bool {
	v, ok := r.lookup(name)
	return ok && strings.TrimSpace(v) == ""
}

// Fail records a problem with a variable's value.
func (r *Reader) Fail(name, format string, args ...any) {
	r.errs = append(r.errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
}

// String reads a string.
func (r *Reader) String(name, def, help string) string {
	v, _ := r.raw(name, def, help)
	return v
}

// Secret reads a string that must never be printed; its default is empty.
func (r *Reader) Secret(name, help string) string {
	v, _ := r.raw(name, "", help+" (secret)")
	return v
}

// Int reads an integer no smaller than lowest.
func (r *Reader) Int(name string, def, lowest int, help string) int {
	v, set := r.raw(name, strconv.Itoa(def), help)
	if !set {
		return def
	}
	n, err := strconv.Atoi(v)
	switch {
	case err != nil:
		r.Fail(name, "%q is not an integer", v)
		return def
	case n < lowest:
		r.Fail(name, "%d is below the minimum of %d", n, lowest)
		return def
	}
	return n
}

// Duration reads a Go duration such as 500ms or 2m, which must be positive.
func (r *Reader) Duration(name string, def time.Duration, help string) time.Duration {
	v, set := r.raw(name, def.String(), help)
	if !set {
		return def
	}
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		r.Fail(name, "%q is not a duration such as 500ms, 10s or 2m", v)
		return def
	case d <= 0:
		r.Fail(name, "%s must be positive", v)
		return def
	}
	return d
}

// Bool reads true/false (also 1/0, yes/no).
func (r *Reader) Bool(name string, def bool, help string) bool {
	v, set := r.raw(name, strconv.FormatBool(def), help)
	if !set {
		return def
	}
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return true
	case "0", "false", "no", "off":
		return false
	}
	r.Fail(name, "%q is not a boolean (true or false)", v)
	return def
}

// List reads a comma-separated list; empty items are dropped.
func (r *Reader) List(name string, def []string, help string) []string {
	v, set := r.raw(name, strings.Join(def, ","), help)
	if !set {
		return def
	}
	return SplitList(v)
}

// SplitList splits a comma-separated list, trimming each item and dropping
// empty ones.
func SplitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// Err returns every problem found, or nil.
func (r *Reader) Err() error {
	if len(r.errs) == 0 {
		return nil
	}
	return fmt.Errorf("configuration: %w", errors.Join(r.errs...))
}

// Vars returns the variables read so far, in order.
func (r *Reader) Vars() []Var { return r.vars }

// Usage writes a program's help: a summary line and a table of variables.
func (r *Reader) Usage(w io.Writer, summary string) {
	_, _ = fmt.Fprintf(w, "%s\n\nEnvironment variables:\n", summary)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "  NAME\tDEFAULT\tMEANING")
	for _, v := range r.vars {
		def := v.Default
		if def == "" {
			def = "-"
		}
		_, _ = fmt.Fprintf(tw, "  %s\t%s\t%s\n", v.Name, def, v.Help)
	}
	_ = tw.Flush()
}
