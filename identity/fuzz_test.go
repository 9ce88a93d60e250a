package identity

import (
	"bytes"
	"testing"
)

// addEncodingSeeds adds a valid encoding and its boundary variants: empty,
// version byte only, other versions, one byte short, one byte trailing.
func addEncodingSeeds(f *testing.F, enc []byte) {
	f.Add(enc)
	f.Add([]byte{})
	f.Add(enc[:1])
	f.Add(enc[:len(enc)-1])
	f.Add(append(bytes.Clone(enc), 0))
	for _, v := range []byte{0, 2, 0xff} {
		c := bytes.Clone(enc)
		c[0] = v
		f.Add(c)
	}
}

func FuzzParseAccountID(f *testing.F) {
	f.Add("0123456789abcdef0123456789abcdef")
	f.Add("0123456789ABCDEF0123456789abcdef")
	f.Add("00000000000000000000000000000000")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseAccountID(s)
		if err != nil {
			return
		}
		if id.String() != s {
			t.Fatalf("ParseAccountID(%q).String() = %q", s, id)
		}
	})
}

func FuzzParseAccountKey(f *testing.F) {
	addEncodingSeeds(f, mustMarshal(f, mustAccountKey(f, testRand("fuzz")).MarshalBinary))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParseAccountKey(data)
		if err != nil {
			return
		}
		if !bytes.Equal(mustMarshal(t, k.MarshalBinary), data) {
			t.Fatal("encode(decode(x)) != x")
		}
	})
}

func FuzzParseDeviceKeys(f *testing.F) {
	addEncodingSeeds(f, mustMarshal(f, mustDeviceKeys(f, testRand("fuzz")).MarshalBinary))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParseDeviceKeys(data)
		if err != nil {
			return
		}
		if !bytes.Equal(mustMarshal(t, k.MarshalBinary), data) {
			t.Fatal("encode(decode(x)) != x")
		}
		if err := k.Public().Validate(); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzParseDeviceList(f *testing.F) {
	for _, n := range []int{1, 3} {
		addEncodingSeeds(f, mustMarshal(f, newTestAccount(f, "fuzz", n).list.Marshal))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := ParseDeviceList(data)
		if err != nil {
			return
		}
		if err := l.Validate(); err != nil {
			t.Fatalf("decoded an invalid list: %v", err)
		}
		if !bytes.Equal(mustMarshal(t, l.Marshal), data) {
			t.Fatal("encode(decode(x)) != x")
		}
	})
}

func FuzzParseSignedDeviceList(f *testing.F) {
	a := newTestAccount(f, "fuzz", 2)
	addEncodingSeeds(f, a.sign(f, a.list))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSignedDeviceList(data)
		if err != nil {
			return
		}
		if !bytes.Equal(mustMarshal(t, s.Marshal), data) {
			t.Fatal("encode(decode(x)) != x")
		}
	})
}

func FuzzVerifyDeviceList(f *testing.F) {
	a := newTestAccount(f, "fuzz", 3)
	prev, err := a.list.WithoutDevice(3)
	if err != nil {
		f.Fatal(err)
	}
	addEncodingSeeds(f, a.sign(f, a.list))
	f.Add(a.sign(f, prev))
	f.Add(a.sign(f, newTestAccount(f, "fuzz", 1).list))
	trusted := a.aik.Public()
	prevEnc := mustMarshal(f, prev.Marshal)
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := VerifyDeviceList(data, trusted, prev)
		if err != nil {
			return
		}
		s, err := ParseSignedDeviceList(data)
		if err != nil {
			t.Fatal(err)
		}
		enc := mustMarshal(t, l.Marshal)
		switch {
		case !bytes.Equal(enc, s.List):
			t.Fatal("verified list differs from the signed bytes")
		case l.AccountID != prev.AccountID || l.Version < prev.Version:
			t.Fatal("accepted another account or a rollback")
		case l.Version == prev.Version && !bytes.Equal(enc, prevEnc):
			t.Fatal("accepted an equivocation")
		}
	})
}

func FuzzParseAccountKeyRotation(f *testing.F) {
	r := testRand("fuzz")
	aid := mustAccountID(f, r)
	k0, k1 := mustAccountKey(f, r), mustAccountKey(f, r)
	rot, err := RotateAccountKey(aid, 1, k0, k1)
	if err != nil {
		f.Fatal(err)
	}
	addEncodingSeeds(f, mustMarshal(f, rot.Marshal))
	f.Fuzz(func(t *testing.T, data []byte) {
		rot, err := ParseAccountKeyRotation(data)
		if err != nil {
			return
		}
		if !bytes.Equal(mustMarshal(t, rot.Marshal), data) {
			t.Fatal("encode(decode(x)) != x")
		}
		v, err := VerifyAccountKeyRotation(data, aid, k0.Public(), 0)
		if err != nil {
			return
		}
		if v.OldKey != k0.Public() || v.AccountID != aid || v.Counter == 0 || v.VerifySignatures() != nil {
			t.Fatalf("accepted an invalid rotation %+v", v)
		}
	})
}

func FuzzParseLinkOffer(f *testing.F) {
	r := testRand("fuzz")
	keys := mustDeviceKeys(f, r).Public()
	o1, _ := NewLinkOffer(r, keys, mustAccountID(f, r), "laptop")
	o2, _ := NewLinkOffer(r, keys, AccountID{}, "")
	addEncodingSeeds(f, mustMarshal(f, o1.Marshal))
	addEncodingSeeds(f, mustMarshal(f, o2.Marshal))
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := ParseLinkOffer(data)
		if err != nil {
			return
		}
		if !bytes.Equal(mustMarshal(t, o.Marshal), data) {
			t.Fatal("encode(decode(x)) != x")
		}
		code, err := o.Code()
		if err != nil || len(code) != LinkCodeDigits || !o.CheckCode(code) {
			t.Fatalf("Code() = %q, %v", code, err)
		}
	})
}

func FuzzCompareQR(f *testing.F) {
	r := testRand("fuzz")
	sn, err := NewSafetyNumber(mustAccountID(f, r), mustAccountKey(f, r).Public(), mustAccountID(f, r), mustAccountKey(f, r).Public())
	if err != nil {
		f.Fatal(err)
	}
	own := sn.QRPayload()
	addEncodingSeeds(f, own)
	f.Fuzz(func(t *testing.T, data []byte) {
		ok, err := sn.CompareQR(data)
		if err != nil {
			if ok {
				t.Fatal("true with an error")
			}
			return
		}
		if len(data) != len(own) || data[0] != SafetyNumberVersion {
			t.Fatalf("accepted a malformed payload %x", data)
		}
		if ok != bytes.Equal(data, own) {
			t.Fatalf("CompareQR = %v for %x", ok, data)
		}
	})
}

func FuzzVerifyChallenge(f *testing.F) {
	k := mustDeviceKeys(f, testRand("fuzz"))
	pub := k.Public().SigningKey
	challenge := []byte("challenge")
	sig := k.SignChallenge(challenge)
	f.Add(challenge, sig)
	f.Add([]byte{}, []byte{})
	f.Add(challenge, sig[:63])
	f.Add(challenge, append(bytes.Clone(sig), 0))
	f.Fuzz(func(t *testing.T, c, s []byte) {
		if VerifyChallenge(pub, c, s) == nil && !(bytes.Equal(c, challenge) && bytes.Equal(s, sig)) {
			// Ed25519 signatures in Go are non-malleable (S < L is
			// enforced), so the only valid signature of a message we never
			// signed would be a forgery.
			t.Fatalf("accepted %x over %x", s, c)
		}
	})
}
