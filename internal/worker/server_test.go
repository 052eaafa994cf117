package worker_test

import (
	"slices"
	"testing"

	"github.com/callback-dispatcher/dispatcher/internal/worker"
)

func TestSplitConcurrencySharesEverySlot(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name                 string
		concurrency, servers int
		want                 []int
	}{
		{name: "one server takes every slot", concurrency: 50, servers: 1, want: []int{50}},
		{name: "an even split", concurrency: 50, servers: 2, want: []int{25, 25}},
		{name: "the remainder goes to the first servers", concurrency: 50, servers: 4,
			want: []int{13, 13, 12, 12}},
		{name: "no more servers than slots", concurrency: 2, servers: 4, want: []int{1, 1}},
		{name: "at least one server", concurrency: 5, servers: 0, want: []int{5}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got := worker.SplitConcurrency(c.concurrency, c.servers)
			if !slices.Equal(got, c.want) {
				t.Errorf("SplitConcurrency(%d, %d) = %v, want %v", c.concurrency, c.servers, got,
					c.want)
			}
		})
	}
}
