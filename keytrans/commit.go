package keytrans

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"

	"golang.org/x/crypto/cryptobyte"
)

// Sizes of the commitment scheme (KEYTRANS: Nc = 16, Nh = 32).
const (
	OpeningSize    = 16
	CommitmentSize = 32
	// OpeningKeySize is the length of the server secret openings derive from.
	OpeningKeySize = 32
)

// commitmentKeyLabel is hashed into Kc, the fixed public HMAC key of the
// commitment (KEYTRANS fixes one Kc per cipher suite; ours is
// SHA-256 of this string).
const commitmentKeyLabel = "ward keytrans v1 commitment key"

// openingLabel domain-separates opening derivation.
const openingLabel = "ward keytrans v1 opening\x00"

var commitmentKey = func() []byte {
	h := sha256.Sum256([]byte(commitmentKeyLabel))
	return h[:]
}()

// Opening is the 16-byte secret that opens a commitment.
type Opening [OpeningSize]byte

// OpeningKey is the server secret from which the opening of every
// (label_id, version) derives. Deleting it makes every committed value
// unrecoverable from the log alone (notes/key-transparency.md, Section 2.1).
type OpeningKey [OpeningKeySize]byte

// Opening derives the opening of a label version:
//
//	opening = HMAC-SHA256(key, "ward keytrans v1 opening" ‖ 0x00 ‖ label_id ‖ u32 version)[:16]
func (k *OpeningKey) Opening(id LabelID, version uint32) Opening {
	m := hmac.New(sha256.New, k[:])
	m.Write([]byte(openingLabel))
	m.Write(id[:])
	m.Write([]byte{byte(version >> 24), byte(version >> 16), byte(version >> 8), byte(version)})
	var o Opening
	copy(o[:], m.Sum(nil))
	return o
}

// Commit computes the commitment to a label version's value:
//
//	commitment = HMAC-SHA256(Kc, opening[16] ‖ opaque label<0..2^16-1> ‖ u32 version ‖ opaque value<0..2^32-1>)
//
// with Kc = SHA-256("ward keytrans v1 commitment key"). Labels and values
// carry length prefixes so no two inputs share an HMAC message.
func Commit(opening Opening, l Label, version uint32, value []byte) ([CommitmentSize]byte, error) {
	var c [CommitmentSize]byte
	if len(l) > MaxLabelLen {
		return c, errors.New("keytrans: label too long")
	}
	if uint64(len(value)) > MaxValueLen {
		return c, errors.New("keytrans: value too long")
	}
	b := cryptobyte.NewBuilder(make([]byte, 0, OpeningSize+2+len(l)+4+4+len(value)))
	b.AddBytes(opening[:])
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(l)) })
	b.AddUint32(version)
	b.AddUint32LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(value) })
	msg, err := b.Bytes()
	if err != nil {
		return c, errors.New("keytrans: encoding commitment input failed")
	}
	m := hmac.New(sha256.New, commitmentKey)
	m.Write(msg)
	copy(c[:], m.Sum(nil))
	return c, nil
}

// CheckCommitment recomputes a commitment and compares it with want in
// constant time.
func CheckCommitment(want [CommitmentSize]byte, opening Opening, l Label, version uint32, value []byte) error {
	got, err := Commit(opening, l, version, value)
	if err != nil {
		return err
	}
	if !hmac.Equal(got[:], want[:]) {
		return errors.New("keytrans: commitment does not open")
	}
	return nil
}
