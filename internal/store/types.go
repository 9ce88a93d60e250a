package store

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math"
	"strings"
	"time"
)

// Key and identifier lengths, in bytes.
const (
	AccountIDSize       = 16 // account id, chosen by the client
	MessageIDSize       = 16 // message id, chosen by the server
	ClientMessageIDSize = 16 // idempotency key chosen by the sending client
	BlobIDSize          = 32 // blob id, 32 random bytes chosen by the server
	PublicKeySize       = 32 // Ed25519 and X25519 public keys
)

// MaxHandleLen is the longest handle, in bytes, the store accepts.
const MaxHandleLen = 64

// AccountID identifies an account (16 bytes chosen by the client at
// registration).
type AccountID [AccountIDSize]byte

// String returns the id in hex.
func (id AccountID) String() string { return hex.EncodeToString(id[:]) }

// DeviceID identifies a device within its account.
type DeviceID uint32

// Address names one device of one account: the unit of delivery.
type Address struct {
	Account AccountID
	Device  DeviceID
}

// String returns "accounthex/device".
func (a Address) String() string { return fmt.Sprintf("%s/%d", a.Account, a.Device) }

// Compare orders addresses by account id bytes, then device id. It returns
// -1, 0 or +1.
func (a Address) Compare(b Address) int {
	if c := bytes.Compare(a.Account[:], b.Account[:]); c != 0 {
		return c
	}
	switch {
	case a.Device < b.Device:
		return -1
	case a.Device > b.Device:
		return 1
	}
	return 0
}

// MessageID identifies a message (16 bytes chosen by the server).
type MessageID [MessageIDSize]byte

// ClientMessageID is the idempotency key a client attaches to a send.
type ClientMessageID [ClientMessageIDSize]byte

// BlobID identifies an attachment blob (32 unguessable random bytes chosen by
// the server).
type BlobID [BlobIDSize]byte

// AgeBand is the age band declared at sign-up.
type AgeBand string

// Age bands.
const (
	AgeAdult AgeBand = "adult"
	AgeTeen  AgeBand = "teen"
)

// Valid reports whether b is a known age band.
func (b AgeBand) Valid() bool { return b == AgeAdult || b == AgeTeen }

// Status is an account's moderation status.
type Status string

// Account statuses.
const (
	StatusActive     Status = "active"
	StatusRestricted Status = "restricted"
	StatusSuspended  Status = "suspended"
	StatusBanned     Status = "banned"
)

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	switch s {
	case StatusActive, StatusRestricted, StatusSuspended, StatusBanned:
		return true
	}
	return false
}

// NormalizeHandle returns the form of a handle used for uniqueness and
// lookup: Unicode lower case. Two handles collide when their normalised forms
// are equal ("Alice" and "alice" are the same handle). The server layer
// decides which characters a handle may contain; the store only folds case.
func NormalizeHandle(h string) string { return strings.ToLower(h) }

// Account is a registered account.
type Account struct {
	ID          AccountID
	Handle      string // as chosen at registration (display form)
	AgeBand     AgeBand
	Status      Status
	CreatedAt   time.Time
	IdentityKey []byte // Account Identity Key, Ed25519 public key, 32 bytes

	// DeviceListVersion and DeviceList are the current signed device list
	// (opaque bytes signed by the identity key) and its version.
	DeviceListVersion uint64
	DeviceList        []byte
}

// Invite is a registration invite for invite-only servers. Only a hash of
// the code is stored.
type Invite struct {
	CodeHash  []byte
	CreatedBy *AccountID // nil when created by the operator
	UsesLeft  int
	ExpiresAt time.Time
}

// DeviceKeys are the public keys of one device as named by a device list.
type DeviceKeys struct {
	ID          DeviceID
	SigningKey  []byte // Ed25519 public key, 32 bytes
	IdentityKey []byte // X25519 public key, 32 bytes
}

// Device is a registered device.
type Device struct {
	DeviceKeys
	CreatedAt time.Time
	LastSeen  time.Time
}

// DeviceListUpdate is a new signed device list with the keys of every
// device it names. The server verified the signature before the store sees
// it; Signed is stored verbatim.
type DeviceListUpdate struct {
	Version uint64
	Signed  []byte
	Devices []DeviceKeys
	At      time.Time // when the list was accepted
}

// DeviceListVersion is one entry of an account's device-list history.
type DeviceListVersion struct {
	Version    uint64
	Signed     []byte
	AcceptedAt time.Time
}

// NewAccount is a registration request.
type NewAccount struct {
	ID          AccountID
	Handle      string
	AgeBand     AgeBand
	IdentityKey []byte
	CreatedAt   time.Time
	DeviceList  DeviceListUpdate // first device list; its At is ignored (CreatedAt is used)

	// InviteCodeHash is the hash of the invite code presented at sign-up,
	// or nil when registration is open.
	InviteCodeHash []byte
}

// Prekey is one published prekey: its id and its bytes (the public key, and
// for signed prekeys the signature, in the client's encoding).
type Prekey struct {
	ID  uint32
	Key []byte
}

// Bundle is what a sender fetches to start a PQXDH session with a device.
type Bundle struct {
	SignedPrekey Prekey
	OneTime      *Prekey // nil when the device has no one-time X25519 prekey left
	PQ           Prekey
	PQLastResort bool // PQ is the last-resort PQ prekey (not deleted)
}

// PrekeyCounts tells how many prekeys a device has left.
type PrekeyCounts struct {
	OneTime           int
	OneTimePQ         int
	HasSignedPrekey   bool
	HasLastResortPQ   bool
	SignedPrekeyID    uint32 // valid when HasSignedPrekey
	LastResortPQKeyID uint32 // valid when HasLastResortPQ
}

// Challenge is a server-issued authentication nonce for one device.
type Challenge struct {
	Nonce     []byte
	Device    Address
	ExpiresAt time.Time
}

// Copy is one device's copy of a message: the ciphertext for that device.
type Copy struct {
	To          Address
	Envelope    []byte // opaque ciphertext
	FrankingTag []byte // server franking tag bound to this delivery
}

// Send is one message send: every recipient device copy, committed all or
// none.
type Send struct {
	Sender          Address
	ClientMessageID ClientMessageID
	MessageID       MessageID // fresh id chosen by the server for this send
	Timestamp       time.Time // server timestamp
	ExpiresAt       time.Time // queue TTL: copies are deleted after this
	Copies          []Copy
}

// Validate checks the fields of a send that the store relies on. It returns
// an error wrapping ErrInvalid.
func (s *Send) Validate() error {
	if len(s.Copies) == 0 {
		return fmt.Errorf("%w: send has no copies", ErrInvalid)
	}
	if !s.ExpiresAt.After(s.Timestamp) {
		return fmt.Errorf("%w: send expires before its timestamp", ErrInvalid)
	}
	if err := checkTime(s.Timestamp); err != nil {
		return err
	}
	return checkTime(s.ExpiresAt)
}

// Result is the outcome of one send in a batch.
type Result struct {
	// MessageID and Timestamp identify the committed message. For a
	// Duplicate they are those of the original send.
	MessageID MessageID
	Timestamp time.Time

	// Seqs are the sequence numbers assigned to the copies, in the order of
	// Send.Copies; nil for a Duplicate or on error.
	Seqs []uint64

	// PrevSeqs tell, per copy, where the copy continues its device's queue:
	// when the send committed, the device's queue held no entry with a
	// sequence number strictly between PrevSeqs[i] and Seqs[i]. It is the
	// device's previously assigned sequence number where the store knows
	// it (so a reader that has seen everything up to PrevSeqs[i] can take
	// the copy without reading the queue), and 0 otherwise. Nil when Seqs
	// is nil.
	PrevSeqs []uint64

	// Duplicate is set when the send was a retry of a committed send and
	// nothing new was enqueued.
	Duplicate bool

	// Err is nil when the send is committed (or was already). Otherwise
	// nothing of the send was stored.
	Err error
}

// Entry is one queued message copy.
type Entry struct {
	Seq         uint64
	MessageID   MessageID
	Sender      Address
	Timestamp   time.Time
	Envelope    []byte
	FrankingTag []byte
	ExpiresAt   time.Time
}

// AckRequest acknowledges entries of one device's queue: every entry with
// Seq <= UpTo (0: none), and every entry whose Seq is listed in Seqs.
type AckRequest struct {
	Device Address
	UpTo   uint64
	Seqs   []uint64
}

// BlobState is the upload state of a blob.
type BlobState string

// Blob states.
const (
	BlobUploading BlobState = "uploading"
	BlobComplete  BlobState = "complete"
)

// Blob is the metadata of an encrypted attachment.
type Blob struct {
	ID        BlobID
	Uploader  AccountID
	Size      int64    // bytes of ciphertext; final once complete
	SHA256    [32]byte // SHA-256 of the ciphertext; zero until complete
	State     BlobState
	CreatedAt time.Time
	ExpiresAt time.Time
}

// MaxInt64 is the largest version or sequence number the store accepts.
const MaxInt64 = math.MaxInt64

// checkTime rejects times that do not fit Unix milliseconds in an int64.
func checkTime(t time.Time) error {
	if t.IsZero() {
		return fmt.Errorf("%w: zero time", ErrInvalid)
	}
	if y := t.Year(); y < 1970 || y > 9999 {
		return fmt.Errorf("%w: time %v out of range", ErrInvalid, t)
	}
	return nil
}

// CheckTime reports (wrapping ErrInvalid) a time the store cannot hold: the
// zero time, or one outside the years 1970..9999.
func CheckTime(t time.Time) error { return checkTime(t) }

// CheckKey reports (wrapping ErrInvalid) a public key that is not 32 bytes.
func CheckKey(what string, k []byte) error {
	if len(k) != PublicKeySize {
		return fmt.Errorf("%w: %s is %d bytes, want %d", ErrInvalid, what, len(k), PublicKeySize)
	}
	return nil
}

// CheckVersion reports (wrapping ErrInvalid) a version or sequence number
// outside 1..MaxInt64.
func CheckVersion(v uint64) error {
	if v == 0 || v > MaxInt64 {
		return fmt.Errorf("%w: version %d out of range 1..2^63-1", ErrInvalid, v)
	}
	return nil
}

// Millis converts a time to Unix milliseconds, the stored form.
func Millis(t time.Time) int64 { return t.UnixMilli() }

// FromMillis converts stored Unix milliseconds to a UTC time.
func FromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
