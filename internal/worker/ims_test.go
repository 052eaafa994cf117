package worker_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/callback-dispatcher/dispatcher/internal/job"
	"github.com/callback-dispatcher/dispatcher/pkg/producer"
)

// deliverMany queues n callbacks with tokens prefix-0 … prefix-(n-1) and
// waits until each is delivered.
func (b *bundle) deliverMany(prefix string, n int) {
	b.t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = b.enqueue(b.execution("examples-03.json", fmt.Sprintf("%s-%d", prefix, i)),
			success)
	}
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			if st := b.wait(id); st.State != producer.StateDelivered {
				b.t.Errorf("callback %s ended %s (%+v), want delivered", id, st.State,
					st.DeadLetter)
			}
		})
	}
	wg.Wait()
}

func TestRevokedTokenStormFetchesOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.deliverMany("before", 20)
	if got := b.sim.TokenFetches(); got != 1 {
		t.Fatalf("%d token fetches for the first 20 callbacks, want 1", got)
	}

	// Every callback sent from now on with the old token draws a 401.
	b.sim.RevokeTokens()
	b.deliverMany("after", 100)
	if got := b.sim.TokenFetches(); got != 2 {
		t.Errorf("%d token fetches, want 2: one more after the revocation", got)
	}
}

func TestIMSFaultsRetryTheCallback(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		failures     int
		status       int
		body         string
		wantState    string
		wantAttempts int
		wantLog      string
	}{
		{name: "two IMS 503s delay the callback to attempt three", failures: 2, status: 503,
			body: `{"error":"server_error"}`, wantState: producer.StateDelivered, wantAttempts: 3,
			wantLog: `"msg":"IMS token fetch failed"`},
		{name: "IMS down throughout ends in attempts_exhausted", failures: 10, status: 503,
			body: `{"error":"server_error"}`, wantState: producer.StateDeadLettered,
			wantAttempts: 5, wantLog: `"msg":"IMS token fetch failed"`},
		{name: "a refused credential is an error naming the profile, and retried",
			failures: 2, status: 400, body: `{"error":"invalid_client"}`,
			wantState: producer.StateDelivered, wantAttempts: 3,
			wantLog: `"level":"ERROR","msg":"IMS refused the credentials","profile":"test"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.front.FailNext(tt.failures, tt.status, tt.body)
			st := b.wait(b.enqueue(b.execution("examples-03.json", "ims-fault"), success))

			if st.State != tt.wantState || st.Attempts != tt.wantAttempts {
				t.Fatalf("got %s after %d attempts (%+v), want %s after %d", st.State,
					st.Attempts, st.DeadLetter, tt.wantState, tt.wantAttempts)
			}
			if tt.wantState == producer.StateDeadLettered &&
				(st.DeadLetter.Reason != job.ReasonAttemptsExhausted ||
					!strings.Contains(st.DeadLetter.Error, "fetch IMS token")) {
				t.Errorf("dead letter %+v, want attempts_exhausted after IMS faults",
					st.DeadLetter)
			}
			wantSends := 0
			if tt.wantState == producer.StateDelivered {
				wantSends = 1
			}
			if got := len(b.sim.Received("ims-fault")); got != wantSends {
				t.Errorf("simulator received %d callbacks, want %d", got, wantSends)
			}
			if !strings.Contains(b.logs.String(), tt.wantLog) {
				t.Errorf("no log line with %s:\n%s", tt.wantLog, b.logs)
			}
		})
	}
}
