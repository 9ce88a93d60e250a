// Package session manages Ward's 1:1 sessions with one peer device: PQXDH
// (package pqxdh) to start a session, the Double Ratchet (package ratchet)
// to run it, and the bookkeeping Signal's clients do around them.
//
// A Peer holds every session with one remote device: the active session,
// used to send, and up to MaxRecentSessions recent ones kept so that
// messages still in flight on them can be read. Typical use:
//
//	p, _ := session.NewPeer(session.Identity{SigningKey: ..., IdentityKey: ...})
//	_ = p.Initiate(rand, self, bundle)      // bundle fetched from the directory
//	msg, _ := p.Encrypt(rand, plaintext)    // a PrekeyMessage until a reply arrives
//	pt, consumed, err := p.Decrypt(self, store, incoming)
//	// persist p (MarshalBinary), then delete the prekeys named in consumed.
//
// Receiving rules:
//
//   - A PrekeyMessage whose initial header belongs to a session the Peer
//     has is decrypted in that session. One whose header is new creates a
//     session (PQXDH Section 3.4) only if its ratchet message decrypts; the
//     caller learns which one-time prekeys were consumed and deletes them.
//     A header seen before whose session is gone is refused with
//     ErrDuplicate, so a replayed PrekeyMessage never creates a second
//     session or decrypts twice.
//   - A plain ratchet message is tried in the active session, then in the
//     recent ones, newest first.
//   - The session that last decrypted a message becomes the active one, and
//     replies go out in it. When both devices initiate at the same moment
//     each ends up with two sessions; a message moves its receiver to the
//     session it was sent in, so after one round trip both devices use the
//     same session.
//   - A failed Decrypt leaves the Peer exactly unchanged.
//
// The initial header's identity keys are checked against the Identity the
// Peer was created with (the device as its verified device list names it);
// Initiate checks the bundle's keys the same way.
package session

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/wardchat/ward/pqxdh"
	"github.com/wardchat/ward/ratchet"
)

// Version is the first byte of every Message and serialised Peer.
const Version = 1

const (
	// MaxRecentSessions is how many sessions besides the active one a Peer
	// keeps; older ones are dropped.
	MaxRecentSessions = 4
	// maxSeen bounds the remembered initial headers of sessions this Peer
	// accepted as responder.
	maxSeen = 256
	// sessionIDLabel domain-separates session ids.
	sessionIDLabel = "WARD_SESSION_ID"
)

var (
	// ErrDuplicate means the message was already decrypted or its key is
	// gone (see ratchet.ErrDuplicate, which it wraps). Callers drop such
	// messages silently.
	ErrDuplicate = fmt.Errorf("session: %w", ratchet.ErrDuplicate)
	// ErrDecrypt means no session could decrypt the message.
	ErrDecrypt = errors.New("session: decryption failed")
	// ErrNoSession is returned by Encrypt when the Peer has no session:
	// the caller runs Initiate first.
	ErrNoSession = errors.New("session: no session with this device")
)

// Identity names a remote device by its two public keys, as its verified
// device list gives them.
type Identity struct {
	SigningKey  ed25519.PublicKey
	IdentityKey *ecdh.PublicKey
}

func (id Identity) matches(sig ed25519.PublicKey, ik *ecdh.PublicKey) bool {
	return ik != nil && bytes.Equal(id.SigningKey, sig) && bytes.Equal(id.IdentityKey.Bytes(), ik.Bytes())
}

// PrekeyStore gives the local device's private prekeys by id. It must not
// delete them: Decrypt reports the one-time prekeys a new session consumed
// and the caller deletes them after persisting the Peer. A lookup of a
// missing key returns an error.
type PrekeyStore interface {
	SignedPrekey(id uint32) (*pqxdh.SignedPrekeyPrivate, error)
	OneTimePrekey(id uint32) (*pqxdh.OneTimePrekeyPrivate, error)
	KEMPrekey(id uint32) (*pqxdh.KEMPrekeyPrivate, error)
}

// Session is one Double Ratchet session with the peer device.
type Session struct {
	id      [32]byte
	state   *ratchet.State
	pending []byte // encoded initial header; initiator only, until a reply
}

// sessionID is SHA-256("WARD_SESSION_ID" ‖ initial header encoding): both
// parties compute it from the same bytes.
func sessionID(header []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(sessionIDLabel))
	h.Write(header)
	var id [32]byte
	h.Sum(id[:0])
	return id
}

// ID identifies the session; both parties derive the same ID.
func (s *Session) ID() [32]byte { return s.id }

// AssociatedData returns the session's PQXDH associated data (both
// devices' identity and signing keys, see package pqxdh).
func (s *Session) AssociatedData() []byte { return s.state.AssociatedData() }

// Pending reports whether this is an initiator session that has not yet
// received a reply, so its messages carry the initial header.
func (s *Session) Pending() bool { return s.pending != nil }

// ChainDigests returns the ratchet's one-way digests of its root and chain
// keys (see ratchet.State.ChainDigests), for tests and diagnostics.
func (s *Session) ChainDigests() (root, sending, receiving [32]byte) {
	return s.state.ChainDigests()
}

// Peer is all sessions with one peer device. It is not safe for concurrent
// use.
type Peer struct {
	remote   Identity
	sessions []*Session // [0] is active, then most recently active first
	seen     [][32]byte // ids of sessions accepted as responder, oldest first
}

// NewPeer returns a Peer with no session for the given remote device.
func NewPeer(remote Identity) (*Peer, error) {
	if len(remote.SigningKey) != ed25519.PublicKeySize || remote.IdentityKey == nil || remote.IdentityKey.Curve() != ecdh.X25519() {
		return nil, errors.New("session: invalid remote identity")
	}
	return &Peer{remote: Identity{append(ed25519.PublicKey(nil), remote.SigningKey...), remote.IdentityKey}}, nil
}

// Remote returns the remote device's identity.
func (p *Peer) Remote() Identity { return p.remote }

// Active returns the active session, or nil if there is none.
func (p *Peer) Active() *Session {
	if len(p.sessions) == 0 {
		return nil
	}
	return p.sessions[0]
}

// Sessions returns the number of sessions held (active and recent).
func (p *Peer) Sessions() int { return len(p.sessions) }

// push makes s the active session, dropping the oldest past the limit.
func (p *Peer) push(s *Session) {
	p.sessions = append([]*Session{s}, p.sessions...)
	if len(p.sessions) > 1+MaxRecentSessions {
		p.sessions = p.sessions[:1+MaxRecentSessions]
	}
}

// promote makes session i the active one.
func (p *Peer) promote(i int) {
	s := p.sessions[i]
	copy(p.sessions[1:i+1], p.sessions[:i])
	p.sessions[0] = s
}

func (p *Peer) find(id [32]byte) int {
	for i, s := range p.sessions {
		if s.id == id {
			return i
		}
	}
	return -1
}

// Initiate starts a new session from the remote device's prekey bundle
// (PQXDH Section 3.3) and makes it active. The bundle must belong to the
// remote device; its signatures are verified before use. Randomness comes
// from rand (ML-KEM encapsulation excepted, see package pqxdh).
func (p *Peer) Initiate(rand io.Reader, self pqxdh.IdentityKeyPair, bundle *pqxdh.Bundle) error {
	if bundle == nil || !p.remote.matches(bundle.SigningKey, bundle.IdentityKey) {
		return errors.New("session: bundle is not the peer device's")
	}
	sk, h, ad, err := pqxdh.InitiatorAgree(rand, self, bundle)
	if err != nil {
		return fmt.Errorf("session: %w", err)
	}
	hb, err := h.MarshalBinary()
	if err != nil {
		return fmt.Errorf("session: %w", err)
	}
	st, err := ratchet.InitAlice(sk, ad, bundle.SignedPrekey.PublicKey)
	clear(sk)
	if err != nil {
		return fmt.Errorf("session: %w", err)
	}
	p.push(&Session{id: sessionID(hb), state: st, pending: hb})
	return nil
}

// Encrypt encrypts plaintext in the active session and returns the
// message to send: a PrekeyMessage while the session awaits its first
// reply, a plain ratchet message afterwards.
func (p *Peer) Encrypt(rand io.Reader, plaintext []byte) ([]byte, error) {
	s := p.Active()
	if s == nil {
		return nil, ErrNoSession
	}
	rm, err := s.state.Encrypt(rand, plaintext)
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	return appendMessage(make([]byte, 0, 8+len(s.pending)+len(rm)), s.pending, rm)
}

// Decrypt decrypts a message from the remote device. For a PrekeyMessage
// that starts a new session, prekeys supplies the private prekeys it names
// and consumed reports the one-time prekeys to delete once the Peer is
// persisted. On error the Peer is unchanged; ErrDuplicate marks a replayed
// or expired message.
func (p *Peer) Decrypt(self pqxdh.IdentityKeyPair, prekeys PrekeyStore, message []byte) (plaintext []byte, consumed pqxdh.Consumed, err error) {
	m, err := ParseMessage(message)
	if err != nil {
		return nil, pqxdh.Consumed{}, err
	}
	if m.IsPrekey() {
		return p.decryptPrekey(self, prekeys, m)
	}
	dup := false
	for i, s := range p.sessions {
		pt, err := s.state.Decrypt(m.Ratchet)
		if err == nil {
			s.pending = nil // a reply: stop sending the initial header
			p.promote(i)
			return pt, pqxdh.Consumed{}, nil
		}
		dup = dup || errors.Is(err, ratchet.ErrDuplicate)
	}
	if dup {
		return nil, pqxdh.Consumed{}, ErrDuplicate
	}
	return nil, pqxdh.Consumed{}, ErrDecrypt
}

func (p *Peer) decryptPrekey(self pqxdh.IdentityKeyPair, prekeys PrekeyStore, m *Message) ([]byte, pqxdh.Consumed, error) {
	h := m.Header
	if !p.remote.matches(h.SigningKey, h.IdentityKey) {
		return nil, pqxdh.Consumed{}, errors.New("session: initial header is not from the peer device")
	}
	id := sessionID(m.HeaderBytes)
	if i := p.find(id); i >= 0 {
		s := p.sessions[i]
		pt, err := s.state.Decrypt(m.Ratchet)
		if err != nil {
			if errors.Is(err, ratchet.ErrDuplicate) {
				return nil, pqxdh.Consumed{}, ErrDuplicate
			}
			return nil, pqxdh.Consumed{}, ErrDecrypt
		}
		p.promote(i)
		return pt, pqxdh.Consumed{}, nil
	}
	for _, seen := range p.seen {
		if seen == id {
			return nil, pqxdh.Consumed{}, ErrDuplicate
		}
	}
	if prekeys == nil {
		return nil, pqxdh.Consumed{}, errors.New("session: prekey message but no prekey store")
	}
	var keys pqxdh.ResponderPrekeys
	var err error
	if keys.SignedPrekey, err = prekeys.SignedPrekey(h.SignedPrekeyID); err != nil {
		return nil, pqxdh.Consumed{}, fmt.Errorf("session: signed prekey %d: %w", h.SignedPrekeyID, err)
	}
	if h.HasOneTimePrekey {
		if keys.OneTimePrekey, err = prekeys.OneTimePrekey(h.OneTimePrekeyID); err != nil {
			return nil, pqxdh.Consumed{}, fmt.Errorf("session: one-time prekey %d: %w", h.OneTimePrekeyID, err)
		}
	}
	if keys.KEMPrekey, err = prekeys.KEMPrekey(h.KEMPrekeyID); err != nil {
		return nil, pqxdh.Consumed{}, fmt.Errorf("session: PQ prekey %d: %w", h.KEMPrekeyID, err)
	}
	sk, ad, consumed, err := pqxdh.ResponderAgree(self, keys, h)
	if err != nil {
		return nil, pqxdh.Consumed{}, fmt.Errorf("session: %w", err)
	}
	st, err := ratchet.InitBob(sk, ad, keys.SignedPrekey.PrivateKey)
	clear(sk)
	if err != nil {
		return nil, pqxdh.Consumed{}, fmt.Errorf("session: %w", err)
	}
	pt, err := st.Decrypt(m.Ratchet)
	if err != nil {
		// PQXDH Section 3.4: if decryption fails, Bob aborts the protocol
		// and deletes SK; no session, no consumed prekeys.
		return nil, pqxdh.Consumed{}, ErrDecrypt
	}
	p.push(&Session{id: id, state: st})
	p.seen = append(p.seen, id)
	if len(p.seen) > maxSeen {
		p.seen = append(p.seen[:0], p.seen[1:]...)
	}
	return pt, consumed, nil
}
