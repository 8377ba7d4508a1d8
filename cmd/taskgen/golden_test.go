package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/taskgen/taskgen/internal/model"
)

// TestGolden regenerates each package under testdata/golden and compares
// the output with the committed file (-update rewrites them), then checks
// that the expected output builds and passes go vet.
func TestGolden(t *testing.T) {
	t.Parallel()
	mod := testModule(t)
	t.Run("cases", func(t *testing.T) {
		for _, name := range caseDirs(t, "testdata/golden") {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				checkGolden(t, filepath.Join(mod, "golden", name), filepath.Join("testdata", "golden", name), testEnv())
			})
		}
		t.Run("roundtrip", func(t *testing.T) {
			t.Parallel()
			// The committed generated package that the fuzz test and the
			// benchmarks use must be current too.
			dir, err := filepath.Abs("internal/roundtrip")
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, dir, dir, nil)
		})
	})
	if t.Failed() || *update {
		return
	}
	// Build and vet the expected files as committed: generation above
	// wrote the same content into the test module.
	if out, err := runGo(t, mod, "vet", "./golden/..."); err != nil {
		t.Fatalf("go vet ./golden/...: %v\n%s", err, out)
	}
}

// checkGolden generates the package in dir and compares the output with the
// file of the same name in wantDir.
func checkGolden(t *testing.T, dir, wantDir string, env []string) {
	outs, err := plan(config{Dir: dir, Invocation: "taskgen", Env: env})
	if err != nil {
		t.Fatalf("taskgen:\n%v", err)
	}
	if len(outs) != 1 || outs[0].Content == nil {
		t.Fatalf("taskgen planned %d outputs, want 1 file", len(outs))
	}
	got := outs[0].Content
	wantPath := filepath.Join(wantDir, filepath.Base(outs[0].Path))
	if *update {
		if err := os.WriteFile(wantPath, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(wantPath)
	if err != nil {
		t.Fatalf("%v (run go test -run Golden -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Fatalf("%s is out of date (-want +got); run go test -run Golden -update:\n%s", wantPath, diff)
	}
	if ok, err := model.IsGenerated(wantPath); err != nil || !ok {
		t.Errorf("%s does not start with the generated-code header", wantPath)
	}
	// Write it into the test module, so that the build check covers it.
	if err := apply(outs, nil); err != nil {
		t.Fatal(err)
	}
	// A second run over its own output changes nothing.
	again, err := plan(config{Dir: dir, Invocation: "taskgen", Env: env})
	if err != nil {
		t.Fatalf("taskgen over its own output:\n%v", err)
	}
	if len(again) != 1 || string(again[0].Content) != string(got) {
		t.Errorf("a second run changed the output")
	}
}
