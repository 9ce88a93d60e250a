package franking

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"
)

// detRand returns a deterministic io.Reader for tests.
func detRand(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	return rand.NewChaCha8(s)
}

func TestFrankOpenRoundTrip(t *testing.T) {
	r := detRand(1)
	var prev, seen Commitment
	seen[0] = 7
	for _, size := range []int{0, 1, 100, 4096, 1 << 20} {
		content := make([]byte, size)
		r.Read(content)
		pt, c, err := Frank(r, content, prev, seen)
		if err != nil {
			t.Fatal(err)
		}
		if want := 1 + 32*3 + 4 + size; len(pt) != want {
			t.Errorf("size %d: plaintext of %d bytes, want %d", size, len(pt), want)
		}
		p, err := Open(pt, c)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if !bytes.Equal(p.Content, content) || p.Prev != prev || p.LastSeen != seen || p.Version != Version {
			t.Errorf("size %d: opened plaintext differs", size)
		}
		again, err := p.Marshal()
		if err != nil || !bytes.Equal(again, pt) {
			t.Errorf("size %d: re-encoding differs", size)
		}
		prev, seen = c, prev
	}
}

// TestCommitmentVector recomputes the commitment from the specification in
// docs/PROTOCOL.md (Franking), independently of Plaintext.Commitment.
func TestCommitmentVector(t *testing.T) {
	var fk [32]byte
	var prev, seen Commitment
	for i := range 32 {
		fk[i], prev[i], seen[i] = byte(i), byte(0x40+i), byte(0x80+i)
	}
	content := []byte("hello, moderator")
	input := []byte("ward/franking/v1/commitment")
	input = append(input, prev[:]...)
	input = append(input, seen[:]...)
	input = append(input, 0, 0, 0, byte(len(content)))
	input = append(input, content...)
	m := hmac.New(sha256.New, fk[:])
	m.Write(input)
	want := m.Sum(nil)

	encoded := append([]byte{1}, fk[:]...)
	encoded = append(encoded, prev[:]...)
	encoded = append(encoded, seen[:]...)
	encoded = append(encoded, 0, 0, 0, byte(len(content)))
	encoded = append(encoded, content...)
	p, err := Open(encoded, Commitment(want))
	if err != nil {
		t.Fatalf("independently built plaintext does not open: %v", err)
	}
	if p.FrankingKey != fk {
		t.Error("franking key not parsed")
	}
}

func TestFrankUsesInjectedRandomness(t *testing.T) {
	a, ca, _ := Frank(detRand(9), []byte("x"), Commitment{}, Commitment{})
	b, cb, _ := Frank(detRand(9), []byte("x"), Commitment{}, Commitment{})
	c, cc, _ := Frank(detRand(10), []byte("x"), Commitment{}, Commitment{})
	if !bytes.Equal(a, b) || ca != cb {
		t.Error("same randomness gave different output")
	}
	if bytes.Equal(a, c) || ca == cc {
		t.Error("different randomness gave the same franking key")
	}
	if _, _, err := Frank(bytes.NewReader(make([]byte, 31)), nil, Commitment{}, Commitment{}); err == nil {
		t.Error("short randomness accepted")
	}
}

func TestOpenRejects(t *testing.T) {
	r := detRand(2)
	pt, c, err := Frank(r, []byte("the content"), Commitment{1}, Commitment{2})
	if err != nil {
		t.Fatal(err)
	}
	// Every flipped bit of the plaintext is rejected: fk, links, length,
	// content, version.
	for i := range pt {
		for bit := range 8 {
			bad := bytes.Clone(pt)
			bad[i] ^= 1 << bit
			if _, err := Open(bad, c); err == nil {
				t.Fatalf("flipped bit %d of byte %d accepted", bit, i)
			}
		}
	}
	// Every flipped bit of the commitment is rejected.
	for i := range c {
		bad := c
		bad[i] ^= 0x01
		if _, err := Open(pt, bad); !errors.Is(err, ErrCommitmentMismatch) {
			t.Fatalf("commitment byte %d flipped: got %v", i, err)
		}
	}
	// A different franking key is rejected with ErrCommitmentMismatch.
	wrongFK := bytes.Clone(pt)
	copy(wrongFK[1:33], bytes.Repeat([]byte{0xaa}, 32))
	if _, err := Open(wrongFK, c); !errors.Is(err, ErrCommitmentMismatch) {
		t.Errorf("wrong fk: got %v", err)
	}
	// Truncation at every length and trailing bytes are malformed.
	for n := range len(pt) {
		if _, err := Open(pt[:n], c); !errors.Is(err, ErrMalformed) {
			t.Fatalf("truncated to %d: got %v", n, err)
		}
	}
	if _, err := Open(append(bytes.Clone(pt), 0), c); !errors.Is(err, ErrMalformed) {
		t.Errorf("trailing byte: got %v", err)
	}
	for _, v := range []byte{0, 2, 255} {
		bad := bytes.Clone(pt)
		bad[0] = v
		if _, err := Open(bad, c); !errors.Is(err, ErrMalformed) {
			t.Errorf("version %d: got %v", v, err)
		}
	}
}

func TestContentLimit(t *testing.T) {
	if _, _, err := Frank(detRand(3), make([]byte, MaxContentSize+1), Commitment{}, Commitment{}); err == nil {
		t.Error("oversized content franked")
	}
	// A plaintext that claims more than MaxContentSize is malformed even
	// before the bytes run out.
	b := make([]byte, 1+96+4)
	b[0] = Version
	binary.BigEndian.PutUint32(b[97:], MaxContentSize+1)
	if _, err := ParsePlaintext(b); !errors.Is(err, ErrMalformed) {
		t.Errorf("got %v", err)
	}
}
