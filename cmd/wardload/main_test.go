package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wardchat/ward/internal/bus"
	"github.com/wardchat/ward/internal/server"
)

// startServer runs a real server (SQLite in a temporary directory) behind
// httptest on 127.0.0.1, with the load limits wardload's --spawn passes.
func startServer(t *testing.T) string {
	t.Helper()
	cfg := server.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.SendRate, cfg.SendBurst = 1e6, 1000000
	cfg.AddrRate, cfg.AddrBurst = 1e6, 1000000
	ctx, cancel := context.WithCancel(context.Background())
	st, _, err := server.OpenStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := server.OpenBlobs(cfg)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := server.New(ctx, cfg, log, st, bus.NewLocal(), blobs)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Run(ctx)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		cancel()
		srv.BeginShutdown()
		hs.Close()
		srv.Close()
		st.Close()
	})
	return hs.URL
}

// runJSON runs wardload with args and decodes its JSON line.
func runJSON(t *testing.T, args ...string) (*result, map[string]any) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := run(ctx, args, &out, &errb)
	if err != nil {
		t.Fatalf("run %v: %v\nstderr:\n%s", args, err, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one JSON line, got %d:\n%s", len(lines), out.String())
	}
	var r result
	if err := json.Unmarshal([]byte(lines[0]), &r); err != nil {
		t.Fatalf("output is not the result JSON: %v\n%s", err, lines[0])
	}
	var raw map[string]any
	json.Unmarshal([]byte(lines[0]), &raw)
	return &r, raw
}

func checkLoad(t *testing.T, r *result, raw map[string]any, wantMessages int, devices int) {
	t.Helper()
	for _, key := range []string{"mode", "n", "c", "m", "size", "duration_s", "delivered_per_s", "latency_ms", "server_before", "server_after", "errors", "load_avg"} {
		if _, ok := raw[key]; !ok {
			t.Errorf("JSON line lacks %q", key)
		}
	}
	if r.Messages != wantMessages || r.Sent != int64(wantMessages) {
		t.Errorf("m = %d, sent = %d; want %d", r.Messages, r.Sent, wantMessages)
	}
	// Every message delivered exactly once to every destination device.
	if r.Delivered != int64(wantMessages) || r.Missing != 0 || r.Duplicates != 0 {
		t.Errorf("delivered %d, missing %d, duplicates %d; want %d, 0, 0", r.Delivered, r.Missing, r.Duplicates, wantMessages)
	}
	copies := int64(wantMessages * (2*devices - 1))
	if r.CopiesDelivered != copies {
		t.Errorf("copies delivered %d, want %d", r.CopiesDelivered, copies)
	}
	if r.Acked != copies {
		t.Errorf("server acked %d entries, want %d", r.Acked, copies)
	}
	if len(r.Errors) != 0 {
		t.Errorf("errors: %v", r.Errors)
	}
	l := r.Latency
	if l == nil || l.N != int(copies) {
		t.Fatalf("latency sample %+v, want %d entries", l, copies)
	}
	if !(l.P50 > 0 && l.P50 <= l.P95 && l.P95 <= l.P99 && l.P99 <= l.Max && l.Max < 60000) {
		t.Errorf("latencies not positive and ordered: %+v", l)
	}
	if s := r.SendLatency; s == nil || s.N != wantMessages || s.P50 <= 0 || s.P50 > l.Max+1000 {
		t.Errorf("send latencies %+v", s)
	}
	if r.DurationS <= 0 || r.DeliveredPerS <= 0 {
		t.Errorf("duration %v s, %v delivered/s", r.DurationS, r.DeliveredPerS)
	}
	if got := float64(r.Delivered) / r.DurationS; got < r.DeliveredPerS*0.9 || got > r.DeliveredPerS*1.1 {
		t.Errorf("delivered/s %v inconsistent with %d in %v s", r.DeliveredPerS, r.Delivered, r.DurationS)
	}
	if r.Before.RSS <= 0 || r.After.RSS <= 0 || r.Before.HeapInuse <= 0 {
		t.Errorf("server memory not read: before %+v after %+v", r.Before, r.After)
	}
}

func TestThroughput(t *testing.T) {
	url := startServer(t)
	r, raw := runJSON(t, "--server", url, "--mode", "throughput", "-n", "4", "-c", "8", "-m", "200", "--size", "64")
	if r.Mode != "throughput" || r.Accounts != 4 || r.Concurrency != 8 || r.Size != 64 {
		t.Errorf("echoed settings wrong: %+v", r)
	}
	checkLoad(t, r, raw, 200, 1)
}

func TestThroughputDevices(t *testing.T) {
	url := startServer(t)
	r, raw := runJSON(t, "--server", url, "-n", "3", "--devices", "2", "-c", "4", "-m", "60", "--ack-every", "5")
	checkLoad(t, r, raw, 60, 2)
}

func TestRate(t *testing.T) {
	url := startServer(t)
	start := time.Now()
	r, raw := runJSON(t, "--server", url, "--mode", "rate", "-n", "4", "-c", "8", "--rate", "200", "--duration", "1s")
	checkLoad(t, r, raw, 200, 1)
	if r.Rate != 200 || r.OfferedPerS < 150 || r.OfferedPerS > 230 {
		t.Errorf("rate %v, offered %v/s; want 200 and about 200", r.Rate, r.OfferedPerS)
	}
	// Open loop: 200 messages at 200/s take about a second, not less.
	if r.DurationS < 0.9 || time.Since(start) < 900*time.Millisecond {
		t.Errorf("rate mode finished in %v s: not paced", r.DurationS)
	}
}

func TestIdle(t *testing.T) {
	url := startServer(t)
	r, _ := runJSON(t, "--server", url, "--mode", "idle", "-k", "10", "--devices", "2", "--hold", "100ms")
	if r.Connections != 10 || r.Accounts != 5 {
		t.Errorf("connections %d accounts %d, want 10 and 5", r.Connections, r.Accounts)
	}
	if r.After.Streams-r.Before.Streams != 10 {
		t.Errorf("server counts %d -> %d streams, want 10 more", r.Before.Streams, r.After.Streams)
	}
	if r.BytesPerConnRSS == 0 && r.BytesPerConnHeap == 0 {
		t.Errorf("no per-connection memory figure")
	}
	if len(r.Errors) != 0 {
		t.Errorf("errors: %v", r.Errors)
	}
}

func TestFlags(t *testing.T) {
	tests := []struct {
		args []string
		ok   bool
	}{
		{[]string{"--server", "http://127.0.0.1:9"}, true},
		{[]string{"--server", "http://localhost:9"}, true},
		{[]string{"--server", "http://[::1]:9"}, true},
		{[]string{"--server", "http://10.0.0.1:8420"}, false},
		{[]string{"--server", "http://example.com"}, false},
		{[]string{"--server", "https://127.0.0.1:9"}, false},
		{[]string{"--mode", "flood"}, false},
		{[]string{"-n", "1"}, false},
		{[]string{"-m", "0"}, false},
		{[]string{"--size", "15"}, false},
		{[]string{"--mode", "rate", "--rate", "0"}, false},
		{[]string{"--mode", "rate", "--rate", "100000", "--duration", "10m"}, false},
		{[]string{"--mode", "idle", "-k", "30000"}, false},
		{[]string{"--devices", "9"}, false},
		{[]string{"extra"}, false},
	}
	for _, tt := range tests {
		_, err := parseFlags(tt.args, io.Discard)
		if (err == nil) != tt.ok {
			t.Errorf("%v: err = %v, want ok %v", tt.args, err, tt.ok)
		}
	}
}

func TestSummarize(t *testing.T) {
	ns := make([]int64, 100)
	for i := range ns {
		ns[i] = int64(100-i) * 1e6 // 100 ms .. 1 ms, unsorted
	}
	p := summarize(ns)
	if p.N != 100 || p.P50 != 50 || p.P95 != 95 || p.P99 != 99 || p.Max != 100 {
		t.Errorf("summarize = %+v", p)
	}
	if summarize(nil) != nil {
		t.Error("empty sample should give nil")
	}
}

// TestSpawn builds and starts a real wardd subprocess, as --spawn does for
// the recorded runs.
func TestSpawn(t *testing.T) {
	if testing.Short() {
		t.Skip("builds wardd")
	}
	r, raw := runJSON(t, "--spawn", "-n", "3", "-c", "4", "-m", "50")
	checkLoad(t, r, raw, 50, 1)
	if !r.Spawned || r.ServerFlags == "" || r.ServerFileLimit == "" || !strings.HasPrefix(r.Server, "http://127.0.0.1:") {
		t.Errorf("spawned %v, flags %q, file limit %q, server %q", r.Spawned, r.ServerFlags, r.ServerFileLimit, r.Server)
	}
	if !strings.Contains(r.ServerFlags, "-send-rate") {
		t.Errorf("server flags %q do not say the send rate was raised", r.ServerFlags)
	}
}
