// Package attachment encrypts attachments for Ward with a key-committing,
// streaming construction (DESIGN.md, section 2, "Message franking":
// "AES-256-CTR then HMAC-SHA256 over the ciphertext, keys derived from one
// secret").
//
// # Use
//
// The sender calls [Encrypt], which draws a fresh 32-byte [Secret] from the
// injected randomness, streams the file through, and returns a [Pointer]:
// the secret, the SHA-256 digests of the plaintext and of the ciphertext,
// both sizes, and the content type and file name the caller fills in. The
// ciphertext goes to the blob store; the server assigns Pointer.BlobID. The
// SDK puts the encoded Pointer ([Pointer.Marshal]) inside the franked
// message content, so the message commitment also commits to the
// attachment's plaintext digest.
//
// The receiver fetches the blob and calls [Decrypt] with the secret and
// expected plaintext digest from the pointer. A moderator's server verifies
// a reported attachment with [VerifyReported]. [NewEncryptor] and
// [NewDecryptor] give io.Writer and io.Reader forms. Nothing holds a whole
// file in memory: state is one chunk (64 KiB by default).
//
// # Why key commitment
//
// Without it, one ciphertext could be crafted to decrypt to two different
// files under two different keys, so a reporter could show a moderator
// content other than what the recipient saw (the 2018 "invisible
// salamanders" attack on attachment franking). Here the three keys (AES,
// HMAC, key commitment) are derived from the one secret with HKDF-SHA256,
// the key commitment is stored in the header, and decryption checks it
// before anything else: a second secret yields a different commitment unless
// SHA-256 is broken.
//
// # Streaming and output
//
// Each chunk is authenticated before its plaintext is released, but an error
// can come after earlier chunks were released (truncation is only known at
// the end). Callers that write to a destination as they go must discard the
// output unless the call returns nil. See docs/PROTOCOL.md (Attachments) for
// the format.
//
// The package is pure: no I/O other than the readers and writers passed in,
// randomness only from the io.Reader passed to Encrypt.
package attachment

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"math"

	"golang.org/x/crypto/cryptobyte"
)

// Version is the version of the ciphertext header and of the Pointer
// encoding.
const Version = 1

// Sizes, in bytes.
const (
	// SecretSize is the size of an attachment secret.
	SecretSize = 32
	// DigestSize is the size of a SHA-256 digest.
	DigestSize = sha256.Size
	// HeaderSize is the size of the ciphertext header.
	HeaderSize = 1 + 4 + 32
	// TagSize is the size of each chunk's HMAC-SHA256 tag.
	TagSize = sha256.Size
	// DefaultChunkSize is the plaintext size of every chunk but the last.
	DefaultChunkSize = 64 << 10
	// MinChunkSize and MaxChunkSize bound the chunk size a header may
	// declare; MaxChunkSize bounds a decryptor's buffer.
	MinChunkSize = 64
	MaxChunkSize = 4 << 20
)

// HKDF-SHA256 info labels; the salt is empty. See docs/PROTOCOL.md (Attachments).
const (
	labelEncKey     = "ward/attachment/v1/aes-256-ctr key"
	labelMACKey     = "ward/attachment/v1/hmac-sha256 key"
	labelCommitment = "ward/attachment/v1/key commitment"
)

// Secret is an attachment secret. Every attachment MUST have a fresh one:
// it is the only input to the keys.
type Secret [SecretSize]byte

// Digest is a SHA-256 digest.
type Digest [DigestSize]byte

// Errors. Callers branch on them: ErrWrongKey and ErrCorrupt mean the blob
// must be discarded; ErrDigestMismatch means the blob decrypts but is not the
// attachment the message committed to.
var (
	// ErrMalformed means a header or pointer could not be parsed.
	ErrMalformed = errors.New("attachment: malformed encoding")
	// ErrWrongKey means the header's key commitment does not match the
	// secret.
	ErrWrongKey = errors.New("attachment: key commitment does not match")
	// ErrCorrupt means a chunk failed authentication: the ciphertext was
	// altered, truncated, reordered or extended.
	ErrCorrupt = errors.New("attachment: ciphertext failed authentication")
	// ErrDigestMismatch means the plaintext or ciphertext digest or size
	// differs from the expected one.
	ErrDigestMismatch = errors.New("attachment: digest mismatch")
)

// Header is the ciphertext header:
//
//	struct {
//	    uint8  version = 1;
//	    uint32 chunk_size;          // MinChunkSize..MaxChunkSize
//	    opaque key_commitment[32];
//	} AttachmentHeader;
type Header struct {
	Version       uint8
	ChunkSize     uint32
	KeyCommitment [32]byte
}

// Marshal encodes h.
func (h *Header) Marshal() []byte {
	b := cryptobyte.NewFixedBuilder(make([]byte, 0, HeaderSize))
	b.AddUint8(h.Version)
	b.AddUint32(h.ChunkSize)
	b.AddBytes(h.KeyCommitment[:])
	return b.BytesOrPanic()
}

// ParseHeader decodes a header, rejecting other lengths, unknown versions and
// chunk sizes out of range.
func ParseHeader(b []byte) (*Header, error) {
	s := cryptobyte.String(b)
	h := new(Header)
	if !s.ReadUint8(&h.Version) || !s.ReadUint32(&h.ChunkSize) || !s.CopyBytes(h.KeyCommitment[:]) {
		return nil, fmt.Errorf("%w: header: truncated", ErrMalformed)
	}
	if !s.Empty() {
		return nil, fmt.Errorf("%w: header: %d trailing bytes", ErrMalformed, len(s))
	}
	if h.Version != Version {
		return nil, fmt.Errorf("%w: header: unknown version %d", ErrMalformed, h.Version)
	}
	if h.ChunkSize < MinChunkSize || h.ChunkSize > MaxChunkSize {
		return nil, fmt.Errorf("%w: header: chunk size %d out of range %d..%d", ErrMalformed, h.ChunkSize, MinChunkSize, MaxChunkSize)
	}
	return h, nil
}

// keys are the per-attachment keys derived from a Secret.
type keys struct {
	block      cipher.Block
	mac        hash.Hash
	commitment [32]byte
}

// deriveKeys derives the AES-256 key, the HMAC-SHA256 key and the key
// commitment: PRK = HKDF-Extract(salt = "", secret), then HKDF-Expand(PRK,
// label, 32) for each label.
func deriveKeys(secret *Secret) (*keys, error) {
	prk, err := hkdf.Extract(sha256.New, secret[:], nil)
	if err != nil {
		return nil, fmt.Errorf("attachment: %w", err)
	}
	encKey, err := hkdf.Expand(sha256.New, prk, labelEncKey, 32)
	if err != nil {
		return nil, fmt.Errorf("attachment: %w", err)
	}
	macKey, err := hkdf.Expand(sha256.New, prk, labelMACKey, 32)
	if err != nil {
		return nil, fmt.Errorf("attachment: %w", err)
	}
	commitment, err := hkdf.Expand(sha256.New, prk, labelCommitment, 32)
	if err != nil {
		return nil, fmt.Errorf("attachment: %w", err)
	}
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return nil, fmt.Errorf("attachment: %w", err)
	}
	k := &keys{block: block, mac: hmac.New(sha256.New, macKey)}
	copy(k.commitment[:], commitment)
	return k, nil
}

// chunkIV returns the AES-CTR initial counter block of chunk i: the chunk
// index as a big-endian uint64 followed by eight zero bytes. A chunk holds
// at most MaxChunkSize/16 blocks, far below 2^64, so the counter ranges of
// different chunks never overlap.
func chunkIV(i uint64) [aes.BlockSize]byte {
	var iv [aes.BlockSize]byte
	binary.BigEndian.PutUint64(iv[:8], i)
	return iv
}

// chunkTag appends HMAC-SHA256(macKey, header_hash || uint64(i) ||
// uint8(final) || ciphertext) to dst.
func (k *keys) chunkTag(dst []byte, headerHash *[32]byte, i uint64, final bool, ciphertext []byte) []byte {
	var hdr [32 + 8 + 1]byte
	copy(hdr[:32], headerHash[:])
	binary.BigEndian.PutUint64(hdr[32:40], i)
	if final {
		hdr[40] = 1
	}
	k.mac.Reset()
	k.mac.Write(hdr[:])
	k.mac.Write(ciphertext)
	return k.mac.Sum(dst)
}

// xorChunk encrypts or decrypts chunk i in place.
func (k *keys) xorChunk(i uint64, b []byte) {
	iv := chunkIV(i)
	cipher.NewCTR(k.block, iv[:]).XORKeyStream(b, b)
}

// CiphertextSize returns the ciphertext size of a plaintext of
// plaintextSize bytes encrypted with DefaultChunkSize.
func CiphertextSize(plaintextSize uint64) uint64 {
	return CiphertextSizeChunk(plaintextSize, DefaultChunkSize)
}

// CiphertextSizeChunk returns the ciphertext size of a plaintext of
// plaintextSize bytes encrypted with chunks of chunkSize bytes: the header
// plus the plaintext plus one tag per chunk, with at least one chunk. It
// returns math.MaxUint64 if the size does not fit.
func CiphertextSizeChunk(plaintextSize uint64, chunkSize int) uint64 {
	cs := uint64(chunkSize)
	chunks := max(1, plaintextSize/cs+min(1, plaintextSize%cs))
	overhead := HeaderSize + chunks*TagSize
	if plaintextSize > math.MaxUint64-overhead {
		return math.MaxUint64
	}
	return plaintextSize + overhead
}
