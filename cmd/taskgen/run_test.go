package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRun generates each program under testdata/run, builds it and runs
// it. The programs compare the generated codec with encoding/json and call
// the registered handlers; they exit non-zero on any mismatch.
func TestRun(t *testing.T) {
	t.Parallel()
	mod := testModule(t)
	bin := filepath.Join(tmpRoot, "bin")
	for _, name := range caseDirs(t, "testdata/run") {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			generateIn(t, filepath.Join(mod, "run", name))
			exe := filepath.Join(bin, name)
			if out, err := runGo(t, mod, "build", "-o", exe, "./run/"+name); err != nil {
				t.Fatalf("go build ./run/%s: %v\n%s", name, err, out)
			}
			out, err := exec.Command(exe).CombinedOutput()
			if err != nil {
				t.Fatalf("%s failed: %v\n%s", name, err, out)
			}
			if strings.TrimSpace(string(out)) != "ok" {
				t.Fatalf("%s printed %q, want ok", name, out)
			}
		})
	}
}
