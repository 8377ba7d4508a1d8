package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestDemo runs what `make demo` runs and checks its results.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out strings.Builder
	if err := run(ctx, &out); err != nil {
		t.Fatalf("demo failed: %v\noutput:\n%s", err, out.String())
	}
	for _, want := range []string{
		"sent ada@example.com: Welcome, user 42 (from shop@example.com)",
		"sent ada@example.com: Receipt for order A-1001: 2 items, 28.00 EUR",
		"sent bob@example.com: Welcome, user 43 (from shop@example.com)",
		"sent eve@example.com: Welcome, user 44 (from shop@example.com)",
		`failed as expected: taskgen: task tasks.Mailer.SendWelcome (id `,
		`on queue "emails": failed: gave up after 1 attempt: user 7: invalid address "not-an-address"`,
		"etl: Extract → Transform → Load loaded 3 records into warehouse",
		"etl without a destination failed as expected: true",
		`alert #data-eng: tasks.Load failed after 1 attempt(s): failed: gave up after 1 attempt: no destination for 3 records`,
		"numbers: group of squares of 1..10 = [1 4 9 16 25 36 49 64 81 100]; chord summing them = 385",
		"worker drained; bye",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q; output:\n%s", want, out.String())
		}
	}
}
