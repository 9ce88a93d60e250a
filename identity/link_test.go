package identity

import (
	"bytes"
	"strings"
	"testing"
)

// TestLinkDevice runs the linking flow of DESIGN.md Section 2 between a new
// device and the primary, and a contact who sees the change.
func TestLinkDevice(t *testing.T) {
	alice := newTestAccount(t, "alice", 1)
	r := testRand("laptop")
	laptop := mustDeviceKeys(t, r)

	// The new device shows its offer and code.
	offer, err := NewLinkOffer(r, laptop.Public(), alice.id, "laptop")
	if err != nil {
		t.Fatal(err)
	}
	qr := mustMarshal(t, offer.Marshal)
	newDeviceCode, err := offer.Code()
	if err != nil {
		t.Fatal(err)
	}
	if len(newDeviceCode) != LinkCodeDigits || strings.Trim(newDeviceCode, "0123456789") != "" {
		t.Fatalf("code %q", newDeviceCode)
	}

	// The primary scans it, the user confirms the code, the primary signs.
	got, err := ParseLinkOffer(qr)
	if err != nil {
		t.Fatal(err)
	}
	if got.AccountIDHint != alice.id {
		t.Fatal("hint lost")
	}
	if !got.CheckCode(newDeviceCode) {
		t.Fatal("codes differ between the two devices")
	}
	next, err := alice.list.WithDevice(got.DeviceEntry(2000))
	if err != nil {
		t.Fatal(err)
	}
	signed := alice.sign(t, next)

	// A contact verifies the new list and learns about exactly the laptop.
	contactView, err := VerifyDeviceList(signed, alice.aik.Public(), alice.list)
	if err != nil {
		t.Fatal(err)
	}
	added, removed := Diff(alice.list, contactView)
	if len(added) != 1 || len(removed) != 0 || !added[0].DevicePublicKeys.Equal(laptop.Public()) ||
		added[0].Name != "laptop" || added[0].AddedAt != 2000 || added[0].ID != 2 {
		t.Fatalf("diff: added %+v, removed %+v", added, removed)
	}
}

func TestLinkOfferCode(t *testing.T) {
	r := testRand("link")
	keys := mustDeviceKeys(t, r).Public()
	a, _ := NewLinkOffer(r, keys, AccountID{}, "")
	b, _ := NewLinkOffer(r, keys, AccountID{}, "")
	ca, _ := a.Code()
	cb, _ := b.Code()
	if ca == cb {
		// Possible with probability 1e-6; the deterministic seed makes it stable.
		t.Fatalf("two offers with different nonces share code %s", ca)
	}
	if a.CheckCode(cb) || a.CheckCode("") || a.CheckCode(ca+"0") || a.CheckCode(ca[:5]) {
		t.Fatal("CheckCode accepted a wrong code")
	}
	// A substituted key changes the code.
	sub := *a
	sub.Keys = mustDeviceKeys(t, r).Public()
	if sub.CheckCode(ca) {
		t.Fatal("substituted keys kept the code")
	}
	invalid := *a
	invalid.Keys = DevicePublicKeys{}
	if _, err := invalid.Code(); err == nil || invalid.CheckCode(ca) {
		t.Fatal("invalid offer has a code")
	}
}

func TestParseLinkOffer(t *testing.T) {
	r := testRand("link")
	keys := mustDeviceKeys(t, r).Public()
	aid := mustAccountID(t, r)
	withHint, _ := NewLinkOffer(r, keys, aid, "tablet")
	noHint, _ := NewLinkOffer(r, keys, AccountID{}, "")
	for _, o := range []*LinkOffer{withHint, noHint} {
		enc := mustMarshal(t, o.Marshal)
		hint := 16
		if o.AccountIDHint.IsZero() {
			hint = 0
		}
		if len(enc) != 83+hint+len(o.Name) {
			t.Fatalf("encoding is %d bytes, want %d", len(enc), 83+hint+len(o.Name))
		}
		back, err := ParseLinkOffer(enc)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(mustMarshal(t, back.Marshal), enc) || back.Name != o.Name || back.Nonce != o.Nonce {
			t.Fatal("round trip changed the offer")
		}
		for n := 0; n < len(enc); n++ {
			if _, err := ParseLinkOffer(enc[:n]); err == nil {
				t.Fatalf("accepted a truncation to %d bytes", n)
			}
		}
	}
	enc := mustMarshal(t, withHint.Marshal)
	zeroHint := bytes.Clone(enc)
	copy(zeroHint[2:18], make([]byte, 16))
	shortHint := append([]byte{1, 8}, enc[2:10]...)
	shortHint = append(shortHint, enc[18:]...)
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"version 0", append([]byte{0}, enc[1:]...)},
		{"version 2", append([]byte{2}, enc[1:]...)},
		{"trailing", append(bytes.Clone(enc), 0)},
		{"zero hint", zeroHint},
		{"8-byte hint", shortHint},
	} {
		if _, err := ParseLinkOffer(tc.in); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	if _, err := NewLinkOffer(r, keys, aid, strings.Repeat("x", 65)); err == nil {
		t.Error("long name accepted")
	}
	if _, err := NewLinkOffer(r, DevicePublicKeys{}, aid, ""); err == nil {
		t.Error("missing keys accepted")
	}
	if _, err := NewLinkOffer(bytes.NewReader(nil), keys, aid, ""); err == nil {
		t.Error("empty random source accepted")
	}
}

func TestLinkOfferTampering(t *testing.T) {
	r := testRand("link")
	o, _ := NewLinkOffer(r, mustDeviceKeys(t, r).Public(), mustAccountID(t, r), "phone")
	enc := mustMarshal(t, o.Marshal)
	code, _ := o.Code()
	flipEachByte(enc, func(i int, bad []byte) {
		p, err := ParseLinkOffer(bad)
		if err != nil {
			return
		}
		if p.CheckCode(code) {
			t.Errorf("flipped byte %d kept the code", i)
		}
	})
}
