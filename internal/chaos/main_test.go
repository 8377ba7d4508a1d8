package chaos

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

// quietRedis discards go-redis's own log lines.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

func TestMain(m *testing.M) {
	// The scenarios break the brokers' connections on purpose; go-redis
	// would print each failed dial.
	goredis.SetLogger(quietRedis{})
	// The scenarios mostly wait for worker processes and brokers, so more
	// of them run at once than there are CPUs, unless -parallel says.
	flag.Parse()
	parallelSet := false
	flag.Visit(func(f *flag.Flag) { parallelSet = parallelSet || f.Name == "test.parallel" })
	if !parallelSet {
		_ = flag.Set("test.parallel", "6")
	}
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
