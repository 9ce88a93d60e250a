package session

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/wardchat/ward/pqxdh"
)

// keyRand is the deterministic key source of tests (ChaCha8); schedules
// use a separate PCG so keys never come from the schedule's generator.
func keyRand(seed uint64) io.Reader {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	s[31] = 0x77
	return rand.NewChaCha8(s)
}

// memStore is an in-memory PrekeyStore.
type memStore struct {
	spk map[uint32]*pqxdh.SignedPrekeyPrivate
	opk map[uint32]*pqxdh.OneTimePrekeyPrivate
	kem map[uint32]*pqxdh.KEMPrekeyPrivate
}

var errNoKey = errors.New("no such prekey")

func (s *memStore) SignedPrekey(id uint32) (*pqxdh.SignedPrekeyPrivate, error) {
	if k, ok := s.spk[id]; ok {
		return k, nil
	}
	return nil, errNoKey
}

func (s *memStore) OneTimePrekey(id uint32) (*pqxdh.OneTimePrekeyPrivate, error) {
	if k, ok := s.opk[id]; ok {
		return k, nil
	}
	return nil, errNoKey
}

func (s *memStore) KEMPrekey(id uint32) (*pqxdh.KEMPrekeyPrivate, error) {
	if k, ok := s.kem[id]; ok {
		return k, nil
	}
	return nil, errNoKey
}

func (s *memStore) consume(t testing.TB, c pqxdh.Consumed) {
	t.Helper()
	if c.OneTimePrekey {
		if _, ok := s.opk[c.OneTimePrekeyID]; !ok {
			t.Fatalf("consumed unknown one-time prekey %d", c.OneTimePrekeyID)
		}
		delete(s.opk, c.OneTimePrekeyID)
	}
	if c.OneTimeKEMPrekey {
		k, ok := s.kem[c.KEMPrekeyID]
		if !ok || k.LastResort {
			t.Fatalf("consumed unknown or last-resort PQ prekey %d", c.KEMPrekeyID)
		}
		delete(s.kem, c.KEMPrekeyID)
	}
}

type device struct {
	id     pqxdh.IdentityKeyPair
	pub    Identity
	store  *memStore
	r      io.Reader
	nextID uint32
	last   uint32 // id of the last-resort PQ prekey
}

func newDevice(t testing.TB, seed uint64) *device {
	t.Helper()
	r := keyRand(seed)
	buf := make([]byte, 64)
	io.ReadFull(r, buf)
	ik, err := ecdh.X25519().NewPrivateKey(buf[32:])
	if err != nil {
		t.Fatal(err)
	}
	d := &device{
		id:    pqxdh.IdentityKeyPair{SigningKey: ed25519.NewKeyFromSeed(buf[:32]), IdentityKey: ik},
		store: &memStore{map[uint32]*pqxdh.SignedPrekeyPrivate{}, map[uint32]*pqxdh.OneTimePrekeyPrivate{}, map[uint32]*pqxdh.KEMPrekeyPrivate{}},
		r:     r,
	}
	d.pub = Identity{d.id.SigningKey.Public().(ed25519.PublicKey), ik.PublicKey()}
	spk, err := pqxdh.NewSignedPrekey(r, d.id.SigningKey, 1)
	if err != nil {
		t.Fatal(err)
	}
	d.store.spk[1] = spk
	last, err := pqxdh.NewKEMPrekey(r, d.id.SigningKey, 2, true)
	if err != nil {
		t.Fatal(err)
	}
	d.store.kem[2], d.last = last, 2
	d.nextID = 100
	return d
}

// bundle publishes a bundle as the directory would hand it out, making
// fresh one-time prekeys as asked.
func (d *device) bundle(t testing.TB, withOPK, oneTimeKEM bool) *pqxdh.Bundle {
	t.Helper()
	b := &pqxdh.Bundle{
		SigningKey:   d.pub.SigningKey,
		IdentityKey:  d.pub.IdentityKey,
		SignedPrekey: *d.store.spk[1].Public(),
		KEMPrekey:    *d.store.kem[d.last].Public(),
	}
	if withOPK {
		d.nextID++
		k, err := pqxdh.NewOneTimePrekey(d.r, d.nextID)
		if err != nil {
			t.Fatal(err)
		}
		d.store.opk[k.ID] = k
		b.OneTimePrekey = k.Public()
	}
	if oneTimeKEM {
		d.nextID++
		k, err := pqxdh.NewKEMPrekey(d.r, d.id.SigningKey, d.nextID, false)
		if err != nil {
			t.Fatal(err)
		}
		d.store.kem[k.ID] = k
		b.KEMPrekey = *k.Public()
	}
	return b
}

func newPeer(t testing.TB, remote *device) *Peer {
	t.Helper()
	p, err := NewPeer(remote.pub)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func marshalPeer(t testing.TB, p *Peer) []byte {
	t.Helper()
	b, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkAgreement checks that the receiver's copy of the sender's active
// session has derived the same keys: equal roots, and the sender's sending
// chain is the receiver's receiving chain.
func checkAgreement(t testing.TB, sender, receiver *Peer, what string) {
	t.Helper()
	checkChains(t, sender, receiver, true, what)
}

// checkChains is checkAgreement with the root comparison optional: the
// roots agree only once both sides have received each other's latest
// ratchet keys, which drops can delay.
func checkChains(t testing.TB, sender, receiver *Peer, roots bool, what string) {
	t.Helper()
	sa, ra := sender.Active(), receiver.Active()
	if sa == nil || ra == nil || sa.ID() != ra.ID() {
		t.Fatalf("%s: active sessions differ", what)
	}
	rootS, sendS, _ := sa.ChainDigests()
	rootR, _, recvR := ra.ChainDigests()
	if (roots && rootS != rootR) || sendS != recvR || sendS == ([32]byte{}) {
		t.Fatalf("%s: derived keys differ", what)
	}
}

func flipped(b []byte, i int, bit byte) []byte {
	c := bytes.Clone(b)
	c[i] ^= bit
	return c
}
