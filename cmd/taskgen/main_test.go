package main

import (
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

var update = flag.Bool("update", false, "rewrite the expected output under testdata/golden")

// tmpRoot holds everything the tests create; TestMain removes it.
var tmpRoot string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "taskgen-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tmpRoot = dir
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) { os.RemoveAll(tmpRoot) }))
}

// goTool returns the go command of the toolchain running the tests.
func goTool(t testing.TB) string {
	t.Helper()
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	p, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	return p
}

// moduleRoot is the root of the taskgen module.
func moduleRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// testEnv is the environment of go commands run on the test module: its
// requirements may be added to go.mod and go.sum as needed, and no
// workspace applies.
func testEnv() []string {
	return append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
}

var (
	testModOnce sync.Once
	testModDir  string
	testModErr  error
)

// testModule returns a copy of testdata, a module of its own (taskgen.test)
// that requires this one through a replace directive, shared by the tests:
// each writes only into its own case directories.
func testModule(t testing.TB) string {
	t.Helper()
	testModOnce.Do(func() {
		testModDir = filepath.Join(tmpRoot, "mod")
		if testModErr = os.CopyFS(testModDir, os.DirFS("testdata")); testModErr != nil {
			return
		}
		// Earlier output left in testdata must not leak into the tests,
		// except the expected files, which the golden test reads from
		// testdata itself.
		testModErr = filepath.WalkDir(testModDir, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(path, "_taskgen.go") {
				err = os.Remove(path)
			}
			return err
		})
		if testModErr != nil {
			return
		}
		root, err := filepath.Abs("../..")
		if err != nil {
			testModErr = err
			return
		}
		gomod := filepath.Join(testModDir, "go.mod")
		b, err := os.ReadFile(gomod)
		if err != nil {
			testModErr = err
			return
		}
		b = []byte(strings.Replace(string(b), "=> ../../..", "=> "+root, 1))
		testModErr = os.WriteFile(gomod, b, 0o644)
	})
	if testModErr != nil {
		t.Fatalf("setting up the test module: %v", testModErr)
	}
	return testModDir
}

// runGo runs the go command in dir and returns its combined output.
func runGo(t testing.TB, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(goTool(t), args...)
	cmd.Dir = dir
	cmd.Env = testEnv()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// generateIn runs the generator in-process on the package in dir, as
// //go:generate taskgen would.
func generateIn(t testing.TB, dir string) {
	t.Helper()
	if err := generate(config{Dir: dir, Invocation: "taskgen", Env: testEnv()}); err != nil {
		t.Fatalf("taskgen in %s:\n%v", dir, err)
	}
}

// caseDirs lists the subdirectories of dir, which are test cases.
func caseDirs(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out
}
