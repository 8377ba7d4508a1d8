package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoCompile builds each program under testdata/nocompile against the
// generated tasks in testdata/nocompile/tasks. Each misuses them, and must
// fail to build with the compiler error in its want.txt.
func TestNoCompile(t *testing.T) {
	t.Parallel()
	mod := testModule(t)
	generateIn(t, filepath.Join(mod, "nocompile", "tasks"))
	for _, name := range caseDirs(t, "testdata/nocompile") {
		if name == "tasks" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			want, err := os.ReadFile(filepath.Join("testdata", "nocompile", name, "want.txt"))
			if err != nil {
				t.Fatal(err)
			}
			wantMsg := strings.TrimSpace(string(want))
			out, err := runGo(t, mod, "build", "-o", os.DevNull, "./nocompile/"+name)
			if err == nil {
				t.Fatalf("go build ./nocompile/%s succeeded; want it to fail with\n%s", name, wantMsg)
			}
			if !strings.Contains(out, wantMsg) {
				t.Fatalf("go build ./nocompile/%s failed without the expected error\nwant: %s\ngot:\n%s", name, wantMsg, out)
			}
		})
	}
}
