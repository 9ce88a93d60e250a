package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	wardv1 "github.com/wardchat/ward/proto/ward/v1"
	"github.com/wardchat/ward/proto/ward/v1/wardv1connect"
)

// TestRunDefaults starts wardd as a newcomer would (no flags but a free
// port), checks the printed address answers /healthz, /readyz and
// /metrics, and that a signal-style cancel shuts it down cleanly.
func TestRunDefaults(t *testing.T) {
	dir := t.TempDir()
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)

	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0"}, pw, io.Discard, func(string) string { return "" })
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	m := regexp.MustCompile(`^wardd listening on http://(127\.0\.0\.1:\d+) \(data: ward-data, store: sqlite\)\n$`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("start-up line %q", line)
	}
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready", "/metrics": "ward_stream_connections"} {
		resp, err := http.Get("http://" + m[1] + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Fatalf("%s = %d %q", path, resp.StatusCode, body)
		}
	}
	// gRPC over unencrypted HTTP/2 reaches the API too (and is refused for
	// want of a token, which proves the call got through).
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	h2c := &http.Client{Transport: &http.Transport{Protocols: p}}
	lookup := wardv1connect.NewAccountServiceClient(h2c, "http://"+m[1], connect.WithGRPC())
	_, err = lookup.Lookup(context.Background(), connect.NewRequest(&wardv1.LookupRequest{Who: &wardv1.LookupRequest_Handle{Handle: "x"}}))
	if connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("gRPC Lookup without a token: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ward-data", "ward.db")); err != nil {
		t.Fatalf("data directory not created: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no shutdown within 15s")
	}
}

func TestRunPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = run(context.Background(), []string{"-addr", ln.Addr().String(), "-data-dir", t.TempDir()}, io.Discard, io.Discard, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "already in use") || !strings.Contains(err.Error(), "-addr 127.0.0.1:0") {
		t.Fatalf("run on a taken port: %v", err)
	}
}

func TestInviteCommand(t *testing.T) {
	dir := t.TempDir()
	var out strings.Builder
	if err := run(context.Background(), []string{"invite", "-uses", "3", "-data-dir", dir}, &out, io.Discard, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{32}\n$`).MatchString(out.String()) {
		t.Fatalf("invite printed %q", out.String())
	}
}
