package identity

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"testing"
)

// testRand returns a deterministic io.Reader for the given label, so tests
// never depend on global randomness.
func testRand(label string) io.Reader {
	var seed [32]byte
	copy(seed[:], label)
	return rand.NewChaCha8(seed)
}

func mustAccountKey(t testing.TB, r io.Reader) *AccountKey {
	t.Helper()
	k, err := GenerateAccountKey(r)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustDeviceKeys(t testing.TB, r io.Reader) *DeviceKeys {
	t.Helper()
	k, err := GenerateDeviceKeys(r)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustAccountID(t testing.TB, r io.Reader) AccountID {
	t.Helper()
	id, err := NewAccountID(r)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// testAccount is an account with its AIK and n devices.
type testAccount struct {
	id      AccountID
	aik     *AccountKey
	devices []*DeviceKeys
	list    *DeviceList
}

func newTestAccount(t testing.TB, label string, n int) *testAccount {
	t.Helper()
	r := testRand(label)
	a := &testAccount{id: mustAccountID(t, r), aik: mustAccountKey(t, r)}
	for i := 0; i < n; i++ {
		a.devices = append(a.devices, mustDeviceKeys(t, r))
	}
	l, err := NewDeviceList(a.id, DeviceEntry{DevicePublicKeys: a.devices[0].Public(), AddedAt: 1000, Name: "phone"})
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range a.devices[1:] {
		l, err = l.WithDevice(DeviceEntry{DevicePublicKeys: d.Public(), AddedAt: uint64(1001 + i), Name: "device"})
		if err != nil {
			t.Fatal(err)
		}
	}
	a.list = l
	return a
}

func (a *testAccount) sign(t testing.TB, l *DeviceList) []byte {
	t.Helper()
	b, err := l.Sign(a.aik)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustMarshal(t testing.TB, f func() ([]byte, error)) []byte {
	t.Helper()
	b, err := f()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func x25519Pub(t testing.TB, b []byte) *ecdh.PublicKey {
	t.Helper()
	k, err := ecdh.X25519().NewPublicKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// flipEachByte calls f with a copy of b in which byte i is flipped, for
// every i, and one bit at a time across the first bytes for variety.
func flipEachByte(b []byte, f func(i int, tampered []byte)) {
	for i := range b {
		for _, mask := range []byte{0x01, 0x80} {
			c := bytes.Clone(b)
			c[i] ^= mask
			f(i, c)
		}
	}
}

func fromHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ed25519Sign(k *AccountKey, msg []byte) []byte { return ed25519.Sign(k.priv, msg) }
