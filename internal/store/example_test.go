package store_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/wardchat/ward/internal/store"
	"github.com/wardchat/ward/internal/store/sqlite"
)

// The delivery path end to end on the embedded backend: register two
// accounts, send one message to both of Bob's devices through a Batcher,
// retry it, then fetch and acknowledge on one device.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "ward-example")
	defer os.RemoveAll(dir)

	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "ward.db")})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	now := time.UnixMilli(1_800_000_000_000)
	register := func(id byte, handle string, devices ...store.DeviceID) store.AccountID {
		a := store.NewAccount{
			ID: store.AccountID{id}, Handle: handle, AgeBand: store.AgeAdult,
			IdentityKey: make([]byte, 32), CreatedAt: now,
			DeviceList: store.DeviceListUpdate{Version: 1, Signed: []byte("signed list")},
		}
		for _, d := range devices {
			a.DeviceList.Devices = append(a.DeviceList.Devices,
				store.DeviceKeys{ID: d, SigningKey: make([]byte, 32), IdentityKey: make([]byte, 32)})
		}
		if err := st.CreateAccount(ctx, a); err != nil {
			log.Fatal(err)
		}
		return a.ID
	}
	alice := register(1, "Alice", 1)
	bob := register(2, "Bob", 1, 2)

	b := store.NewBatcher(st, store.BatcherConfig{})
	defer b.Close()
	send := store.Send{
		Sender:          store.Address{Account: alice, Device: 1},
		ClientMessageID: store.ClientMessageID{42},
		MessageID:       store.MessageID{7},
		Timestamp:       now,
		ExpiresAt:       now.Add(30 * 24 * time.Hour),
		Copies: []store.Copy{
			{To: store.Address{Account: bob, Device: 1}, Envelope: []byte("ciphertext for bob/1")},
			{To: store.Address{Account: bob, Device: 2}, Envelope: []byte("ciphertext for bob/2")},
		},
	}
	res, err := b.Enqueue(ctx, send)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("committed copies:", len(res.Seqs), "duplicate:", res.Duplicate)

	// The client did not hear back and retries: same ClientMessageID.
	send.MessageID = store.MessageID{8}
	res, _ = b.Enqueue(ctx, send)
	fmt.Println("retry duplicate:", res.Duplicate, "original id kept:", res.MessageID == store.MessageID{7})

	bob1 := store.Address{Account: bob, Device: 1}
	entries, _ := st.Fetch(ctx, bob1, 0, 100)
	fmt.Printf("bob/1 fetched %d: %s\n", len(entries), entries[0].Envelope)
	n, _ := b.Ack(ctx, store.AckRequest{Device: bob1, UpTo: entries[len(entries)-1].Seq})
	fmt.Println("acked:", n)
	d1, _ := st.QueueDepth(ctx, bob1)
	d2, _ := st.QueueDepth(ctx, store.Address{Account: bob, Device: 2})
	fmt.Println("depths:", d1, d2)

	a, _ := st.AccountByHandle(ctx, "BOB")
	fmt.Println("handle lookup is case-insensitive:", a.ID == bob)
	// Output:
	// committed copies: 2 duplicate: false
	// retry duplicate: true original id kept: true
	// bob/1 fetched 1: ciphertext for bob/1
	// acked: 1
	// depths: 0 1
	// handle lookup is case-insensitive: true
}
