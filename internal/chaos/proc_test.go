package chaos

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// proc is a running worker program.
type proc struct {
	t      testing.TB
	cmd    *exec.Cmd
	starts chan int      // with -verbose: the n of each run started
	exited chan struct{} // closed once the process has exited
	err    error         // its exit status, once exited
	nstart atomic.Int64  // with -verbose: runs started

	mu       sync.Mutex
	stderr   bytes.Buffer
	started  []time.Time // with -verbose: when each start line was read
	first    stats       // at ready
	last     stats
	exitLine []int // finished, running
}

// stats is a worker's stats line.
type stats struct {
	HeapInuse, RSS int64
	Goroutines     int
	At             time.Time
}

func (s stats) String() string {
	return fmt.Sprintf("heap in use %.1f MiB, RSS %.1f MiB, %d goroutines", float64(s.HeapInuse)/(1<<20), float64(s.RSS)/(1<<20), s.Goroutines)
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// startWorker starts the worker program with args and waits until it is
// ready. It is killed, if still running, when the test ends.
func startWorker(t testing.TB, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(workerBinary(t), args...)
	p := &proc{t: t, cmd: cmd, starts: make(chan int, 100000), exited: make(chan struct{})}
	cmd.Stderr = lockedWriter{&p.mu, &p.stderr}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 0 {
				continue
			}
			switch f[0] {
			case "ready":
				close(ready)
			case "start":
				n, _ := strconv.Atoi(f[1])
				p.mu.Lock()
				p.started = append(p.started, time.Now())
				p.mu.Unlock()
				p.nstart.Add(1)
				select {
				case p.starts <- n:
				default:
				}
			case "stats":
				var s stats
				s.HeapInuse, _ = strconv.ParseInt(f[1], 10, 64)
				s.RSS, _ = strconv.ParseInt(f[2], 10, 64)
				s.Goroutines, _ = strconv.Atoi(f[3])
				s.At = time.Now()
				p.mu.Lock()
				if p.first.At.IsZero() {
					p.first = s
				}
				p.last = s
				p.mu.Unlock()
			case "exit":
				a, _ := strconv.Atoi(f[1])
				b, _ := strconv.Atoi(f[2])
				p.mu.Lock()
				p.exitLine = []int{a, b}
				p.mu.Unlock()
			}
		}
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Signal(syscall.SIGCONT)
			_ = cmd.Process.Kill()
			<-p.exited
		}
	})
	select {
	case <-ready:
	case <-p.exited:
		t.Fatalf("worker exited before it was ready: %v\n%s", p.err, p.Stderr())
	case <-time.After(60 * time.Second):
		t.Fatalf("worker not ready after 60s\n%s", p.Stderr())
	}
	return p
}

func (p *proc) Pid() int { return p.cmd.Process.Pid }

// Stderr returns what the worker logged.
func (p *proc) Stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// startedWithin returns how many runs started (with -verbose) in the
// last d.
func (p *proc) startedWithin(d time.Duration) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for i := len(p.started) - 1; i >= 0 && time.Since(p.started[i]) < d; i-- {
		n++
	}
	return n
}

// Stats returns the first stats line (at ready) and the latest.
func (p *proc) Stats() (first, last stats) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.first, p.last
}

// signal sends sig to the worker.
func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v to worker %d: %v", sig, p.Pid(), err)
	}
}

// kill sends SIGKILL and waits for the process to go.
func (p *proc) kill() {
	p.t.Helper()
	p.signal(syscall.SIGKILL)
	p.wait(30 * time.Second)
}

// wait waits up to d for the process to exit.
func (p *proc) wait(d time.Duration) {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(d):
		p.t.Fatalf("worker %d still running %v later\n%s", p.Pid(), d, p.Stderr())
	}
}

// term sends SIGTERM, waits for the worker to drain and exit, and returns
// its exit line: the runs it finished and the handlers still running when
// Run returned.
func (p *proc) term(d time.Duration) (finished, running int) {
	p.t.Helper()
	p.signal(syscall.SIGTERM)
	p.wait(d)
	if p.err != nil {
		p.t.Errorf("worker %d exited with %v after SIGTERM\n%s", p.Pid(), p.err, p.Stderr())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exitLine == nil {
		p.t.Fatalf("worker %d printed no exit line\n%s", p.Pid(), p.stderr.String())
	}
	return p.exitLine[0], p.exitLine[1]
}
