package chaos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
	goredis "github.com/redis/go-redis/v9"

	"github.com/taskgen/taskgen/internal/testenv"
)

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// lookPath finds a broker's program, or skips the test (fails it under
// CI=true) when it is not installed.
func lookPath(t testing.TB, names ...string) string {
	t.Helper()
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if testenv.InCI() {
		t.Fatalf("%s is not installed (CI=true: a missing broker is a failure)", names[0])
	}
	t.Skipf("%s is not installed", names[0])
	return ""
}

// process is a broker process the test started, in a process group of its
// own so that killing it kills its children.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

func spawn(cmd *exec.Cmd) (*process, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	return p, nil
}

// kill sends SIGKILL to the process group and waits for the process.
func (p *process) kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.exited
}

// redisServer is a private redis-server on a free loopback port that
// appends every write to its AOF and fsyncs it before replying.
type redisServer struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	p    *process
}

func startRedisServer(t testing.TB) *redisServer {
	t.Helper()
	s := &redisServer{t: t, bin: lookPath(t, "redis-server"), dir: t.TempDir(), port: freePort(t)}
	s.start()
	t.Cleanup(func() {
		if s.p != nil {
			s.p.kill()
		}
	})
	return s
}

// URL is the server's redis:// URL.
func (s *redisServer) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", s.port) }

func (s *redisServer) start() {
	s.t.Helper()
	cmd := exec.Command(s.bin, "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--dir", s.dir,
		"--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no",
		"--logfile", filepath.Join(s.dir, "redis.log"))
	p, err := spawn(cmd)
	if err != nil {
		s.t.Fatal(err)
	}
	s.p = p
	rdb := goredis.NewClient(&goredis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", s.port), MaxRetries: -1})
	defer rdb.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := rdb.Ping(context.Background()).Err()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			s.t.Fatalf("private redis-server on port %d not up after 30s: %v\n%s", s.port, err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// restart kills the server with SIGKILL and starts it again on its port
// and data directory, after down.
func (s *redisServer) restart(down time.Duration) {
	s.t.Helper()
	s.p.kill()
	s.p = nil
	time.Sleep(down)
	s.start()
}

// rabbitNode is a private RabbitMQ node with its own node name, ports and
// data directories, so that killing it leaves the shared broker alone.
type rabbitNode struct {
	t    testing.TB
	bin  string
	dir  string
	name string
	port int
	dist int
	p    *process
}

func startRabbitNode(t testing.TB) *rabbitNode {
	t.Helper()
	// The packaged wrapper in /usr/sbin switches to the rabbitmq user, who
	// cannot write the test's directories; the script it wraps runs as
	// the caller.
	bin := "/usr/lib/rabbitmq/bin/rabbitmq-server"
	if _, err := os.Stat(bin); err != nil {
		bin = lookPath(t, "rabbitmq-server")
	}
	dir := t.TempDir()
	n := &rabbitNode{t: t, bin: bin, dir: dir, port: freePort(t), dist: freePort(t),
		name: fmt.Sprintf("taskgen-chaos-%d@localhost", os.Getpid()+freePort(t))}
	conf := fmt.Sprintf("listeners.tcp.default = 127.0.0.1:%d\nloopback_users = none\n", n.port)
	for name, data := range map[string]string{"rabbitmq.conf": conf, "advanced.config": "[].\n", "plugins": "[].\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, sub := range []string{"mnesia", "log"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	n.start()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("RabbitMQ node log:\n%s", n.logTail(8000))
		}
		if n.p != nil {
			n.p.kill()
		}
	})
	return n
}

// logTail returns the end of the node's log.
func (n *rabbitNode) logTail(size int) string {
	matches, _ := filepath.Glob(filepath.Join(n.dir, "log", "*.log"))
	var b strings.Builder
	for _, m := range matches {
		data, _ := os.ReadFile(m)
		fmt.Fprintf(&b, "== %s\n%s\n", filepath.Base(m), tail(string(data), size))
	}
	return b.String()
}

// URL is the node's amqp:// URL.
func (n *rabbitNode) URL() string { return fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", n.port) }

func (n *rabbitNode) start() {
	n.t.Helper()
	cmd := exec.Command(n.bin)
	cmd.Env = append(os.Environ(),
		"HOME="+n.dir, // its own Erlang cookie
		"RABBITMQ_NODENAME="+n.name,
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		"RABBITMQ_NODE_PORT="+strconv.Itoa(n.port),
		"RABBITMQ_DIST_PORT="+strconv.Itoa(n.dist),
		"RABBITMQ_MNESIA_BASE="+filepath.Join(n.dir, "mnesia"),
		"RABBITMQ_FEATURE_FLAGS_FILE="+filepath.Join(n.dir, "feature_flags"),
		"RABBITMQ_LOG_BASE="+filepath.Join(n.dir, "log"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(n.dir, "plugins"),
		"RABBITMQ_CONFIG_FILE="+filepath.Join(n.dir, "rabbitmq"),
		"RABBITMQ_ADVANCED_CONFIG_FILE="+filepath.Join(n.dir, "advanced.config"),
		"RABBITMQ_PID_FILE="+filepath.Join(n.dir, "pid"),
	)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	p, err := spawn(cmd)
	if err != nil {
		n.t.Fatal(err)
	}
	n.p = p
	deadline := time.Now().Add(2 * time.Minute)
	for {
		conn, err := amqp091.Dial(n.URL())
		if err == nil {
			conn.Close()
			return
		}
		select {
		case <-p.exited:
			n.t.Fatalf("private RabbitMQ node %s exited at start: %s", n.name, out.String())
		default:
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("private RabbitMQ node %s not up after 2m: %v", n.name, errors.Join(err))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// restart kills the node with SIGKILL and starts it again on its ports and
// data directories.
func (n *rabbitNode) restart() {
	n.t.Helper()
	n.p.kill()
	n.p = nil
	n.start()
}

// stopStart stops the node as its service manager would (SIGTERM to
// rabbitmq-server, which runs rabbitmqctl stop) and starts it again.
func (n *rabbitNode) stopStart() {
	n.t.Helper()
	_ = n.p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.p.exited:
	case <-time.After(2 * time.Minute):
		n.t.Errorf("private RabbitMQ node %s still running 2m after SIGTERM; killing it", n.name)
	}
	n.p.kill()
	n.p = nil
	n.start()
}
