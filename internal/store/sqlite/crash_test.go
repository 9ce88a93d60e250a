package sqlite_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wardchat/ward/internal/store"
	"github.com/wardchat/ward/internal/store/sqlite"
)

// crashChildEnv names the database a re-executed test binary writes to
// until it is killed.
const crashChildEnv = "WARD_STORE_CRASH_CHILD"

var crashAcct = store.AccountID{0xc0, 0xde}

// TestCrashChild is the child half of TestCrash; it does nothing unless
// started by TestCrash.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		t.Skip("child process of TestCrash only")
	}
	ctx := context.Background()
	s, err := sqlite.Open(ctx, sqlite.Config{Path: path, MaxQueueDepth: 1 << 30})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	b := store.NewBatcher(s, store.BatcherConfig{})
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	var wg sync.WaitGroup
	t0 := time.UnixMilli(1_800_000_000_000)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				var id store.MessageID
				copy(id[:], fmt.Sprintf("%02d-%013d", g, i))
				sd := store.Send{
					Sender:          store.Address{Account: crashAcct, Device: 1},
					ClientMessageID: store.ClientMessageID(id),
					MessageID:       id,
					Timestamp:       t0,
					ExpiresAt:       t0.Add(time.Hour),
					Copies: []store.Copy{
						{To: store.Address{Account: crashAcct, Device: 1}, Envelope: id[:]},
						{To: store.Address{Account: crashAcct, Device: 2}, Envelope: id[:]},
					},
				}
				if _, err := b.Enqueue(ctx, sd); err != nil {
					fmt.Println("ERR", err)
					os.Exit(1)
				}
				// Reported only after the commit returned.
				mu.Lock()
				fmt.Fprintf(out, "OK %x\n", id)
				out.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// TestCrash kills a process that is committing sends through a Batcher
// with SIGKILL, reopens the database and checks that every send the process
// saw committed is there, on both devices, exactly once.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ward.db")
	s := openAt(t, path)
	keys := []store.DeviceKeys{
		{ID: 1, SigningKey: make([]byte, 32), IdentityKey: make([]byte, 32)},
		{ID: 2, SigningKey: make([]byte, 32), IdentityKey: make([]byte, 32)},
	}
	if err := s.CreateAccount(ctx, store.NewAccount{ID: crashAcct, Handle: "crash", AgeBand: store.AgeAdult,
		IdentityKey: make([]byte, 32), CreatedAt: time.UnixMilli(1_800_000_000_000),
		DeviceList: store.DeviceListUpdate{Version: 1, Signed: []byte("l"), Devices: keys}}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[string]bool{}
	sc := bufio.NewScanner(stdout)
	deadline := time.Now().Add(1500 * time.Millisecond)
	for sc.Scan() {
		line := sc.Text()
		if len(line) > 3 && line[:3] == "OK " {
			acked[line[3:]] = true
		} else {
			t.Logf("child: %s", line)
		}
		if time.Now().After(deadline) && len(acked) > 100 {
			break
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	// Lines already written before the kill are committed too.
	for sc.Scan() {
		if line := sc.Text(); len(line) > 3 && line[:3] == "OK " {
			acked[line[3:]] = true
		}
	}
	cmd.Wait()
	if len(acked) == 0 {
		t.Fatal("child committed nothing")
	}

	s = openAt(t, path)
	defer s.Close()
	for dev := store.DeviceID(1); dev <= 2; dev++ {
		es, err := s.Fetch(ctx, store.Address{Account: crashAcct, Device: dev}, 0, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for _, e := range es {
			seen[hex.EncodeToString(e.MessageID[:])]++
		}
		for id := range acked {
			if seen[id] != 1 {
				t.Fatalf("device %d: committed send %s found %d times after crash", dev, id, seen[id])
			}
		}
		if n, _ := s.QueueDepth(ctx, store.Address{Account: crashAcct, Device: dev}); n != len(es) {
			t.Fatalf("device %d: depth %d but %d entries", dev, n, len(es))
		}
		t.Logf("device %d: %d sends reported committed, %d in the queue after SIGKILL", dev, len(acked), len(es))
	}
}
