package attachment

import (
	"fmt"
	"slices"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
)

// Limits of Pointer fields, in bytes.
const (
	MaxContentTypeSize = 255
	MaxFileNameSize    = 1024
	MaxBlobIDSize      = 64
)

// Pointer describes an encrypted attachment. The SDK carries its encoding
// inside the franked message content, so the message commitment commits to
// the plaintext digest; the pointer is therefore as secret as the message.
//
//	struct {
//	    uint8  version = 1;
//	    opaque secret[32];
//	    opaque plaintext_digest[32];
//	    opaque ciphertext_digest[32];
//	    uint64 plaintext_size;
//	    uint64 ciphertext_size;
//	    opaque content_type<0..255>;   // UTF-8
//	    opaque file_name<0..2^16-1>;   // UTF-8, at most 1024 bytes
//	    opaque blob_id<0..255>;        // at most 64 bytes
//	} AttachmentPointer;
type Pointer struct {
	// Secret is the attachment secret.
	Secret Secret
	// PlaintextDigest is the SHA-256 of the plaintext.
	PlaintextDigest Digest
	// CiphertextDigest is the SHA-256 of the ciphertext blob, so that the
	// server and the receiver can check the blob before decrypting it.
	CiphertextDigest Digest
	// PlaintextSize and CiphertextSize are in bytes.
	PlaintextSize  uint64
	CiphertextSize uint64
	// ContentType is a MIME type, at most MaxContentTypeSize bytes of
	// UTF-8; empty if unknown.
	ContentType string
	// FileName is the sender's file name, at most MaxFileNameSize bytes of
	// UTF-8; empty if none. Receivers must sanitise it before use.
	FileName string
	// BlobID is the server's id for the ciphertext blob, at most
	// MaxBlobIDSize bytes, assigned after upload.
	BlobID []byte
}

func (p *Pointer) valid() error {
	switch {
	case len(p.ContentType) > MaxContentTypeSize:
		return fmt.Errorf("%w: pointer: content type of %d bytes exceeds %d", ErrMalformed, len(p.ContentType), MaxContentTypeSize)
	case !utf8.ValidString(p.ContentType):
		return fmt.Errorf("%w: pointer: content type is not UTF-8", ErrMalformed)
	case len(p.FileName) > MaxFileNameSize:
		return fmt.Errorf("%w: pointer: file name of %d bytes exceeds %d", ErrMalformed, len(p.FileName), MaxFileNameSize)
	case !utf8.ValidString(p.FileName):
		return fmt.Errorf("%w: pointer: file name is not UTF-8", ErrMalformed)
	case len(p.BlobID) > MaxBlobIDSize:
		return fmt.Errorf("%w: pointer: blob id of %d bytes exceeds %d", ErrMalformed, len(p.BlobID), MaxBlobIDSize)
	}
	return nil
}

// Marshal encodes p. It fails if a field exceeds its limit or a string is
// not UTF-8.
func (p *Pointer) Marshal() ([]byte, error) {
	if err := p.valid(); err != nil {
		return nil, err
	}
	b := cryptobyte.NewBuilder(make([]byte, 0, 1+3*32+16+1+2+1+len(p.ContentType)+len(p.FileName)+len(p.BlobID)))
	b.AddUint8(Version)
	b.AddBytes(p.Secret[:])
	b.AddBytes(p.PlaintextDigest[:])
	b.AddBytes(p.CiphertextDigest[:])
	b.AddUint64(p.PlaintextSize)
	b.AddUint64(p.CiphertextSize)
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(p.ContentType)) })
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(p.FileName)) })
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(p.BlobID) })
	return b.Bytes()
}

// ParsePointer decodes a Pointer, rejecting trailing bytes, unknown
// versions and fields over their limits.
func ParsePointer(b []byte) (*Pointer, error) {
	s := cryptobyte.String(b)
	p := new(Pointer)
	var version uint8
	var ct, name, blob cryptobyte.String
	if !s.ReadUint8(&version) {
		return nil, fmt.Errorf("%w: pointer: missing version", ErrMalformed)
	}
	if version != Version {
		return nil, fmt.Errorf("%w: pointer: unknown version %d", ErrMalformed, version)
	}
	if !s.CopyBytes(p.Secret[:]) || !s.CopyBytes(p.PlaintextDigest[:]) || !s.CopyBytes(p.CiphertextDigest[:]) ||
		!s.ReadUint64(&p.PlaintextSize) || !s.ReadUint64(&p.CiphertextSize) ||
		!s.ReadUint8LengthPrefixed(&ct) || !s.ReadUint16LengthPrefixed(&name) || !s.ReadUint8LengthPrefixed(&blob) {
		return nil, fmt.Errorf("%w: pointer: truncated", ErrMalformed)
	}
	if !s.Empty() {
		return nil, fmt.Errorf("%w: pointer: %d trailing bytes", ErrMalformed, len(s))
	}
	p.ContentType, p.FileName = string(ct), string(name)
	if len(blob) > 0 {
		p.BlobID = slices.Clone([]byte(blob))
	}
	if err := p.valid(); err != nil {
		return nil, err
	}
	return p, nil
}
