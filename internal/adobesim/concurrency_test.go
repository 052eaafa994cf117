package adobesim_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/callback-dispatcher/dispatcher/internal/adobesim"
)

func TestManyParallelCallbacks(t *testing.T) {
	t.Parallel()
	const (
		workers   = 32
		perWorker = 40
		tokens    = 16
	)
	h := newHarness(t, adobesim.Config{
		KeepBodies: 100,
		Rules:      []adobesim.Rule{{Match: "tok-fail-*", Script: "503,429:1"}},
	})
	h.srv.Client().Transport.(*http.Transport).MaxIdleConnsPerHost = workers

	var wg sync.WaitGroup
	var accepted, refused atomic.Int64
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				token := fmt.Sprintf("tok-ok-%d", (w*perWorker+i)%tokens)
				if i%4 == 0 {
					token = fmt.Sprintf("tok-fail-%d", (w*perWorker+i)%tokens)
				}
				status, err := h.post(token)
				if err != nil {
					t.Errorf("callback: %v", err)
					return
				}
				if status == http.StatusOK {
					accepted.Add(1)
				} else {
					refused.Add(1)
				}
			}
		})
	}
	// Readers and a rule writer run alongside, for the race detector.
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readers.Go(func() {
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			_ = h.sim.Stats()
			_ = h.sim.Received("tok-ok-" + strconv.Itoa(n%tokens))
			_ = h.sim.Received("")
			if err := h.sim.SetRule(adobesim.Rule{Match: "tok-unused", Script: "500"}); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	close(stop)
	readers.Wait()

	total := workers * perWorker
	st := h.sim.Stats()
	if st.Received != total || st.Accepted != int(accepted.Load()) ||
		st.Rejected != int(refused.Load()) || st.Accepted+st.Rejected != total {
		t.Errorf("stats = %+v, want %d received, %d accepted, %d rejected",
			st, total, accepted.Load(), refused.Load())
	}
	// Each failing token answers 503 then 429 once, whatever the order.
	failTokens := 0
	for n := range tokens {
		recs := h.sim.Received(fmt.Sprintf("tok-fail-%d", n))
		if len(recs) == 0 {
			continue
		}
		failTokens++
		for i, rec := range recs {
			if rec.Attempt != i+1 {
				t.Errorf("tok-fail-%d record %d has attempt %d", n, i, rec.Attempt)
			}
		}
		var statuses []int
		for _, rec := range recs[:min(2, len(recs))] {
			statuses = append(statuses, rec.Status)
		}
		if want := []int{503, 429}[:len(statuses)]; !slices.Equal(statuses, want) {
			t.Errorf("tok-fail-%d answered %v first, want %v", n, statuses, want)
		}
	}
	if want := int(refused.Load()); st.Rejected != want || want > 2*failTokens {
		t.Errorf("%d refused over %d failing tokens, want at most 2 each", want, failTokens)
	}
	all := h.sim.Received("")
	withBody := 0
	for _, rec := range all {
		if rec.Body != nil {
			withBody++
		}
	}
	if len(all) != total || withBody != 100 {
		t.Errorf("%d records, %d with a body; want %d and 100", len(all), withBody, total)
	}
}

func TestResetWhileCallbacksArrive(t *testing.T) {
	t.Parallel()
	h := newHarness(t, adobesim.Config{Rules: []adobesim.Rule{{Match: "tok-0-*", Script: "503"}}})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 30 {
				if _, err := h.post(fmt.Sprintf("tok-%d-%d", w, i%3)); err != nil {
					t.Errorf("callback: %v", err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			h.sim.Reset()
			h.sim.RevokeTokens()
			_ = h.sim.Rules()
		}
	})
	wg.Wait()

	st := h.sim.Stats()
	if st.Received != len(h.sim.Received("")) || st.Accepted+st.Rejected != st.Received {
		t.Errorf("stats %+v do not add up with %d records", st, len(h.sim.Received("")))
	}
}

func BenchmarkCallback(b *testing.B) {
	sim, err := adobesim.New(adobesim.Config{})
	if err != nil {
		b.Fatal(err)
	}
	handler := sim.Handler()
	form := strings.NewReader(tokenForm().Encode())
	tokenReq := httptest.NewRequestWithContext(b.Context(), http.MethodPost, "/ims/token/v3",
		form)
	tokenReq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, tokenReq)
	bearer := "Bearer " + strings.Split(rec.Body.String(), `"`)[3]

	var worker atomic.Int64
	b.ReportAllocs()
	b.SetBytes(int64(len(validBody)))
	ctx := b.Context()
	b.RunParallel(func(pb *testing.PB) {
		token := "tok-bench-" + strconv.FormatInt(worker.Add(1), 10)
		for pb.Next() {
			// http.NewRequestWithContext is cheaper than httptest's, which
			// parses the request as a server would, so the simulator dominates.
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, "/callback/v1",
				strings.NewReader(validBody))
			if err != nil {
				b.Error(err)
				return
			}
			req.Header.Set("Authorization", bearer)
			req.Header.Set("X-Callback-Token", token)
			req.Header.Set("X-Request-Id", "req-bench")
			req.Header.Set("x-gw-ims-org-id", testOrg)
			req.Header.Set("X-Api-Key", adobesim.DefaultClientID)
			req.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			handler.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Errorf("status = %d %s", w.Code, w.Body)
				return
			}
		}
	})
}
