package identity

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestDeviceListRoundTrip(t *testing.T) {
	a := newTestAccount(t, "alice", 3)
	enc := mustMarshal(t, a.list.Marshal)
	// 1 + 16 + 8 + 2 + per device (4 + 32 + 32 + 8 + 1 + len(name)).
	if want := 27 + 77 + len("phone") + 2*(77+len("device")); len(enc) != want {
		t.Fatalf("encoding is %d bytes, want %d", len(enc), want)
	}
	back, err := ParseDeviceList(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mustMarshal(t, back.Marshal), enc) {
		t.Fatal("encode(decode(x)) != x")
	}
	if back.AccountID != a.id || back.Version != 3 || len(back.Devices) != 3 {
		t.Fatalf("decoded %+v", back)
	}
	for i, e := range back.Devices {
		if e.ID != DeviceID(i+1) || !e.DevicePublicKeys.Equal(a.devices[i].Public()) {
			t.Errorf("device %d: %+v", i, e)
		}
	}
	if back.Devices[0].Name != "phone" || back.Devices[0].AddedAt != 1000 {
		t.Errorf("primary entry %+v", back.Devices[0])
	}

	// The encoding is canonical whatever the order in memory.
	shuffled := a.list.Clone()
	slices.Reverse(shuffled.Devices)
	if !bytes.Equal(mustMarshal(t, shuffled.Marshal), enc) {
		t.Fatal("encoding depends on the order of Devices")
	}
}

func TestDeviceListValidate(t *testing.T) {
	a := newTestAccount(t, "alice", 3)
	mod := func(f func(l *DeviceList)) *DeviceList {
		l := a.list.Clone()
		f(l)
		return l
	}
	for _, tc := range []struct {
		name string
		l    *DeviceList
		want string
	}{
		{"zero account", mod(func(l *DeviceList) { l.AccountID = AccountID{} }), "zero account ID"},
		{"version 0", mod(func(l *DeviceList) { l.Version = 0 }), "version 0"},
		{"no devices", mod(func(l *DeviceList) { l.Devices = nil }), "no devices"},
		{"no primary", mod(func(l *DeviceList) { l.Devices = l.Devices[1:] }), "no primary"},
		{"device 0", mod(func(l *DeviceList) { l.Devices[1].ID = 0 }), "device ID 0"},
		{"duplicate ID", mod(func(l *DeviceList) { l.Devices[2].ID = 2 }), "duplicate device ID"},
		{"duplicate signing key", mod(func(l *DeviceList) { l.Devices[2].SigningKey = l.Devices[1].SigningKey }), "share a signing key"},
		{"duplicate identity key", mod(func(l *DeviceList) { l.Devices[2].IdentityKey = l.Devices[0].IdentityKey }), "share an identity key"},
		{"short signing key", mod(func(l *DeviceList) { l.Devices[1].SigningKey = l.Devices[1].SigningKey[:16] }), "signing key must be"},
		{"low-order identity key", mod(func(l *DeviceList) { l.Devices[1].IdentityKey = x25519Pub(t, weakX25519[3][:]) }), "small-order"},
		{"missing identity key", mod(func(l *DeviceList) { l.Devices[1].IdentityKey = nil }), "missing device identity key"},
		{"long name", mod(func(l *DeviceList) { l.Devices[1].Name = strings.Repeat("x", 65) }), "name longer"},
		{"invalid UTF-8 name", mod(func(l *DeviceList) { l.Devices[1].Name = "\xff" }), "UTF-8"},
		{"too many devices", mod(func(l *DeviceList) {
			r := testRand("many")
			for i := 0; i < MaxDevices; i++ {
				l.Devices = append(l.Devices, DeviceEntry{ID: DeviceID(100 + i), DevicePublicKeys: mustDeviceKeys(t, r).Public()})
			}
		}), "more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.l.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tc.want)
			}
			if _, err := tc.l.Marshal(); err == nil {
				t.Fatal("Marshal accepted an invalid list")
			}
			if _, err := tc.l.Sign(a.aik); err == nil {
				t.Fatal("Sign accepted an invalid list")
			}
		})
	}
	// Boundary values that are valid.
	ok := mod(func(l *DeviceList) {
		l.Devices[1].Name = strings.Repeat("é", 32) // 64 bytes
		l.Devices[2].ID = 0xffffffff
		l.Version = 1<<64 - 1
	})
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	enc := mustMarshal(t, ok.Marshal)
	back, err := ParseDeviceList(enc)
	if err != nil || !bytes.Equal(mustMarshal(t, back.Marshal), enc) {
		t.Fatalf("boundary list did not round-trip: %v", err)
	}
}

// encodeRawList builds a device-list encoding without validation, to test
// the decoder on encodings Marshal would never produce.
func encodeRawList(t *testing.T, version uint8, l *DeviceList, trailing []byte) []byte {
	t.Helper()
	enc := mustMarshal(t, l.Clone().Marshal)
	enc[0] = version
	return append(enc, trailing...)
}

func TestParseDeviceListRejects(t *testing.T) {
	a := newTestAccount(t, "alice", 3)
	enc := mustMarshal(t, a.list.Marshal)
	unsorted := bytes.Clone(enc)
	// Swap the IDs of devices 2 and 3 in the encoding: entries are at
	// 27 + 82 (primary, name "phone") and then 83 bytes each.
	first, second := 27+82, 27+82+83
	copy(unsorted[first:first+4], enc[second:second+4])
	copy(unsorted[second:second+4], enc[first:first+4])
	bigLen := bytes.Clone(enc)
	bigLen[25], bigLen[26] = 0xff, 0xff
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"version 0", encodeRawList(t, 0, a.list, nil)},
		{"version 2", encodeRawList(t, 2, a.list, nil)},
		{"trailing byte", encodeRawList(t, 1, a.list, []byte{0})},
		{"truncated", enc[:len(enc)-1]},
		{"header only", enc[:27]},
		{"vector length too long", bigLen},
		{"unsorted", unsorted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseDeviceList(tc.in); err == nil {
				t.Fatal("ParseDeviceList succeeded")
			} else if !strings.HasPrefix(err.Error(), "identity: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
		})
	}
	// Every truncation is rejected.
	for n := 0; n < len(enc); n++ {
		if _, err := ParseDeviceList(enc[:n]); err == nil {
			t.Fatalf("accepted a truncation to %d bytes", n)
		}
	}
}

func TestVerifyDeviceList(t *testing.T) {
	a := newTestAccount(t, "alice", 3)
	mallory := newTestAccount(t, "mallory", 2)
	trusted := a.aik.Public()
	v3 := a.list
	signed3 := a.sign(t, v3)

	v4, err := v3.WithoutDevice(2)
	if err != nil {
		t.Fatal(err)
	}
	signed4 := a.sign(t, v4)

	// Same version as v3, different content: equivocation.
	fork := v3.Clone()
	fork.Devices[2].Name = "evil twin"
	signedFork := a.sign(t, fork)

	// A list for another account signed by the right key.
	other := v4.Clone()
	other.AccountID = mallory.id
	signedOther := a.sign(t, other)

	// A list signed with another key that claims to be signed by the trusted key.
	forged, err := ParseSignedDeviceList(mallory.sign(t, v4))
	if err != nil {
		t.Fatal(err)
	}
	forged.Signer = trusted
	signedForged := mustMarshal(t, forged.Marshal)

	for _, tc := range []struct {
		name    string
		signed  []byte
		trusted AccountPublicKey
		prev    *DeviceList
		wantErr error // nil: any error; ignored when ok
		ok      bool
	}{
		{"first fetch", signed3, trusted, nil, nil, true},
		{"same list again", signed3, trusted, v3, nil, true},
		{"newer list", signed4, trusted, v3, nil, true},
		{"rollback", signed3, trusted, v4, ErrRollback, false},
		{"equivocation", signedFork, trusted, v3, ErrEquivocation, false},
		{"other account", signedOther, trusted, v3, ErrAccountMismatch, false},
		{"untrusted signer", mallory.sign(t, mallory.list), trusted, nil, ErrUntrustedSigner, false},
		{"bad signature", signedForged, trusted, nil, nil, false},
		{"no trusted key", signed3, AccountPublicKey{}, nil, nil, false},
		{"trailing byte", append(bytes.Clone(signed3), 0), trusted, nil, nil, false},
		{"invalid prev", signed3, trusted, &DeviceList{}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := VerifyDeviceList(tc.signed, tc.trusted, tc.prev)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				enc := mustMarshal(t, got.Marshal)
				s, _ := ParseSignedDeviceList(tc.signed)
				if !bytes.Equal(enc, s.List) {
					t.Fatal("returned list differs from the signed one")
				}
				return
			}
			if err == nil {
				t.Fatal("VerifyDeviceList succeeded")
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if got != nil {
				t.Fatal("returned a list with an error")
			}
		})
	}
}

func TestVerifyDeviceListTampering(t *testing.T) {
	a := newTestAccount(t, "alice", 2)
	signed := a.sign(t, a.list)
	flipEachByte(signed, func(i int, bad []byte) {
		if _, err := VerifyDeviceList(bad, a.aik.Public(), nil); err == nil {
			t.Errorf("flipped byte %d accepted", i)
		}
	})
}

func TestSignRefusesAIKAsDeviceKey(t *testing.T) {
	a := newTestAccount(t, "alice", 1)
	l := a.list.Clone()
	l.Devices[0].SigningKey = a.aik.Public().Bytes()
	if _, err := l.Sign(a.aik); err == nil {
		t.Fatal("signed a list whose device reuses the AIK")
	}
	// And a verifier refuses such a list even when correctly signed.
	enc := mustMarshal(t, l.Marshal)
	s := &SignedDeviceList{List: enc, Signer: a.aik.Public(), Signature: sign(a.aik.priv, ContextDeviceList, enc)}
	if _, err := VerifyDeviceList(mustMarshal(t, s.Marshal), a.aik.Public(), nil); err == nil {
		t.Fatal("verified a list whose device reuses the AIK")
	}
}

func TestSignatureContextSeparation(t *testing.T) {
	a := newTestAccount(t, "alice", 1)
	enc := mustMarshal(t, a.list.Marshal)
	for _, ctx := range []string{ContextChallenge, ContextRotationOld, ContextRotationNew, ""} {
		s := &SignedDeviceList{List: enc, Signer: a.aik.Public()}
		if ctx == "" {
			s.Signature = ed25519Sign(a.aik, enc)
		} else {
			s.Signature = sign(a.aik.priv, ctx, enc)
		}
		if _, err := VerifyDeviceList(mustMarshal(t, s.Marshal), a.aik.Public(), nil); err == nil {
			t.Errorf("signature with context %q accepted as a device-list signature", ctx)
		}
	}
}

func TestWithDeviceWithoutDevice(t *testing.T) {
	a := newTestAccount(t, "alice", 2)
	r := testRand("new")
	n := mustDeviceKeys(t, r).Public()
	l2, err := a.list.WithDevice(DeviceEntry{DevicePublicKeys: n, Name: "tablet"})
	if err != nil {
		t.Fatal(err)
	}
	if l2.Version != a.list.Version+1 || len(l2.Devices) != 3 || l2.Devices[2].ID != 3 {
		t.Fatalf("WithDevice: %+v", l2)
	}
	if len(a.list.Devices) != 2 {
		t.Fatal("WithDevice modified its receiver")
	}
	// Explicit IDs keep the list sorted.
	l3, err := l2.WithDevice(DeviceEntry{ID: 10, DevicePublicKeys: mustDeviceKeys(t, r).Public()})
	if err != nil {
		t.Fatal(err)
	}
	l4, err := l3.WithDevice(DeviceEntry{DevicePublicKeys: mustDeviceKeys(t, r).Public()})
	if err != nil {
		t.Fatal(err)
	}
	if got := l4.Devices[len(l4.Devices)-1].ID; got != 11 {
		t.Fatalf("next ID %d, want 11", got)
	}
	for _, tc := range []struct {
		name string
		e    DeviceEntry
	}{
		{"taken ID", DeviceEntry{ID: 2, DevicePublicKeys: mustDeviceKeys(t, r).Public()}},
		{"existing keys", DeviceEntry{DevicePublicKeys: n}},
		{"invalid keys", DeviceEntry{}},
	} {
		if _, err := l2.WithDevice(tc.e); err == nil {
			t.Errorf("WithDevice(%s) succeeded", tc.name)
		}
	}
	exhausted := l2.Clone()
	exhausted.Version = 1<<64 - 1
	if _, err := exhausted.WithDevice(DeviceEntry{DevicePublicKeys: mustDeviceKeys(t, r).Public()}); err == nil {
		t.Error("version overflowed")
	}
	if _, err := exhausted.WithoutDevice(2); err == nil {
		t.Error("version overflowed")
	}

	l5, err := l4.WithoutDevice(3)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := l5.Device(3); ok || l5.Version != l4.Version+1 {
		t.Fatalf("WithoutDevice: %+v", l5)
	}
	if _, ok := l4.Device(3); !ok {
		t.Fatal("WithoutDevice modified its receiver")
	}
	if _, err := l5.WithoutDevice(3); err == nil {
		t.Error("removed an absent device")
	}
	if _, err := l5.WithoutDevice(PrimaryDevice); err == nil {
		t.Error("removed the primary device")
	}
	if _, err := NewDeviceList(a.id, DeviceEntry{ID: 2, DevicePublicKeys: n}); err == nil {
		t.Error("NewDeviceList accepted a non-primary first device")
	}
}

func TestDiff(t *testing.T) {
	a := newTestAccount(t, "alice", 3)
	r := testRand("diff")
	ids := func(es []DeviceEntry) []DeviceID {
		var out []DeviceID
		for _, e := range es {
			out = append(out, e.ID)
		}
		return out
	}
	added, removed := Diff(nil, a.list)
	if !slices.Equal(ids(added), []DeviceID{1, 2, 3}) || removed != nil {
		t.Fatalf("Diff(nil, l) = %v, %v", ids(added), ids(removed))
	}
	added, removed = Diff(a.list, a.list)
	if added != nil || removed != nil {
		t.Fatalf("Diff(l, l) = %v, %v", ids(added), ids(removed))
	}
	next, _ := a.list.WithoutDevice(2)
	next, _ = next.WithDevice(DeviceEntry{DevicePublicKeys: mustDeviceKeys(t, r).Public()})
	// Device 3 gets new keys under the same ID: reported as removed and added.
	next.Devices[1].DevicePublicKeys = mustDeviceKeys(t, r).Public()
	// A renamed device is not a security event.
	next.Devices[0].Name = "renamed"
	added, removed = Diff(a.list, next)
	if !slices.Equal(ids(added), []DeviceID{3, 4}) || !slices.Equal(ids(removed), []DeviceID{2, 3}) {
		t.Fatalf("Diff = added %v, removed %v; want [3 4], [2 3]", ids(added), ids(removed))
	}
}

// TestVerifyDeviceListSignedInvalid checks that a correctly signed encoding
// that breaks a list rule is still refused: the AIK's signature does not make
// an invalid list acceptable.
func TestVerifyDeviceListSignedInvalid(t *testing.T) {
	a := newTestAccount(t, "alice", 3)
	enc := mustMarshal(t, a.list.Marshal)
	const (
		e1 = 27           // primary entry (name "phone": 82 bytes)
		e2 = 27 + 82      // device 2 (name "device": 83 bytes)
		e3 = 27 + 82 + 83 // device 3
	)
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(enc)) }
	put := func(b []byte, at int, v []byte) []byte { copy(b[at:], v); return b }
	for _, tc := range []struct {
		name string
		list []byte
		want string
	}{
		{"zero account ID", edit(func(b []byte) []byte { return put(b, 1, make([]byte, 16)) }), "zero account ID"},
		{"list version 0", edit(func(b []byte) []byte { return put(b, 17, make([]byte, 8)) }), "version 0"},
		{"no devices", edit(func(b []byte) []byte { return put(b[:27], 25, []byte{0, 0}) }), "no devices"},
		{"duplicate device IDs", edit(func(b []byte) []byte { return put(b, e3, b[e2:e2+4]) }), "strictly increasing"},
		{"no primary", edit(func(b []byte) []byte {
			put(b, e1, []byte{0, 0, 0, 2})
			put(b, e2, []byte{0, 0, 0, 3})
			return put(b, e3, []byte{0, 0, 0, 4})
		}), "no primary"},
		{"device ID 0", edit(func(b []byte) []byte { return put(b, e1, []byte{0, 0, 0, 0}) }), "device ID 0"},
		{"duplicate signing keys", edit(func(b []byte) []byte { return put(b, e3+4, b[e2+4:e2+36]) }), "share a signing key"},
		{"duplicate identity keys", edit(func(b []byte) []byte { return put(b, e3+36, b[e2+36:e2+68]) }), "share an identity key"},
		{"zero identity key", edit(func(b []byte) []byte { return put(b, e2+36, make([]byte, 32)) }), "identity key is a small-order"},
		{"low-order identity key", edit(func(b []byte) []byte { return put(b, e2+36, weakX25519[2][:]) }), "identity key is a small-order"},
		{"zero signing key", edit(func(b []byte) []byte { return put(b, e2+4, make([]byte, 32)) }), "signing key is a small-order"},
		{"identity signing key", edit(func(b []byte) []byte { return put(b, e2+4, weakEd25519[1][:]) }), "signing key is a small-order"},
		{"name too long", edit(func(b []byte) []byte {
			// Replace device 3's name with 65 bytes and fix the vector length.
			b = append(b[:e3+76], 65)
			b = append(b, bytes.Repeat([]byte{'x'}, 65)...)
			n := len(b) - 27
			b[25], b[26] = byte(n>>8), byte(n)
			return b
		}), "name longer"},
		{"trailing byte", append(bytes.Clone(enc), 0), "trailing bytes"},
		{"version 2", edit(func(b []byte) []byte { b[0] = 2; return b }), "unknown version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseDeviceList(tc.list)
			if err == nil {
				t.Fatal("ParseDeviceList accepted the edited encoding")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to mention %q", err, tc.want)
			}
			s := &SignedDeviceList{List: tc.list, Signer: a.aik.Public(), Signature: sign(a.aik.priv, ContextDeviceList, tc.list)}
			if _, err := VerifyDeviceList(mustMarshal(t, s.Marshal), a.aik.Public(), nil); err == nil {
				t.Fatal("VerifyDeviceList accepted a signed invalid list")
			}
		})
	}
	// The unedited encoding passes the same path, so the cases above fail
	// for their edit and not for the harness.
	s := &SignedDeviceList{List: enc, Signer: a.aik.Public(), Signature: sign(a.aik.priv, ContextDeviceList, enc)}
	if _, err := VerifyDeviceList(mustMarshal(t, s.Marshal), a.aik.Public(), nil); err != nil {
		t.Fatal(err)
	}
}
