package delivery_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/callback-dispatcher/dispatcher/internal/adobesim"
	"github.com/callback-dispatcher/dispatcher/internal/delivery"
	"github.com/callback-dispatcher/dispatcher/internal/ims"
	"github.com/callback-dispatcher/dispatcher/internal/job"
	"github.com/callback-dispatcher/dispatcher/internal/urlguard"
)

// benchSetup starts the Adobe simulator, fetches one of its tokens and
// returns a sender, a job with a 1 KiB body and the token.
func benchSetup(b *testing.B, conns int) (*delivery.Sender, *job.Job, string) {
	b.Helper()
	sim, err := adobesim.New(adobesim.Config{KeepBodies: -1})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	b.Cleanup(srv.Close)
	tok, err := ims.NewFetcher(ims.Credentials{ClientID: adobesim.DefaultClientID,
		ClientSecret: adobesim.DefaultClientSecret, TokenURL: srv.URL + "/ims/token/v3"},
		srv.Client()).Fetch(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	guard := urlguard.New(urlguard.Config{AllowedHosts: []string{"127.0.0.1"}, AllowHTTP: true,
		AllowPrivate: true})
	sender := delivery.NewSender(guard, delivery.FixedAPIKey(adobesim.DefaultClientID),
		delivery.Timeouts{}, conns)
	body := `{"objectData":[{"activityData":{"success":true},"leadData":{"id":12345,` +
		`"notes":"` + strings.Repeat("n", 960) + `"}}]}`
	j := &job.Job{CallbackURL: srv.URL + "/callback/bench", Token: "bench", RequestID: "req-1",
		OrgID: "12345ABCDE@AdobeOrg", Body: json.RawMessage(body)}
	return sender, j, tok.AccessToken
}

// BenchmarkSend1KiB is one callback POST after another, to the simulator
// in the same process, answered 200.
func BenchmarkSend1KiB(b *testing.B) {
	sender, j, bearer := benchSetup(b, 1)
	ctx := context.Background()
	b.SetBytes(int64(len(j.Body)))
	b.ReportAllocs()
	for b.Loop() {
		if res := sender.Send(ctx, j, bearer); res.Class != delivery.Delivered {
			b.Fatalf("send: %s %d %v", res.Class, res.Status, res.Err)
		}
	}
}

// BenchmarkSend1KiBParallel is the same with callbacks in flight at once,
// as a worker sends them.
func BenchmarkSend1KiBParallel(b *testing.B) {
	sender, j, bearer := benchSetup(b, 50)
	ctx := context.Background()
	b.SetBytes(int64(len(j.Body)))
	b.ReportAllocs()
	b.SetParallelism(25)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if res := sender.Send(ctx, j, bearer); res.Class != delivery.Delivered {
				b.Errorf("send: %s %d %v", res.Class, res.Status, res.Err)
				return
			}
		}
	})
}
