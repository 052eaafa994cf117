package adobesim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Rule gives the callbacks of matching tokens a fault script.
type Rule struct {
	// Match is an exact X-Callback-Token, or a path.Match pattern such as
	// "*-fail-*" when it holds any of the characters *?[\. An exact match
	// wins over a pattern; among patterns, the one set first wins.
	Match string `json:"match"`
	// Script lists the answers, one per valid callback of a token, such as
	// "503*2,429:2,200@1500ms". Once it is used up, callbacks are accepted.
	Script string `json:"script"`
}

// rule is a Rule ready to use. Its id changes whenever it is set, so the
// progress of tokens through an earlier script is forgotten.
type rule struct {
	Rule
	id     uint64
	script script
}

func compileRule(r Rule, id uint64) (*rule, error) {
	if r.Match == "" {
		return nil, errors.New("match is empty")
	}
	if isPattern(r.Match) {
		if _, err := path.Match(r.Match, ""); err != nil {
			return nil, fmt.Errorf("match %q is not a valid pattern", r.Match)
		}
	}
	sc, err := parseScript(r.Script)
	if err != nil {
		return nil, err
	}
	return &rule{Rule: r, id: id, script: sc}, nil
}

func isPattern(match string) bool {
	return strings.ContainsAny(match, `*?[\`)
}

// ruleSet is an immutable set of rules; a change makes a new one, so the
// callbacks that read it take no lock.
type ruleSet struct {
	exact    map[string]*rule
	patterns []*rule
}

func (rs *ruleSet) match(token string) *rule {
	if r, ok := rs.exact[token]; ok {
		return r
	}
	for _, r := range rs.patterns {
		if ok, _ := path.Match(r.Match, token); ok {
			return r
		}
	}
	return nil
}

func (rs *ruleSet) list() []Rule {
	out := make([]Rule, 0, len(rs.exact)+len(rs.patterns))
	for _, r := range rs.exact {
		out = append(out, r.Rule)
	}
	slices.SortFunc(out, func(a, b Rule) int { return strings.Compare(a.Match, b.Match) })
	for _, r := range rs.patterns {
		out = append(out, r.Rule)
	}
	return out
}

// ruleStore holds the current rule set. Writers take mu; readers load the
// set without locking.
type ruleStore struct {
	mu     sync.Mutex
	set    atomic.Pointer[ruleSet]
	nextID uint64
}

// replace swaps in the compiled rules, dropping all others.
func (s *ruleStore) replace(rules []Rule) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := &ruleSet{exact: map[string]*rule{}}
	for i, r := range rules {
		s.nextID++
		c, err := compileRule(r, s.nextID)
		if err != nil {
			return fmt.Errorf("rule %d (%q): %w", i+1, r.Match, err)
		}
		rs.add(c)
	}
	s.set.Store(rs)
	return nil
}

// put adds a rule or replaces the one with the same Match.
func (s *ruleStore) put(r Rule) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	c, err := compileRule(r, s.nextID)
	if err != nil {
		return fmt.Errorf("rule %q: %w", r.Match, err)
	}
	old := s.set.Load()
	rs := &ruleSet{exact: maps.Clone(old.exact), patterns: slices.Clone(old.patterns)}
	rs.add(c)
	s.set.Store(rs)
	return nil
}

func (rs *ruleSet) add(r *rule) {
	if !isPattern(r.Match) {
		rs.exact[r.Match] = r
		return
	}
	i := slices.IndexFunc(rs.patterns, func(p *rule) bool { return p.Match == r.Match })
	if i >= 0 {
		rs.patterns[i] = r
		return
	}
	rs.patterns = append(rs.patterns, r)
}

// LoadRules reads the SIM_RULES setting: either the path of a JSON file
// holding an array of rules, or rules written inline as
// "match=script;match=script". A value without "=", or ending in ".json",
// is a path. The last "=" of an inline rule splits it, since a token may
// end in "=" but a script never holds one.
func LoadRules(spec string) ([]Rule, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, nil
	}
	if !strings.Contains(spec, "=") || strings.HasSuffix(spec, ".json") {
		return readRulesFile(spec)
	}
	var rules []Rule
	for i, item := range strings.Split(spec, ";") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		match, script, found := cutLast(item, "=")
		if !found {
			return nil, fmt.Errorf("rule %d %q: want match=script", i+1, item)
		}
		rules = append(rules, Rule{Match: strings.TrimSpace(match), Script: script})
	}
	return rules, nil
}

func readRulesFile(name string) ([]Rule, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("read rules: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var rules []Rule
	if err := dec.Decode(&rules); err != nil {
		return nil, fmt.Errorf("decode rules %s: %w", name, err)
	}
	return rules, nil
}
