package identity

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
)

const (
	linkOfferVersion = 1
	// LinkNonceSize is the length of LinkOffer.Nonce.
	LinkNonceSize = 16
	// LinkCodeDigits is the number of decimal digits of a link code.
	LinkCodeDigits = 6
)

// LinkOffer is what a new device shows (as a QR code, or as text to paste)
// to ask the primary device to add it to the account. The primary parses it,
// the user checks that both screens show the same Code, and the primary
// signs a device list with the device added (DeviceList.WithDevice).
type LinkOffer struct {
	// AccountIDHint optionally names the account the user means to link to,
	// so the primary can refuse an offer meant for another account. The zero
	// value means no hint.
	AccountIDHint AccountID
	// Keys are the new device's public keys.
	Keys DevicePublicKeys
	// Name is the device name the new device proposes (valid UTF-8, at most
	// MaxDeviceNameSize bytes, may be empty).
	Name string
	// Nonce makes every offer, and so every code, unique even when a device
	// offers the same keys twice.
	Nonce [LinkNonceSize]byte
}

// NewLinkOffer makes an offer for a new device's keys, reading the nonce
// from rand. hint may be the zero AccountID.
func NewLinkOffer(rand io.Reader, keys DevicePublicKeys, hint AccountID, name string) (*LinkOffer, error) {
	o := &LinkOffer{AccountIDHint: hint, Keys: keys, Name: name}
	if _, err := io.ReadFull(rand, o.Nonce[:]); err != nil {
		return nil, fmt.Errorf("identity: reading link nonce: %w", err)
	}
	if err := o.check(); err != nil {
		return nil, err
	}
	return o, nil
}

func (o *LinkOffer) check() error {
	if err := o.validate(); err != nil {
		return fmt.Errorf("identity: link offer: %w", err)
	}
	return nil
}

func (o *LinkOffer) validate() error {
	if err := o.Keys.validate(); err != nil {
		return err
	}
	if len(o.Name) > MaxDeviceNameSize || !utf8.ValidString(o.Name) {
		return fmt.Errorf("name must be valid UTF-8 of at most %d bytes", MaxDeviceNameSize)
	}
	return nil
}

// Marshal encodes o. See docs/PROTOCOL.md (Identity).
func (o *LinkOffer) Marshal() ([]byte, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	var b cryptobyte.Builder
	b.AddUint8(linkOfferVersion)
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) {
		if !o.AccountIDHint.IsZero() {
			b.AddBytes(o.AccountIDHint[:])
		}
	})
	o.Keys.addTo(&b)
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(o.Name)) })
	b.AddBytes(o.Nonce[:])
	return b.Bytes()
}

// ParseLinkOffer decodes and checks an encoded LinkOffer.
func ParseLinkOffer(data []byte) (*LinkOffer, error) {
	o, err := parseLinkOffer(data)
	if err != nil {
		return nil, fmt.Errorf("identity: link offer: %w", err)
	}
	return o, nil
}

func parseLinkOffer(data []byte) (*LinkOffer, error) {
	s := cryptobyte.String(data)
	var version uint8
	var hint, name cryptobyte.String
	var nonce []byte
	if !s.ReadUint8(&version) {
		return nil, errTruncated
	}
	if version != linkOfferVersion {
		return nil, fmt.Errorf("unknown version %d", version)
	}
	if !s.ReadUint8LengthPrefixed(&hint) {
		return nil, errTruncated
	}
	o := new(LinkOffer)
	switch len(hint) {
	case 0:
	case AccountIDSize:
		copy(o.AccountIDHint[:], hint)
		if o.AccountIDHint.IsZero() {
			return nil, errors.New("zero account ID hint")
		}
	default:
		return nil, fmt.Errorf("account ID hint must be 0 or %d bytes, got %d", AccountIDSize, len(hint))
	}
	keys, err := readDevicePublicKeys(&s)
	if err != nil {
		return nil, err
	}
	o.Keys = keys
	if !s.ReadUint8LengthPrefixed(&name) || !s.ReadBytes(&nonce, LinkNonceSize) {
		return nil, errTruncated
	}
	if !s.Empty() {
		return nil, errors.New("trailing bytes")
	}
	o.Name = string(name)
	copy(o.Nonce[:], nonce)
	if err := o.validate(); err != nil {
		return nil, err
	}
	return o, nil
}

// Code returns the six-digit code both devices show: the first 8 bytes of
// SHA-256(ContextLinkCode || encoded offer), as a big-endian integer, modulo
// 10^6, zero-padded. It fails only if o is invalid.
func (o *LinkOffer) Code() (string, error) {
	enc, err := o.Marshal()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write([]byte(ContextLinkCode))
	h.Write(enc)
	sum := h.Sum(nil)
	return fmt.Sprintf("%06d", binary.BigEndian.Uint64(sum[:8])%1000000), nil
}

// CheckCode reports, in constant time, whether code (as typed or read by the
// user) is o's code. It is false for an invalid offer.
func (o *LinkOffer) CheckCode(code string) bool {
	want, err := o.Code()
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1
}

// DeviceEntry returns the entry to add to the device list for this offer,
// with ID 0 so that DeviceList.WithDevice assigns the next free ID, and the
// caller's addedAt (0 for none).
func (o *LinkOffer) DeviceEntry(addedAt uint64) DeviceEntry {
	return DeviceEntry{DevicePublicKeys: o.Keys, AddedAt: addedAt, Name: o.Name}
}
