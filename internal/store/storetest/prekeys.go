package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wardchat/ward/internal/store"
)

func prekeys(prefix string, from, n int) []store.Prekey {
	ks := make([]store.Prekey, n)
	for i := range ks {
		id := uint32(from + i)
		ks[i] = store.Prekey{ID: id, Key: []byte(fmt.Sprintf("%s-%d", prefix, id))}
	}
	return ks
}

func testPrekeys(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	a := mustAccount(t, s, "prekeys", 1)
	d := addr(a, 1)
	unknown := addr(a, 2)

	c, err := s.PrekeyCounts(ctx, d)
	noErr(t, "PrekeyCounts", err)
	if *c != (store.PrekeyCounts{}) {
		t.Fatalf("fresh counts = %+v", c)
	}
	_, err = s.TakeBundle(ctx, d)
	wantErr(t, "TakeBundle(nothing)", err, store.ErrNoPrekey)

	wantErr(t, "SetSignedPrekey(unknown)", s.SetSignedPrekey(ctx, unknown, store.Prekey{ID: 1, Key: []byte("x")}), store.ErrNotFound)
	wantErr(t, "SetLastResortPQPrekey(unknown)", s.SetLastResortPQPrekey(ctx, unknown, store.Prekey{ID: 1, Key: []byte("x")}), store.ErrNotFound)
	wantErr(t, "AddOneTimePrekeys(unknown)", s.AddOneTimePrekeys(ctx, unknown, prekeys("x", 1, 1), nil), store.ErrNotFound)
	_, err = s.TakeBundle(ctx, unknown)
	wantErr(t, "TakeBundle(unknown)", err, store.ErrNotFound)
	_, err = s.PrekeyCounts(ctx, unknown)
	wantErr(t, "PrekeyCounts(unknown)", err, store.ErrNotFound)
	wantErr(t, "SetSignedPrekey(empty)", s.SetSignedPrekey(ctx, d, store.Prekey{ID: 1}), store.ErrInvalid)

	// One-time keys but no signed prekey: refused, nothing consumed.
	noErr(t, "AddOneTimePrekeys", s.AddOneTimePrekeys(ctx, d, prekeys("otk", 10, 3), prekeys("pq", 20, 2)))
	_, err = s.TakeBundle(ctx, d)
	wantErr(t, "TakeBundle(no signed prekey)", err, store.ErrNoPrekey)

	noErr(t, "SetSignedPrekey", s.SetSignedPrekey(ctx, d, store.Prekey{ID: 7, Key: []byte("spk-7")}))
	noErr(t, "SetSignedPrekey(rotate)", s.SetSignedPrekey(ctx, d, store.Prekey{ID: 8, Key: []byte("spk-8")}))
	// Re-uploading the same ids changes nothing.
	noErr(t, "AddOneTimePrekeys(retry)", s.AddOneTimePrekeys(ctx, d, prekeys("other", 10, 1), prekeys("other", 20, 1)))

	c, err = s.PrekeyCounts(ctx, d)
	noErr(t, "PrekeyCounts", err)
	if want := (store.PrekeyCounts{OneTime: 3, OneTimePQ: 2, HasSignedPrekey: true, SignedPrekeyID: 8}); *c != want {
		t.Fatalf("counts = %+v, want %+v", c, want)
	}

	// Two bundles use the one-time PQ keys, lowest id first.
	for i := range 2 {
		b, err := s.TakeBundle(ctx, d)
		noErr(t, "TakeBundle", err)
		if b.SignedPrekey.ID != 8 || string(b.SignedPrekey.Key) != "spk-8" {
			t.Fatalf("signed prekey = %+v", b.SignedPrekey)
		}
		if b.OneTime == nil || b.OneTime.ID != uint32(10+i) || string(b.OneTime.Key) != fmt.Sprintf("otk-%d", 10+i) {
			t.Fatalf("bundle %d one-time = %+v", i, b.OneTime)
		}
		if b.PQLastResort || b.PQ.ID != uint32(20+i) || string(b.PQ.Key) != fmt.Sprintf("pq-%d", 20+i) {
			t.Fatalf("bundle %d pq = %+v last resort %v", i, b.PQ, b.PQLastResort)
		}
	}
	// No PQ key left at all: refused and the X25519 one-time key is kept.
	_, err = s.TakeBundle(ctx, d)
	wantErr(t, "TakeBundle(no pq prekey)", err, store.ErrNoPrekey)
	c, _ = s.PrekeyCounts(ctx, d)
	if c.OneTime != 1 || c.OneTimePQ != 0 {
		t.Fatalf("counts after refused bundle = %+v", c)
	}

	noErr(t, "SetLastResortPQPrekey", s.SetLastResortPQPrekey(ctx, d, store.Prekey{ID: 99, Key: []byte("lr")}))
	for i := range 3 {
		b, err := s.TakeBundle(ctx, d)
		noErr(t, "TakeBundle(last resort)", err)
		if !b.PQLastResort || b.PQ.ID != 99 || string(b.PQ.Key) != "lr" {
			t.Fatalf("pq = %+v last resort %v", b.PQ, b.PQLastResort)
		}
		if (i == 0) != (b.OneTime != nil) {
			t.Fatalf("bundle %d one-time = %+v", i, b.OneTime)
		}
	}
	c, _ = s.PrekeyCounts(ctx, d)
	if want := (store.PrekeyCounts{HasSignedPrekey: true, SignedPrekeyID: 8, HasLastResortPQ: true, LastResortPQKeyID: 99}); *c != want {
		t.Fatalf("counts = %+v, want %+v", c, want)
	}

	// Keys of another device are separate.
	b := mustAccount(t, s, "other", 1)
	noErr(t, "AddOneTimePrekeys(other)", s.AddOneTimePrekeys(ctx, addr(b, 1), prekeys("b", 10, 5), nil))
	if c, _ := s.PrekeyCounts(ctx, d); c.OneTime != 0 {
		t.Fatalf("device counts changed by another device's upload: %+v", c)
	}
}

// testPrekeysConcurrent: 20 goroutines take 100 bundles each from a device
// holding 2000 one-time keys of each kind. Every key must be handed out
// exactly once.
func testPrekeysConcurrent(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	const workers, each = 20, 100
	const total = workers * each
	a := mustAccount(t, s, "popular", 1)
	d := addr(a, 1)
	noErr(t, "SetSignedPrekey", s.SetSignedPrekey(ctx, d, store.Prekey{ID: 1, Key: []byte("spk")}))
	noErr(t, "SetLastResortPQPrekey", s.SetLastResortPQPrekey(ctx, d, store.Prekey{ID: 1, Key: []byte("lr")}))
	noErr(t, "AddOneTimePrekeys", s.AddOneTimePrekeys(ctx, d, prekeys("x", 1, total), prekeys("pq", 1, total)))

	var (
		wg           sync.WaitGroup
		mu           sync.Mutex
		seenX, seenQ = map[uint32]int{}, map[uint32]int{}
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				b, err := s.TakeBundle(ctx, d)
				if err != nil {
					t.Errorf("TakeBundle: %v", err)
					return
				}
				mu.Lock()
				if b.OneTime == nil {
					t.Errorf("bundle without a one-time key while keys remain")
				} else {
					seenX[b.OneTime.ID]++
				}
				if b.PQLastResort {
					t.Errorf("last-resort PQ key while one-time PQ keys remain")
				} else {
					seenQ[b.PQ.ID]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for name, seen := range map[string]map[uint32]int{"x25519": seenX, "pq": seenQ} {
		if len(seen) != total {
			t.Errorf("%s: %d distinct one-time keys handed out, want %d", name, len(seen), total)
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("%s: one-time key %d handed out %d times", name, id, n)
			}
		}
	}
	c, err := s.PrekeyCounts(ctx, d)
	noErr(t, "PrekeyCounts", err)
	if c.OneTime != 0 || c.OneTimePQ != 0 {
		t.Fatalf("counts after handing all out = %+v", c)
	}
}

func testChallenges(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	a := mustAccount(t, s, "auth", 1)
	d := addr(a, 1)
	ch := store.Challenge{Nonce: randBytes(32), Device: d, ExpiresAt: t0.Add(time.Minute)}
	noErr(t, "PutChallenge", s.PutChallenge(ctx, ch))
	wantErr(t, "PutChallenge(dup)", s.PutChallenge(ctx, ch), store.ErrConflict)
	wantErr(t, "PutChallenge(unknown device)", s.PutChallenge(ctx,
		store.Challenge{Nonce: randBytes(32), Device: addr(a, 5), ExpiresAt: t0}), store.ErrNotFound)
	wantErr(t, "PutChallenge(empty nonce)", s.PutChallenge(ctx, store.Challenge{Device: d, ExpiresAt: t0}), store.ErrInvalid)

	got, err := s.ConsumeChallenge(ctx, ch.Nonce, t0)
	noErr(t, "ConsumeChallenge", err)
	if got.Device != d || !got.ExpiresAt.Equal(ch.ExpiresAt) {
		t.Fatalf("challenge = %+v", got)
	}
	equalBytes(t, "nonce", got.Nonce, ch.Nonce)
	_, err = s.ConsumeChallenge(ctx, ch.Nonce, t0)
	wantErr(t, "ConsumeChallenge(again)", err, store.ErrNotFound)
	_, err = s.ConsumeChallenge(ctx, randBytes(32), t0)
	wantErr(t, "ConsumeChallenge(unknown)", err, store.ErrNotFound)

	// Expired at exactly ExpiresAt, and consumed by the failed attempt.
	exp := store.Challenge{Nonce: randBytes(32), Device: d, ExpiresAt: t0.Add(time.Minute)}
	noErr(t, "PutChallenge", s.PutChallenge(ctx, exp))
	_, err = s.ConsumeChallenge(ctx, exp.Nonce, exp.ExpiresAt)
	wantErr(t, "ConsumeChallenge(expired)", err, store.ErrNotFound)
	_, err = s.ConsumeChallenge(ctx, exp.Nonce, t0)
	wantErr(t, "ConsumeChallenge(after expired attempt)", err, store.ErrNotFound)

	for i := range 5 {
		noErr(t, "PutChallenge", s.PutChallenge(ctx, store.Challenge{
			Nonce: randBytes(32), Device: d, ExpiresAt: t0.Add(time.Duration(i) * time.Minute)}))
	}
	n, err := s.DeleteExpiredChallenges(ctx, t0.Add(2*time.Minute))
	noErr(t, "DeleteExpiredChallenges", err)
	if n != 3 {
		t.Fatalf("DeleteExpiredChallenges deleted %d, want 3", n)
	}
}

func testChallengeConcurrent(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	a := mustAccount(t, s, "auth", 1)
	ch := store.Challenge{Nonce: randBytes(32), Device: addr(a, 1), ExpiresAt: t0.Add(time.Minute)}
	noErr(t, "PutChallenge", s.PutChallenge(ctx, ch))
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
	)
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.ConsumeChallenge(ctx, ch.Nonce, t0)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, store.ErrNotFound):
				t.Errorf("ConsumeChallenge: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("challenge consumed %d times, want 1", wins)
	}
}
