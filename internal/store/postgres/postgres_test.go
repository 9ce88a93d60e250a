package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wardchat/ward/internal/store"
	"github.com/wardchat/ward/internal/store/postgres"
	"github.com/wardchat/ward/internal/store/storetest"
)

// serverURL returns WARD_TEST_POSTGRES or skips the test, saying so.
func serverURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("WARD_TEST_POSTGRES")
	if u == "" {
		t.Skip("WARD_TEST_POSTGRES not set: PostgreSQL contract tests skipped")
	}
	return u
}

// freshSchema creates a schema with a random name, returns a connection
// string whose connections use it as search_path, and drops it (CASCADE)
// when the test ends.
func freshSchema(t testing.TB) string {
	t.Helper()
	base := serverURL(t)
	ctx := context.Background()
	var b [8]byte
	rand.Read(b[:])
	schema := "ward_test_" + hex.EncodeToString(b[:])
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect %s: %v", base, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("connect for cleanup: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("WARD_TEST_POSTGRES: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func openFresh(t testing.TB, maxDepth int) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), postgres.Config{URL: freshSchema(t), MaxQueueDepth: maxDepth})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestContract(t *testing.T) {
	serverURL(t)
	storetest.Run(t, func(t *testing.T) store.Store { return openFresh(t, storetest.MaxQueueDepth) })
}

// TestReopen: a second Open on a migrated schema is a no-op migration and
// sees the data.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	u := freshSchema(t)
	s, err := postgres.Open(ctx, postgres.Config{URL: u})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutSecret(ctx, "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = postgres.Open(ctx, postgres.Config{URL: u})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, ver, err := s.Secret(ctx, "k"); err != nil || string(v) != "v" || ver != 1 {
		t.Fatalf("Secret after reopen = %q %d %v", v, ver, err)
	}
}

func BenchmarkStore(b *testing.B) {
	serverURL(b)
	// PostgreSQL commits in parallel: let four batches be in flight.
	storetest.Bench(b, store.BatcherConfig{Flushers: 4}, func(b *testing.B, maxDepth int) store.Store { return openFresh(b, maxDepth) })
}

// TestTwoNodes opens two stores (two pools, as two wardd nodes would) on one
// schema and checks the cross-node guarantees: a one-time prekey is handed
// out once across both, and sends from both nodes to the same devices get
// unique, dense sequence numbers with nothing lost.
func TestTwoNodes(t *testing.T) {
	ctx := context.Background()
	u := freshSchema(t)
	var nodes [2]*postgres.Store
	for i := range nodes {
		s, err := postgres.Open(ctx, postgres.Config{URL: u, MaxQueueDepth: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		nodes[i] = s
	}
	t0 := time.UnixMilli(1_800_000_000_000)
	acct := store.AccountID{7}
	var keys []store.DeviceKeys
	for d := store.DeviceID(1); d <= 3; d++ {
		keys = append(keys, store.DeviceKeys{ID: d, SigningKey: make([]byte, 32), IdentityKey: make([]byte, 32)})
	}
	if err := nodes[0].CreateAccount(ctx, store.NewAccount{ID: acct, Handle: "two", AgeBand: store.AgeAdult,
		IdentityKey: make([]byte, 32), CreatedAt: t0,
		DeviceList: store.DeviceListUpdate{Version: 1, Signed: []byte("l"), Devices: keys}}); err != nil {
		t.Fatal(err)
	}
	dev := store.Address{Account: acct, Device: 1}
	const n = 400
	var otks []store.Prekey
	for i := range n {
		otks = append(otks, store.Prekey{ID: uint32(i + 1), Key: []byte{byte(i)}})
	}
	if err := nodes[0].SetSignedPrekey(ctx, dev, store.Prekey{ID: 1, Key: []byte("spk")}); err != nil {
		t.Fatal(err)
	}
	if err := nodes[0].SetLastResortPQPrekey(ctx, dev, store.Prekey{ID: 1, Key: []byte("lr")}); err != nil {
		t.Fatal(err)
	}
	if err := nodes[1].AddOneTimePrekeys(ctx, dev, otks, nil); err != nil {
		t.Fatal(err)
	}

	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seen = map[uint32]int{}
		seqs = map[store.Address][]uint64{}
	)
	for w := range 8 {
		node := nodes[w%2]
		wg.Add(2)
		go func() {
			defer wg.Done()
			for range n / 8 {
				b, err := node.TakeBundle(ctx, dev)
				if err != nil || b.OneTime == nil {
					t.Errorf("TakeBundle = %+v, %v", b, err)
					return
				}
				mu.Lock()
				seen[b.OneTime.ID]++
				mu.Unlock()
			}
		}()
		go func() {
			defer wg.Done()
			for i := range 25 {
				// Batches to overlapping devices in different orders.
				var batch []store.Send
				for j := range 4 {
					var cid store.ClientMessageID
					cid[0], cid[1], cid[2] = byte(w), byte(i), byte(j)
					to := []store.Address{{Account: acct, Device: store.DeviceID(1 + (w+j)%3)}, {Account: acct, Device: store.DeviceID(1 + (w+j+1)%3)}}
					sd := store.Send{Sender: dev, ClientMessageID: cid, MessageID: store.MessageID(cid), Timestamp: t0, ExpiresAt: t0.Add(time.Hour)}
					for _, a := range to {
						sd.Copies = append(sd.Copies, store.Copy{To: a, Envelope: []byte("e")})
					}
					batch = append(batch, sd)
				}
				for k, r := range node.EnqueueBatch(ctx, batch) {
					if r.Err != nil {
						t.Errorf("EnqueueBatch: %v", r.Err)
						return
					}
					mu.Lock()
					for c, q := range r.Seqs {
						seqs[batch[k].Copies[c].To] = append(seqs[batch[k].Copies[c].To], q)
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("%d distinct one-time prekeys handed out across two nodes, want %d", len(seen), n)
	}
	for id, k := range seen {
		if k != 1 {
			t.Fatalf("one-time prekey %d handed out %d times", id, k)
		}
	}
	total := 0
	for a, qs := range seqs {
		slices.Sort(qs)
		for i := range qs {
			if qs[i] != uint64(i+1) {
				t.Fatalf("device %s: seqs %v are not 1..%d", a, qs, len(qs))
			}
		}
		es, err := nodes[1].Fetch(ctx, a, 0, 10_000)
		if err != nil || len(es) != len(qs) {
			t.Fatalf("device %s: fetched %d entries, %v; want %d", a, len(es), err, len(qs))
		}
		total += len(qs)
	}
	if total != 8*25*4*2 {
		t.Fatalf("%d entries, want %d", total, 8*25*4*2)
	}
}
