package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// spawnFlags are the settings wardload passes to a wardd it starts. They
// raise only the limits that exist for humans (per-account send rate,
// per-address registration rate) or for the file budget (max streams, so
// that the idle mode can reach ~19,900 streams under a 20,000-file limit);
// everything else is the embedded default (SQLite, synchronous=FULL).
var spawnFlags = []string{
	"-send-rate", "1000000", "-send-burst", "1000000",
	"-addr-rate", "1000000", "-addr-burst", "1000000",
	"-max-streams", "19990",
	"-log-level", "warn",
}

// target is the server under load.
type target struct {
	url   string
	pid   int    // of a spawned wardd, else 0
	flags string // flags passed to a spawned wardd
	stop  func() error
}

// spawn builds (unless bin is set) and starts wardd on 127.0.0.1:0 with a
// temporary data directory and waits for its "listening" line.
func spawn(ctx context.Context, bin string, stderr io.Writer) (*target, error) {
	dir, err := os.MkdirTemp("", "wardload-")
	if err != nil {
		return nil, fmt.Errorf("wardload: %w", err)
	}
	cleanup := func() { os.RemoveAll(dir) }
	if bin == "" {
		bin = filepath.Join(dir, "wardd")
		fmt.Fprintln(stderr, "wardload: building wardd")
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/wardchat/ward/cmd/wardd")
		build.Stderr = stderr
		if err := build.Run(); err != nil {
			cleanup()
			return nil, fmt.Errorf("wardload: go build wardd (run from inside the module, or pass --wardd): %w", err)
		}
	}
	args := append([]string{"-addr", "127.0.0.1:0", "-data-dir", filepath.Join(dir, "data")}, spawnFlags...)
	cmd := exec.Command(bin, args...)
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("wardload: %w", err)
	}
	if err := cmd.Start(); err != nil {
		cleanup()
		return nil, fmt.Errorf("wardload: start wardd: %w", err)
	}
	done := make(chan error, 1)
	stop := func() error {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			cleanup()
			return err
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
			cleanup()
			return errors.New("wardload: wardd did not stop within 20s after SIGTERM; killed")
		}
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			if rest, ok := strings.CutPrefix(line, "wardd listening on "); ok {
				u, _, _ := strings.Cut(rest, " ")
				select {
				case addr <- u:
				default:
				}
			}
		}
		io.Copy(io.Discard, out)
	}()
	go func() { done <- cmd.Wait() }()
	select {
	case u := <-addr:
		fmt.Fprintf(stderr, "wardload: wardd pid %d at %s (%s)\n", cmd.Process.Pid, u, strings.Join(spawnFlags, " "))
		return &target{url: u, pid: cmd.Process.Pid, flags: strings.Join(spawnFlags, " "), stop: stop}, nil
	case err := <-done:
		cleanup()
		return nil, fmt.Errorf("wardload: wardd exited before listening: %v", err)
	case <-time.After(60 * time.Second):
		stop()
		return nil, errors.New("wardload: wardd did not start listening within 60s")
	case <-ctx.Done():
		stop()
		return nil, ctx.Err()
	}
}

// memory is one reading of the server's memory.
type memory struct {
	RSS        int64   `json:"rss_bytes"`        // VmRSS (spawned) or process_resident_memory_bytes
	HeapInuse  int64   `json:"heap_inuse_bytes"` // go_memstats_heap_inuse_bytes
	StackInuse int64   `json:"stack_inuse_bytes"`
	Goroutines int64   `json:"goroutines"`
	Streams    int64   `json:"streams"` // ward_stream_connections
	CPUSeconds float64 `json:"cpu_s"`   // process_cpu_seconds_total
	Acked      int64   `json:"-"`       // ward_acked_entries_total
	Deliveries int64   `json:"-"`       // ward_deliveries_total
}

// readMemory reads /metrics of the target and, for a spawned server, its
// VmRSS from /proc.
func readMemory(ctx context.Context, hc *http.Client, t *target) (memory, error) {
	var m memory
	vals, err := scrape(ctx, hc, t.url)
	if err != nil {
		return m, err
	}
	m.RSS = int64(vals["process_resident_memory_bytes"])
	m.HeapInuse = int64(vals["go_memstats_heap_inuse_bytes"])
	m.StackInuse = int64(vals["go_memstats_stack_inuse_bytes"])
	m.Goroutines = int64(vals["go_goroutines"])
	m.Streams = int64(vals["ward_stream_connections"])
	m.CPUSeconds = vals["process_cpu_seconds_total"]
	m.Acked = int64(vals["ward_acked_entries_total"])
	m.Deliveries = int64(vals["ward_deliveries_total"])
	if t.pid != 0 {
		if rss, err := vmRSS(t.pid); err == nil {
			m.RSS = rss
		}
	}
	return m, nil
}

// scrape returns the unlabelled samples of a Prometheus text exposition.
func scrape(ctx context.Context, hc *http.Client, base string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("wardload: metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("wardload: metrics: HTTP %d", resp.StatusCode)
	}
	vals := map[string]float64{}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 8<<20))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' || strings.ContainsRune(line, '{') {
			continue
		}
		name, v, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if f, err := strconv.ParseFloat(strings.Fields(v)[0], 64); err == nil {
			vals[name] = f
		}
	}
	return vals, sc.Err()
}

// vmRSS reads VmRSS of a process, in bytes.
func vmRSS(pid int) (int64, error) {
	return procStatusKB(pid, "VmRSS:")
}

func procStatusKB(pid int, field string) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				break
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("wardload: no %s in /proc/%d/status", field, pid)
}

// procFileLimit returns the soft "Max open files" of a process.
func procFileLimit(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "Max open files") {
			f := strings.Fields(strings.TrimPrefix(line, "Max open files"))
			if len(f) > 0 {
				return f[0]
			}
		}
	}
	return ""
}

// loadAverage returns the first field of /proc/loadavg ("" if unknown).
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
