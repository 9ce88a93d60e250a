package session

import (
	"errors"
	"fmt"

	"github.com/wardchat/ward/pqxdh"
	"golang.org/x/crypto/cryptobyte"
)

// Message types.
const (
	// TypePrekey marks a PrekeyMessage: a PQXDH initial header and a
	// ratchet message.
	TypePrekey = 1
	// TypeRatchet marks a plain ratchet message.
	TypeRatchet = 2
)

// Message is a session message on the wire:
//
//	struct {
//	  uint8 version = 1;
//	  uint8 type;                          // 1 = prekey, 2 = ratchet
//	  select (type) {
//	    case 1: opaque initial_header<1..2^16-1>; // pqxdh.InitialHeader encoding
//	    case 2: struct {};
//	  }
//	  opaque ratchet_message<1..2^32-1>;   // ratchet message encoding
//	}
//
// The initiator of a session sends PrekeyMessages until it has decrypted a
// reply in that session; everything else is a plain ratchet message.
type Message struct {
	// Header is the parsed initial header of a PrekeyMessage, nil for a
	// plain ratchet message.
	Header *pqxdh.InitialHeader
	// HeaderBytes is the header's encoding, from which the session id is
	// derived.
	HeaderBytes []byte
	// Ratchet is the ratchet message (see package ratchet).
	Ratchet []byte
}

// IsPrekey reports whether m is a PrekeyMessage.
func (m *Message) IsPrekey() bool { return m.Header != nil }

// ParseMessage decodes a session message and, for a PrekeyMessage, its
// initial header. It rejects unknown versions and types, bad lengths and
// trailing bytes.
func ParseMessage(data []byte) (*Message, error) {
	s := cryptobyte.String(data)
	var version, typ uint8
	if !s.ReadUint8(&version) || !s.ReadUint8(&typ) {
		return nil, errors.New("session: truncated message")
	}
	if version != Version {
		return nil, fmt.Errorf("session: unknown message version %d", version)
	}
	m := new(Message)
	switch typ {
	case TypePrekey:
		var hb cryptobyte.String
		if !s.ReadUint16LengthPrefixed(&hb) || len(hb) == 0 {
			return nil, errors.New("session: malformed prekey message")
		}
		h, err := pqxdh.ParseInitialHeader(hb)
		if err != nil {
			return nil, fmt.Errorf("session: %w", err)
		}
		m.Header, m.HeaderBytes = h, hb
	case TypeRatchet:
	default:
		return nil, fmt.Errorf("session: unknown message type %d", typ)
	}
	var n uint32
	if !s.ReadUint32(&n) || n == 0 || uint64(n) != uint64(len(s)) {
		return nil, errors.New("session: malformed message")
	}
	m.Ratchet = s
	return m, nil
}

// MarshalBinary encodes the message.
func (m *Message) MarshalBinary() ([]byte, error) {
	return appendMessage(nil, m.HeaderBytes, m.Ratchet)
}

func appendMessage(dst, header, ratchetMsg []byte) ([]byte, error) {
	if len(ratchetMsg) == 0 {
		return nil, errors.New("session: empty ratchet message")
	}
	b := cryptobyte.NewBuilder(dst)
	b.AddUint8(Version)
	if header != nil {
		b.AddUint8(TypePrekey)
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(header) })
	} else {
		b.AddUint8(TypeRatchet)
	}
	b.AddUint32LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(ratchetMsg) })
	return b.Bytes()
}
