package server

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestIdleClientsHelper is not a test: BenchmarkIdleStreamServerMemory
// runs the test binary again with WARD_IDLE_TOKENS set so that this
// function, in a child process, holds the client ends of the streams.
func TestIdleClientsHelper(t *testing.T) {
	file, url := os.Getenv("WARD_IDLE_TOKENS"), os.Getenv("WARD_IDLE_URL")
	if file == "" {
		t.Skip("helper process only")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var conns []*websocket.Conn
	for _, tok := range strings.Fields(string(data)) {
		ws, _, err := testDialer.Dial(url, http.Header{"Authorization": {"Ward " + tok}})
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, ws)
		go func() { // answer pings, drain frames
			for {
				if _, _, err := ws.ReadMessage(); err != nil {
					return
				}
			}
		}()
	}
	fmt.Println("ready", len(conns))
	bufio.NewReader(os.Stdin).ReadString('\n') // until the parent closes stdin
}

// BenchmarkIdleStreamServerMemory measures the server's memory per idle
// delivery stream: the client ends live in a child process, so the heap
// and stack growth of this process is the server's alone. Run with
// -benchtime=1x.
func BenchmarkIdleStreamServerMemory(b *testing.B) {
	const n = 2000
	e := newEnv(b, nil)
	var toks strings.Builder
	for i := range n {
		c := e.newClient(fmt.Sprintf("idle%d", i)).register()
		fmt.Fprintln(&toks, c.token)
	}
	file := b.TempDir() + "/tokens"
	if err := os.WriteFile(file, []byte(toks.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&before)
		g0 := runtime.NumGoroutine()

		cmd := exec.Command(os.Args[0], "-test.run=^TestIdleClientsHelper$", "-test.v")
		cmd.Env = append(os.Environ(), "WARD_IDLE_TOKENS="+file, "WARD_IDLE_URL=ws"+strings.TrimPrefix(e.http.URL, "http")+"/v1/stream")
		stdin, _ := cmd.StdinPipe()
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		ready := false
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "ready") {
				ready = true
				break
			}
		}
		if !ready {
			b.Fatal("helper did not connect")
		}
		waitStreams := time.Now().Add(30 * time.Second)
		for e.srv.streamCount() < n && time.Now().Before(waitStreams) {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(time.Second) // let flushers and handshake garbage settle
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&after)
		streams := e.srv.streamCount()
		b.ReportMetric(float64(int64(after.HeapInuse+after.StackInuse)-int64(before.HeapInuse+before.StackInuse))/float64(streams), "B/stream")
		b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/float64(streams), "heapB/stream")
		b.ReportMetric(float64(int64(after.StackInuse)-int64(before.StackInuse))/float64(streams), "stackB/stream")
		b.ReportMetric(float64(runtime.NumGoroutine()-g0)/float64(streams), "goroutines/stream")
		stdin.Close()
		go sc.Scan()
		cmd.Wait()
		deadline := time.Now().Add(30 * time.Second)
		for e.srv.streamCount() > 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
}
