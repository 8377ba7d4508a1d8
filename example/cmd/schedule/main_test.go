package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestSchedule runs the example and checks what it prints: the two
// schedules, three fires a second apart, the pause and the removal.
func TestSchedule(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out strings.Builder
	if err := run(ctx, &out, 3); err != nil {
		t.Fatalf("schedule failed: %v\noutput:\n%s", err, out.String())
	}
	for _, want := range []string{
		"2 schedule(s):\n  nightly-report  \"CRON_TZ=Europe/Paris 0 2 * * *\" workflow     missed=run_once no-overlap=false\n" +
			"  squares         \"@every 1s\"                      tasks.Square missed=skip no-overlap=true\n",
		"squares paused: true\n1 schedule(s):\n  nightly-report ",
		"scheduler and worker stopped; bye",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q; output:\n%s", want, out.String())
		}
	}
	// A second apart, unless the machine stalled for a whole tick.
	if n := strings.Count(out.String(), "squares fired: Square(7) = 49"); n != 3 {
		t.Errorf("%d fires printed, want 3; output:\n%s", n, out.String())
	}
	if n := strings.Count(out.String(), "s after the previous tick\n"); n != 2 {
		t.Errorf("%d gaps printed, want 2; output:\n%s", n, out.String())
	}
}
