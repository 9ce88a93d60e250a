// Package storetest is the contract suite for [store.Store]
// implementations. Every backend runs the same tests:
//
//	func TestContract(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			return openFresh(t) // empty store, MaxQueueDepth = storetest.MaxQueueDepth
//		})
//	}
//
// The open function must return a new, empty store whose per-device queue
// cap is [MaxQueueDepth], and arrange (with t.Cleanup) for it to be closed
// and discarded. Each subtest opens its own store. Subtests run one after
// the other, but many of them drive the store from concurrent goroutines
// (prekey handout, invites, challenges, batches), so run the suite with
// -race as well.
//
// [Bench] runs the same workloads as benchmarks.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/wardchat/ward/internal/store"
)

// MaxQueueDepth is the per-device queue cap the suite expects the stores
// it is given to enforce.
const MaxQueueDepth = 8

// t0 is the suite's clock origin: times are explicit, never time.Now.
var t0 = time.UnixMilli(1_800_000_000_000).UTC()

// Run runs the contract suite against stores made by open.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Accounts", testAccounts},
		{"AccountValidation", testAccountValidation},
		{"HandleCaseInsensitive", testHandleCaseInsensitive},
		{"Invites", testInvites},
		{"InviteConcurrent", testInviteConcurrent},
		{"DeviceLists", testDeviceLists},
		{"DeviceListStale", testDeviceListStale},
		{"DeviceRemovalCascades", testDeviceRemovalCascades},
		{"Prekeys", testPrekeys},
		{"PrekeysConcurrent", testPrekeysConcurrent},
		{"Challenges", testChallenges},
		{"ChallengeConcurrent", testChallengeConcurrent},
		{"QueueOrder", testQueueOrder},
		{"QueuePrevSeqs", testQueuePrevSeqs},
		{"QueueFanOut", testQueueFanOut},
		{"QueueIdempotent", testQueueIdempotent},
		{"QueueCapAllOrNone", testQueueCapAllOrNone},
		{"QueueBatchIndependent", testQueueBatchIndependent},
		{"QueueAck", testQueueAck},
		{"QueueExpire", testQueueExpire},
		{"QueueBatcherConcurrent", testQueueBatcherConcurrent},
		{"QueueConcurrentBatches", testQueueConcurrentBatches},
		{"QueueLargeBatch", testQueueLargeBatch},
		{"QueueDeviceReadded", testQueueDeviceReadded},
		{"QueueCursor", testQueueCursor},
		{"QueueModel", testQueueModel},
		{"Blobs", testBlobs},
		{"Secrets", testSecrets},
		{"SecretsConcurrent", testSecretsConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

// ---- helpers ----

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func newID() store.AccountID { return store.AccountID(randBytes(16)) }

func keysFor(ids ...store.DeviceID) []store.DeviceKeys {
	ds := make([]store.DeviceKeys, len(ids))
	for i, id := range ids {
		ds[i] = store.DeviceKeys{ID: id, SigningKey: randBytes(32), IdentityKey: randBytes(32)}
	}
	return ds
}

func newAccount(handle string, devs ...store.DeviceID) store.NewAccount {
	if len(devs) == 0 {
		devs = []store.DeviceID{1}
	}
	return store.NewAccount{
		ID:          newID(),
		Handle:      handle,
		AgeBand:     store.AgeAdult,
		IdentityKey: randBytes(32),
		CreatedAt:   t0,
		DeviceList: store.DeviceListUpdate{
			Version: 1,
			Signed:  []byte("device list v1 of " + handle),
			Devices: keysFor(devs...),
		},
	}
}

// mustAccount registers an account with the given devices and returns it.
func mustAccount(t *testing.T, s store.Store, handle string, devs ...store.DeviceID) store.NewAccount {
	t.Helper()
	a := newAccount(handle, devs...)
	if err := s.CreateAccount(ctxT(t), a); err != nil {
		t.Fatalf("CreateAccount(%q): %v", handle, err)
	}
	return a
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want)
	}
}

func noErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func newClientID() store.ClientMessageID {
	var id store.ClientMessageID
	copy(id[:], randBytes(16))
	return id
}

// send builds a send from sender to the given devices with 100-byte
// envelopes that name their recipient.
func send(from store.Address, to ...store.Address) store.Send {
	s := store.Send{
		Sender:          from,
		ClientMessageID: newClientID(),
		MessageID:       store.MessageID(randBytes(16)),
		Timestamp:       t0,
		ExpiresAt:       t0.Add(30 * 24 * time.Hour),
	}
	for _, a := range to {
		env := make([]byte, 100)
		copy(env, fmt.Sprintf("for %s", a))
		s.Copies = append(s.Copies, store.Copy{To: a, Envelope: env, FrankingTag: randBytes(32)})
	}
	return s
}

func enqueue(t *testing.T, s store.Store, sd store.Send) store.Result {
	t.Helper()
	r := s.EnqueueBatch(ctxT(t), []store.Send{sd})
	if len(r) != 1 {
		t.Fatalf("EnqueueBatch returned %d results for 1 send", len(r))
	}
	return r[0]
}

func mustEnqueue(t *testing.T, s store.Store, sd store.Send) store.Result {
	t.Helper()
	r := enqueue(t, s, sd)
	if r.Err != nil {
		t.Fatalf("enqueue: %v", r.Err)
	}
	return r
}

func fetchAll(t *testing.T, s store.Store, a store.Address) []store.Entry {
	t.Helper()
	es, err := s.Fetch(ctxT(t), a, 0, 1<<20)
	noErr(t, "Fetch", err)
	return es
}

func seqsOf(es []store.Entry) []uint64 {
	out := make([]uint64, len(es))
	for i, e := range es {
		out[i] = e.Seq
	}
	return out
}

func depth(t *testing.T, s store.Store, a store.Address) int {
	t.Helper()
	n, err := s.QueueDepth(ctxT(t), a)
	noErr(t, "QueueDepth", err)
	return n
}

func checkDepth(t *testing.T, s store.Store, a store.Address, want int) {
	t.Helper()
	if got := depth(t, s, a); got != want {
		t.Fatalf("QueueDepth(%s) = %d, want %d", a, got, want)
	}
	if got := len(fetchAll(t, s, a)); got != want {
		t.Fatalf("Fetch(%s) returned %d entries, want %d", a, got, want)
	}
}

func addr(a store.NewAccount, d store.DeviceID) store.Address {
	return store.Address{Account: a.ID, Device: d}
}

func equalBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("%s = %x, want %x", what, got, want)
	}
}

func sortedUnique(xs []uint64) bool {
	return slices.IsSorted(xs) && len(slices.Compact(slices.Clone(xs))) == len(xs)
}
