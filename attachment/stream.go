package attachment

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
)

// Encryptor encrypts a stream: an io.WriteCloser that writes the header when
// created, a chunk each time a full chunk is followed by more data, and the
// final chunk on Close. It is not safe for concurrent use.
type Encryptor struct {
	w          io.Writer
	k          *keys
	headerHash [32]byte
	chunkSize  int
	buf        []byte // pending plaintext, capacity chunkSize+TagSize
	index      uint64
	err        error
}

// NewEncryptor writes the header to w and returns an Encryptor using
// DefaultChunkSize. Close must be called to write the final chunk; it does
// not close w. The secret MUST be fresh for every attachment.
func NewEncryptor(w io.Writer, secret Secret) (*Encryptor, error) {
	return NewEncryptorChunkSize(w, secret, DefaultChunkSize)
}

// NewEncryptorChunkSize is NewEncryptor with a chunk size between
// MinChunkSize and MaxChunkSize.
func NewEncryptorChunkSize(w io.Writer, secret Secret, chunkSize int) (*Encryptor, error) {
	if chunkSize < MinChunkSize || chunkSize > MaxChunkSize {
		return nil, fmt.Errorf("attachment: chunk size %d out of range %d..%d", chunkSize, MinChunkSize, MaxChunkSize)
	}
	k, err := deriveKeys(&secret)
	if err != nil {
		return nil, err
	}
	h := Header{Version: Version, ChunkSize: uint32(chunkSize), KeyCommitment: k.commitment}
	hb := h.Marshal()
	e := &Encryptor{w: w, k: k, headerHash: sha256.Sum256(hb), chunkSize: chunkSize,
		buf: make([]byte, 0, chunkSize+TagSize)}
	if _, err := w.Write(hb); err != nil {
		return nil, fmt.Errorf("attachment: writing header: %w", err)
	}
	return e, nil
}

var errClosed = errors.New("attachment: write to closed Encryptor")

// Write encrypts p. A chunk is written only once it is known not to be the
// last one, so Write may buffer up to one chunk.
func (e *Encryptor) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n := 0
	for len(p) > 0 {
		if len(e.buf) == e.chunkSize {
			if err := e.flush(false); err != nil {
				return n, err
			}
		}
		c := copy(e.buf[len(e.buf):e.chunkSize], p)
		e.buf = e.buf[:len(e.buf)+c]
		p = p[c:]
		n += c
	}
	return n, nil
}

// ReadFrom encrypts everything r yields until io.EOF, reading straight into
// the chunk buffer. io.Copy uses it.
func (e *Encryptor) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	for e.err == nil {
		if len(e.buf) == e.chunkSize {
			// A full chunk is final if r is exhausted: peek one byte
			// before deciding.
			var peek [1]byte
			n, err := io.ReadFull(r, peek[:])
			if err == io.EOF {
				return total, nil
			}
			if err != nil {
				return total, err
			}
			if err := e.flush(false); err != nil {
				return total, err
			}
			e.buf = append(e.buf, peek[:n]...)
			total += int64(n)
			continue
		}
		n, err := r.Read(e.buf[len(e.buf):e.chunkSize])
		e.buf = e.buf[:len(e.buf)+n]
		total += int64(n)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
	return total, e.err
}

// Close writes the final chunk. It does not close the underlying writer.
func (e *Encryptor) Close() error {
	if e.err != nil {
		if e.err == errClosed {
			return nil
		}
		return e.err
	}
	if err := e.flush(true); err != nil {
		return err
	}
	e.err = errClosed
	return nil
}

// flush encrypts e.buf in place as chunk e.index, appends its tag and writes
// it.
func (e *Encryptor) flush(final bool) error {
	if e.index == math.MaxUint64 {
		e.err = errors.New("attachment: too many chunks")
		return e.err
	}
	e.k.xorChunk(e.index, e.buf)
	out := e.k.chunkTag(e.buf, &e.headerHash, e.index, final, e.buf)
	if _, err := e.w.Write(out); err != nil {
		e.err = fmt.Errorf("attachment: writing chunk: %w", err)
		return e.err
	}
	e.index++
	e.buf = e.buf[:0]
	return nil
}

// Decryptor decrypts a stream: an io.Reader that returns plaintext only
// after the chunk that carries it has been authenticated, and io.EOF only
// after the final chunk has been. It is not safe for concurrent use.
type Decryptor struct {
	r          io.Reader
	k          *keys
	headerHash [32]byte
	chunkSize  int
	buf        []byte // chunkSize + TagSize + 1 lookahead byte
	have       int    // bytes of buf already read
	carry      bool   // buf[chunkSize+TagSize] holds the next chunk's first byte
	out        []byte // authenticated plaintext not yet returned
	index      uint64
	done       bool
	err        error
}

// NewDecryptor reads the header from r and checks its version, chunk size
// and key commitment; it returns ErrWrongKey if the secret is not the one
// the ciphertext was made with. Nothing else is read until the first Read.
func NewDecryptor(r io.Reader, secret Secret) (*Decryptor, error) {
	var hb [HeaderSize]byte
	if _, err := io.ReadFull(r, hb[:]); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("%w: header: truncated", ErrMalformed)
		}
		return nil, fmt.Errorf("attachment: reading header: %w", err)
	}
	h, err := ParseHeader(hb[:])
	if err != nil {
		return nil, err
	}
	k, err := deriveKeys(&secret)
	if err != nil {
		return nil, err
	}
	// The key commitment is checked before any chunk, so that a
	// ciphertext opens under at most one secret.
	if !hmac.Equal(k.commitment[:], h.KeyCommitment[:]) {
		return nil, ErrWrongKey
	}
	return &Decryptor{r: r, k: k, headerHash: sha256.Sum256(hb[:]), chunkSize: int(h.ChunkSize),
		buf: make([]byte, int(h.ChunkSize)+TagSize+1)}, nil
}

// Read returns authenticated plaintext.
func (d *Decryptor) Read(p []byte) (int, error) {
	for len(d.out) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		if d.done {
			return 0, io.EOF
		}
		d.out, d.err = d.next()
	}
	n := copy(p, d.out)
	d.out = d.out[n:]
	return n, nil
}

// next reads, authenticates and decrypts the next chunk and returns its
// plaintext, which aliases d.buf until the following call.
func (d *Decryptor) next() ([]byte, error) {
	full := d.chunkSize + TagSize
	d.have = 0
	if d.carry {
		d.buf[0] = d.buf[full]
		d.have, d.carry = 1, false
	}
	n, err := io.ReadFull(d.r, d.buf[d.have:])
	d.have += n
	switch err {
	case nil:
	case io.EOF, io.ErrUnexpectedEOF:
		d.done = true
	default:
		return nil, fmt.Errorf("attachment: reading chunk: %w", err)
	}
	final := d.done
	chunk := d.buf[:d.have]
	if !final {
		chunk = d.buf[:full]
	}
	// Only the final chunk may be short, and it may be empty only when it
	// is the first: an empty plaintext.
	if len(chunk) < TagSize || (final && len(chunk) == TagSize && d.index != 0) {
		return nil, ErrCorrupt
	}
	ct, tag := chunk[:len(chunk)-TagSize], chunk[len(chunk)-TagSize:]
	var want [TagSize]byte
	d.k.chunkTag(want[:0], &d.headerHash, d.index, final, ct)
	if !hmac.Equal(want[:], tag) {
		return nil, ErrCorrupt
	}
	d.k.xorChunk(d.index, ct)
	d.index++
	// The lookahead byte, if any, starts the next chunk; it moves to the
	// front of buf on the next call, once ct has been consumed.
	d.carry = !final
	return ct, nil
}

// Encrypt encrypts src to dst under a fresh secret read from rand, using
// DefaultChunkSize, and returns the Pointer that describes the result
// (ContentType, FileName and BlobID left for the caller).
func Encrypt(dst io.Writer, src io.Reader, rand io.Reader) (*Pointer, error) {
	ptr := new(Pointer)
	if _, err := io.ReadFull(rand, ptr.Secret[:]); err != nil {
		return nil, fmt.Errorf("attachment: reading secret: %w", err)
	}
	cw := &hashWriter{w: dst, h: sha256.New()}
	e, err := NewEncryptor(cw, ptr.Secret)
	if err != nil {
		return nil, err
	}
	pr := &hashReader{r: src, h: sha256.New()}
	if _, err := e.ReadFrom(pr); err != nil {
		return nil, fmt.Errorf("attachment: reading plaintext: %w", err)
	}
	if err := e.Close(); err != nil {
		return nil, err
	}
	pr.h.Sum(ptr.PlaintextDigest[:0])
	cw.h.Sum(ptr.CiphertextDigest[:0])
	ptr.PlaintextSize, ptr.CiphertextSize = pr.n, cw.n
	return ptr, nil
}

// Decrypt decrypts src to dst: it checks the key commitment, authenticates
// every chunk before writing its plaintext, and at the end checks that the
// plaintext's SHA-256 equals expected (the digest from the franked message's
// Pointer). On error, whatever was written to dst must be discarded.
func Decrypt(dst io.Writer, src io.Reader, secret Secret, expected Digest) error {
	_, _, err := decrypt(dst, src, secret, expected)
	return err
}

func decrypt(dst io.Writer, src io.Reader, secret Secret, expected Digest) (plaintextSize uint64, h hash.Hash, err error) {
	d, err := NewDecryptor(src, secret)
	if err != nil {
		return 0, nil, err
	}
	h = sha256.New()
	for !d.done {
		pt, err := d.next()
		if err != nil {
			return 0, nil, err
		}
		h.Write(pt)
		plaintextSize += uint64(len(pt))
		if _, err := dst.Write(pt); err != nil {
			return 0, nil, fmt.Errorf("attachment: writing plaintext: %w", err)
		}
	}
	var got Digest
	h.Sum(got[:0])
	if !hmac.Equal(got[:], expected[:]) {
		return 0, nil, fmt.Errorf("%w: plaintext", ErrDigestMismatch)
	}
	return plaintextSize, h, nil
}

// VerifyReported decrypts a reported attachment for moderation. It checks
// everything Decrypt checks with ptr.Secret and ptr.PlaintextDigest (the
// plaintext digest that the verified franked message committed to), and also
// that the blob's SHA-256 and size equal ptr.CiphertextDigest and
// ptr.CiphertextSize and that the plaintext size equals ptr.PlaintextSize.
// The plaintext goes to dst; on error it must be discarded and not shown.
func VerifyReported(dst io.Writer, ciphertext io.Reader, ptr *Pointer) error {
	cr := &hashReader{r: ciphertext, h: sha256.New()}
	n, _, err := decrypt(dst, cr, ptr.Secret, ptr.PlaintextDigest)
	if err != nil {
		return err
	}
	if n != ptr.PlaintextSize {
		return fmt.Errorf("%w: plaintext size %d, pointer says %d", ErrDigestMismatch, n, ptr.PlaintextSize)
	}
	var got Digest
	cr.h.Sum(got[:0])
	if got != ptr.CiphertextDigest {
		return fmt.Errorf("%w: ciphertext", ErrDigestMismatch)
	}
	if cr.n != ptr.CiphertextSize {
		return fmt.Errorf("%w: ciphertext size %d, pointer says %d", ErrDigestMismatch, cr.n, ptr.CiphertextSize)
	}
	return nil
}

// hashWriter hashes and counts what it passes to w.
type hashWriter struct {
	w io.Writer
	h hash.Hash
	n uint64
}

func (hw *hashWriter) Write(p []byte) (int, error) {
	n, err := hw.w.Write(p)
	hw.h.Write(p[:n])
	hw.n += uint64(n)
	return n, err
}

// hashReader hashes and counts what it reads from r.
type hashReader struct {
	r io.Reader
	h hash.Hash
	n uint64
}

func (hr *hashReader) Read(p []byte) (int, error) {
	n, err := hr.r.Read(p)
	hr.h.Write(p[:n])
	hr.n += uint64(n)
	return n, err
}
