package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/wardchat/ward/internal/store"
	"github.com/wardchat/ward/internal/store/sqlite"
	"github.com/wardchat/ward/internal/store/storetest"
)

func openAt(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), sqlite.Config{Path: path, MaxQueueDepth: storetest.MaxQueueDepth})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s := openAt(t, filepath.Join(t.TempDir(), "ward.db"))
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	})
}

// TestReopen: everything committed survives closing and reopening the
// database; unacked entries are still there and sequence numbers continue.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ward.db")
	s := openAt(t, path)

	t0 := time.UnixMilli(1_800_000_000_000)
	acct := store.AccountID{1}
	keys := []store.DeviceKeys{{ID: 1, SigningKey: make([]byte, 32), IdentityKey: make([]byte, 32)}}
	if err := s.CreateAccount(ctx, store.NewAccount{ID: acct, Handle: "durable", AgeBand: store.AgeTeen,
		IdentityKey: make([]byte, 32), CreatedAt: t0,
		DeviceList: store.DeviceListUpdate{Version: 3, Signed: []byte("list"), Devices: keys}}); err != nil {
		t.Fatal(err)
	}
	to := store.Address{Account: acct, Device: 1}
	var seqs []uint64
	for i := range 3 {
		sd := store.Send{Sender: to, ClientMessageID: store.ClientMessageID{byte(i)}, MessageID: store.MessageID{byte(i)},
			Timestamp: t0, ExpiresAt: t0.Add(time.Hour), Copies: []store.Copy{{To: to, Envelope: []byte{byte(i)}}}}
		r := s.EnqueueBatch(ctx, []store.Send{sd})[0]
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		seqs = append(seqs, r.Seqs[0])
	}
	if _, err := s.Ack(ctx, to, seqs[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutSecret(ctx, "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openAt(t, path)
	defer s.Close()
	a, err := s.AccountByHandle(ctx, "DURABLE")
	if err != nil || a.ID != acct || a.DeviceListVersion != 3 || a.AgeBand != store.AgeTeen {
		t.Fatalf("account after reopen = %+v, %v", a, err)
	}
	es, err := s.Fetch(ctx, to, 0, 10)
	if err != nil || len(es) != 2 || es[0].Seq != seqs[1] || es[1].Seq != seqs[2] || es[1].Envelope[0] != 2 {
		t.Fatalf("queue after reopen = %+v, %v", es, err)
	}
	if n, _ := s.QueueDepth(ctx, to); n != 2 {
		t.Fatalf("depth after reopen = %d", n)
	}
	// Idempotency survives a restart.
	dup := store.Send{Sender: to, ClientMessageID: store.ClientMessageID{1}, MessageID: store.MessageID{9},
		Timestamp: t0, ExpiresAt: t0.Add(time.Hour), Copies: []store.Copy{{To: to, Envelope: []byte{9}}}}
	if r := s.EnqueueBatch(ctx, []store.Send{dup})[0]; r.Err != nil || !r.Duplicate || r.MessageID != (store.MessageID{1}) {
		t.Fatalf("retry after reopen = %+v", r)
	}
	sd := dup
	sd.ClientMessageID = store.ClientMessageID{7}
	r := s.EnqueueBatch(ctx, []store.Send{sd})[0]
	if r.Err != nil || r.Seqs[0] <= seqs[2] {
		t.Fatalf("seq after reopen = %+v, want > %d", r, seqs[2])
	}
	if v, ver, err := s.Secret(ctx, "k"); err != nil || string(v) != "v" || ver != 1 {
		t.Fatalf("secret after reopen = %q %d %v", v, ver, err)
	}
}

// TestPragmas checks the durability settings are in force on the writer.
func TestPragmas(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "ward.db"))
	defer s.Close()
	got := s.Pragmas(t.Context())
	want := map[string]string{"journal_mode": "wal", "synchronous": "2", "foreign_keys": "1"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("PRAGMA %s = %q, want %q", k, got[k], v)
		}
	}
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, store.BatcherConfig{}, func(b *testing.B, maxDepth int) store.Store {
		s, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(b.TempDir(), "ward.db"), MaxQueueDepth: maxDepth})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	})
}

// TestSingleWriter: a second store on the same database is refused while
// the first is open, and allowed once it is closed.
func TestSingleWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ward.db")
	s := openAt(t, path)
	if s2, err := sqlite.Open(context.Background(), sqlite.Config{Path: path}); err == nil {
		s2.Close()
		t.Fatal("second Open of an open database succeeded")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path)
	s.Close()
}
