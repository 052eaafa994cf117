package chaos

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// Failures lists why the run failed: a lost callback, a queue that did not
// drain, a duplicate no fault explains, or a callback that ended otherwise
// than its script says. An empty list is a pass.
func (r *Report) Failures() []string {
	var out []string
	if r.Lost > 0 {
		out = append(out, fmt.Sprintf("%d callback(s) lost", r.Lost))
	}
	if r.Drained.IsZero() {
		out = append(out, fmt.Sprintf("the queue did not drain within %s of the last fault",
			r.Config.DrainTimeout))
	}
	if n := r.DuplicateCauses[CauseUnexplained]; n > 0 {
		out = append(out, fmt.Sprintf("%d duplicate(s) no fault explains", n))
	}
	if len(r.Unexpected) > 0 {
		out = append(out, fmt.Sprintf("%d callback(s) ended otherwise than scripted",
			len(r.Unexpected)))
	}
	return out
}

// Print writes the report for a reader.
func (r *Report) Print(w io.Writer) {
	c := r.Config
	at := func(t time.Time) string { return fmt.Sprintf("t=%.1fs", t.Sub(r.Started).Seconds()) }
	_, _ = fmt.Fprintf(w, "\nRESULT: %d callbacks over %s, %d workers × %d, seed %d\n", c.Callbacks,
		c.Produce, c.Workers, c.Concurrency, c.Seed)
	row := func(name string, n int, note string) {
		_, _ = fmt.Fprintf(w, "  %-28s %6d  %s\n", name, n, note)
	}
	row("accepted by the producer", r.Accepted, fmt.Sprintf(
		"(%d enqueues retried after a 503 or a reset; %d never accepted)", r.EnqueueRetries,
		len(r.NotAccepted)))
	row("delivered", r.Delivered, "(Adobe, the simulator, took it at least once)")
	row("dead-lettered", r.DeadLettered, countList(r.DeadLetterReasons))
	row("lost", r.Lost, "(accepted, never delivered, no dead letter)")
	row("duplicates sent", r.DuplicatesSent, countList(r.DuplicateCauses))
	if r.DuplicatesSent > 0 {
		_, _ = fmt.Fprintf(w, "  %-28s %6s  %d of %d carried the first copy's X-Request-Id; "+
			"each came %.0fs (median), at most %.0fs, after the copy before\n", "", "",
			r.DuplicatesWithSameRequestID, r.DuplicatesSent, r.DuplicateGapMedian.Seconds(),
			r.DuplicateGapMax.Seconds())
	}
	if r.DeliveredAndDeadLettered > 0 {
		row("delivered and dead-lettered", r.DeliveredAndDeadLettered, "")
	}
	row("requests to Adobe", r.Sends, fmt.Sprintf("(%d refused by script: 503 or 400)",
		r.Refused))
	_, _ = fmt.Fprintf(w, "  %-28s %6d  %s\n", "workers SIGKILLed", r.Kills, r.faultLine(at))
	row("workers that exited alone", r.WorkerExits, "(a replacement refused to start)")
	if r.Drained.IsZero() {
		_, _ = fmt.Fprintf(w, "  %-28s %6s  not drained within %s of the last fault (%s)\n",
			"drain after the last fault", "-", c.DrainTimeout, at(r.LastFault))
	} else {
		_, _ = fmt.Fprintf(w, "  %-28s %5.1fs  (last fault at %s)\n", "drain after the last fault",
			r.DrainAfterFault.Seconds(), at(r.LastFault))
	}
	r.printDetails(w)
}

// faultLine describes the Redis crash and the PostgreSQL outage.
func (r *Report) faultLine(at func(time.Time) string) string {
	var parts []string
	var crash, outage Window
	for _, e := range r.Events {
		switch e.Kind {
		case EventRedisCrashed:
			crash.From = e.At
		case EventRedisRestarted:
			crash.To = e.At
		case EventPostgresStopped:
			outage.From = e.At
		case EventPostgresStarted:
			outage.To = e.At
		}
	}
	if !crash.IsZero() {
		parts = append(parts, fmt.Sprintf("Redis crashed at %s, back after %.1fs",
			at(crash.From), crash.To.Sub(crash.From).Seconds()))
	}
	if !outage.IsZero() {
		parts = append(parts, fmt.Sprintf("PostgreSQL down %s to %s", at(outage.From),
			at(outage.To)))
	}
	return "(" + strings.Join(parts, "; ") + ")"
}

func (r *Report) printDetails(w io.Writer) {
	list := func(title string, items []string) {
		if len(items) == 0 {
			return
		}
		_, _ = fmt.Fprintf(w, "\n%s (%d):\n", title, len(items))
		for i, it := range items {
			if i == 20 {
				_, _ = fmt.Fprintf(w, "  … and %d more\n", len(items)-20)
				break
			}
			_, _ = fmt.Fprintf(w, "  %s\n", it)
		}
	}
	list("LOST", r.LostIDs)
	list("NEVER ACCEPTED BY THE PRODUCER", r.NotAccepted)
	list("ENDED OTHERWISE THAN SCRIPTED", r.Unexpected)
	var unexplained []string
	for _, d := range r.Duplicates {
		if slices.Contains(d.Causes, CauseUnexplained) {
			unexplained = append(unexplained, fmt.Sprintf("%s taken %d times", d.ID, d.Copies))
		}
	}
	list("UNEXPLAINED DUPLICATES", unexplained)
	if f := r.Failures(); len(f) > 0 {
		_, _ = fmt.Fprintf(w, "\nFAIL: %s\n", strings.Join(f, "; "))
		return
	}
	_, _ = fmt.Fprintln(w, "\nPASS: nothing lost; every duplicate explained by a fault")
}

// countList writes counts as "a 3, b 1", the largest first.
func countList(m map[string]int) string {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	if len(parts) == 0 {
		return ""
	}
	return "(" + strings.Join(parts, ", ") + ")"
}
