package worker

import (
	"testing"
	"time"
)

func TestDelaysEndOnAWholeSecond(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 4, 12, 0, 0, 300_000_000, time.UTC)
	tests := []struct{ in, want time.Duration }{
		{2 * time.Second, 2*time.Second + 700*time.Millisecond},
		{700 * time.Millisecond, 700 * time.Millisecond},
		{0, 700 * time.Millisecond},
	}
	for _, tt := range tests {
		got := onSecondBoundary(now, tt.in)
		if got != tt.want || got < tt.in {
			t.Errorf("onSecondBoundary(%s) = %s, want %s", tt.in, got, tt.want)
		}
		if at := now.Add(got); at.Truncate(time.Second) != at {
			t.Errorf("%s does not end on a whole second", at)
		}
	}
}

func TestBackoffStaysWithinItsCeiling(t *testing.T) {
	t.Parallel()
	b := Backoff{Base: time.Second, Cap: 10 * time.Second}
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second,
		4: 8 * time.Second, 5: 10 * time.Second, 30: 10 * time.Second} {
		if got := b.Ceiling(attempt); got != want {
			t.Errorf("Ceiling(%d) = %s, want %s", attempt, got, want)
		}
		for range 100 {
			if d := b.Delay(attempt); d < 0 || d > want {
				t.Fatalf("Delay(%d) = %s outside [0, %s]", attempt, d, want)
			}
		}
	}
}
