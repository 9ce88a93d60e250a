package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
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
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join("testdata", "script"),
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			env.Setenv("WARD_SERVER", "")
			env.Setenv("WARD_DATA_DIR", "")
			env.Setenv("XDG_DATA_HOME", "")
			env.Setenv("TZ", "UTC")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"wardd-start": func(ts *testscript.TestScript, neg bool, args []string) { servers.start(ts, bin, args) },
			"wardd-stop":  func(ts *testscript.TestScript, neg bool, args []string) { servers.stop(ts) },
			"grab":        grab,
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
