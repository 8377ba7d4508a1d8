package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/taskgen/taskgen/templates"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binOut  string
)

// taskgenBinary builds the taskgen command once for the tests that run it.
func taskgenBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binPath = filepath.Join(tmpRoot, "taskgen")
		cmd := exec.Command(goTool(t), "build", "-o", binPath, ".")
		var out []byte
		out, binErr = cmd.CombinedOutput()
		binOut = string(out)
	})
	if binErr != nil {
		t.Fatalf("go build: %v\n%s", binErr, binOut)
	}
	return binPath
}

// runTaskgen runs the binary in dir.
func runTaskgen(t *testing.T, dir string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(taskgenBinary(t), args...)
	cmd.Dir = dir
	cmd.Env = testEnv()
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return string(out), exit.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

// TestCLIRejectsChannel is the acceptance case: a task with a chan int
// parameter is reported at its position, the exit code is non-zero and no
// file is written.
func TestCLIRejectsChannel(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(tmpRoot, "cli-chan")
	writeFiles(t, dir, map[string]string{
		"go.mod": "module chantest\n\ngo 1.24.0\n",
		"tasks/tasks.go": `package tasks

import "context"

//taskgen:task
func SendWelcome(ctx context.Context, userID int64, ch chan int) error { return nil }
`,
	})
	out, code := runTaskgen(t, dir, "./...")
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	want := `taskgen: tasks/tasks.go:6:53: SendWelcome: parameter "ch": channels cannot be serialized`
	if strings.TrimSpace(out) != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "tasks", "tasks_taskgen.go")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("taskgen wrote a file despite the error (stat: %v)", err)
	}
}

// TestCLIWritesAndCleans runs the binary as go generate would: it writes
// the output, leaves it alone when nothing changed, removes it once the
// package has no tasks, and refuses to overwrite a file it did not write.
func TestCLIWritesAndCleans(t *testing.T) {
	t.Parallel()
	mod := testModule(t)
	dir := filepath.Join(mod, "cli", "clean")
	task := `package clean

import "context"

//taskgen:task queue=q
func Do(ctx context.Context, n int) error { return nil }
`
	writeFiles(t, dir, map[string]string{"clean.go": task})
	out := filepath.Join(dir, "clean_taskgen.go")

	if msg, code := runTaskgen(t, dir, "-v"); code != 0 || !strings.Contains(msg, "wrote ") {
		t.Fatalf("taskgen -v: exit %d\n%s", code, msg)
	}
	first, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(first), templates.Header+"\n// taskgen -v\n") {
		t.Errorf("header:\n%s", strings.Join(strings.SplitN(string(first), "\n", 3)[:2], "\n"))
	}
	if msg, code := runTaskgen(t, dir, "-v"); code != 0 || !strings.Contains(msg, "up to date") {
		t.Fatalf("second run: exit %d\n%s", code, msg)
	}

	// A stale output that no longer compiles does not stop generation.
	if err := os.WriteFile(out, []byte(templates.Header+"\npackage clean\n\nfunc Do() {}\nvar broken int = \"x\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if msg, code := runTaskgen(t, dir); code != 0 {
		t.Fatalf("over stale output: exit %d\n%s", code, msg)
	}
	if again, _ := os.ReadFile(out); string(again) != strings.Replace(string(first), "// taskgen -v\n", "// taskgen\n", 1) {
		t.Errorf("output over stale file differs:\n%s", again)
	}

	// Without tasks, the output goes.
	writeFiles(t, dir, map[string]string{"clean.go": "package clean\n"})
	if msg, code := runTaskgen(t, dir); code != 0 {
		t.Fatalf("no tasks: exit %d\n%s", code, msg)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale output not removed (stat: %v)", err)
	}

	// A file of the same name that taskgen did not write stays.
	writeFiles(t, dir, map[string]string{"clean.go": task, "clean_taskgen.go": "package clean\n"})
	msg, code := runTaskgen(t, dir)
	if code != 1 || !strings.Contains(msg, "was not written by taskgen") {
		t.Errorf("foreign file: exit %d\n%s", code, msg)
	}
	if b, _ := os.ReadFile(out); string(b) != "package clean\n" {
		t.Errorf("foreign file changed:\n%s", b)
	}
}

func TestCLIVersion(t *testing.T) {
	t.Parallel()
	out, code := runTaskgen(t, tmpRoot, "-version")
	if code != 0 || strings.TrimSpace(out) != "taskgen v"+templates.Version {
		t.Errorf("taskgen -version: exit %d, %q", code, out)
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCLITags checks that -tags selects the files taskgen reads.
func TestCLITags(t *testing.T) {
	t.Parallel()
	mod := testModule(t)
	dir := filepath.Join(mod, "cli", "tags")
	writeFiles(t, dir, map[string]string{
		"base.go": "package tags\n",
		"extra.go": `//go:build extra

package tags

import "context"

//taskgen:task
func Extra(ctx context.Context) error { return nil }
`,
	})
	if msg, code := runTaskgen(t, dir); code != 0 {
		t.Fatalf("without tags: exit %d\n%s", code, msg)
	}
	out := filepath.Join(dir, "tags_taskgen.go")
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("without -tags extra, the task is not seen; yet taskgen wrote %s", out)
	}
	if msg, code := runTaskgen(t, dir, "-tags", "extra"); code != 0 {
		t.Fatalf("-tags extra: exit %d\n%s", code, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "// taskgen -tags extra\n") || !strings.Contains(string(b), "func EnqueueExtra(") {
		t.Errorf("output:\n%s", b)
	}
}
