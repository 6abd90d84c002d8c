package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/camrelay/camrelay/internal/testenv/loopback"
)

// chrome is a headless Chromium driven over the Chrome DevTools Protocol
// through --remote-debugging-pipe: commands go to the browser's fd 3 and
// answers and events come back on its fd 4, each message a JSON object
// ended by a NUL byte. A pipe instead of the websocket means no debugging
// port is listening anywhere, no Origin checks, and no dependency.
type chrome struct {
	cmd    *exec.Cmd
	in     *os.File // our end of the browser's fd 3
	out    *os.File // our end of the browser's fd 4
	stderr *loopback.Buffer
	read   chan struct{} // closed when the reader has ended

	wmu sync.Mutex // one message written at a time

	mu       sync.Mutex
	next     int64
	pending  map[int64]chan cdpMessage
	handlers map[string]func(session string, params json.RawMessage)
	err      error // why the connection ended
}

type cdpMessage struct {
	ID        int64           `json:"id,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    any             `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Data    string `json:"data"`
	} `json:"error,omitempty"`
}

// chromiumBinary is Debian's chromium: the browser itself rather than the
// /usr/bin/chromium launcher script, which adds flags from /etc.
func chromiumBinary() (string, error) {
	for _, p := range []string{"/usr/lib/chromium/chromium", "/usr/lib/chromium-browser/chromium-browser"} {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	for _, n := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	return "", errors.New("chromium is not installed (Debian: apt-get install chromium; `make deps` does it)")
}

// startChrome runs the browser with flags and the debugging pipe.
func startChrome(bin string, flags []string) (*chrome, error) {
	// toChrome: we write, the browser reads on fd 3; fromChrome: the
	// browser writes on fd 4, we read.
	toR, toW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	fromR, fromW, err := os.Pipe()
	if err != nil {
		toR.Close()
		toW.Close()
		return nil, err
	}
	c := &chrome{in: toW, out: fromR, stderr: &loopback.Buffer{}, read: make(chan struct{}),
		pending: map[int64]chan cdpMessage{}, handlers: map[string]func(string, json.RawMessage){}}
	c.cmd = exec.Command(bin, append(flags, "--remote-debugging-pipe")...)
	c.cmd.ExtraFiles = []*os.File{toR, fromW}
	c.cmd.Stdout = c.stderr
	c.cmd.Stderr = c.stderr
	// Its own process group, so that Close ends the renderers and the GPU
	// and network processes with it; killed if the test process dies.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	c.cmd.WaitDelay = 2 * time.Second
	err = c.cmd.Start()
	toR.Close()
	fromW.Close()
	if err != nil {
		toW.Close()
		fromR.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go c.readLoop()
	return c, nil
}

func (c *chrome) readLoop() {
	defer close(c.read)
	r := bufio.NewReaderSize(c.out, 1<<20)
	var err error
	for {
		var b []byte
		b, err = r.ReadBytes(0)
		if err != nil {
			break
		}
		var m cdpMessage
		if json.Unmarshal(b[:len(b)-1], &m) != nil {
			continue
		}
		c.mu.Lock()
		if m.ID != 0 {
			ch := c.pending[m.ID]
			delete(c.pending, m.ID)
			c.mu.Unlock()
			if ch != nil {
				ch <- m
			}
			continue
		}
		h := c.handlers[m.Method]
		c.mu.Unlock()
		if h != nil {
			raw, _ := json.Marshal(m.Params)
			h(m.SessionID, raw)
		}
	}
	if err == io.EOF {
		err = errors.New("the browser closed its debugging pipe (it exited)")
	}
	c.mu.Lock()
	c.err = err
	for id, ch := range c.pending {
		close(ch)
		delete(c.pending, id)
	}
	c.mu.Unlock()
}

// on sets the handler of an event. Handlers run on the reader: they may
// send (c.send) but not wait for an answer (c.call).
func (c *chrome) on(method string, h func(session string, params json.RawMessage)) {
	c.mu.Lock()
	c.handlers[method] = h
	c.mu.Unlock()
}

func (c *chrome) write(m cdpMessage) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err = c.in.Write(append(b, 0))
	return err
}

// send issues a command without waiting for its answer.
func (c *chrome) send(session, method string, params any) {
	c.mu.Lock()
	c.next++
	id := c.next
	c.mu.Unlock()
	c.write(cdpMessage{ID: id, SessionID: session, Method: method, Params: params})
}

// call issues a command and decodes its result into result (when not nil).
func (c *chrome) call(ctx context.Context, session, method string, params, result any) error {
	if params == nil {
		params = struct{}{}
	}
	ch := make(chan cdpMessage, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return fmt.Errorf("%s: %w", method, err)
	}
	c.next++
	id := c.next
	c.pending[id] = ch
	c.mu.Unlock()
	if err := c.write(cdpMessage{ID: id, SessionID: session, Method: method, Params: params}); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	select {
	case m, ok := <-ch:
		if !ok {
			return fmt.Errorf("%s: %v", method, c.err)
		}
		if m.Error != nil {
			return fmt.Errorf("%s: %s %s", method, m.Error.Message, m.Error.Data)
		}
		if result != nil {
			return json.Unmarshal(m.Result, result)
		}
		return nil
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
		return fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// Close asks the browser to quit, then ends its process group, and waits
// for the reader.
func (c *chrome) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	_ = c.call(ctx, "", "Browser.close", nil, nil)
	cancel()
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
	<-done
	c.in.Close()
	c.out.Close()
	<-c.read
}

// tab is one page target, attached with a flat session.
type tab struct {
	c       *chrome
	session string
}

func (c *chrome) newTab(ctx context.Context) (*tab, error) {
	var tgt struct {
		TargetID string `json:"targetId"`
	}
	if err := c.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &tgt); err != nil {
		return nil, err
	}
	var att struct {
		SessionID string `json:"sessionId"`
	}
	if err := c.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": tgt.TargetID, "flatten": true}, &att); err != nil {
		return nil, err
	}
	return &tab{c: c, session: att.SessionID}, nil
}

func (t *tab) call(ctx context.Context, method string, params, result any) error {
	return t.c.call(ctx, t.session, method, params, result)
}

// eval runs a JavaScript expression in the page (awaiting a promise) and
// decodes its value into out.
func (t *tab) eval(ctx context.Context, expr string, out any) error {
	var res struct {
		Result struct {
			Type  string          `json:"type"`
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	err := t.call(ctx, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &res)
	if err != nil {
		return err
	}
	if e := res.ExceptionDetails; e != nil {
		return fmt.Errorf("javascript: %s %s", e.Text, e.Exception.Description)
	}
	if out == nil {
		return nil
	}
	if len(res.Result.Value) == 0 {
		return fmt.Errorf("javascript: no value (%s)", res.Result.Type)
	}
	return json.Unmarshal(res.Result.Value, out)
}

// screenshot is a PNG of the page's viewport.
func (t *tab) screenshot(ctx context.Context) ([]byte, error) {
	var res struct {
		Data string `json:"data"`
	}
	if err := t.call(ctx, "Page.captureScreenshot", map[string]any{"format": "png"}, &res); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(res.Data)
}

// consoleLog collects what the page logs: console calls, uncaught
// exceptions and browser log entries (failed loads, CSP violations).
type consoleLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *consoleLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) < 2000 {
		l.lines = append(l.lines, time.Now().Format("15:04:05.000 ")+s)
	}
}

func (l *consoleLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func (l *consoleLog) contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, x := range l.lines {
		if strings.Contains(x, s) {
			return true
		}
	}
	return false
}

// collect subscribes l to the tab's console and log events (Runtime and
// Log must be enabled on the tab).
func (l *consoleLog) collect(c *chrome) {
	c.on("Runtime.consoleAPICalled", func(_ string, p json.RawMessage) {
		var e struct {
			Type string `json:"type"`
			Args []struct {
				Value       any    `json:"value"`
				Description string `json:"description"`
			} `json:"args"`
		}
		json.Unmarshal(p, &e)
		var parts []string
		for _, a := range e.Args {
			if a.Value != nil {
				parts = append(parts, fmt.Sprint(a.Value))
			} else {
				parts = append(parts, a.Description)
			}
		}
		l.add("console." + e.Type + ": " + strings.Join(parts, " "))
	})
	c.on("Runtime.exceptionThrown", func(_ string, p json.RawMessage) {
		var e struct {
			ExceptionDetails struct {
				Text      string `json:"text"`
				Exception struct {
					Description string `json:"description"`
				} `json:"exception"`
			} `json:"exceptionDetails"`
		}
		json.Unmarshal(p, &e)
		l.add("exception: " + e.ExceptionDetails.Text + " " + e.ExceptionDetails.Exception.Description)
	})
	c.on("Log.entryAdded", func(_ string, p json.RawMessage) {
		var e struct {
			Entry struct {
				Level  string `json:"level"`
				Source string `json:"source"`
				Text   string `json:"text"`
				URL    string `json:"url"`
			} `json:"entry"`
		}
		json.Unmarshal(p, &e)
		l.add(fmt.Sprintf("log.%s (%s): %s %s", e.Entry.Level, e.Entry.Source, e.Entry.Text, e.Entry.URL))
	})
}
