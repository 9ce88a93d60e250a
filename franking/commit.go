package franking

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/cryptobyte"
)

// Version is the version of the franked plaintext encoding and of the
// commitment and tag constructions that this package implements.
const Version = 1

// Sizes, in bytes.
const (
	// FrankingKeySize is the size of the per-message franking key fk.
	FrankingKeySize = 32
	// CommitmentSize is the size of a commitment, an HMAC-SHA256 output.
	CommitmentSize = 32
	// MaxContentSize bounds Plaintext.Content. Message content is small;
	// attachments travel separately (package attachment) and only their
	// pointers are franked.
	MaxContentSize = 16 << 20
)

// commitmentLabel domain-separates the commitment HMAC input from every other
// use of HMAC-SHA256 in Ward. See docs/PROTOCOL.md (Franking).
const commitmentLabel = "ward/franking/v1/commitment"

// Commitment is c = HMAC-SHA256(fk, committed bytes): it travels outside the
// ciphertext and binds the message's content and transcript links. The zero
// Commitment stands for "no message" in Plaintext.Prev and Plaintext.LastSeen.
type Commitment [CommitmentSize]byte

// IsZero reports whether c is the all-zero "no message" value.
func (c Commitment) IsZero() bool { return c == Commitment{} }

// String returns the first 8 bytes of c in hex, enough to name a message in an
// explanation. Commitments are not secret.
func (c Commitment) String() string { return fmt.Sprintf("%x", c[:8]) }

// Plaintext is a franked plaintext: what the session layer encrypts.
//
//	struct {
//	    uint8  version = 1;
//	    opaque franking_key[32];
//	    opaque prev[32];
//	    opaque last_seen[32];
//	    opaque content<0..2^32-1>;
//	} FrankedPlaintext;
type Plaintext struct {
	// Version is always [Version].
	Version uint8
	// FrankingKey is fk, fresh for every message. It is secret until the
	// message is reported.
	FrankingKey [FrankingKeySize]byte
	// Prev is the commitment of the same sender device's previous message
	// in this conversation, zero for its first message.
	Prev Commitment
	// LastSeen is the commitment of the most recent message the sender had
	// received in this conversation when it sent this one, zero if none.
	LastSeen Commitment
	// Content is opaque application bytes (the SDK's message content,
	// which carries attachment pointers), at most MaxContentSize bytes.
	Content []byte
}

// Errors returned by Open and ParsePlaintext. Callers branch on them: a
// receiver drops a message that fails with ErrCommitmentMismatch, and the
// server counts forged reports.
var (
	// ErrCommitmentMismatch means the commitment does not open: the
	// plaintext, fk or c was altered.
	ErrCommitmentMismatch = errors.New("franking: commitment does not open")
	// ErrMalformed means an encoding could not be parsed: wrong lengths,
	// trailing bytes, an unknown version, a field out of range.
	ErrMalformed = errors.New("franking: malformed encoding")
)

// Frank franks content for sending. It reads a fresh franking key from rand,
// builds the plaintext {Version, fk, prev, lastSeen, content} and returns its
// encoding together with the commitment c that must travel outside the
// ciphertext (in groups, in the MLS authenticated data).
//
// prev is the commitment that Frank returned for this device's previous
// message in the conversation (zero for the first); lastSeen is the
// commitment of the newest message received in the conversation (zero if
// none). The caller keeps both.
func Frank(rand io.Reader, content []byte, prev, lastSeen Commitment) (plaintext []byte, c Commitment, err error) {
	if len(content) > MaxContentSize {
		return nil, Commitment{}, fmt.Errorf("franking: content of %d bytes exceeds %d", len(content), MaxContentSize)
	}
	p := Plaintext{Version: Version, Prev: prev, LastSeen: lastSeen, Content: content}
	if _, err := io.ReadFull(rand, p.FrankingKey[:]); err != nil {
		return nil, Commitment{}, fmt.Errorf("franking: reading franking key: %w", err)
	}
	plaintext, err = p.Marshal()
	if err != nil {
		return nil, Commitment{}, err
	}
	return plaintext, p.Commitment(), nil
}

// Open parses a franked plaintext and checks that c opens it: c must equal
// HMAC-SHA256(fk, committed bytes), compared in constant time. It rejects bad
// encodings, trailing bytes and unknown versions with ErrMalformed and a
// commitment that does not open with ErrCommitmentMismatch.
//
// DESIGN.md, section 2: the receiver rejects any message whose commitment does
// not open.
func Open(plaintext []byte, c Commitment) (*Plaintext, error) {
	p, err := ParsePlaintext(plaintext)
	if err != nil {
		return nil, err
	}
	got := p.Commitment()
	if !hmac.Equal(got[:], c[:]) {
		return nil, ErrCommitmentMismatch
	}
	return p, nil
}

// Commitment computes c = HMAC-SHA256(fk, input) where input is
//
//	"ward/franking/v1/commitment" || prev[32] || last_seen[32] ||
//	uint32(len(content)) || content
//
// Every field but the last has a fixed length and the last is length
// prefixed, so distinct (prev, lastSeen, content) give distinct inputs.
func (p *Plaintext) Commitment() Commitment {
	var lenBuf [4]byte
	binary.BigEndian.PutUint32(lenBuf[:], uint32(len(p.Content)))
	m := hmac.New(sha256.New, p.FrankingKey[:])
	m.Write([]byte(commitmentLabel))
	m.Write(p.Prev[:])
	m.Write(p.LastSeen[:])
	m.Write(lenBuf[:])
	m.Write(p.Content)
	var c Commitment
	m.Sum(c[:0])
	return c
}

// Marshal encodes p. It fails only if Content exceeds MaxContentSize or the
// version is not Version.
func (p *Plaintext) Marshal() ([]byte, error) {
	if p.Version != Version {
		return nil, fmt.Errorf("franking: cannot encode plaintext version %d", p.Version)
	}
	if len(p.Content) > MaxContentSize {
		return nil, fmt.Errorf("franking: content of %d bytes exceeds %d", len(p.Content), MaxContentSize)
	}
	b := cryptobyte.NewFixedBuilder(make([]byte, 0, 1+3*32+4+len(p.Content)))
	b.AddUint8(p.Version)
	b.AddBytes(p.FrankingKey[:])
	b.AddBytes(p.Prev[:])
	b.AddBytes(p.LastSeen[:])
	b.AddUint32LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(p.Content) })
	return b.Bytes()
}

// ParsePlaintext decodes a franked plaintext without checking a commitment;
// use Open for messages. Content aliases plaintext.
func ParsePlaintext(plaintext []byte) (*Plaintext, error) {
	s := cryptobyte.String(plaintext)
	p := new(Plaintext)
	var content []byte
	var contentLen uint32
	if !s.ReadUint8(&p.Version) {
		return nil, fmt.Errorf("%w: plaintext: missing version", ErrMalformed)
	}
	if p.Version != Version {
		return nil, fmt.Errorf("%w: plaintext: unknown version %d", ErrMalformed, p.Version)
	}
	if !s.CopyBytes(p.FrankingKey[:]) || !s.CopyBytes(p.Prev[:]) || !s.CopyBytes(p.LastSeen[:]) ||
		!s.ReadUint32(&contentLen) {
		return nil, fmt.Errorf("%w: plaintext: truncated", ErrMalformed)
	}
	if contentLen > MaxContentSize {
		return nil, fmt.Errorf("%w: plaintext: content of %d bytes exceeds %d", ErrMalformed, contentLen, MaxContentSize)
	}
	if !s.ReadBytes(&content, int(contentLen)) {
		return nil, fmt.Errorf("%w: plaintext: truncated content", ErrMalformed)
	}
	if !s.Empty() {
		return nil, fmt.Errorf("%w: plaintext: %d trailing bytes", ErrMalformed, len(s))
	}
	p.Content = content
	return p, nil
}
