package bench

import (
	"strings"
	"testing"
	"time"
)

func TestPercentileTakesTheNearestRank(t *testing.T) {
	t.Parallel()
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	cases := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{name: "the median of a hundred", sorted: d, p: 50, want: 50 * time.Millisecond},
		{name: "the 99th of a hundred", sorted: d, p: 99, want: 99 * time.Millisecond},
		{name: "the maximum", sorted: d, p: 100, want: 100 * time.Millisecond},
		{name: "the 99th of three is the largest", sorted: d[:3], p: 99,
			want: 3 * time.Millisecond},
		{name: "nothing gives zero", p: 50, want: 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got := percentile(c.sorted, c.p); got != c.want {
				t.Errorf("percentile(%d values, %v) = %s, want %s", len(c.sorted), c.p, got, c.want)
			}
		})
	}
}

func TestMedianOfOddAndEvenCounts(t *testing.T) {
	t.Parallel()
	if got := median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("median of 3,1,2 = %v, want 2", got)
	}
	if got := median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("median of 4,1,3,2 = %v, want 2.5", got)
	}
	if got := median(nil); got != 0 {
		t.Errorf("median of nothing = %v, want 0", got)
	}
}

func TestSpliceBlockKeepsTheHandWrittenParts(t *testing.T) {
	t.Parallel()
	block := beginMarker + "\nnew figures\n" + endMarker
	cases := []struct{ name, doc, want string }{
		{name: "an empty file gets a title and the block", doc: "",
			want: "# Benchmarks\n\n" + block + "\n"},
		{name: "a file without markers gets the block at its end", doc: "# B\n\nprose\n",
			want: "# B\n\nprose\n\n" + block + "\n"},
		{name: "the old block is replaced and the rest kept",
			doc:  "# B\n\nbefore\n" + beginMarker + "\nold figures\n" + endMarker + "\nafter\n",
			want: "# B\n\nbefore\n" + block + "\nafter\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got := string(spliceBlock([]byte(c.doc), block)); got != c.want {
				t.Errorf("spliceBlock:\n%s\nwant:\n%s", got, c.want)
			}
		})
	}
}

func TestRowsJudgeTheTargets(t *testing.T) {
	t.Parallel()
	drain := func(c string, perSecond int) Drain {
		return Drain{Contestant: c, N: perSecond, Window: time.Second}
	}
	rep := &Report{BodySize: 1024, Drains: []Drain{drain(Baseline, 1000),
		drain(EverythingOn, 1100), drain(AttemptLogOff, 1400)}}
	verdicts := map[string]string{}
	for _, row := range rep.Rows() {
		verdicts[row.Figure] = row.Verdict
	}
	if v := verdicts["Deliveries/s, "+EverythingOn]; v != Met {
		t.Errorf("1.1× the baseline with everything on: %q, want %q", v, Met)
	}
	if v := verdicts["Deliveries/s, "+AttemptLogOff]; v != Missed {
		t.Errorf("1.4× the baseline with the attempt log off: %q, want %q", v, Missed)
	}
	for figure := range verdicts {
		if strings.HasPrefix(figure, "Enqueue") {
			t.Errorf("a run without the enqueue phase reports %q", figure)
		}
	}

	enqueue := func(kind string, perSecond int) EnqueueRun {
		return EnqueueRun{Kind: kind, N: perSecond, Took: time.Second}
	}
	rep.Enqueues = []EnqueueRun{enqueue(EnqueueBare, 1000), enqueue(EnqueueClient, 700),
		enqueue(EnqueueAPI, 300), enqueue(EnqueueBatch, 520)}
	verdicts = map[string]string{}
	for _, row := range rep.Rows() {
		verdicts[row.Figure] = row.Verdict
	}
	if v := verdicts["Enqueues/s, "+EnqueueAPI]; v != Missed {
		t.Errorf("0.3× bare enqueue through the API: %q, want %q", v, Missed)
	}
	if v := verdicts["Enqueues/s, "+EnqueueBatch]; v != Met {
		t.Errorf("0.52× bare enqueue through batches: %q, want %q", v, Met)
	}
}
