package session

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/wardchat/ward/pqxdh"
	"github.com/wardchat/ward/ratchet"
	"golang.org/x/crypto/cryptobyte"
)

// MarshalBinary serialises the Peer for persistence:
//
//	struct {
//	  uint8  version = 1;
//	  opaque remote_signing_key[32];
//	  opaque remote_identity_key[32];
//	  SessionRecord sessions<0..255>;     // count-prefixed (uint8); active first, <= 5
//	  opaque seen<0..2^16-1>;             // 32-byte session ids, oldest first, <= 256
//	}
//	struct {
//	  opaque id[32];
//	  opaque pending_header<0..2^16-1>;   // empty unless an unanswered initiator session
//	  opaque ratchet_state<1..2^32-1>;    // ratchet.State encoding
//	} SessionRecord;
func (p *Peer) MarshalBinary() ([]byte, error) {
	b := cryptobyte.NewBuilder(nil)
	b.AddUint8(Version)
	b.AddBytes(p.remote.SigningKey)
	b.AddBytes(p.remote.IdentityKey.Bytes())
	b.AddUint8(uint8(len(p.sessions)))
	for _, s := range p.sessions {
		st, err := s.state.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("session: %w", err)
		}
		b.AddBytes(s.id[:])
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(s.pending) })
		b.AddUint32LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(st) })
	}
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for i := range p.seen {
			b.AddBytes(p.seen[i][:])
		}
	})
	return b.Bytes()
}

// UnmarshalPeer restores a Peer serialised by MarshalBinary. It rejects
// unknown versions, trailing bytes, lists over their bounds, duplicate
// session ids and a pending header that does not match its session id.
func UnmarshalPeer(data []byte) (*Peer, error) {
	p, err := unmarshalPeer(data)
	if err != nil {
		return nil, fmt.Errorf("session: decoding peer: %w", err)
	}
	return p, nil
}

var errMalformed = errors.New("truncated or malformed encoding")

func unmarshalPeer(data []byte) (*Peer, error) {
	s := cryptobyte.String(data)
	var version, count uint8
	if !s.ReadUint8(&version) {
		return nil, errMalformed
	}
	if version != Version {
		return nil, fmt.Errorf("unknown version %d", version)
	}
	var sig, ik []byte
	if !s.ReadBytes(&sig, ed25519.PublicKeySize) || !s.ReadBytes(&ik, 32) || !s.ReadUint8(&count) {
		return nil, errMalformed
	}
	ikKey, err := ecdh.X25519().NewPublicKey(ik)
	if err != nil {
		return nil, errMalformed
	}
	if count > 1+MaxRecentSessions {
		return nil, errors.New("too many sessions")
	}
	p := &Peer{remote: Identity{append(ed25519.PublicKey(nil), sig...), ikKey}}
	for range count {
		var id, pending []byte
		var n uint32
		var st []byte
		if !s.ReadBytes(&id, 32) || !s.ReadUint16LengthPrefixed((*cryptobyte.String)(&pending)) ||
			!s.ReadUint32(&n) || !s.ReadBytes(&st, int(n)) {
			return nil, errMalformed
		}
		sess := &Session{}
		copy(sess.id[:], id)
		if p.find(sess.id) >= 0 {
			return nil, errors.New("duplicate session")
		}
		if len(pending) > 0 {
			if _, err := pqxdh.ParseInitialHeader(pending); err != nil {
				return nil, err
			}
			if sessionID(pending) != sess.id {
				return nil, errors.New("pending header does not match session id")
			}
			sess.pending = append([]byte(nil), pending...)
		}
		if sess.state, err = ratchet.UnmarshalState(st); err != nil {
			return nil, err
		}
		p.sessions = append(p.sessions, sess)
	}
	var seen cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&seen) || !s.Empty() {
		return nil, errMalformed
	}
	if len(seen)%32 != 0 || len(seen)/32 > maxSeen {
		return nil, errors.New("bad seen list")
	}
	for !seen.Empty() {
		var id [32]byte
		var b []byte
		seen.ReadBytes(&b, 32)
		copy(id[:], b)
		p.seen = append(p.seen, id)
	}
	return p, nil
}
