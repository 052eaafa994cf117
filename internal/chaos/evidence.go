package chaos

import (
	"bufio"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"time"
)

// ackGrace is how long before a kill a logged outcome still counts as in
// flight: asynq records the outcome in Redis just after the handler logs
// it, so a kill in between loses the record.
const ackGrace = 250 * time.Millisecond

// Kill is one SIGKILLed worker and the callbacks it had in flight: an
// attempt started with no outcome logged, or one logged just before the
// kill.
type Kill struct {
	Worker   string
	At       time.Time
	InFlight map[string]bool
}

// Evidence is what the logs and the timeline tell of each fault, to
// explain each duplicate.
type Evidence struct {
	Kills []Kill
	// AckFailures are, by job id, the times asynq logged that it could not
	// record a run's outcome in Redis.
	AckFailures map[string][]time.Time
	// RedisCrash and PostgresOutage are the windows of those faults; zero
	// when they did not happen.
	RedisCrash, PostgresOutage Window
}

// Window is a span of time a fault lasted.
type Window struct{ From, To time.Time }

// IsZero reports whether the window is unset.
func (w Window) IsZero() bool { return w.From.IsZero() }

// logLine is the part of a worker's JSON log line the run reads.
type logLine struct {
	Time      time.Time `json:"time"`
	Msg       string    `json:"msg"`
	JobID     string    `json:"job_id"`
	Component string    `json:"component"`
	Detail    string    `json:"detail"`
}

// asynqTaskID finds the task id in asynq's own messages about a task it
// could not move between its Redis lists.
var asynqTaskID = regexp.MustCompile(`^Could not (?:move|remove) task id=(\S+)`)

// workerLog is what one worker's log says.
type workerLog struct {
	started  map[string]time.Time
	outcome  map[string]time.Time
	ackFails map[string][]time.Time
}

func readWorkerLog(path string) (workerLog, error) {
	wl := workerLog{started: map[string]time.Time{}, outcome: map[string]time.Time{},
		ackFails: map[string][]time.Time{}}
	f, err := os.Open(path)
	if err != nil {
		return wl, err
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var l logLine
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue
		}
		switch {
		case l.Msg == "callback attempt started":
			wl.started[l.JobID] = l.Time
		case l.Msg == "callback attempt":
			wl.outcome[l.JobID] = l.Time
		case l.Component == "asynq":
			if m := asynqTaskID.FindStringSubmatch(l.Detail); m != nil {
				wl.ackFails[m[1]] = append(wl.ackFails[m[1]], l.Time)
			}
		}
	}
	return wl, sc.Err()
}

// inFlightAt returns the callbacks the worker had in flight when killed.
func (wl workerLog) inFlightAt(killed time.Time) map[string]bool {
	out := map[string]bool{}
	for id, started := range wl.started {
		done, ok := wl.outcome[id]
		if !ok || done.Before(started) || killed.Sub(done) < ackGrace {
			out[id] = true
		}
	}
	return out
}

// gatherEvidence reads every worker's log and the timeline.
func gatherEvidence(workers []*proc, events []Event) (Evidence, error) {
	ev := Evidence{AckFailures: map[string][]time.Time{}}
	for _, w := range workers {
		wl, err := readWorkerLog(w.LogPath)
		if err != nil {
			return ev, err
		}
		for id, times := range wl.ackFails {
			ev.AckFailures[id] = append(ev.AckFailures[id], times...)
		}
		if at := w.KillTime(); !at.IsZero() {
			ev.Kills = append(ev.Kills, Kill{Worker: w.Name, At: at, InFlight: wl.inFlightAt(at)})
		}
	}
	for _, e := range events {
		switch e.Kind {
		case EventRedisCrashed:
			ev.RedisCrash.From = e.At
		case EventRedisRestarted:
			ev.RedisCrash.To = e.At
		case EventPostgresStopped:
			ev.PostgresOutage.From = e.At
		case EventPostgresStarted:
			ev.PostgresOutage.To = e.At
		}
	}
	return ev, nil
}

// lastLine returns the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
