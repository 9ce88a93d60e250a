package keytrans

import (
	"crypto/sha256"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"

	"github.com/wardchat/ward/identity"
)

// ValueFormat is the format byte that starts AccountState and HandleBinding
// encodings.
const ValueFormat = 1

// MaxValueLen bounds the encoding of a committed value.
const MaxValueLen = 1 << 20

// StateHashSize is the length of a value hash (prev_value_hash).
const StateHashSize = sha256.Size

// ValueHash returns SHA-256 of an encoded value: the prev_value_hash the
// next version of the same label carries.
func ValueHash(encoded []byte) [StateHashSize]byte { return sha256.Sum256(encoded) }

// AccountState is the value of an "acct:" label (notes/key-transparency.md,
// Section 5.1): the account's identity key (AIK) and its signed device list.
//
//	u8   format = 1
//	[16] account_id
//	[32] aik                    Ed25519 public AIK
//	opaque signed_device_list<1..2^24-1>   identity.SignedDeviceList encoding
//	[32] prev_value_hash        SHA-256 of the previous version's encoding, zeros for version 0
//
// The device list's signer MUST be aik and its account MUST be account_id;
// VerifyLookup checks both.
type AccountState struct {
	AccountID        identity.AccountID
	AIK              identity.AccountPublicKey
	SignedDeviceList []byte
	PrevValueHash    [StateHashSize]byte
}

// Marshal returns the canonical encoding of s.
func (s *AccountState) Marshal() ([]byte, error) {
	if s.AIK.IsZero() {
		return nil, errors.New("keytrans: account state without AIK")
	}
	if len(s.SignedDeviceList) == 0 || len(s.SignedDeviceList) >= 1<<24 {
		return nil, errors.New("keytrans: signed device list empty or too long")
	}
	b := cryptobyte.NewBuilder(nil)
	b.AddUint8(ValueFormat)
	b.AddBytes(s.AccountID[:])
	b.AddBytes(s.AIK.Bytes())
	b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(s.SignedDeviceList) })
	b.AddBytes(s.PrevValueHash[:])
	return b.Bytes()
}

// ParseAccountState decodes an AccountState. It checks the encoding only:
// the signature over the device list is checked by VerifyLookup.
func ParseAccountState(data []byte) (*AccountState, error) {
	if len(data) > MaxValueLen {
		return nil, errors.New("keytrans: account state too long")
	}
	s := cryptobyte.String(data)
	var format uint8
	var st AccountState
	var aik []byte
	var sdl cryptobyte.String
	if !s.ReadUint8(&format) {
		return nil, errors.New("keytrans: malformed account state")
	}
	if format != ValueFormat {
		return nil, fmt.Errorf("keytrans: unknown account state format %d", format)
	}
	if !s.CopyBytes(st.AccountID[:]) || !s.ReadBytes(&aik, identity.AccountPublicKeySize) ||
		!s.ReadUint24LengthPrefixed(&sdl) || len(sdl) == 0 ||
		!s.CopyBytes(st.PrevValueHash[:]) || !s.Empty() {
		return nil, errors.New("keytrans: malformed account state")
	}
	k, err := identity.ParseAccountPublicKey(aik)
	if err != nil {
		return nil, fmt.Errorf("keytrans: account state AIK: %w", err)
	}
	st.AIK = k
	st.SignedDeviceList = append([]byte(nil), sdl...)
	return &st, nil
}

// HandleBinding is the value of a "handle:" label: the account the handle
// points to. A zero AccountID means the handle was released.
//
//	u8   format = 1
//	opaque handle<1..2^8-1>     normalised handle (NormalizeHandle)
//	[16] account_id
//	[32] prev_value_hash
type HandleBinding struct {
	Handle        string
	AccountID     identity.AccountID
	PrevValueHash [StateHashSize]byte
}

// Marshal returns the canonical encoding of h.
func (h *HandleBinding) Marshal() ([]byte, error) {
	if h.Handle == "" || len(h.Handle) > 255 || h.Handle != NormalizeHandle(h.Handle) {
		return nil, errors.New("keytrans: handle empty, too long or not normalised")
	}
	b := cryptobyte.NewBuilder(nil)
	b.AddUint8(ValueFormat)
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(h.Handle)) })
	b.AddBytes(h.AccountID[:])
	b.AddBytes(h.PrevValueHash[:])
	return b.Bytes()
}

// ParseHandleBinding decodes a HandleBinding.
func ParseHandleBinding(data []byte) (*HandleBinding, error) {
	s := cryptobyte.String(data)
	var format uint8
	var h HandleBinding
	var handle cryptobyte.String
	if !s.ReadUint8(&format) {
		return nil, errors.New("keytrans: malformed handle binding")
	}
	if format != ValueFormat {
		return nil, fmt.Errorf("keytrans: unknown handle binding format %d", format)
	}
	if !s.ReadUint8LengthPrefixed(&handle) || len(handle) == 0 ||
		!s.CopyBytes(h.AccountID[:]) || !s.CopyBytes(h.PrevValueHash[:]) || !s.Empty() {
		return nil, errors.New("keytrans: malformed handle binding")
	}
	h.Handle = string(handle)
	if h.Handle != NormalizeHandle(h.Handle) {
		return nil, errors.New("keytrans: handle binding handle not normalised")
	}
	return &h, nil
}
