package chaos

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// The worker program of ./worker, built once per test binary.
var (
	buildOnce sync.Once
	binDir    string
	workerBin string
	buildErr  error
)

func workerBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "taskgen-chaos-worker"); buildErr != nil {
			return
		}
		workerBin = filepath.Join(binDir, "worker")
		out, err := exec.Command("go", "build", "-o", workerBin, "./worker").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./worker: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return workerBin
}
