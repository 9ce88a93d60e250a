// Package blob stores the bytes of encrypted attachments for wardd. The
// metadata (uploader, size, digest, expiry, upload state) lives in the
// store; this package only keeps opaque ciphertext under a key.
//
// [Store] is the narrow interface an S3-compatible object store can
// implement; [FS] is the default, a directory on the local file system.
package blob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// ErrNotFound is returned by Open and Delete for a key that holds nothing.
var ErrNotFound = errors.New("blob: not found")

// Store keeps opaque byte strings under keys.
//
// Contract:
//   - Put is atomic: a reader opens either the previous complete value of
//     the key or the new complete value, never a partial upload. A failed or
//     cancelled Put leaves the previous value (or nothing) in place, so a
//     retried upload simply calls Put again.
//   - Put stops with an error as soon as r returns one; the caller enforces
//     size limits by wrapping r.
//   - Keys are lower-case hex strings of 2..128 characters; other keys fail.
//   - Implementations are safe for concurrent use; concurrent Puts to one
//     key end with one of the values.
type Store interface {
	// Put stores everything r yields under key and returns the number of
	// bytes stored.
	Put(ctx context.Context, key string, r io.Reader) (int64, error)
	// Open returns a reader of the value and its size. ErrNotFound if the
	// key holds nothing.
	Open(ctx context.Context, key string) (io.ReadSeekCloser, int64, error)
	// Delete removes the value. ErrNotFound if the key holds nothing.
	Delete(ctx context.Context, key string) error
}

// FS is a [Store] on a local directory. Values are files named by their key
// under a two-character fan-out directory; uploads are written to a
// temporary file, synced, then renamed into place.
type FS struct {
	dir string
}

var _ Store = (*FS)(nil)

// NewFS returns a store in dir, creating it (0700) if needed.
func NewFS(dir string) (*FS, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	return &FS{dir: dir}, nil
}

func checkKey(key string) error {
	if len(key) < 2 || len(key) > 128 {
		return fmt.Errorf("blob: key length %d out of range", len(key))
	}
	if strings.Trim(key, "0123456789abcdef") != "" {
		return errors.New("blob: key is not lower-case hex")
	}
	return nil
}

func (f *FS) path(key string) string { return filepath.Join(f.dir, key[:2], key) }

// Put implements [Store].
func (f *FS) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	final := f.path(key)
	if err := os.MkdirAll(filepath.Dir(final), 0o700); err != nil {
		return 0, fmt.Errorf("blob: %w", err)
	}
	var suffix [8]byte
	rand.Read(suffix[:])
	tmp := final + ".tmp-" + hex.EncodeToString(suffix[:])
	file, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, fmt.Errorf("blob: %w", err)
	}
	n, err := io.Copy(file, ctxReader{ctx, r})
	if err == nil {
		err = file.Sync()
	}
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err != nil {
		os.Remove(tmp)
		return n, fmt.Errorf("blob: put: %w", err)
	}
	return n, nil
}

// Open implements [Store].
func (f *FS) Open(_ context.Context, key string) (io.ReadSeekCloser, int64, error) {
	if err := checkKey(key); err != nil {
		return nil, 0, err
	}
	file, err := os.Open(f.path(key))
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, ErrNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("blob: %w", err)
	}
	st, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, 0, fmt.Errorf("blob: %w", err)
	}
	return file, st.Size(), nil
}

// Delete implements [Store].
func (f *FS) Delete(_ context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	err := os.Remove(f.path(key))
	if errors.Is(err, os.ErrNotExist) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	return nil
}

// ctxReader stops a copy when the context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
