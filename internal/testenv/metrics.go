package testenv

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// CounterValue is the value of the counter series of family name in g
// whose labels include every one of labels, and whether there is one.
func CounterValue(t testing.TB, g prometheus.Gatherer, name string,
	labels map[string]string) (float64, bool) {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			matched := 0
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; ok && v == l.GetValue() {
					matched++
				}
			}
			if matched == len(labels) {
				return m.GetCounter().GetValue(), true
			}
		}
	}
	return 0, false
}
