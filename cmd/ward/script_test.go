package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"google.golang.org/protobuf/proto"

	wardv1 "github.com/wardchat/ward/proto/ward/v1"
	"github.com/wardchat/ward/proto/ward/v1/wardv1connect"
)

// The scripts in testdata/script run the real ward command (this test
// binary re-executed as "ward", through testscript.Main) against a real
// wardd process built from cmd/wardd.

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"ward": func() {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
			stop()
			os.Exit(code)
		},
	})
}

func TestScripts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs wardd; skipped in -short mode")
	}
	bin := buildWardd(t)
	servers := &serverSet{m: map[*testscript.TestScript]*exec.Cmd{}}
	proxies := &proxySet{m: map[*testscript.TestScript]*hostileProxy{}}
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join("testdata", "script"),
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			env.Setenv("WARD_SERVER", "")
			env.Setenv("WARD_HOME", "")
			env.Setenv("XDG_DATA_HOME", "")
			env.Setenv("TZ", "UTC")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"wardd-start": func(ts *testscript.TestScript, neg bool, args []string) { servers.start(ts, bin, args) },
			"wardd-stop":  func(ts *testscript.TestScript, neg bool, args []string) { servers.stop(ts) },
			"grab":        grab,
			"proxy-start": func(ts *testscript.TestScript, neg bool, args []string) { proxies.start(ts) },
			"proxy-swap":  func(ts *testscript.TestScript, neg bool, args []string) { proxies.swap(ts, args) },
			"json-lines":  jsonLines,
		},
	})
}

var (
	warddOnce sync.Once
	warddPath string
	warddErr  error
)

func buildWardd(t *testing.T) string {
	t.Helper()
	warddOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ward-cli-test-")
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

// serverSet holds the wardd process of each running script.
type serverSet struct {
	mu sync.Mutex
	m  map[*testscript.TestScript]*exec.Cmd
}

// start runs wardd on a free loopback port with its data in $WORK/.wardd
// and points WARD_SERVER at it. Extra args go to wardd.
func (s *serverSet) start(ts *testscript.TestScript, bin string, args []string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	addr := ln.Addr().String()
	ln.Close()
	cmdArgs := append([]string{"-addr", addr, "-data-dir", ts.MkAbs(".wardd"), "-log-level", "warn",
		"-send-rate", "1000", "-send-burst", "1000", "-addr-rate", "1000", "-addr-burst", "1000"}, args...)
	cmd := exec.Command(bin, cmdArgs...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	stdout, err := cmd.StdoutPipe()
	ts.Check(err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	ts.Check(cmd.Start())
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- line
	}()
	select {
	case line := <-lines:
		if !strings.Contains(line, "listening on") {
			cmd.Process.Kill()
			cmd.Wait()
			ts.Fatalf("wardd did not start: %q\n%s", line, stderr.String())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		ts.Fatalf("wardd did not start in 30s\n%s", stderr.String())
	}
	s.mu.Lock()
	s.m[ts] = cmd
	s.mu.Unlock()
	ts.Setenv("WARD_SERVER", "http://"+addr)
	ts.Defer(func() { s.stop(ts) })
}

func (s *serverSet) stop(ts *testscript.TestScript) {
	s.mu.Lock()
	cmd := s.m[ts]
	delete(s.m, ts)
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// grab VAR REGEXP sets $VAR to the first submatch of REGEXP in the last
// command's standard output (or the whole match if it has no group).
func grab(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: grab VAR REGEXP")
	}
	re, err := regexp.Compile(args[1])
	ts.Check(err)
	m := re.FindStringSubmatch(ts.ReadFile("stdout"))
	if m == nil {
		ts.Fatalf("grab: no match for %q in stdout", args[1])
	}
	ts.Setenv(args[0], m[len(m)-1])
}

// json-lines [key=value...] checks that every line of the last command's
// standard output is a JSON object, and that one of them has all the given
// top-level fields with these values (compared as text). With "!" no line
// may have them all.
func jsonLines(ts *testscript.TestScript, neg bool, args []string) {
	out := strings.TrimSpace(ts.ReadFile("stdout"))
	if out == "" {
		ts.Fatalf("json-lines: no output")
	}
	found := false
	for _, line := range strings.Split(out, "\n") {
		var obj map[string]any
		if err := json.Unmarshal([]byte(line), &obj); err != nil {
			ts.Fatalf("json-lines: %q is not a JSON object: %v", line, err)
		}
		all := true
		for _, kv := range args {
			k, v, _ := strings.Cut(kv, "=")
			if fmt.Sprint(obj[k]) != v {
				all = false
				break
			}
		}
		found = found || all
	}
	if len(args) == 0 {
		return
	}
	if found == neg {
		if neg {
			ts.Fatalf("json-lines: a line has %v", args)
		}
		ts.Fatalf("json-lines: no line has %v", args)
	}
}

// A hostile server, for the identity-change scripts: a reverse proxy in
// front of wardd that, once told to, answers lookups of one handle with
// another account (its key and device list), under the handle asked for.

type proxySet struct {
	mu sync.Mutex
	m  map[*testscript.TestScript]*hostileProxy
}

type hostileProxy struct {
	target string
	rp     *httputil.ReverseProxy
	hc     *http.Client
	mu     sync.Mutex
	swaps  map[string]string
}

// start puts a proxy in front of $WARD_SERVER and points WARD_SERVER at it.
func (s *proxySet) start(ts *testscript.TestScript) {
	target, err := url.Parse(ts.Getenv("WARD_SERVER"))
	ts.Check(err)
	h := &hostileProxy{target: target.String(), rp: httputil.NewSingleHostReverseProxy(target),
		hc: &http.Client{Transport: &http.Transport{DisableCompression: true}}, swaps: map[string]string{}}
	h.rp.ErrorLog = log.New(io.Discard, "", 0) // clients hanging up mid-stream
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	ts.Defer(func() { srv.Close() })
	s.mu.Lock()
	s.m[ts] = h
	s.mu.Unlock()
	ts.Setenv("WARD_SERVER", "http://"+ln.Addr().String())
}

// swap HANDLE OTHER makes lookups of HANDLE return OTHER's account;
// swap with no arguments ends every swap.
func (s *proxySet) swap(ts *testscript.TestScript, args []string) {
	s.mu.Lock()
	h := s.m[ts]
	s.mu.Unlock()
	if h == nil || len(args) != 0 && len(args) != 2 {
		ts.Fatalf("usage: proxy-start, then proxy-swap [HANDLE OTHER]")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(args) == 0 {
		clear(h.swaps)
		return
	}
	h.swaps[args[0]] = args[1]
}

func (h *hostileProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == wardv1connect.AccountServiceLookupProcedure {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var req wardv1.LookupRequest
		if proto.Unmarshal(body, &req) == nil && req.GetHandle() != "" {
			h.mu.Lock()
			other, ok := h.swaps[req.GetHandle()]
			h.mu.Unlock()
			if ok {
				h.lookupAs(w, r, req.GetHandle(), other)
				return
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	h.rp.ServeHTTP(w, r)
}

func (h *hostileProxy) lookupAs(w http.ResponseWriter, r *http.Request, asked, other string) {
	body, _ := proto.Marshal(&wardv1.LookupRequest{Who: &wardv1.LookupRequest_Handle{Handle: other}})
	out, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, h.target+r.URL.Path, bytes.NewReader(body))
	for k, v := range r.Header {
		if k != "Accept-Encoding" && k != "Content-Length" {
			out.Header[k] = v
		}
	}
	res, err := h.hc.Do(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer res.Body.Close()
	resBody, _ := io.ReadAll(res.Body)
	var msg wardv1.LookupResponse
	if res.StatusCode == http.StatusOK && proto.Unmarshal(resBody, &msg) == nil {
		msg.Handle = asked
		resBody, _ = proto.Marshal(&msg)
	}
	for k, v := range res.Header {
		if k != "Content-Length" {
			w.Header()[k] = v
		}
	}
	w.WriteHeader(res.StatusCode)
	w.Write(resBody)
}
