package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// series describes one gathered series: its value (a counter's or a
// gauge's, or a histogram's observation count), a histogram's sum, and its
// cumulative bucket counts by upper bound.
type series struct {
	value   float64
	sum     float64
	buckets map[float64]uint64
}

// gather returns the series of g by name and label pairs, such as
// `callback_dispatcher_attempts_total{outcome="delivered",status_class="2xx"}`,
// labels in the order gathered (sorted by name).
func gather(t *testing.T, g prometheus.Gatherer) map[string]series {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]series{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var pairs []string
			for _, l := range m.GetLabel() {
				pairs = append(pairs, l.GetName()+`="`+l.GetValue()+`"`)
			}
			key := f.GetName()
			if len(pairs) > 0 {
				key += "{" + strings.Join(pairs, ",") + "}"
			}
			var s series
			switch {
			case m.GetCounter() != nil:
				s.value = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				s.value = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				h := m.GetHistogram()
				s.value, s.sum = float64(h.GetSampleCount()), h.GetSampleSum()
				s.buckets = map[float64]uint64{}
				for _, b := range h.GetBucket() {
					s.buckets[b.GetUpperBound()] = b.GetCumulativeCount()
				}
			}
			out[key] = s
		}
	}
	return out
}
