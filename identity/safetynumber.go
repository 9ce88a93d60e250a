package identity

import (
	"bytes"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// Parameters of the safety number (DESIGN.md, Section 2: "Safety numbers (60
// digits + QR payload) are derived from both AIKs"), after Signal's
// NumericFingerprint.
const (
	// SafetyNumberVersion is the version mixed into every fingerprint hash
	// (as two bytes, big-endian) and the first byte of the QR payload.
	SafetyNumberVersion = 1
	// SafetyNumberIterations is the number of SHA-512 iterations per
	// fingerprint. It makes each party's 30 digits costly to target by
	// grinding keys.
	SafetyNumberIterations = 5200
	// SafetyNumberDigits is the number of decimal digits of a safety number.
	SafetyNumberDigits = 60

	fingerprintSize      = 32 // bytes of each fingerprint in the QR payload
	fingerprintDigitSize = 30 // bytes of each fingerprint turned into digits
)

// SafetyNumber is what two users compare to verify each other's AIK: 60
// digits (String) or a QR payload (QRPayload). Both parties compute the same
// SafetyNumber.
type SafetyNumber struct {
	// fp holds the two parties' 32-byte fingerprints, in canonical order
	// (ascending bytes), so both sides build the same value.
	fp [2][fingerprintSize]byte
}

// NewSafetyNumber computes the safety number of a local and a remote party
// from their account IDs and AIKs. Swapping the local and the remote party
// gives the same result. It fails if an ID or key is zero.
//
// Each party's fingerprint is F = H_5200, where H_0 = version || AIK ||
// AccountID (version as two bytes big-endian) and H_i = SHA-512(H_{i-1} ||
// AIK). The two fingerprints are sorted by their first 32 bytes; the safety
// number is the 30 digits of the first followed by the 30 digits of the
// second. A party's 30 digits are 6 groups of 5: each 5-byte chunk of the
// first 30 bytes of F, read as a big-endian 40-bit integer, modulo 100000.
func NewSafetyNumber(localAID AccountID, localAIK AccountPublicKey, remoteAID AccountID, remoteAIK AccountPublicKey) (*SafetyNumber, error) {
	if localAID.IsZero() || remoteAID.IsZero() {
		return nil, errors.New("identity: safety number: zero account ID")
	}
	if localAIK.IsZero() || remoteAIK.IsZero() {
		return nil, errors.New("identity: safety number: missing account key")
	}
	a, b := fingerprint(localAID, localAIK), fingerprint(remoteAID, remoteAIK)
	if bytes.Compare(a[:], b[:]) > 0 {
		a, b = b, a
	}
	return &SafetyNumber{fp: [2][fingerprintSize]byte{a, b}}, nil
}

// fingerprint returns the first 32 bytes of one party's iterated hash.
func fingerprint(aid AccountID, aik AccountPublicKey) [fingerprintSize]byte {
	// H_0 || AIK, hashed into H_1.
	var first [2 + AccountPublicKeySize + AccountIDSize + AccountPublicKeySize]byte
	binary.BigEndian.PutUint16(first[:2], SafetyNumberVersion)
	copy(first[2:], aik.k[:])
	copy(first[2+AccountPublicKeySize:], aid[:])
	copy(first[2+AccountPublicKeySize+AccountIDSize:], aik.k[:])
	h := sha512.Sum512(first[:])
	// buf is H_{i-1} || AIK; the key is re-mixed into every iteration.
	var buf [sha512.Size + AccountPublicKeySize]byte
	copy(buf[sha512.Size:], aik.k[:])
	for i := 1; i < SafetyNumberIterations; i++ {
		copy(buf[:sha512.Size], h[:])
		h = sha512.Sum512(buf[:])
	}
	var fp [fingerprintSize]byte
	copy(fp[:], h[:])
	return fp
}

// appendDigits appends the 30 digits of one fingerprint.
func appendDigits(dst []byte, fp *[fingerprintSize]byte) []byte {
	for i := 0; i < fingerprintDigitSize; i += 5 {
		var c [8]byte
		copy(c[3:], fp[i:i+5])
		v := binary.BigEndian.Uint64(c[:]) % 100000
		var d [5]byte
		for j := 4; j >= 0; j-- {
			d[j] = byte('0' + v%10)
			v /= 10
		}
		dst = append(dst, d[:]...)
	}
	return dst
}

// Digits returns the 60 decimal digits with no separator.
func (sn *SafetyNumber) Digits() string {
	d := make([]byte, 0, SafetyNumberDigits)
	d = appendDigits(d, &sn.fp[0])
	d = appendDigits(d, &sn.fp[1])
	return string(d)
}

// String returns the 60 digits as 12 groups of 5 separated by spaces, the
// form shown to users.
func (sn *SafetyNumber) String() string {
	d := sn.Digits()
	out := make([]byte, 0, SafetyNumberDigits+SafetyNumberDigits/5-1)
	for i := 0; i < len(d); i += 5 {
		if i > 0 {
			out = append(out, ' ')
		}
		out = append(out, d[i:i+5]...)
	}
	return string(out)
}

// QRPayload returns the bytes to show as a QR code: the version byte and
// both 32-byte fingerprints in canonical order. Both parties' payloads are
// identical.
func (sn *SafetyNumber) QRPayload() []byte {
	var b cryptobyte.Builder
	b.AddUint8(SafetyNumberVersion)
	b.AddBytes(sn.fp[0][:])
	b.AddBytes(sn.fp[1][:])
	return b.BytesOrPanic()
}

// CompareQR reports whether a scanned QR payload matches sn, comparing in
// constant time. It returns an error, and false, if the payload is not a
// safety-number payload of this version (so the app can say "the other
// side runs an incompatible version" instead of "mismatch").
func (sn *SafetyNumber) CompareQR(scanned []byte) (bool, error) {
	s := cryptobyte.String(scanned)
	var version uint8
	var fps []byte
	if !s.ReadUint8(&version) {
		return false, errors.New("identity: safety number QR payload: truncated")
	}
	if version != SafetyNumberVersion {
		return false, fmt.Errorf("identity: safety number QR payload: unknown version %d", version)
	}
	if !s.ReadBytes(&fps, 2*fingerprintSize) {
		return false, errors.New("identity: safety number QR payload: truncated")
	}
	if !s.Empty() {
		return false, errors.New("identity: safety number QR payload: trailing bytes")
	}
	var want [2 * fingerprintSize]byte
	copy(want[:], sn.fp[0][:])
	copy(want[fingerprintSize:], sn.fp[1][:])
	return subtle.ConstantTimeCompare(want[:], fps) == 1, nil
}
