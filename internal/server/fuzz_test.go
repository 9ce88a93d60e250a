package server

import (
	"bytes"
	"testing"
	"time"

	"github.com/wardchat/ward/internal/store"
)

func fuzzServer() *Server {
	// Deterministic: fuzz workers are separate processes that rebuild the
	// seeds, which must come out identical.
	return &Server{authKey: bytes.Repeat([]byte{7}, 32), now: time.Now, rand: zeros{}}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

var fuzzExpiry = time.Unix(4_000_000_000, 0)

// FuzzVerifyToken: no input but a token the server issued verifies, and
// a verified token names the device it was issued for.
func FuzzVerifyToken(f *testing.F) {
	s := fuzzServer()
	addr := store.Address{Device: 3}
	addr.Account[0] = 9
	good := s.issueToken(addr, fuzzExpiry)
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add(good + "A")
	f.Add("")
	f.Add("v1.")
	f.Add("v2." + good[3:])
	f.Fuzz(func(t *testing.T, tok string) {
		got, err := s.verifyToken(tok)
		if err != nil {
			return
		}
		if tok != good || got != addr {
			t.Fatalf("forged token %q verified as %v", tok, got)
		}
	})
}

// FuzzRegistrationChallenge: only the challenge the server made verifies.
func FuzzRegistrationChallenge(f *testing.F) {
	s := fuzzServer()
	addr := store.Address{Device: 1}
	c, err := s.registrationChallenge(addr, fuzzExpiry)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(c)
	f.Add(c[:len(c)-1])
	f.Add(append(bytes.Clone(c), 0))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if s.checkRegistrationChallenge(addr, b) == nil && !bytes.Equal(b, c) {
			t.Fatalf("forged challenge %x accepted", b)
		}
	})
}

// FuzzParseQueued: decoding never panics and round-trips exactly.
func FuzzParseQueued(f *testing.F) {
	w, _ := (&queued{kind: 1, conversation: make([]byte, 16), commitment: make([]byte, 32), envelope: []byte("envelope")}).marshal()
	f.Add(w)
	f.Add(w[:len(w)-1])
	f.Add(append(bytes.Clone(w), 0))
	f.Add([]byte{1, 1, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := parseQueued(b)
		if err != nil {
			return
		}
		again, err := q.marshal()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("round trip: %x -> %x (%v)", b, again, err)
		}
	})
}

// FuzzDecodeKeyring: the stored keyring decoder rejects or round-trips.
func FuzzDecodeKeyring(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		kr, at, err := decodeKeyring(b)
		if err != nil {
			return
		}
		again, err := encodeKeyring(kr, at)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("round trip: %x -> %x (%v)", b, again, err)
		}
	})
}
