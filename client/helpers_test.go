package client

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wardchat/ward/internal/bus"
	"github.com/wardchat/ward/internal/server"
	"github.com/wardchat/ward/internal/server/blob"
	"github.com/wardchat/ward/internal/store/sqlite"
)

// logWriter sends logs to t.Logf.
type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", bytes.TrimRight(p, "\n"))
	return len(p), nil
}

func testLogger(t testing.TB, prefix string) *slog.Logger {
	if _, ok := t.(*testing.F); ok {
		// Background goroutines may log while the fuzz function runs,
		// where f.Logf is not allowed.
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(logWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})).With("who", prefix)
}

// testServer is a real server (internal/server on a real SQLite store in a
// temporary directory) behind httptest.
type testServer struct {
	URL   string
	Dir   string
	Store *sqlite.Store
	Srv   *server.Server
	HTTP  *httptest.Server
}

func startServer(t testing.TB, mod func(*server.Config)) *testServer {
	t.Helper()
	cfg := server.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.SendRate, cfg.SendBurst = 10000, 10000
	cfg.AddrRate, cfg.AddrBurst = 10000, 10000
	if mod != nil {
		mod(&cfg)
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(cfg.DataDir, "ward.db"), MaxQueueDepth: cfg.QueueCap})
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := blob.NewFS(filepath.Join(cfg.DataDir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(ctx, cfg, testLogger(t, "server"), st, bus.NewLocal(), blobs)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Dir: cfg.DataDir, Store: st, Srv: srv, HTTP: httptest.NewServer(srv.Handler())}
	ts.URL = ts.HTTP.URL
	t.Cleanup(func() {
		srv.BeginShutdown()
		ts.HTTP.Close()
		srv.Close()
		st.Close()
	})
	return ts
}

// device is one Client under test with its event log.
type device struct {
	t    testing.TB
	name string
	*Client
	dir    string
	url    string
	cancel context.CancelFunc
	runErr chan error

	mu     sync.Mutex
	events []Event
	cond   *sync.Cond
	done   chan struct{}
}

func newDevice(t testing.TB, url, name string) *device {
	t.Helper()
	return openDevice(t, url, name, t.TempDir())
}

func openDevice(t testing.TB, url, name, dir string) *device {
	t.Helper()
	c, err := Open(context.Background(), Config{DataDir: dir, ServerURL: url, Logger: testLogger(t, name)})
	if err != nil {
		t.Fatal(err)
	}
	d := &device{t: t, name: name, Client: c, dir: dir, url: url, done: make(chan struct{})}
	d.cond = sync.NewCond(&d.mu)
	go func() {
		defer close(d.done)
		for ev := range c.Events() {
			d.mu.Lock()
			d.events = append(d.events, ev)
			d.cond.Broadcast()
			d.mu.Unlock()
		}
	}()
	t.Cleanup(d.close)
	return d
}

func (d *device) start() {
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	d.runErr = make(chan error, 1)
	go func() { d.runErr <- d.Run(ctx) }()
}

// stop stops Run (the device goes offline).
func (d *device) stop() {
	if d.cancel != nil {
		d.cancel()
		if err := <-d.runErr; err != nil {
			d.t.Errorf("%s: Run: %v", d.name, err)
		}
		d.cancel = nil
	}
}

func (d *device) close() {
	d.stop()
	d.Client.Close()
	<-d.done
}

// waitFor waits until pred holds for the event log.
func (d *device) waitFor(what string, timeout time.Duration, pred func([]Event) bool) []Event {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() {
		d.mu.Lock()
		d.cond.Broadcast()
		d.mu.Unlock()
	})
	defer timer.Stop()
	d.mu.Lock()
	defer d.mu.Unlock()
	for !pred(d.events) {
		if time.Now().After(deadline) {
			d.t.Fatalf("%s: timed out waiting for %s; events: %s", d.name, what, describe(d.events))
		}
		d.cond.Wait()
	}
	return append([]Event(nil), d.events...)
}

func (d *device) snapshot() []Event {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Event(nil), d.events...)
}

func describe(evs []Event) string {
	var b bytes.Buffer
	for _, ev := range evs {
		switch ev := ev.(type) {
		case *MessageEvent:
			fmt.Fprintf(&b, "[msg %s/%d %q] ", ev.FromHandle, ev.FromDevice, ev.Text)
		case *SentSyncEvent:
			fmt.Fprintf(&b, "[sent %s %q] ", ev.ToHandle, ev.Text)
		default:
			fmt.Fprintf(&b, "[%T %+v] ", ev, ev)
		}
	}
	return b.String()
}

func texts[T Event](evs []Event, get func(T) string) []string {
	var out []string
	for _, ev := range evs {
		if e, ok := ev.(T); ok {
			out = append(out, get(e))
		}
	}
	return out
}

func msgTexts(evs []Event) []string {
	return texts(evs, func(e *MessageEvent) string { return e.Text })
}

func syncTexts(evs []Event) []string {
	return texts(evs, func(e *SentSyncEvent) string { return e.Text })
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

func countAll(list []string, want []string) bool {
	for _, w := range want {
		if count(list, w) < 1 {
			return false
		}
	}
	return true
}

// register makes a primary device with a fresh account.
func register(t testing.TB, url, handle string) *device {
	t.Helper()
	d := newDevice(t, url, handle+"/1")
	if err := d.Register(context.Background(), handle, AgeAdult, ""); err != nil {
		t.Fatalf("Register(%s): %v", handle, err)
	}
	return d
}

// link adds a second device to primary's account through BeginLink,
// ApproveLink and CompleteLink.
func link(t testing.TB, primary *device, name string) *device {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d := newDevice(t, primary.url, name)
	offer, code, err := d.BeginLink(ctx, primary.Handle(), name)
	if err != nil {
		t.Fatal(err)
	}
	approval, err := primary.ApproveLink(ctx, offer, code)
	if err != nil {
		t.Fatalf("ApproveLink: %v", err)
	}
	if err := d.CompleteLink(ctx, approval); err != nil {
		t.Fatalf("CompleteLink: %v", err)
	}
	return d
}
