package identity

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
)

// Limits of a DeviceList.
const (
	// MaxDevices is the largest number of devices in one DeviceList.
	MaxDevices = 64
	// MaxDeviceNameSize is the longest DeviceEntry.Name, in bytes.
	MaxDeviceNameSize = 64
)

// Version bytes of the top-level encodings.
const (
	deviceListVersion       = 1
	signedDeviceListVersion = 1
)

// DeviceEntry is one device in a DeviceList.
type DeviceEntry struct {
	// ID is the device's ID within the account; never 0.
	ID DeviceID
	// DevicePublicKeys are the device's signing and identity keys.
	DevicePublicKeys
	// AddedAt is an optional timestamp set by the caller (this package reads
	// no clock), for example Unix seconds; 0 means "not set".
	AddedAt uint64
	// Name is a human-readable device name: valid UTF-8, at most
	// MaxDeviceNameSize bytes, may be empty.
	Name string
}

// Validate checks one entry on its own.
func (e DeviceEntry) Validate() error {
	if err := e.validate(); err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	return nil
}

func (e DeviceEntry) validate() error {
	if e.ID == 0 {
		return errors.New("device ID 0 is invalid")
	}
	if err := e.DevicePublicKeys.validate(); err != nil {
		return fmt.Errorf("device %d: %w", e.ID, err)
	}
	if len(e.Name) > MaxDeviceNameSize {
		return fmt.Errorf("device %d: name longer than %d bytes", e.ID, MaxDeviceNameSize)
	}
	if !utf8.ValidString(e.Name) {
		return fmt.Errorf("device %d: name is not valid UTF-8", e.ID)
	}
	return nil
}

// DeviceList is the AIK-signed, versioned list of an account's devices
// (DESIGN.md, Section 2: "The AIK signs a versioned device list; clients
// accept only devices in a list signed by the AIK they have verified, reject
// version rollback").
//
// A DeviceList is a value: WithDevice and WithoutDevice return new lists.
type DeviceList struct {
	// AccountID is the account the list belongs to.
	AccountID AccountID
	// Version increases by at least one with every new list; the first
	// list has version 1.
	Version uint64
	// Devices are the account's devices. The encoding sorts them by ID; a
	// decoded list is sorted.
	Devices []DeviceEntry
}

// NewDeviceList returns the first device list (version 1) of an account,
// holding only the primary device. primary.ID must be 0 or PrimaryDevice.
func NewDeviceList(aid AccountID, primary DeviceEntry) (*DeviceList, error) {
	if primary.ID == 0 {
		primary.ID = PrimaryDevice
	}
	if primary.ID != PrimaryDevice {
		return nil, fmt.Errorf("identity: the first device must have ID %d", PrimaryDevice)
	}
	l := &DeviceList{AccountID: aid, Version: 1, Devices: []DeviceEntry{primary}}
	if err := l.Validate(); err != nil {
		return nil, err
	}
	return l, nil
}

// Clone returns a deep copy of l.
func (l *DeviceList) Clone() *DeviceList {
	c := &DeviceList{AccountID: l.AccountID, Version: l.Version, Devices: make([]DeviceEntry, len(l.Devices))}
	for i, e := range l.Devices {
		e.SigningKey = bytes.Clone(e.SigningKey)
		c.Devices[i] = e // *ecdh.PublicKey is immutable and can be shared
	}
	return c
}

// Device returns the entry with the given ID.
func (l *DeviceList) Device(id DeviceID) (DeviceEntry, bool) {
	for _, e := range l.Devices {
		if e.ID == id {
			return e, true
		}
	}
	return DeviceEntry{}, false
}

// Validate checks every rule of a device list: non-zero account ID, version
// at least 1, between 1 and MaxDevices devices, each entry valid, a primary
// device (ID 1), no two devices with the same ID, signing key or identity
// key. It does not require the devices to be sorted.
func (l *DeviceList) Validate() error {
	if err := l.validate(); err != nil {
		return fmt.Errorf("identity: device list: %w", err)
	}
	return nil
}

func (l *DeviceList) validate() error {
	if l.AccountID.IsZero() {
		return errors.New("zero account ID")
	}
	if l.Version == 0 {
		return errors.New("version 0 is invalid")
	}
	if len(l.Devices) == 0 {
		return errors.New("no devices")
	}
	if len(l.Devices) > MaxDevices {
		return fmt.Errorf("more than %d devices", MaxDevices)
	}
	primary := false
	for i, e := range l.Devices {
		if err := e.validate(); err != nil {
			return err
		}
		primary = primary || e.ID == PrimaryDevice
		for _, o := range l.Devices[:i] {
			switch {
			case o.ID == e.ID:
				return fmt.Errorf("duplicate device ID %d", e.ID)
			case bytes.Equal(o.SigningKey, e.SigningKey):
				return fmt.Errorf("devices %d and %d share a signing key", o.ID, e.ID)
			case o.IdentityKey.Equal(e.IdentityKey):
				return fmt.Errorf("devices %d and %d share an identity key", o.ID, e.ID)
			}
		}
	}
	if !primary {
		return fmt.Errorf("no primary device (ID %d)", PrimaryDevice)
	}
	return nil
}

func sortedDevices(devs []DeviceEntry) []DeviceEntry {
	s := slices.Clone(devs)
	slices.SortFunc(s, func(a, b DeviceEntry) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return s
}

// Marshal validates l and returns its canonical encoding, with the devices
// sorted by ID. See docs/PROTOCOL.md (Identity).
func (l *DeviceList) Marshal() ([]byte, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	return l.marshal()
}

// marshal is Marshal for a list already validated.
func (l *DeviceList) marshal() ([]byte, error) {
	var b cryptobyte.Builder
	b.AddUint8(deviceListVersion)
	b.AddBytes(l.AccountID[:])
	b.AddUint64(l.Version)
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, e := range sortedDevices(l.Devices) {
			b.AddUint32(uint32(e.ID))
			e.DevicePublicKeys.addTo(b)
			b.AddUint64(e.AddedAt)
			b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) {
				b.AddBytes([]byte(e.Name))
			})
		}
	})
	return b.Bytes()
}

// ParseDeviceList decodes and validates an encoded DeviceList. It rejects
// unknown versions, devices not sorted by strictly increasing ID, any rule of
// Validate and trailing bytes. It does not check any signature: use
// VerifyDeviceList for lists received from others.
func ParseDeviceList(data []byte) (*DeviceList, error) {
	l, err := parseDeviceList(data)
	if err != nil {
		return nil, fmt.Errorf("identity: device list: %w", err)
	}
	return l, nil
}

func parseDeviceList(data []byte) (*DeviceList, error) {
	s := cryptobyte.String(data)
	var version uint8
	if !s.ReadUint8(&version) {
		return nil, errTruncated
	}
	if version != deviceListVersion {
		return nil, fmt.Errorf("unknown version %d", version)
	}
	l := new(DeviceList)
	var aid []byte
	var devs cryptobyte.String
	if !s.ReadBytes(&aid, AccountIDSize) || !s.ReadUint64(&l.Version) || !s.ReadUint16LengthPrefixed(&devs) {
		return nil, errTruncated
	}
	if !s.Empty() {
		return nil, errors.New("trailing bytes")
	}
	copy(l.AccountID[:], aid)
	for !devs.Empty() {
		if len(l.Devices) == MaxDevices {
			return nil, fmt.Errorf("more than %d devices", MaxDevices)
		}
		var e DeviceEntry
		var id uint32
		var name cryptobyte.String
		if !devs.ReadUint32(&id) {
			return nil, errTruncated
		}
		e.ID = DeviceID(id)
		keys, err := readDevicePublicKeys(&devs)
		if err != nil {
			return nil, fmt.Errorf("device %d: %w", id, err)
		}
		e.DevicePublicKeys = keys
		if !devs.ReadUint64(&e.AddedAt) || !devs.ReadUint8LengthPrefixed(&name) {
			return nil, errTruncated
		}
		e.Name = string(name)
		if n := len(l.Devices); n > 0 && l.Devices[n-1].ID >= e.ID {
			return nil, errors.New("devices not sorted by strictly increasing ID")
		}
		l.Devices = append(l.Devices, e)
	}
	if err := l.validate(); err != nil {
		return nil, err
	}
	return l, nil
}

// WithDevice returns a copy of l with entry added and the version increased
// by one. If entry.ID is 0, the new device gets the next ID after the
// largest one in l. It fails if the ID is taken, if the keys are already in
// the list, or if the result would break any rule of Validate.
func (l *DeviceList) WithDevice(entry DeviceEntry) (*DeviceList, error) {
	if l.Version == math.MaxUint64 {
		return nil, errors.New("identity: device list version exhausted")
	}
	if entry.ID == 0 {
		var max DeviceID
		for _, e := range l.Devices {
			max = maxID(max, e.ID)
		}
		if max == math.MaxUint32 {
			return nil, errors.New("identity: device IDs exhausted")
		}
		entry.ID = max + 1
	}
	if _, ok := l.Device(entry.ID); ok {
		return nil, fmt.Errorf("identity: device %d is already in the list", entry.ID)
	}
	n := l.Clone()
	n.Version++
	entry.SigningKey = bytes.Clone(entry.SigningKey)
	n.Devices = sortedDevices(append(n.Devices, entry))
	if err := n.Validate(); err != nil {
		return nil, err
	}
	return n, nil
}

func maxID(a, b DeviceID) DeviceID {
	if a > b {
		return a
	}
	return b
}

// WithoutDevice returns a copy of l without device id and with the version
// increased by one. The primary device cannot be removed: it holds the AIK.
func (l *DeviceList) WithoutDevice(id DeviceID) (*DeviceList, error) {
	if id == PrimaryDevice {
		return nil, errors.New("identity: the primary device cannot be removed")
	}
	if _, ok := l.Device(id); !ok {
		return nil, fmt.Errorf("identity: device %d is not in the list", id)
	}
	if l.Version == math.MaxUint64 {
		return nil, errors.New("identity: device list version exhausted")
	}
	n := l.Clone()
	n.Version++
	n.Devices = slices.DeleteFunc(n.Devices, func(e DeviceEntry) bool { return e.ID == id })
	if err := n.Validate(); err != nil {
		return nil, err
	}
	return n, nil
}

// Diff reports the devices of next that are not in prev (added) and those of
// prev that are not in next (removed), each sorted by ID. A device is the
// same in both lists when its ID, signing key and identity key are equal; a
// device whose keys changed under the same ID appears in both added and
// removed. Changes of Name or AddedAt alone are not reported. A nil prev
// means every device of next is added.
//
// The SDK shows a notice for every added or removed device of a contact
// (DESIGN.md, Section 2: clients "show a notice whenever a contact's device
// list or AIK changes").
func Diff(prev, next *DeviceList) (added, removed []DeviceEntry) {
	var p, n []DeviceEntry
	if prev != nil {
		p = prev.Devices
	}
	if next != nil {
		n = next.Devices
	}
	in := func(e DeviceEntry, list []DeviceEntry) bool {
		for _, o := range list {
			if o.ID == e.ID && o.DevicePublicKeys.Equal(e.DevicePublicKeys) {
				return true
			}
		}
		return false
	}
	for _, e := range n {
		if !in(e, p) {
			added = append(added, e)
		}
	}
	for _, e := range p {
		if !in(e, n) {
			removed = append(removed, e)
		}
	}
	return sortedDevices(added), sortedDevices(removed)
}

// SignedDeviceList is an encoded DeviceList with the AIK's signature over it
// and the signer's public key.
type SignedDeviceList struct {
	// List is the canonical encoding of a DeviceList (DeviceList.Marshal).
	List []byte
	// Signer is the public AIK that made Signature.
	Signer AccountPublicKey
	// Signature is the Ed25519ctx signature, with context
	// ContextDeviceList, over List.
	Signature []byte
}

// Sign encodes l and signs it with the AIK, returning the encoding of a
// SignedDeviceList ready to upload. It refuses a list in which a device
// signing key equals the AIK.
func (l *DeviceList) Sign(aik *AccountKey) ([]byte, error) {
	enc, err := l.Marshal()
	if err != nil {
		return nil, err
	}
	if err := checkNoAIKReuse(l, aik.Public()); err != nil {
		return nil, err
	}
	s := &SignedDeviceList{List: enc, Signer: aik.Public(), Signature: sign(aik.priv, ContextDeviceList, enc)}
	return s.Marshal()
}

func checkNoAIKReuse(l *DeviceList, aik AccountPublicKey) error {
	for _, e := range l.Devices {
		if bytes.Equal(e.SigningKey, aik.k[:]) {
			return fmt.Errorf("identity: device list: device %d uses the account key as its signing key", e.ID)
		}
	}
	return nil
}

// Marshal encodes s. See docs/PROTOCOL.md (Identity).
func (s *SignedDeviceList) Marshal() ([]byte, error) {
	if len(s.List) == 0 || s.Signer.IsZero() || len(s.Signature) != 64 {
		return nil, errors.New("identity: signed device list: missing field")
	}
	var b cryptobyte.Builder
	b.AddUint8(signedDeviceListVersion)
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(s.List) })
	b.AddBytes(s.Signer.k[:])
	b.AddBytes(s.Signature)
	return b.Bytes()
}

// ParseSignedDeviceList decodes a SignedDeviceList without verifying the
// signature or decoding the list inside it. Use VerifyDeviceList to do
// both.
func ParseSignedDeviceList(data []byte) (*SignedDeviceList, error) {
	s := cryptobyte.String(data)
	var version uint8
	var list cryptobyte.String
	var signer, sig []byte
	if !s.ReadUint8(&version) {
		return nil, errors.New("identity: signed device list: truncated")
	}
	if version != signedDeviceListVersion {
		return nil, fmt.Errorf("identity: signed device list: unknown version %d", version)
	}
	if !s.ReadUint16LengthPrefixed(&list) || !s.ReadBytes(&signer, AccountPublicKeySize) || !s.ReadBytes(&sig, 64) {
		return nil, errors.New("identity: signed device list: truncated")
	}
	if !s.Empty() {
		return nil, errors.New("identity: signed device list: trailing bytes")
	}
	if len(list) == 0 {
		return nil, errors.New("identity: signed device list: empty list")
	}
	pub, err := parseAccountPublicKey(signer)
	if err != nil {
		return nil, fmt.Errorf("identity: signed device list: %w", err)
	}
	return &SignedDeviceList{List: bytes.Clone(list), Signer: pub, Signature: bytes.Clone(sig)}, nil
}

// VerifyDeviceList verifies an encoded SignedDeviceList against the AIK the
// caller trusts and the last list it accepted for that account (prev, nil if
// none), and returns the decoded list.
//
// It fails if the encoding is invalid, if the signer is not trusted
// (ErrUntrustedSigner), if the signature does not verify, if the list is
// invalid (see Validate) or a device uses the AIK as its signing key, if the
// list is for another account than prev (ErrAccountMismatch), if its version
// is lower than prev's (ErrRollback: clients MUST "reject version
// rollback", DESIGN.md, Section 2), or if it has prev's version but other
// content (ErrEquivocation). A list identical to prev is accepted.
//
// With no prev, the caller MUST check that the returned list's AccountID is
// the account it asked for. Use Diff(prev, next) to find the devices to tell
// the user about.
func VerifyDeviceList(signed []byte, trusted AccountPublicKey, prev *DeviceList) (*DeviceList, error) {
	if trusted.IsZero() {
		return nil, errors.New("identity: no trusted account key")
	}
	s, err := ParseSignedDeviceList(signed)
	if err != nil {
		return nil, err
	}
	if s.Signer != trusted {
		return nil, fmt.Errorf("%w (device list)", ErrUntrustedSigner)
	}
	if !verify(trusted.ed25519(), ContextDeviceList, s.List, s.Signature) {
		return nil, errors.New("identity: device list: signature verification failed")
	}
	next, err := ParseDeviceList(s.List)
	if err != nil {
		return nil, err
	}
	if err := checkNoAIKReuse(next, trusted); err != nil {
		return nil, err
	}
	if prev == nil {
		return next, nil
	}
	if err := prev.validate(); err != nil {
		return nil, fmt.Errorf("identity: invalid previous device list: %w", err)
	}
	switch {
	case next.AccountID != prev.AccountID:
		return nil, fmt.Errorf("%w (device list)", ErrAccountMismatch)
	case next.Version < prev.Version:
		return nil, fmt.Errorf("%w: device list version %d after %d", ErrRollback, next.Version, prev.Version)
	case next.Version == prev.Version:
		// Both encodings are canonical, so equal content means equal bytes.
		prevEnc, err := prev.marshal()
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(prevEnc, s.List) {
			return nil, fmt.Errorf("%w: device list version %d", ErrEquivocation, next.Version)
		}
	}
	return next, nil
}
