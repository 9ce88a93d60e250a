package ratchet

import (
	"bytes"
	"testing"
)

func FuzzParseMessage(f *testing.F) {
	alice, _, _, _, _ := pair(f, 30)
	m := mustEncrypt(f, alice, testRand(31), "seed")
	f.Add(m)
	f.Add([]byte{})
	f.Add(m[:headerSize])
	f.Add(append(bytes.Clone(m), 0))
	f.Fuzz(func(t *testing.T, data []byte) {
		pm, err := ParseMessage(data)
		if err != nil {
			return
		}
		re, err := pm.MarshalBinary()
		if err != nil || !bytes.Equal(re, data) {
			t.Fatalf("encode(decode(x)) != x (%v)", err)
		}
	})
}

func FuzzUnmarshalState(f *testing.F) {
	alice, bob, _, _, _ := pair(f, 32)
	r := testRand(33)
	f.Add(marshal(f, alice))
	f.Add(marshal(f, bob))
	mustEncrypt(f, alice, r, "skipped")
	mustDecrypt(f, bob, mustEncrypt(f, alice, r, "x"), "x")
	f.Add(marshal(f, alice))
	f.Add(marshal(f, bob))
	f.Add([]byte{})
	f.Add([]byte{Version, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := UnmarshalState(data)
		if err != nil {
			return
		}
		re, err := s.MarshalBinary()
		if err != nil || !bytes.Equal(re, data) {
			t.Fatalf("encode(decode(x)) != x (%v)", err)
		}
	})
}

// FuzzDecrypt opens attacker-controlled bytes with a state that has a
// current chain, skipped keys and previous chains. Random bytes must never
// panic and never change the state; mutations of real messages may only
// succeed if they are the real message.
func FuzzDecrypt(f *testing.F) {
	alice, bob, _, _, _ := pair(f, 34)
	r := testRand(35)
	m0 := mustEncrypt(f, alice, r, "m0")
	m1 := mustEncrypt(f, alice, r, "m1")
	mustDecrypt(f, bob, m1, "m1")
	mustDecrypt(f, alice, mustEncrypt(f, bob, r, "b"), "b")
	m2 := mustEncrypt(f, alice, r, "m2")
	m3 := mustEncrypt(f, alice, r, "m3")
	for _, m := range [][]byte{m0, m1, m2, m3, m3[:headerSize], {}} {
		f.Add(m)
	}
	enc := marshal(f, bob)
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := UnmarshalState(enc)
		if err != nil {
			t.Fatal(err)
		}
		pt, err := s.Decrypt(data)
		if err != nil {
			re, _ := s.MarshalBinary()
			if !bytes.Equal(re, enc) {
				t.Fatal("failed decryption changed the state")
			}
			return
		}
		ok := (bytes.Equal(data, m0) && string(pt) == "m0") ||
			(bytes.Equal(data, m2) && string(pt) == "m2") ||
			(bytes.Equal(data, m3) && string(pt) == "m3")
		if !ok {
			t.Fatalf("forged message accepted: %x", data)
		}
	})
}
