package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRouting runs the example on mem:// and checks where each task ran
// and with which request.
func TestRouting(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out strings.Builder
	if err := run(ctx, &out); err != nil {
		t.Fatalf("routing example failed: %v\noutput:\n%s", err, out.String())
	}
	// Columns are padded; compare with single spaces.
	got := regexp.MustCompile(` +`).ReplaceAllString(out.String(), " ")
	for _, want := range []string{
		`a misspelt policy is refused: taskgen: routing: priority policy "frontend" → "core_computation" override: queue "core_computation_high" is not declared`,
		"Compute forecast queue=core_computation_high_priority route=policy:frontend source=frontend tenant=acme user=u42\n Notify queue=notifications route=policy:frontend source=frontend tenant=acme user=u42",
		"Compute forecast queue=core_computation route=task source=cron tenant=acme user=\n Notify queue=notifications route=task source=cron",
		"Compute rerun queue=default route=call source=frontend tenant=acme user=u42\n Notify queue=notifications route=policy:frontend source=frontend",
		"reports.Daily queue=bulk route=rule:reports.* source=cron",
		"Resize 8000 queue=bulk route=router no request",
		"Resize 640 queue=images route=task no request",
		"Resize 128 queue=images route=task source=frontend tenant=acme user=u42\n reports.Daily queue=bulk route=rule:reports.* source=frontend tenant=acme user=u42",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q; output:\n%s", want, out.String())
		}
	}
}
