package pqxdh

import (
	"bytes"
	"testing"
)

func seedEncodings(f *testing.F) (bundle, header []byte, bob *device) {
	r := testRand(11)
	alice, b := newDevice(f, r), newDevice(f, r)
	enc, err := b.bundle(true, false).MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	_, h, _, err := InitiatorAgree(r, alice.id, b.bundle(true, false))
	if err != nil {
		f.Fatal(err)
	}
	hb, err := h.MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	return enc, hb, b
}

func addBoundaries(f *testing.F, valid []byte) {
	f.Add(valid)
	f.Add([]byte{})
	f.Add([]byte{Version})
	f.Add(valid[:len(valid)-1])
	f.Add(append(bytes.Clone(valid), 0))
	bad := bytes.Clone(valid)
	bad[0] = 2
	f.Add(bad)
}

// roundTrip fails the fuzz target if a value that decoded does not encode
// back to the same bytes.
func roundTrip(t *testing.T, data []byte, m interface{ MarshalBinary() ([]byte, error) }) {
	re, err := m.MarshalBinary()
	if err != nil {
		t.Fatalf("decoded value does not encode: %v", err)
	}
	if !bytes.Equal(re, data) {
		t.Fatalf("encode(decode(x)) != x")
	}
}

func FuzzParseBundle(f *testing.F) {
	b, _, _ := seedEncodings(f)
	addBoundaries(f, b)
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := ParseBundle(data)
		if err != nil {
			return
		}
		roundTrip(t, data, v)
		_ = v.Verify()
	})
}

func FuzzParseInitialHeader(f *testing.F) {
	_, h, _ := seedEncodings(f)
	addBoundaries(f, h)
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := ParseInitialHeader(data)
		if err != nil {
			return
		}
		roundTrip(t, data, v)
	})
}

// FuzzParsePrekeys feeds the same bytes to every prekey decoder, public and
// private; the first byte picks none, all are exercised by the corpus.
func FuzzParsePrekeys(f *testing.F) {
	r := testRand(12)
	d := newDevice(f, r)
	for _, m := range []interface{ MarshalBinary() ([]byte, error) }{
		d.spk.Public(), d.opk.Public(), d.last.Public(), d.spk, d.opk, d.kem,
	} {
		enc, err := m.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		addBoundaries(f, enc)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if v, err := ParseSignedPrekey(data); err == nil {
			roundTrip(t, data, v)
		}
		if v, err := ParseOneTimePrekey(data); err == nil {
			roundTrip(t, data, v)
		}
		if v, err := ParseKEMPrekey(data); err == nil {
			roundTrip(t, data, v)
		}
		if v, err := ParseSignedPrekeyPrivate(data); err == nil {
			roundTrip(t, data, v)
		}
		if v, err := ParseOneTimePrekeyPrivate(data); err == nil {
			roundTrip(t, data, v)
		}
		if v, err := ParseKEMPrekeyPrivate(data); err == nil {
			roundTrip(t, data, v)
		}
	})
}

// FuzzResponderAgree opens attacker-controlled initial headers with real
// private prekeys: it must never panic, and a header that decodes must
// either fail or give a 32-byte secret.
func FuzzResponderAgree(f *testing.F) {
	_, h, bob := seedEncodings(f)
	addBoundaries(f, h)
	f.Fuzz(func(t *testing.T, data []byte) {
		hdr, err := ParseInitialHeader(data)
		if err != nil {
			return
		}
		sk, ad, _, err := ResponderAgree(bob.id, bob.lookup(hdr), hdr)
		if err == nil && (len(sk) != SharedSecretSize || len(ad) != ADSize) {
			t.Fatalf("bad output sizes %d %d", len(sk), len(ad))
		}
	})
}
