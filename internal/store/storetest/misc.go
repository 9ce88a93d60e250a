package storetest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/wardchat/ward/internal/store"
)

func testBlobs(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	a := mustAccount(t, s, "uploader")
	var id store.BlobID
	copy(id[:], randBytes(32))
	b := store.Blob{ID: id, Uploader: a.ID, Size: 0, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	noErr(t, "CreateBlob", s.CreateBlob(ctx, b))
	wantErr(t, "CreateBlob(dup)", s.CreateBlob(ctx, b), store.ErrConflict)
	other := b
	other.ID[0] ^= 1
	other.Uploader = newID()
	wantErr(t, "CreateBlob(unknown uploader)", s.CreateBlob(ctx, other), store.ErrNotFound)

	got, err := s.Blob(ctx, id)
	noErr(t, "Blob", err)
	if got.State != store.BlobUploading || got.Uploader != a.ID || got.SHA256 != ([32]byte{}) || !got.ExpiresAt.Equal(b.ExpiresAt) {
		t.Fatalf("Blob = %+v", got)
	}

	sum := sha256.Sum256([]byte("ciphertext"))
	noErr(t, "CompleteBlob", s.CompleteBlob(ctx, id, 10, sum))
	wantErr(t, "CompleteBlob(again)", s.CompleteBlob(ctx, id, 10, sum), store.ErrConflict)
	wantErr(t, "CompleteBlob(unknown)", s.CompleteBlob(ctx, store.BlobID{}, 10, sum), store.ErrNotFound)
	got, err = s.Blob(ctx, id)
	noErr(t, "Blob", err)
	if got.State != store.BlobComplete || got.Size != 10 || got.SHA256 != sum || !got.CreatedAt.Equal(t0) {
		t.Fatalf("completed Blob = %+v", got)
	}

	// Expiry listing: oldest first, bounded.
	var ids []store.BlobID
	for i := range 4 {
		var bid store.BlobID
		copy(bid[:], randBytes(32))
		ids = append(ids, bid)
		noErr(t, "CreateBlob", s.CreateBlob(ctx, store.Blob{ID: bid, Uploader: a.ID, CreatedAt: t0,
			ExpiresAt: t0.Add(time.Duration(i+1) * time.Minute)}))
	}
	exp, err := s.ExpiredBlobs(ctx, t0.Add(3*time.Minute), 10)
	noErr(t, "ExpiredBlobs", err)
	if len(exp) != 3 || exp[0].ID != ids[0] || exp[1].ID != ids[1] || exp[2].ID != ids[2] {
		t.Fatalf("ExpiredBlobs = %d blobs, want the first 3 in expiry order", len(exp))
	}
	exp, err = s.ExpiredBlobs(ctx, t0.Add(3*time.Minute), 2)
	noErr(t, "ExpiredBlobs(limit)", err)
	if len(exp) != 2 {
		t.Fatalf("ExpiredBlobs(limit 2) = %d", len(exp))
	}
	for _, e := range exp {
		noErr(t, "DeleteBlob", s.DeleteBlob(ctx, e.ID))
	}
	wantErr(t, "DeleteBlob(again)", s.DeleteBlob(ctx, ids[0]), store.ErrNotFound)
	_, err = s.Blob(ctx, ids[0])
	wantErr(t, "Blob(deleted)", err, store.ErrNotFound)
	exp, _ = s.ExpiredBlobs(ctx, t0.Add(3*time.Minute), 10)
	if len(exp) != 1 || exp[0].ID != ids[2] {
		t.Fatalf("ExpiredBlobs after delete = %d", len(exp))
	}
}

func testSecrets(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	_, _, err := s.Secret(ctx, "franking-keyring")
	wantErr(t, "Secret(absent)", err, store.ErrNotFound)
	_, err = s.PutSecret(ctx, "franking-keyring", []byte("k1"), 1)
	wantErr(t, "PutSecret(expect 1 on absent)", err, store.ErrConflict)

	v, err := s.PutSecret(ctx, "franking-keyring", []byte("k1"), 0)
	noErr(t, "PutSecret(create)", err)
	if v != 1 {
		t.Fatalf("version = %d, want 1", v)
	}
	_, err = s.PutSecret(ctx, "franking-keyring", []byte("other"), 0)
	wantErr(t, "PutSecret(create again)", err, store.ErrConflict)
	v, err = s.PutSecret(ctx, "franking-keyring", []byte("k1k2"), 1)
	noErr(t, "PutSecret(update)", err)
	if v != 2 {
		t.Fatalf("version = %d, want 2", v)
	}
	val, ver, err := s.Secret(ctx, "franking-keyring")
	noErr(t, "Secret", err)
	if ver != 2 || !bytes.Equal(val, []byte("k1k2")) {
		t.Fatalf("Secret = %q v%d", val, ver)
	}
	_, err = s.PutSecret(ctx, "franking-keyring", []byte("stale"), 1)
	wantErr(t, "PutSecret(stale)", err, store.ErrConflict)
	if _, _, err := s.Secret(ctx, "other"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Secret(other) = %v", err)
	}
}

func testSecretsConcurrent(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	_, err := s.PutSecret(ctx, "counter", []byte{0}, 0)
	noErr(t, "PutSecret", err)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.PutSecret(ctx, "counter", []byte{1}, 1)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, store.ErrConflict):
				t.Errorf("PutSecret: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d compare-and-swaps from version 1 succeeded, want 1", wins)
	}
}
