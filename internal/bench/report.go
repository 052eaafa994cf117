package bench

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Report holds every measurement of a run.
type Report struct {
	Config   Config
	Meta     Meta
	Started  time.Time
	Took     time.Duration
	BodySize int
	Enqueues []EnqueueRun
	Drains   []Drain
	Light    Light
	Soak     *Soak
	// Load is the machine's load average (1, 5 and 15 minutes) before the
	// run and at its end: other programs' CPU use shows in it.
	Load [2]string
}

// Meta says where and how a run was made.
type Meta struct {
	Command   string
	Commit    string
	GoVersion string
	Machine   string
	Redis     string
	Postgres  string
}

// Row is one figure of the report with its target.
type Row struct {
	Figure string
	Value  string
	Target string
	// Verdict is met, MISSED, or empty when there is no target.
	Verdict string
}

// Verdicts.
const (
	Met    = "met"
	Missed = "MISSED"
)

func verdict(ok bool) string {
	if ok {
		return Met
	}
	return Missed
}

// medianRate is the median deliveries per second of a contestant's drains.
func (r *Report) medianRate(contestant string) float64 {
	var rates []float64
	for _, d := range r.Drains {
		if d.Contestant == contestant {
			rates = append(rates, d.Rate())
		}
	}
	return median(rates)
}

// medianCPU is the median of a CPU figure of a contestant's drains.
func (r *Report) medianCPU(contestant string, of func(Drain) time.Duration) float64 {
	var v []float64
	for _, d := range r.Drains {
		if d.Contestant == contestant {
			v = append(v, micros(of(d)))
		}
	}
	return median(v)
}

// medianEnqueue is the median rate and Redis bytes of a kind of enqueue.
func (r *Report) medianEnqueue(kind string) (rate, bytes float64) {
	var rates, sizes []float64
	for _, e := range r.Enqueues {
		if e.Kind == kind {
			rates, sizes = append(rates, e.Rate()), append(sizes, e.RedisBytes)
		}
	}
	return median(rates), median(sizes)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// Rows are the figures against the targets of the benchmark issue.
// Phases that did not run give no rows.
func (r *Report) Rows() []Row {
	var rows []Row
	if len(r.Drains) > 0 {
		rows = append(rows, r.throughputRows()...)
	}
	if len(r.Enqueues) > 0 {
		rows = append(rows, r.enqueueRows()...)
	}
	if r.Light.Span > 0 {
		rows = append(rows, r.lightRows()...)
	}
	rows = append(rows, r.memoryRows()...)
	if len(r.Drains) > 0 {
		rows = append(rows, r.cpuRows()...)
	}
	return rows
}

func (r *Report) throughputRows() []Row {
	base := r.medianRate(Baseline)
	on, off := r.medianRate(EverythingOn), r.medianRate(AttemptLogOff)
	ratio := func(v float64) float64 { return v / base }
	return []Row{
		{Figure: "Deliveries/s, " + Baseline, Value: fmt.Sprintf("%.0f", base)},
		{Figure: "Deliveries/s, " + EverythingOn,
			Value:  fmt.Sprintf("%.0f = %.2f× baseline", on, ratio(on)),
			Target: "≥ 1.0×", Verdict: verdict(ratio(on) >= 1.0)},
		{Figure: "Deliveries/s, " + AttemptLogOff,
			Value:  fmt.Sprintf("%.0f = %.2f× baseline", off, ratio(off)),
			Target: "≥ 1.5×", Verdict: verdict(ratio(off) >= 1.5)},
	}
}

func (r *Report) enqueueRows() []Row {
	bare, _ := r.medianEnqueue(EnqueueBare)
	client, _ := r.medianEnqueue(EnqueueClient)
	api, _ := r.medianEnqueue(EnqueueAPI)
	batch, _ := r.medianEnqueue(EnqueueBatch)
	return []Row{
		{Figure: "Enqueues/s, " + EnqueueBare, Value: fmt.Sprintf("%.0f", bare)},
		{Figure: "Enqueues/s, " + EnqueueClient,
			Value: fmt.Sprintf("%.0f = %.2f× bare", client, client/bare)},
		{Figure: "Enqueues/s, " + EnqueueAPI,
			Value:  fmt.Sprintf("%.0f = %.2f× bare", api, api/bare),
			Target: "≥ 0.5×", Verdict: verdict(api/bare >= 0.5)},
		{Figure: "Enqueues/s, " + EnqueueBatch,
			Value:  fmt.Sprintf("%.0f = %.2f× bare", batch, batch/bare),
			Target: "≥ 0.5×", Verdict: verdict(batch/bare >= 0.5)},
	}
}

func (r *Report) lightRows() []Row {
	l := r.Light
	p50, p99 := percentile(l.Latencies, 50), percentile(l.Latencies, 99)
	load := fmt.Sprintf(" at %d/s", l.Rate)
	periods := l.RefreshPeriods()
	return []Row{
		{Figure: "Enqueue→delivered p50" + load, Value: ms(p50), Target: "≤ 50 ms",
			Verdict: verdict(len(l.Latencies) > 0 && p50 <= 50*time.Millisecond)},
		{Figure: "Enqueue→delivered p99" + load, Value: ms(p99), Target: "≤ 150 ms",
			Verdict: verdict(len(l.Latencies) > 0 && p99 <= 150*time.Millisecond)},
		{Figure: "Retry sent after its scheduled time, p50 / p99 / max",
			Value: fmt.Sprintf("%s / %s / %s (%d retries)", ms(percentile(l.Lateness, 50)),
				ms(percentile(l.Lateness, 99)), ms(percentile(l.Lateness, 100)),
				len(l.Lateness))},
		{Figure: "IMS fetches per token lifetime",
			Value: fmt.Sprintf("%.2f (%d fetches in %s; %s tokens refreshed %s early: %d needed)",
				float64(l.Fetches)/float64(periods), l.Fetches, l.Span.Round(time.Second),
				l.Lifetime, l.Margin, periods),
			Target: "1", Verdict: verdict(l.Fetches >= 1 && l.Fetches <= periods)},
	}
}

func (r *Report) memoryRows() []Row {
	var rows []Row
	if len(r.Enqueues) > 0 {
		_, bare := r.medianEnqueue(EnqueueBare)
		_, client := r.medianEnqueue(EnqueueClient)
		rows = append(rows, Row{Figure: fmt.Sprintf("Redis bytes per queued callback "+
			"(%d-byte body)", r.BodySize), Value: fmt.Sprintf("%.0f (bare asynq task: %.0f)",
			client, bare), Target: "≤ 2048", Verdict: verdict(client > 0 && client <= 2048)})
	}
	s := r.Soak
	if s == nil || len(s.Samples) == 0 {
		return append(rows, Row{Figure: "Worker RSS before and after many callbacks",
			Value: "not measured in this run (-soak 0)", Target: "flat"})
	}
	first, last := s.Samples[0], s.Samples[len(s.Samples)-1]
	growth := float64(last.RSS-first.RSS) / float64(first.RSS)
	most := slices.MaxFunc(s.Samples, func(a, b RSSSample) int {
		return cmp.Compare(a.RSS, b.RSS)
	})
	return append(rows, Row{
		Figure: fmt.Sprintf("Worker RSS idle / after %d / at most / after %d callbacks",
			first.Delivered, last.Delivered),
		Value: fmt.Sprintf("%.1f / %.1f / %.1f / %.1f MiB (%+.0f%% after warm-up)",
			mib(s.Idle), mib(first.RSS), mib(most.RSS), mib(last.RSS), 100*growth),
		Target: "flat (≤ +10% after warm-up)", Verdict: verdict(growth <= 0.10)})
}

func (r *Report) cpuRows() []Row {
	var rows []Row
	for _, c := range Contestants {
		rows = append(rows, Row{Figure: "CPU µs per callback, " + c,
			Value: fmt.Sprintf("worker %.0f, simulator %.0f, Redis %.0f, PostgreSQL %.0f",
				r.medianCPU(c, func(d Drain) time.Duration { return d.WorkerCPU }),
				r.medianCPU(c, func(d Drain) time.Duration { return d.SimCPU }),
				r.medianCPU(c, func(d Drain) time.Duration { return d.RedisCPU }),
				r.medianCPU(c, func(d Drain) time.Duration { return d.PostgresCPU }))})
	}
	return rows
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

// WriteTable prints the figures as a plain table.
func (r *Report) WriteTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "FIGURE\tVALUE\tTARGET\tVERDICT")
	for _, row := range r.Rows() {
		_, _ = fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", row.Figure, row.Value, dash(row.Target),
			dash(row.Verdict))
	}
	_ = tw.Flush()
}

func dash(s string) string { return cmp.Or(s, "–") }

// Markdown is the generated part of docs/benchmarks.md: how the run was
// made, the figures, and each round's raw numbers.
func (r *Report) Markdown() string {
	var b strings.Builder
	c := r.Config
	fmt.Fprintf(&b, "Measured on %s by `%s`, %s, commit %s, %s; Redis %s, %s.\n\n",
		r.Meta.Machine, r.Meta.Command, r.Meta.GoVersion, r.Meta.Commit,
		r.Started.UTC().Format("2006-01-02 15:04 MST"), r.Meta.Redis, r.Meta.Postgres)
	fmt.Fprintf(&b, "Each worker sends %d callbacks at once; each throughput run drains a "+
		"queue of %d callbacks (rate and CPU counted between 5%% and 95%% of it), %d rounds "+
		"in rotating order, medians shown; each enqueue figure is %d enqueues from %d "+
		"goroutines. The whole run took %s.\n\n", c.Concurrency, c.Deliveries, c.Rounds,
		c.Enqueues, c.EnqueueWorkers, r.Took.Round(time.Second))
	fmt.Fprintf(&b, "Load average (1, 5, 15 min) before the run: %s; at its end: %s. "+
		"The run's own programs account for about 2; more means other programs shared the "+
		"cores.\n\n", r.Load[0], r.Load[1])
	b.WriteString("| Figure | Value | Target | Verdict |\n|---|---|---|---|\n")
	for _, row := range r.Rows() {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", row.Figure, row.Value, dash(row.Target),
			dash(row.Verdict))
	}
	b.WriteString("\nEach round:\n\n| Run | Rate | Worker CPU µs/callback | Worker RSS |\n" +
		"|---|---|---|---|\n")
	for _, d := range r.Drains {
		fmt.Fprintf(&b, "| %s | %.0f deliveries/s | %.0f | %.1f MiB |\n", d.Contestant,
			d.Rate(), micros(d.WorkerCPU), mib(d.RSS))
	}
	for _, e := range r.Enqueues {
		fmt.Fprintf(&b, "| %s | %.0f enqueues/s | – | – |\n", e.Kind, e.Rate())
	}
	if s := r.Soak; s != nil {
		fmt.Fprintf(&b, "\nSoak: %d callbacks fed through the Go client and sent by one "+
			"worker in %s (%.0f/s end to end), %.0f µs of worker CPU per callback. Worker "+
			"RSS: idle %.1f MiB", s.N, s.Took.Round(time.Second), s.Rate(), micros(s.WorkerCPU),
			mib(s.Idle))
		for _, sm := range s.Samples {
			fmt.Fprintf(&b, ", %d: %.1f MiB", sm.Delivered, mib(sm.RSS))
		}
		b.WriteString(".\n")
	}
	if r.Light.Span > 0 && !r.Light.MetricsServed {
		b.WriteString("\nThe worker served no `/metrics` in this run: only the IMS token " +
			"cache's metrics exist, registered when a registry is given.\n")
	}
	return b.String()
}

// Markers delimit the generated part of docs/benchmarks.md; the rest of the
// file is written by hand and kept.
const (
	beginMarker = "<!-- make bench: generated from here -->"
	endMarker   = "<!-- make bench: generated up to here -->"
)

// WriteDoc puts the report between the markers of the file at path,
// creating the file when it does not exist.
func (r *Report) WriteDoc(path string) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	block := beginMarker + "\n" + r.Markdown() + endMarker
	return os.WriteFile(path, spliceBlock(old, block), 0o644)
}

// spliceBlock replaces the generated block of doc with block, or appends
// block when doc has none.
func spliceBlock(doc []byte, block string) []byte {
	begin := bytes.Index(doc, []byte(beginMarker))
	end := bytes.Index(doc, []byte(endMarker))
	if begin < 0 || end < begin {
		if len(doc) == 0 {
			doc = []byte("# Benchmarks\n")
		}
		return append(append(bytes.TrimRight(doc, "\n"), "\n\n"...), block+"\n"...)
	}
	out := append([]byte{}, doc[:begin]...)
	out = append(out, block...)
	return append(out, doc[end+len(endMarker):]...)
}
