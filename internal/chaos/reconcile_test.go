package chaos

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/callback-dispatcher/dispatcher/internal/adobesim"
	"github.com/callback-dispatcher/dispatcher/internal/job"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

func submitted(token, class string) Submission {
	id := job.IDFromToken(token)
	return Submission{Token: token, ID: id, RequestID: id, Class: class}
}

func took(token string, s float64) adobesim.Record {
	return adobesim.Record{Token: token, RequestID: job.IDFromToken(token), Accepted: true,
		Status: 200, At: at(s)}
}

func refused(token string, status int, s float64) adobesim.Record {
	return adobesim.Record{Token: token, RequestID: job.IDFromToken(token), Status: status,
		At: at(s)}
}

func TestReconcileCountsEachEnd(t *testing.T) {
	t.Parallel()
	src := Sources{
		Accepted: []Submission{submitted("a", "ok"), submitted("b", "503x1"),
			submitted("c", "400"), submitted("d", "ok")},
		Received: []adobesim.Record{took("a", 1), refused("b", 503, 1), took("b", 2),
			refused("c", 400, 1)},
		DeadLetters: map[string]string{job.IDFromToken("c"): job.ReasonRejected},
	}
	r := Reconcile(src, Evidence{})
	if r.Accepted != 4 || r.Delivered != 2 || r.DeadLettered != 1 || r.Lost != 1 {
		t.Fatalf("accepted %d, delivered %d, dead-lettered %d, lost %d; want 4, 2, 1, 1",
			r.Accepted, r.Delivered, r.DeadLettered, r.Lost)
	}
	if len(r.LostIDs) != 1 || r.LostIDs[0] != job.IDFromToken("d") {
		t.Errorf("lost %v, want d's id", r.LostIDs)
	}
	if r.Sends != 4 || r.Refused != 2 || r.DeadLetterReasons[job.ReasonRejected] != 1 {
		t.Errorf("sends %d, refused %d, reasons %v", r.Sends, r.Refused, r.DeadLetterReasons)
	}
	if len(r.Failures()) == 0 {
		t.Error("a run with a lost callback passes")
	}
}

func TestReconcileFlagsAnEndTheScriptDoesNotGive(t *testing.T) {
	t.Parallel()
	src := Sources{
		Accepted: []Submission{submitted("ok-dead", "ok"), submitted("400-taken", "400")},
		Received: []adobesim.Record{took("400-taken", 1)},
		DeadLetters: map[string]string{
			job.IDFromToken("ok-dead"): job.ReasonAttemptsExhausted},
	}
	if r := Reconcile(src, Evidence{}); len(r.Unexpected) != 2 {
		t.Errorf("unexpected ends %v, want both callbacks", r.Unexpected)
	}
}

func TestReconcileExplainsDuplicates(t *testing.T) {
	t.Parallel()
	id := job.IDFromToken("dup")
	kill := func(s float64, inFlight ...string) Kill {
		k := Kill{Worker: "worker-1", At: at(s), InFlight: map[string]bool{}}
		for _, id := range inFlight {
			k.InFlight[id] = true
		}
		return k
	}
	cases := []struct {
		name string
		ev   Evidence
		want string
	}{
		{"a kill with the callback in flight explains it",
			Evidence{Kills: []Kill{kill(10.1, id)}}, CauseKill},
		{"a kill of a worker that did not hold the callback does not",
			Evidence{Kills: []Kill{kill(10.1, "other")}}, CauseUnexplained},
		{"a kill after the second copy does not",
			Evidence{Kills: []Kill{kill(80, id)}}, CauseUnexplained},
		{"an outcome asynq could not record explains it",
			Evidence{AckFailures: map[string][]time.Time{id: {at(10.2)}}}, CauseAckLost},
		{"a Redis crash after the first copy explains it",
			Evidence{RedisCrash: Window{From: at(10.5), To: at(12)}}, CauseRedisCrash},
		{"a Redis crash before the first copy does not",
			Evidence{RedisCrash: Window{From: at(5), To: at(7)}}, CauseUnexplained},
		{"a PostgreSQL outage alone does not",
			Evidence{PostgresOutage: Window{From: at(9), To: at(20)}}, CauseUnexplained},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			src := Sources{Accepted: []Submission{submitted("dup", "ok")},
				Received: []adobesim.Record{took("dup", 10), took("dup", 75)}}
			r := Reconcile(src, c.ev)
			if r.DuplicatesSent != 1 || r.DuplicateCauses[c.want] != 1 {
				t.Errorf("duplicates %d by cause %v, want 1 by %q", r.DuplicatesSent,
					r.DuplicateCauses, c.want)
			}
			if r.DuplicatesWithSameRequestID != 1 {
				t.Error("the copies' X-Request-Id did not match")
			}
		})
	}
}

func TestReconcileUsesAKillOncePerCopy(t *testing.T) {
	t.Parallel()
	id := job.IDFromToken("thrice")
	src := Sources{Accepted: []Submission{submitted("thrice", "ok")},
		Received: []adobesim.Record{took("thrice", 10), took("thrice", 75), took("thrice", 140)}}
	ev := Evidence{Kills: []Kill{{Worker: "worker-1", At: at(10.1),
		InFlight: map[string]bool{id: true}}}}
	r := Reconcile(src, ev)
	if r.DuplicatesSent != 2 || r.DuplicateCauses[CauseKill] != 1 ||
		r.DuplicateCauses[CauseUnexplained] != 1 {
		t.Errorf("causes %v, want one kill and one unexplained", r.DuplicateCauses)
	}
}

func TestWorkerLogGivesTheCallbacksInFlightAtAKill(t *testing.T) {
	t.Parallel()
	lines := []string{
		`{"time":"2026-12-01T12:00:01Z","msg":"callback attempt started","job_id":"cb_done"}`,
		`{"time":"2026-12-01T12:00:02Z","msg":"callback attempt","job_id":"cb_done"}`,
		`{"time":"2026-12-01T12:00:09Z","msg":"callback attempt started","job_id":"cb_open"}`,
		`{"time":"2026-12-01T12:00:09Z","msg":"callback attempt started","job_id":"cb_late"}`,
		`{"time":"2026-12-01T12:00:09.9Z","msg":"callback attempt","job_id":"cb_late"}`,
		`{"time":"2026-12-01T12:00:09Z","msg":"asynq","detail":"Could not move task ` +
			`id=cb_ack from \"asynq:{q}:active\" to \"asynq:{q}:completed\": dial tcp: ` +
			`refused; Will retry syncing","component":"asynq"}`,
		`not json`,
	}
	path := filepath.Join(t.TempDir(), "worker.log")
	data := ""
	for _, l := range lines {
		data += l + "\n"
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	wl, err := readWorkerLog(path)
	if err != nil {
		t.Fatal(err)
	}
	got := wl.inFlightAt(at(10))
	if !got["cb_open"] || !got["cb_late"] || got["cb_done"] || len(got) != 2 {
		t.Errorf("in flight %v, want cb_open and cb_late (outcome 100 ms before the kill)", got)
	}
	if len(wl.ackFails["cb_ack"]) != 1 {
		t.Errorf("ack failures %v, want one for cb_ack", wl.ackFails)
	}
}
