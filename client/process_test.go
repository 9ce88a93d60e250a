package client

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The restart and crash tests run the real wardd binary as a subprocess.

var (
	warddOnce sync.Once
	warddPath string
	warddErr  error
)

func buildWardd(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs wardd; skipped in -short mode")
	}
	warddOnce.Do(func() {
		dir, err := os.MkdirTemp("", "wardd-bin-")
		if err != nil {
			warddErr = err
			return
		}
		warddPath = filepath.Join(dir, "wardd")
		out, err := exec.Command("go", "build", "-o", warddPath, "github.com/wardchat/ward/cmd/wardd").CombinedOutput()
		if err != nil {
			warddErr = fmt.Errorf("go build wardd: %v\n%s", err, out)
		}
	})
	if warddErr != nil {
		t.Fatal(warddErr)
	}
	return warddPath
}

// wardd is one server process on a fixed address and data directory, so
// that it can be stopped and started again.
type wardd struct {
	t       *testing.T
	bin     string
	addr    string
	dataDir string
	cmd     *exec.Cmd
	exited  chan struct{}
	stderr  *bytes.Buffer
}

func newWardd(t *testing.T) *wardd {
	bin := buildWardd(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	w := &wardd{t: t, bin: bin, addr: addr, dataDir: t.TempDir()}
	t.Cleanup(func() {
		if w.cmd != nil {
			w.kill()
		}
	})
	return w
}

func (w *wardd) URL() string { return "http://" + w.addr }

func (w *wardd) start() {
	w.t.Helper()
	cmd := exec.Command(w.bin, "-addr", w.addr, "-data-dir", w.dataDir,
		"-send-rate", "10000", "-send-burst", "10000", "-addr-rate", "10000", "-addr-burst", "10000",
		"-log-level", "warn")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		w.t.Fatal(err)
	}
	w.stderr = new(bytes.Buffer)
	cmd.Stderr = w.stderr
	for attempt := 0; ; attempt++ {
		if err := cmd.Start(); err != nil {
			w.t.Fatal(err)
		}
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err == nil && strings.Contains(line, "listening on") {
			break
		}
		cmd.Wait()
		if attempt == 20 {
			w.t.Fatalf("wardd did not start: %q %v\n%s", line, err, w.stderr)
		}
		// The port may still be held by the previous process.
		time.Sleep(100 * time.Millisecond)
		cmd = exec.Command(cmd.Path, cmd.Args[1:]...)
		if stdout, err = cmd.StdoutPipe(); err != nil {
			w.t.Fatal(err)
		}
		cmd.Stderr = w.stderr
	}
	w.cmd = cmd
	w.exited = make(chan struct{})
	go func() {
		cmd.Wait()
		close(w.exited)
	}()
}

// stop shuts the server down gracefully (SIGTERM).
func (w *wardd) stop() {
	w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.exited:
	case <-time.After(30 * time.Second):
		w.t.Error("wardd did not stop on SIGTERM")
		w.cmd.Process.Kill()
		<-w.exited
	}
	w.cmd = nil
}

// kill kills the server with SIGKILL: no shutdown code runs.
func (w *wardd) kill() {
	w.cmd.Process.Signal(syscall.SIGKILL)
	<-w.exited
	w.cmd = nil
}

// scanForPlaintexts reads every byte of the server's data directory (the
// database, its WAL and shared memory files, and every blob) and reports
// any of the needles found. As a control that the scan sees the data,
// the handle "alice", which the server stores in clear, must be found.
func scanForPlaintexts(t *testing.T, dir string, needles []string) {
	t.Helper()
	files := 0
	control := false
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		control = control || bytes.Contains(b, []byte("alice"))
		for _, n := range needles {
			if bytes.Contains(b, []byte(n)) {
				t.Errorf("plaintext %q found in the server's %s", n, path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ward.db")); err != nil {
		t.Fatalf("no server database to scan: %v", err)
	}
	if !control {
		t.Fatal("the scan did not find the handle the server stores: it sees no data")
	}
	t.Logf("scanned %d server files for %d plaintexts", files, len(needles))
}

// TestServerRestart: the server restarts mid-conversation (and is down
// while messages are sent); nothing is lost or duplicated, and afterwards
// no plaintext is found anywhere in the server's files.
func TestServerRestart(t *testing.T) {
	w := newWardd(t)
	w.start()
	ctx := context.Background()
	a1 := register(t, w.URL(), "alice")
	a2 := link(t, a1, "alice-2")
	b1 := register(t, w.URL(), "bob")
	for _, d := range []*device{a1, a2, b1} {
		d.start()
	}
	var needles, toBob, toAlice []string
	send := func(d *device, to, text string, mayQueue bool) {
		t.Helper()
		_, err := d.Send(ctx, to, text)
		if err != nil && !(mayQueue && errors.Is(err, ErrQueued)) {
			t.Fatalf("%s Send(%q): %v", d.name, text, err)
		}
		needles = append(needles, text)
		if to == "bob" {
			toBob = append(toBob, text)
		} else {
			toAlice = append(toAlice, text)
		}
	}
	for i := range 5 {
		send(a1, "bob", fmt.Sprintf("Xylophone-%d before restart from alice", i), false)
		send(b1, "alice", fmt.Sprintf("Quagmire-%d before restart from bob", i), false)
	}
	attachment := "Zebrafish attachment plaintext " + strings.Repeat("z", 1000)
	if _, err := a1.SendFile(ctx, "bob", strings.NewReader(attachment), "note.txt", "text/plain", "Marmalade caption"); err != nil {
		t.Fatal(err)
	}
	needles = append(needles, attachment[:40], "Marmalade caption", "note.txt")
	toBob = append(toBob, "Marmalade caption")
	b1.waitFor("first half", waitLong, func(evs []Event) bool { return countAll(msgTexts(evs), toBob) })
	// While the server runs, its WAL holds the latest writes: scan it too.
	scanForPlaintexts(t, w.dataDir, needles)

	w.stop()
	// Messages sent while the server is down wait in the outbox.
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	_, err := a2.Send(sctx, "bob", "Vortex while the server is down")
	cancel()
	var qe *QueuedError
	if !errors.Is(err, ErrQueued) || !errors.As(err, &qe) {
		t.Fatalf("Send while the server is down = %v, want ErrQueued", err)
	}
	needles = append(needles, "Vortex while the server is down")
	toBob = append(toBob, "Vortex while the server is down")
	w.start()

	for i := range 5 {
		send(a2, "bob", fmt.Sprintf("Xylophone-%d after restart from alice", i), true)
		send(b1, "alice", fmt.Sprintf("Quagmire-%d after restart from bob", i), true)
	}
	for _, d := range []*device{a1, a2} {
		d.waitFor("all of bob's", waitLong, func(evs []Event) bool { return countAll(msgTexts(evs), toAlice) })
	}
	b1.waitFor("all of alice's", waitLong, func(evs []Event) bool { return countAll(msgTexts(evs), toBob) })
	time.Sleep(300 * time.Millisecond)
	for _, d := range []*device{a1, a2, b1} {
		evs := d.snapshot()
		want := toAlice
		if d == b1 {
			want = toBob
		}
		got := msgTexts(evs)
		for _, m := range want {
			if count(got, m) != 1 {
				t.Errorf("%s received %q %d times", d.name, m, count(got, m))
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s received %d messages, want %d", d.name, len(got), len(want))
		}
	}
	// a1 sees a2's sends, including the one queued while the server was down.
	a1.waitFor("sent sync", waitLong, func(evs []Event) bool {
		return count(syncTexts(evs), "Vortex while the server is down") == 1
	})
	// The device that queued it is told when it went out.
	a2.waitFor("outbox sent", waitLong, func(evs []Event) bool {
		for _, ev := range evs {
			if o, ok := ev.(*OutboxSentEvent); ok && o.ClientMessageID == qe.ClientMessageID && o.ToHandle == "bob" &&
				o.Text == "Vortex while the server is down" && o.MessageID != [16]byte{} {
				return true
			}
		}
		return false
	})
	w.stop()
	scanForPlaintexts(t, w.dataDir, needles)
}

// TestCrashDuringBurst: the server is killed with SIGKILL during a burst
// of sends and restarted; every message whose Send returned success
// reaches the recipient exactly once.
func TestCrashDuringBurst(t *testing.T) {
	w := newWardd(t)
	w.start()
	ctx := context.Background()
	alice := register(t, w.URL(), "alice")
	bob := register(t, w.URL(), "bob")
	bob.start()
	alice.start()
	if _, err := alice.Send(ctx, "bob", "warm-up"); err != nil {
		t.Fatal(err)
	}
	const total = 150
	var (
		mu    sync.Mutex
		acked []string
		all   []string
	)
	started := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range total {
			if i == 30 {
				close(started)
			}
			text := fmt.Sprintf("Burst-Kumquat-%03d", i)
			sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			_, err := alice.Send(sctx, "bob", text)
			cancel()
			mu.Lock()
			all = append(all, text)
			if err == nil {
				acked = append(acked, text)
			} else if !errors.Is(err, ErrQueued) {
				t.Errorf("Send(%q): %v", text, err)
			}
			mu.Unlock()
		}
	}()
	<-started
	w.kill()
	// Down long enough for some sends to give up (ErrQueued) and others
	// to be retried across the restart with the same client message id.
	time.Sleep(2 * time.Second)
	w.start()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if len(acked) == total {
		t.Log("every send succeeded: each was retried across the restart")
	}
	t.Logf("%d of %d sends acknowledged", len(acked), total)
	bob.waitFor("acknowledged sends", 2*waitLong, func(evs []Event) bool { return countAll(msgTexts(evs), acked) })
	// Let the outbox deliver the rest, then check for duplicates.
	time.Sleep(2 * outboxInterval)
	evs := bob.snapshot()
	got := msgTexts(evs)
	for _, m := range acked {
		if n := count(got, m); n != 1 {
			t.Errorf("acknowledged %q received %d times", m, n)
		}
	}
	for _, m := range all {
		if n := count(got, m); n > 1 {
			t.Errorf("%q received %d times", m, n)
		}
	}
	w.kill()
	scanForPlaintexts(t, w.dataDir, all)
}
