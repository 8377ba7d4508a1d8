package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/taskgen/taskgen/internal/model"
)

// TestErrors runs the generator on each package under testdata/errors,
// each a rejected construct (several has many problems), and checks that
// it reports exactly the lines in want.txt and writes nothing. -update
// rewrites want.txt.
func TestErrors(t *testing.T) {
	t.Parallel()
	mod := testModule(t)
	for _, name := range caseDirs(t, "testdata/errors") {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(mod, "errors", name)
			err := generate(config{Dir: dir, Invocation: "taskgen", Env: testEnv()})
			var list model.ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("taskgen returned %v, want positioned errors", err)
			}
			var lines []string
			for _, e := range list {
				lines = append(lines, e.Rel(dir))
			}
			got := strings.Join(lines, "\n") + "\n"
			wantPath := filepath.Join("testdata", "errors", name, "want.txt")
			if *update {
				if err := os.WriteFile(wantPath, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			} else {
				want, err := os.ReadFile(wantPath)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(string(want), got); diff != "" {
					t.Errorf("errors differ (-want +got):\n%s", diff)
				}
			}
			matches, _ := filepath.Glob(filepath.Join(dir, "*_taskgen.go"))
			if len(matches) > 0 {
				t.Errorf("taskgen wrote %v despite the errors", matches)
			}
		})
	}
}
