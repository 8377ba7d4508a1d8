package runtime

import (
	"testing"
	"time"
)

func TestBackoffBounds(t *testing.T) {
	t.Parallel()
	lo, hi := time.Second, 10*time.Second
	for attempt := range 12 {
		ceil := min(lo<<attempt, hi)
		for range 200 {
			d := backoff(lo, hi, attempt)
			if d < lo || d > ceil {
				t.Fatalf("attempt %d: backoff %v outside [%v, %v]", attempt, d, lo, ceil)
			}
		}
	}
	if d := backoff(time.Second, time.Second, 5); d != time.Second {
		t.Fatalf("fixed backoff = %v, want 1s", d)
	}
	// Huge attempts must not overflow.
	if d := backoff(time.Second, time.Hour, 1000); d < time.Second || d > time.Hour {
		t.Fatalf("backoff(1000) = %v", d)
	}
}

func TestBackoffJitters(t *testing.T) {
	t.Parallel()
	seen := make(map[time.Duration]bool)
	for range 50 {
		seen[backoff(time.Millisecond, time.Second, 6)] = true
	}
	if len(seen) < 10 {
		t.Fatalf("only %d distinct delays in 50 draws: no jitter", len(seen))
	}
}
