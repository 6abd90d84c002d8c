package harness

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Workers are the rig's processes: the simulated cameras and the readers run
// as separate processes (this binary again, with WorkerEnv set), so that
// their CPU is neither mixed with the relays' nor with the harness's, and is
// reported on its own.
//
// Protocol: the spec comes as the first argument (JSON). The worker writes
// one line "READY <json>" (or "ERROR <text>") on stdout, then answers each
// command line read on stdin with one JSON line. It exits when stdin closes
// (the harness ended, however it ended) or on SIGTERM.

// WorkerEnv names the worker a process should run instead of the harness.
const WorkerEnv = "RELAYBENCH_WORKER"

// IsWorker reports whether this process was started as a worker.
func IsWorker() bool { return os.Getenv(WorkerEnv) != "" }

// WorkerMain runs the worker named by WorkerEnv with args and returns the
// exit code.
func WorkerMain(args []string) int {
	kind := os.Getenv(WorkerEnv)
	if len(args) != 1 {
		fmt.Fprintf(os.Stderr, "relaybench worker %s: want one JSON argument, got %d\n", kind, len(args))
		return 2
	}
	var err error
	switch kind {
	case "camsim":
		err = runCamsimWorker(args[0], os.Stdin, os.Stdout)
	case "reader":
		err = runReaderWorker(args[0], os.Stdin, os.Stdout)
	case "nullsink":
		err = runNullWorker(args[0], os.Stdin, os.Stdout)
	default:
		err = fmt.Errorf("unknown worker %q", kind)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "relaybench worker %s: %v\n", kind, err)
		return 1
	}
	return 0
}

// serveCommands answers command lines from in with handle's JSON until in
// closes.
func serveCommands(in io.Reader, out io.Writer, handle func(cmd string) any) error {
	sc := bufio.NewScanner(in)
	enc := json.NewEncoder(out)
	for sc.Scan() {
		cmd := strings.TrimSpace(sc.Text())
		if cmd == "" {
			continue
		}
		if cmd == "quit" {
			return nil
		}
		if err := enc.Encode(handle(cmd)); err != nil {
			return err
		}
	}
	return sc.Err()
}

// exitOnSignal makes SIGTERM and SIGINT end the worker at once, like a
// closed stdin does; the returned func undoes it.
func exitOnSignal() (stop func()) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		if _, ok := <-sig; ok {
			os.Exit(0)
		}
	}()
	return func() { signal.Stop(sig) }
}

func writeReady(out io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "READY %s\n", b)
	return err
}

// Self is how the harness starts its workers: this executable, or in tests
// the test binary (whose TestMain calls WorkerMain).
type Self struct {
	Path string
	// Env is added to the worker's environment.
	Env []string
}

// workerProc is a running worker.
type workerProc struct {
	kind string
	p    *process
	in   io.WriteCloser
	out  *bufio.Reader
	mu   sync.Mutex
}

// startWorker starts a worker and waits for its READY line (into ready).
func startWorker(ctx context.Context, self Self, kind string, spec, ready any, timeout time.Duration) (*workerProc, error) {
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self.Path, string(b))
	cmd.Env = append(append(os.Environ(), self.Env...), WorkerEnv+"="+kind)
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p, err := startProcess(cmd, "worker "+kind)
	if err != nil {
		return nil, err
	}
	w := &workerProc{kind: kind, p: p, in: in, out: bufio.NewReaderSize(outPipe, 1<<20)}
	line, err := w.readLine(ctx, timeout)
	if err != nil {
		w.stop()
		return nil, fmt.Errorf("worker %s: %w (stderr: %s)", kind, err, p.tail())
	}
	rest, ok := strings.CutPrefix(line, "READY ")
	if !ok {
		w.stop()
		return nil, fmt.Errorf("worker %s: %s (stderr: %s)", kind, strings.TrimSpace(line), p.tail())
	}
	if err := json.Unmarshal([]byte(rest), ready); err != nil {
		w.stop()
		return nil, fmt.Errorf("worker %s: ready line: %w", kind, err)
	}
	return w, nil
}

func (w *workerProc) readLine(ctx context.Context, timeout time.Duration) (string, error) {
	type res struct {
		s   string
		err error
	}
	ch := make(chan res, 1)
	go func() {
		s, err := w.out.ReadString('\n')
		ch <- res{s, err}
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case r := <-ch:
		return r.s, r.err
	case <-t.C:
		w.p.kill()
		<-ch
		return "", fmt.Errorf("no answer in %v", timeout)
	case <-ctx.Done():
		w.p.kill()
		<-ch
		return "", ctx.Err()
	}
}

// call sends a command and decodes the answer into v.
func (w *workerProc) call(ctx context.Context, cmd string, v any) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := io.WriteString(w.in, cmd+"\n"); err != nil {
		return fmt.Errorf("worker %s: %s: %w (stderr: %s)", w.kind, cmd, err, w.p.tail())
	}
	line, err := w.readLine(ctx, 30*time.Second)
	if err != nil {
		return fmt.Errorf("worker %s: %s: %w (stderr: %s)", w.kind, cmd, err, w.p.tail())
	}
	if err := json.Unmarshal([]byte(line), v); err != nil {
		return fmt.Errorf("worker %s: %s: %w", w.kind, cmd, err)
	}
	return nil
}

// stop closes stdin (the worker exits), then ends the process group.
func (w *workerProc) stop() {
	w.in.Close()
	w.p.stop(3 * time.Second)
}

func (w *workerProc) pid() int { return w.p.pid }

// process is a child the harness started in its own process group.
type process struct {
	name string
	cmd  *exec.Cmd
	pid  int
	done chan struct{}
	err  error
	log  *tailBuffer
}

// startProcess starts cmd in a new process group, with SIGKILL sent to it if
// the harness dies first; stderr (and stdout, when not taken) go to a tail
// buffer kept for error messages.
func startProcess(cmd *exec.Cmd, name string) (*process, error) {
	p := &process{name: name, cmd: cmd, done: make(chan struct{}), log: &tailBuffer{max: 16 << 10}}
	if cmd.Stdout == nil {
		cmd.Stdout = p.log
	}
	if cmd.Stderr == nil {
		cmd.Stderr = p.log
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p.pid = cmd.Process.Pid
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *process) term() {
	if !p.exited() {
		_ = syscall.Kill(-p.pid, syscall.SIGTERM)
	}
}

func (p *process) kill() { _ = syscall.Kill(-p.pid, syscall.SIGKILL) }

// stop sends SIGTERM to the group, SIGKILL after grace, and waits.
func (p *process) stop(grace time.Duration) {
	if p.exited() {
		return
	}
	_ = syscall.Kill(-p.pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.kill()
		<-p.done
	}
}

func (p *process) tail() string { return strings.TrimSpace(p.log.String()) }

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max/2:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := string(t.b)
	if len(s) > 600 {
		s = "..." + s[len(s)-600:]
	}
	return s
}
