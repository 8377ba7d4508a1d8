package runtime_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/taskgen/taskgen/internal/testenv"
)

// schedProcs collects what scheduler processes (internal/schedproc) print.
type schedProcs struct {
	mu       sync.Mutex
	fires    []procFire
	problems []string // ticks skipped or fired twice; warnings; errors
}

// procFire is one fire, by the process of index proc.
type procFire struct {
	proc int
	id   string
	tick time.Time
}

func (p *schedProcs) snapshot() []procFire {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]procFire(nil), p.fires...)
}

// waitFires waits until at least n fires are seen, and returns them.
func (p *schedProcs) waitFires(t *testing.T, n int) []procFire {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		fires := p.snapshot()
		if len(fires) >= n {
			return fires
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d fires after 30s, want %d: %v", len(fires), n, fires)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// schedProc is a running schedproc.
type schedProc struct {
	cmd    *exec.Cmd
	stderr *strings.Builder
	done   chan error
}

// start starts a schedproc of index i and waits until it is ready; the
// process is killed, if still running, when the test ends.
func (p *schedProcs) start(t *testing.T, bin string, i int, args ...string) *schedProc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	sp := &schedProc{cmd: cmd, stderr: new(strings.Builder), done: make(chan error, 1)}
	cmd.Stderr = sp.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		ready <- sc.Scan() && sc.Text() == "ready"
		for sc.Scan() {
			p.line(i, sc.Bytes())
		}
		sp.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-sp.done
	})
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("schedproc %d did not start: %s", i, sp.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("schedproc %d not ready after 30s: %s", i, sp.stderr)
	}
	return sp
}

// line takes one JSON log line of process i.
func (p *schedProcs) line(i int, b []byte) {
	var rec struct {
		Level string    `json:"level"`
		Msg   string    `json:"msg"`
		ID    string    `json:"id"`
		Tick  time.Time `json:"tick"`
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch err := json.Unmarshal(b, &rec); {
	case err != nil:
		p.problems = append(p.problems, fmt.Sprintf("process %d: %s", i, b))
	case rec.Msg == "taskgen: scheduler: fired":
		p.fires = append(p.fires, procFire{proc: i, id: rec.ID, tick: rec.Tick})
	case strings.Contains(rec.Msg, "skipped") || strings.Contains(rec.Msg, "fired already") || rec.Level != "INFO":
		// A tick fired already is one whose claim failed, caught by the
		// transport refusing a second task of the same ID. (A tick that a
		// stalled process passes over is not a problem: another process
		// fires it, or the check for gaps below fails.)
		p.problems = append(p.problems, fmt.Sprintf("process %d: %s", i, b))
	}
}

// Three scheduler processes on one Redis fire a every-second cron
// schedule: each tick fires exactly once, with no gap. The process that
// fired the latest tick is then killed with SIGKILL, between two ticks, and
// the two others go on with the next ticks.
func TestSchedulerProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs scheduler processes")
	}
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "schedproc")
	if out, err := exec.Command("go", "build", "-o", bin, "./internal/schedproc").CombinedOutput(); err != nil {
		t.Fatalf("go build ./internal/schedproc: %v\n%s", err, out)
	}
	tr, prefix := redisStorePrefix(t)
	url := testenv.RedisURL(t)
	if strings.Contains(url, "?") {
		url += "&prefix=" + prefix
	} else {
		url += "?prefix=" + prefix
	}
	const queue, ticks = "sched-proc", 20
	var ps schedProcs
	procs := make([]*schedProc, 3)
	for i := range procs {
		procs[i] = ps.start(t, bin, i, "-url", url, "-spec", "* * * * * *", "-queue", queue)
	}

	// Kill the process that fired the latest tick, between two ticks, after
	// a few.
	fires := ps.waitFires(t, 5)
	for {
		last := fires[len(fires)-1]
		if since := time.Since(last.tick); since >= 200*time.Millisecond && since < 700*time.Millisecond {
			break
		}
		if wait := time.Until(last.tick.Add(300 * time.Millisecond)); wait > 0 {
			time.Sleep(wait)
		} else {
			fires = ps.waitFires(t, len(fires)+1) // too late in this interval
			continue
		}
		fires = ps.snapshot()
	}
	victim := fires[len(fires)-1].proc
	if err := procs[victim].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-procs[victim].done; err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("process %d exited with %v, want killed", victim, err)
	}
	procs[victim].done <- nil // for the cleanup
	killedAt := len(ps.snapshot())

	fires = ps.waitFires(t, max(ticks, killedAt+5))
	for i, p := range procs {
		if i != victim {
			if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if err := <-p.done; err != nil {
				t.Errorf("process %d: %v: %s", i, err, p.stderr)
			}
			p.done <- nil
		}
	}
	fires = ps.snapshot()

	perProc := make([]int, len(procs))
	seen := map[string]bool{}
	for i, f := range fires {
		perProc[f.proc]++
		if seen[f.id] {
			t.Errorf("tick %s fired twice", f.id)
		}
		seen[f.id] = true
		if i > 0 {
			if d := f.tick.Sub(fires[i-1].tick); d != time.Second {
				t.Errorf("ticks %s and %s are %v apart, want 1s", fires[i-1].id, f.id, d)
			}
		}
		if i >= killedAt && f.proc == victim {
			t.Errorf("tick %s fired by the killed process", f.id)
		}
	}
	t.Logf("%d ticks fired, the last %d after process %d was killed; per process: %v", len(fires), len(fires)-killedAt, victim, perProc)
	ps.mu.Lock()
	for _, p := range ps.problems {
		t.Errorf("logged: %s", p)
	}
	ps.mu.Unlock()
	if n := pending(t, tr, queue); n != len(fires) {
		t.Errorf("the queue holds %d tasks, want the %d fired", n, len(fires))
	}
}
