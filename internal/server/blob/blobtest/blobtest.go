// Package blobtest is the contract test suite for implementations of
// blob.Store (the local file system now, an S3-compatible store later).
package blobtest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/wardchat/ward/internal/server/blob"
)

type failAfter struct {
	data []byte
	n    int
}

func (f *failAfter) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("connection reset")
	}
	k := copy(p, f.data[:min(len(f.data), f.n, len(p))])
	f.data = f.data[k:]
	f.n -= k
	return k, nil
}

// Run runs the contract suite of blob.Store against the store newStore
// returns (a fresh, empty store per call).
func Run(t *testing.T, newStore func(t *testing.T) blob.Store) {
	ctx := context.Background()
	s := newStore(t)
	key := "ab01"
	if _, _, err := s.Open(ctx, key); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Open of a missing key = %v, want blob.ErrNotFound", err)
	}
	// A failed upload leaves nothing behind.
	if _, err := s.Put(ctx, key, &failAfter{data: bytes.Repeat([]byte{1}, 100), n: 50}); err == nil {
		t.Fatal("Put with a failing reader succeeded")
	}
	if _, _, err := s.Open(ctx, key); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("partial upload is visible: %v", err)
	}
	want := bytes.Repeat([]byte("ciphertext"), 1000)
	n, err := s.Put(ctx, key, bytes.NewReader(want))
	if err != nil || n != int64(len(want)) {
		t.Fatalf("Put = %d, %v", n, err)
	}
	// A failed re-upload keeps the previous complete value.
	s.Put(ctx, key, &failAfter{data: []byte("xxxxxxxx"), n: 4})
	r, size, err := s.Open(ctx, key)
	if err != nil || size != int64(len(want)) {
		t.Fatalf("Open = %d, %v", size, err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	if !bytes.Equal(got, want) {
		t.Fatal("stored value differs")
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, key); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("second Delete = %v", err)
	}
	for _, bad := range []string{"", "a", "../etc/passwd", "AB01", "zz", string(make([]byte, 129))} {
		if _, err := s.Put(ctx, bad, bytes.NewReader(nil)); err == nil {
			t.Errorf("Put(%q) accepted", bad)
		}
	}
	// A cancelled context stops the upload.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Put(cctx, "cd", bytes.NewReader(want)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with cancelled context = %v", err)
	}
}
