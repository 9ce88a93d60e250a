package ratchet

import (
	"crypto/ecdh"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/cryptobyte"
)

// Header is a message header (Section 3.4, HEADER(dh_pair, pn, n)).
type Header struct {
	DH [32]byte // the sender's current ratchet public key
	PN uint32   // number of messages in the sender's previous sending chain
	N  uint32   // message number in the current sending chain
}

// Message is a decoded ratchet message:
//
//	struct {
//	  uint8  version = 1;
//	  opaque dh[32];
//	  uint32 pn;
//	  uint32 n;
//	  opaque ciphertext<16..2^32-1>; // uint32 length prefix; ChaCha20-Poly1305
//	}
//
// Decrypt parses messages itself; ParseMessage serves callers that want to
// inspect a header, and fuzzing.
type Message struct {
	Header     Header
	Ciphertext []byte
}

// ParseMessage decodes a message. It rejects unknown versions, short
// ciphertexts and trailing bytes.
func ParseMessage(b []byte) (*Message, error) {
	var h header
	if !parseMessage(b, &h) {
		return nil, errors.New("ratchet: malformed message")
	}
	return &Message{Header{h.dh, h.pn, h.n}, append([]byte(nil), h.ct...)}, nil
}

// MarshalBinary encodes the message.
func (m *Message) MarshalBinary() ([]byte, error) {
	if len(m.Ciphertext) < chacha20poly1305.Overhead {
		return nil, errors.New("ratchet: ciphertext too short")
	}
	var b cryptobyte.Builder
	b.AddUint8(Version)
	b.AddBytes(m.Header.DH[:])
	b.AddUint32(m.Header.PN)
	b.AddUint32(m.Header.N)
	b.AddUint32LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(m.Ciphertext) })
	return b.Bytes()
}

// State flags.
const (
	flagDHs = 1 << iota
	flagDHr
	flagCKs
	flagCKr
	flagSendPending
	flagsKnown = flagDHs | flagDHr | flagCKs | flagCKr | flagSendPending
)

// MarshalBinary serialises the state for persistence:
//
//	struct {
//	  uint8  version = 1;
//	  uint8  flags;           // 1 DHs, 2 DHr, 4 CKs, 8 CKr, 16 send pending
//	  opaque dhs_private[32]; // iff flags & 1
//	  opaque dhr[32];         // iff flags & 2
//	  opaque rk[32];
//	  opaque cks[32];         // iff flags & 4
//	  opaque ckr[32];         // iff flags & 8
//	  uint32 ns; uint32 nr; uint32 pn;
//	  opaque ad<0..2^16-1>;
//	  opaque previous_dhr<0..2^16-1>;  // 32-byte keys, oldest first, <= 16
//	  SkippedKey skipped<0..2^32-1>;   // oldest first, <= MaxSkippedKeys
//	} // SkippedKey: opaque dh[32]; uint32 n; opaque mk[32].
//
// The encoding is deterministic: a restored State encodes to the same
// bytes and behaves identically, including which skipped key is evicted
// next.
func (s *State) MarshalBinary() ([]byte, error) {
	var flags uint8
	if s.dhs != nil {
		flags |= flagDHs
	}
	if s.hasDHr {
		flags |= flagDHr
	}
	if s.hasCKs {
		flags |= flagCKs
	}
	if s.hasCKr {
		flags |= flagCKr
	}
	if s.sendPending {
		flags |= flagSendPending
	}
	live := s.liveOrder()
	b := cryptobyte.NewBuilder(make([]byte, 0, 64+5*32+len(s.ad)+32*len(s.prev)+68*len(live)))
	b.AddUint8(Version)
	b.AddUint8(flags)
	if s.dhs != nil {
		b.AddBytes(s.dhs.Bytes())
	}
	if s.hasDHr {
		b.AddBytes(s.dhr[:])
	}
	b.AddBytes(s.rk[:])
	if s.hasCKs {
		b.AddBytes(s.cks[:])
	}
	if s.hasCKr {
		b.AddBytes(s.ckr[:])
	}
	b.AddUint32(s.ns)
	b.AddUint32(s.nr)
	b.AddUint32(s.pn)
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(s.ad) })
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for i := range s.prev {
			b.AddBytes(s.prev[i][:])
		}
	})
	b.AddUint32LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, r := range live {
			b.AddBytes(r.id.dh[:])
			b.AddUint32(r.id.n)
			mk := s.skipped[r.id].mk
			b.AddBytes(mk[:])
		}
	})
	return b.Bytes()
}

func read32(s *cryptobyte.String, out *[32]byte) bool {
	var b []byte
	if !s.ReadBytes(&b, 32) {
		return false
	}
	copy(out[:], b)
	return true
}

// UnmarshalState restores a State serialised by MarshalBinary. It rejects
// unknown versions and flags, inconsistent flag combinations, trailing
// bytes, duplicate skipped keys and lists over their bounds.
func UnmarshalState(data []byte) (*State, error) {
	st, err := unmarshalState(data)
	if err != nil {
		return nil, fmt.Errorf("ratchet: decoding state: %w", err)
	}
	return st, nil
}

var errMalformed = errors.New("truncated or malformed encoding")

func unmarshalState(data []byte) (*State, error) {
	in := cryptobyte.String(data)
	var version, flags uint8
	if !in.ReadUint8(&version) {
		return nil, errMalformed
	}
	if version != Version {
		return nil, fmt.Errorf("unknown version %d", version)
	}
	if !in.ReadUint8(&flags) {
		return nil, errMalformed
	}
	if flags&^flagsKnown != 0 {
		return nil, fmt.Errorf("unknown flags %#x", flags)
	}
	if flags&flagSendPending != 0 && (flags&flagDHr == 0 || flags&flagCKs != 0) {
		return nil, errors.New("inconsistent flags")
	}
	if flags&flagCKr != 0 && flags&flagDHr == 0 {
		return nil, errors.New("inconsistent flags")
	}
	if flags&flagCKs != 0 && flags&flagDHs == 0 {
		return nil, errors.New("inconsistent flags")
	}
	s := &State{skipped: make(map[skipID]skipEntry)}
	if flags&flagDHs != 0 {
		var b []byte
		if !in.ReadBytes(&b, 32) {
			return nil, errMalformed
		}
		k, err := ecdh.X25519().NewPrivateKey(b)
		if err != nil {
			return nil, errMalformed
		}
		s.setDHs(k)
	}
	if flags&flagDHr != 0 {
		if !read32(&in, &s.dhr) {
			return nil, errMalformed
		}
		k, err := ecdh.X25519().NewPublicKey(s.dhr[:])
		if err != nil {
			return nil, errMalformed
		}
		s.hasDHr, s.dhrKey = true, k
	}
	if !read32(&in, &s.rk) {
		return nil, errMalformed
	}
	if flags&flagCKs != 0 {
		if !read32(&in, &s.cks) {
			return nil, errMalformed
		}
		s.hasCKs = true
	}
	if flags&flagCKr != 0 {
		if !read32(&in, &s.ckr) {
			return nil, errMalformed
		}
		s.hasCKr = true
	}
	s.sendPending = flags&flagSendPending != 0
	var ad, prev, skipped cryptobyte.String
	var skippedLen uint32
	if !in.ReadUint32(&s.ns) || !in.ReadUint32(&s.nr) || !in.ReadUint32(&s.pn) ||
		!in.ReadUint16LengthPrefixed(&ad) || !in.ReadUint16LengthPrefixed(&prev) ||
		!in.ReadUint32(&skippedLen) || uint64(skippedLen) != uint64(len(in)) {
		return nil, errMalformed
	}
	skipped = in
	s.ad = append([]byte(nil), ad...)
	s.scratch = make([]byte, len(ad), len(ad)+headerSize)
	copy(s.scratch, ad)
	if len(prev)%32 != 0 || len(prev)/32 > maxPrevChains {
		return nil, errors.New("bad previous ratchet key list")
	}
	for !prev.Empty() {
		var k [32]byte
		read32(&prev, &k)
		s.prev = append(s.prev, k)
	}
	const entry = 32 + 4 + 32
	if len(skipped)%entry != 0 || len(skipped)/entry > MaxSkippedKeys {
		return nil, errors.New("bad skipped key list")
	}
	for !skipped.Empty() {
		var id skipID
		var mk [32]byte
		if !read32(&skipped, &id.dh) || !skipped.ReadUint32(&id.n) || !read32(&skipped, &mk) {
			return nil, errMalformed
		}
		if _, dup := s.skipped[id]; dup {
			return nil, errors.New("duplicate skipped key")
		}
		s.seq++
		s.skipped[id] = skipEntry{mk, s.seq}
		s.order = append(s.order, skipRef{id, s.seq})
	}
	return s, nil
}
