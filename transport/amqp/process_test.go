package amqp_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/taskgen/taskgen/internal/testenv"
	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport/amqp"
)

// The worker program of testdata/worker, built once per test binary.
var (
	buildOnce sync.Once
	binDir    string
	workerBin string
	buildErr  error
)

func workerBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "taskgen-amqp-worker"); buildErr != nil {
			return
		}
		workerBin = filepath.Join(binDir, "worker")
		out, err := exec.Command("go", "build", "-o", workerBin, "./testdata/worker").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./testdata/worker: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return workerBin
}

// proc is a running worker program.
type proc struct {
	cmd    *exec.Cmd
	lines  chan []string // stdout, split into fields
	exited chan error
	stderr *bytes.Buffer
}

func startWorker(t *testing.T, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(workerBinary(t), args...)
	p := &proc{cmd: cmd, lines: make(chan []string, 1024), exited: make(chan error, 1), stderr: new(bytes.Buffer)}
	cmd.Stderr = p.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- strings.Fields(sc.Text())
		}
		close(p.lines)
		p.exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})
	p.expect(t, "ready")
	return p
}

// expect returns the next line, which must start with word.
func (p *proc) expect(t *testing.T, word string) []string {
	t.Helper()
	select {
	case f, ok := <-p.lines:
		if !ok {
			t.Fatalf("worker exited while the test waited for %q: %v\nstderr:\n%s", word, <-p.exited, p.stderr)
		}
		if len(f) == 0 || f[0] != word {
			t.Fatalf("worker printed %q, want a %q line", f, word)
		}
		return f
	case <-time.After(eventually):
		t.Fatalf("worker printed no %q line within %v\nstderr:\n%s", word, eventually, p.stderr)
		return nil
	}
}

// kill sends SIGKILL and waits for the process to go.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	for range p.lines {
	}
	<-p.exited
}

// stop asks the worker to drain and exit, and checks that it did.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for range p.lines {
	}
	if err := <-p.exited; err != nil {
		t.Errorf("worker exit: %v\nstderr:\n%s", err, p.stderr)
	}
}

type jobArgs struct {
	N int `json:"n"`
}

func (a *jobArgs) MarshalTask() ([]byte, error)    { return json.Marshal(a) }
func (a *jobArgs) UnmarshalTask(data []byte) error { return json.Unmarshal(data, a) }

func jobTask() *runtime.Task[runtime.None] {
	return &runtime.Task[runtime.None]{
		Def: runtime.TaskDef{
			Name: "amqptest.Job", Queue: "jobs", Priority: runtime.DefaultPriority,
			BackoffMin: time.Millisecond, BackoffMax: time.Millisecond, Fingerprint: "job-v1",
		},
		MarshalResult: runtime.MarshalNone, UnmarshalResult: runtime.UnmarshalNone,
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A worker killed with SIGKILL mid-task loses nothing: the broker requeues
// what its connection held, another worker runs each task exactly once
// more, and the tasks the killed worker had started count two deliveries.
func TestKilledWorkerTasksRedelivered(t *testing.T) {
	t.Parallel()
	for _, qt := range queueTypes {
		t.Run(string(qt), func(t *testing.T) {
			t.Parallel()
			url := testenv.AMQPURL(t)
			prefix := uniquePrefix()
			tr := newTransport(t, amqp.Config{QueueType: qt, Prefix: prefix})
			c := runtime.NewClient(tr)
			const n = 12
			for i := range n {
				if _, err := runtime.Enqueue(t.Context(), c, jobTask(), &jobArgs{N: i}); err != nil {
					t.Fatal(err)
				}
			}
			common := []string{"-url", url, "-prefix", prefix, "-queue-type", string(qt), "-concurrency", "4"}

			// The first worker takes four tasks (its prefetch) and
			// blocks in all of them.
			a := startWorker(t, append(common, "-mode", "block", "-prefetch", "4")...)
			started := make(map[int]bool)
			for range 4 {
				f := a.expect(t, "start")
				if d := atoi(t, f[2]); d != 1 {
					t.Fatalf("first delivery of task %s counts %d deliveries", f[1], d)
				}
				started[atoi(t, f[1])] = true
			}
			a.kill(t)

			b := startWorker(t, append(common, "-mode", "run")...)
			done := make(map[int]int)
			for len(done) < n {
				f := <-b.lines
				if len(f) == 0 {
					t.Fatalf("worker exited: %s", b.stderr)
				}
				if f[0] != "done" {
					continue
				}
				i, d := atoi(t, f[1]), atoi(t, f[2])
				if done[i] != 0 {
					t.Fatalf("task %d ran to completion twice", i)
				}
				done[i] = d
			}
			for i := range n {
				want := 1
				if started[i] {
					want = 2
				}
				if done[i] != want {
					t.Errorf("task %d completed on delivery %d, want %d", i, done[i], want)
				}
			}
			b.stop(t)
			// Nothing more: no task runs a third time, none is left.
			s, err := tr.Stats(t.Context(), "jobs")
			if err != nil || s != (runtime.QueueStats{Queue: "jobs"}) {
				for range s.Pending {
					d := fetchOne(t, tr, time.Minute, "jobs")
					env, _ := runtime.DecodeEnvelope(d.Body)
					t.Logf("left: %s %s deliveries %d", d.ID, env.Payload, d.Deliveries)
				}
				t.Fatalf("Stats after both workers = %+v, %v; want all zero\nworker stderr:\n%s", s, err, b.stderr)
			}
		})
	}
}

// A task that crashes its worker every time is dead-lettered once it has
// been abandoned DeliveryLimit times, instead of crashing workers forever.
func TestCrashLoopDeadLettered(t *testing.T) {
	t.Parallel()
	for _, qt := range queueTypes {
		t.Run(string(qt), func(t *testing.T) {
			t.Parallel()
			url := testenv.AMQPURL(t)
			prefix := uniquePrefix()
			const limit = 3
			tr := newTransport(t, amqp.Config{QueueType: qt, Prefix: prefix, DeliveryLimit: limit})
			if _, err := runtime.Enqueue(t.Context(), runtime.NewClient(tr), jobTask(), &jobArgs{N: 7}); err != nil {
				t.Fatal(err)
			}
			args := []string{"-url", url, "-prefix", prefix, "-queue-type", string(qt), "-concurrency", "1", "-prefetch", "1",
				"-mode", "crash", "-delivery-limit", strconv.Itoa(limit)}
			for run := 1; run <= limit; run++ {
				p := startWorker(t, args...)
				f := p.expect(t, "start")
				if d := atoi(t, f[2]); d != run {
					t.Fatalf("run %d: the task counts %d deliveries", run, d)
				}
				for range p.lines {
				}
				if err := <-p.exited; err == nil || !strings.Contains(err.Error(), "exit status 3") {
					t.Fatalf("run %d: worker exit %v, want the crash's status 3", run, err)
				}
			}
			// The next worker dead-letters it rather than run it.
			p := startWorker(t, args...)
			ctx, cancel := context.WithTimeout(t.Context(), eventually)
			defer cancel()
			var dls []runtime.DeadLetter
			for len(dls) == 0 {
				select {
				case f := <-p.lines:
					t.Fatalf("worker printed %q after the delivery limit", f)
				case <-ctx.Done():
					t.Fatalf("not dead-lettered within %v", eventually)
				case <-time.After(50 * time.Millisecond):
				}
				var err error
				if dls, err = tr.DeadLetters(ctx, "jobs", 0); err != nil {
					t.Fatal(err)
				}
			}
			p.stop(t)
			if dls[0].Reason != runtime.ReasonDeliveryLimit || dls[0].Task != "amqptest.Job" || !strings.Contains(dls[0].Error, "abandoned 3 times") {
				t.Fatalf("dead letter %+v, want reason delivery_limit after 3 abandoned deliveries", dls[0])
			}
		})
	}
}
