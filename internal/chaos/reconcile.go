package chaos

import (
	"slices"
	"time"

	"github.com/callback-dispatcher/dispatcher/internal/adobesim"
	"github.com/callback-dispatcher/dispatcher/internal/job"
)

// Causes of a duplicate.
const (
	// CauseKill: the worker was SIGKILLed with the callback in flight, after
	// Adobe took it and before asynq recorded the outcome; asynq gave the
	// task to another worker once its lease expired.
	CauseKill = "worker killed during the send"
	// CauseAckLost: the worker sent the callback but could not record the
	// outcome in Redis, which was down; the lease expired and the task ran
	// again.
	CauseAckLost = "outcome not recorded: Redis down"
	// CauseRedisCrash: the Redis crash lost the record of the outcome, which
	// the worker had written without an error.
	CauseRedisCrash = "Redis crash"
	// CauseUnexplained: no fault accounts for the duplicate.
	CauseUnexplained = "unexplained"
)

// Sources are the three records a run reconciles: what the producer
// accepted, what Adobe (the simulator) took, and the dead-letter store.
type Sources struct {
	Accepted []Submission
	Received []adobesim.Record
	// DeadLetters are the stored dead letters' reasons by job id.
	DeadLetters map[string]string
}

// Duplicate is one callback Adobe took more than once.
type Duplicate struct {
	ID    string
	Token string
	// Copies is how many times Adobe took it.
	Copies int
	// Causes explain each copy after the first, and Gaps say how long
	// after the copy before it each came.
	Causes []string
	Gaps   []time.Duration
	// SameRequestID is true when every copy carried the X-Request-Id of
	// the first.
	SameRequestID bool
}

// Report is the outcome of a run.
type Report struct {
	Accepted     int
	Delivered    int
	DeadLettered int
	// DeliveredAndDeadLettered counts callbacks Adobe took that also have
	// a dead letter.
	DeliveredAndDeadLettered int
	Lost                     int
	LostIDs                  []string
	// DeadLetterReasons counts the dead letters of accepted callbacks.
	DeadLetterReasons map[string]int
	// Unexpected lists callbacks whose end is not their class's: a
	// callback scripted to succeed that was dead-lettered, or the reverse.
	Unexpected []string

	// DuplicatesSent counts the copies Adobe took beyond the first.
	DuplicatesSent int
	// DuplicateCauses counts those copies by cause.
	DuplicateCauses map[string]int
	// DuplicatesWithSameRequestID counts the copies that carried their
	// first copy's X-Request-Id, by which a receiver can drop them.
	DuplicatesWithSameRequestID int
	// DuplicateGapMedian and DuplicateGapMax say how long after the copy
	// before it a duplicate came: how long a receiver must remember.
	DuplicateGapMedian, DuplicateGapMax time.Duration
	Duplicates                          []Duplicate

	// Sends counts the callback requests Adobe received; Refused those it
	// did not take (503, 400).
	Sends, Refused int
	// NotAccepted lists callbacks the producer never accepted.
	NotAccepted []string
	// EnqueueRetries counts enqueues that needed more than one request.
	EnqueueRetries int

	// Faults summarizes the timeline; Events is all of it.
	Kills           int
	WorkerExits     int
	Events          []Event
	LastFault       time.Time
	Drained         time.Time
	DrainAfterFault time.Duration
	Started         time.Time
	Took            time.Duration
	Config          Config
}

// Reconcile compares the three sources and explains each duplicate with
// the evidence.
func Reconcile(src Sources, ev Evidence) Report {
	r := Report{DeadLetterReasons: map[string]int{}, DuplicateCauses: map[string]int{}}
	taken := map[string][]adobesim.Record{}
	for _, rec := range src.Received {
		r.Sends++
		if !rec.Accepted {
			r.Refused++
			continue
		}
		taken[rec.Token] = append(taken[rec.Token], rec)
	}

	for _, sub := range src.Accepted {
		r.Accepted++
		delivered := len(taken[sub.Token]) > 0
		reason, dead := src.DeadLetters[sub.ID]
		switch {
		case delivered && dead:
			r.Delivered++
			r.DeliveredAndDeadLettered++
		case delivered:
			r.Delivered++
		case dead:
			r.DeadLettered++
			r.DeadLetterReasons[reason]++
		default:
			r.Lost++
			r.LostIDs = append(r.LostIDs, sub.ID)
		}
		if c, ok := classOf(sub.Class); ok && (delivered || dead) && c.deadLetter == delivered {
			r.Unexpected = append(r.Unexpected, sub.ID+" ("+sub.Class+")")
		}
	}

	tokens := make([]string, 0, len(taken))
	for token, recs := range taken {
		if len(recs) > 1 {
			tokens = append(tokens, token)
		}
	}
	slices.Sort(tokens)
	ex := newExplainer(ev)
	var gaps []time.Duration
	for _, token := range tokens {
		d := ex.explain(token, taken[token])
		r.Duplicates = append(r.Duplicates, d)
		r.DuplicatesSent += d.Copies - 1
		for _, c := range d.Causes {
			r.DuplicateCauses[c]++
		}
		if d.SameRequestID {
			r.DuplicatesWithSameRequestID += d.Copies - 1
		}
		gaps = append(gaps, d.Gaps...)
	}
	if len(gaps) > 0 {
		slices.Sort(gaps)
		r.DuplicateGapMedian, r.DuplicateGapMax = gaps[len(gaps)/2], gaps[len(gaps)-1]
	}
	return r
}

// explainer hands out each piece of evidence to at most one copy.
type explainer struct {
	ev   Evidence
	used map[int]map[string]bool
}

func newExplainer(ev Evidence) *explainer {
	return &explainer{ev: ev, used: map[int]map[string]bool{}}
}

// explain finds a cause for each copy after the first: a fault between the
// copy before it and this one.
func (e *explainer) explain(token string, recs []adobesim.Record) Duplicate {
	id := job.IDFromToken(token)
	d := Duplicate{ID: id, Token: token, Copies: len(recs), SameRequestID: true}
	for i := 1; i < len(recs); i++ {
		prev, cur := recs[i-1].At, recs[i].At
		d.Causes = append(d.Causes, e.cause(id, prev, cur))
		d.Gaps = append(d.Gaps, cur.Sub(prev))
		if recs[i].RequestID != recs[0].RequestID {
			d.SameRequestID = false
		}
	}
	return d
}

func (e *explainer) cause(id string, prev, cur time.Time) string {
	// A kill counts from a little before Adobe logged the earlier copy:
	// the worker logs the start of an attempt before it sends.
	from := prev.Add(-time.Second)
	for i, k := range e.ev.Kills {
		if k.InFlight[id] && !k.At.Before(from) && k.At.Before(cur) && !e.used[i][id] {
			if e.used[i] == nil {
				e.used[i] = map[string]bool{}
			}
			e.used[i][id] = true
			return CauseKill
		}
	}
	for _, at := range e.ev.AckFailures[id] {
		if !at.Before(prev) && at.Before(cur) {
			return CauseAckLost
		}
	}
	// Lost writes are writes made before the crash: the outcome, recorded
	// after Adobe took the earlier copy.
	if rc := e.ev.RedisCrash; !rc.IsZero() && !rc.From.Before(prev) && rc.From.Before(cur) {
		return CauseRedisCrash
	}
	return CauseUnexplained
}
