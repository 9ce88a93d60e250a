package keytrans

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/wardchat/ward/identity"
	"github.com/wardchat/ward/vrf"
)

// EntryFormat is the format byte that starts every log entry
// (notes/key-transparency.md, Section 5.2).
const EntryFormat = 1

// EntrySize is the length of an encoded Entry: 1 + 1 + 32 + 4 + 32 + 32 + 8.
const EntrySize = 110

// LabelIDSize is the length of a label_id: the VRF output truncated to 32 bytes.
const LabelIDSize = 32

// MaxLabelLen bounds the length of a label in bytes.
const MaxLabelLen = 512

// labelAlphaPrefix domain-separates the VRF input of a label (the VRF key
// is used for nothing else, but a prefix keeps phase-2 inputs, which add a
// version, disjoint from phase-1 ones).
const labelAlphaPrefix = "ward keytrans v1 label\x00"

// Kind says what a log entry's committed value is.
type Kind uint8

const (
	// KindAccountState marks an entry whose value is an encoded AccountState,
	// under the label "acct:<account_id>".
	KindAccountState Kind = 1
	// KindHandleBinding marks an entry whose value is an encoded
	// HandleBinding, under the label "handle:<normalised handle>".
	KindHandleBinding Kind = 2
)

func (k Kind) valid() bool { return k == KindAccountState || k == KindHandleBinding }

// String returns "account-state", "handle-binding" or "kind(N)".
func (k Kind) String() string {
	switch k {
	case KindAccountState:
		return "account-state"
	case KindHandleBinding:
		return "handle-binding"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// LabelID is the VRF-hidden identifier of a label in the log.
type LabelID [LabelIDSize]byte

// Label is a key-transparency label: "acct:<account_id>" or
// "handle:<normalised handle>" (notes/key-transparency.md, Section 5.1).
type Label string

const (
	accountLabelPrefix = "acct:"
	handleLabelPrefix  = "handle:"
)

// AccountLabel returns the label "acct:<account_id>", with the account ID in
// its 32-hex-digit form (identity.AccountID.String).
func AccountLabel(aid identity.AccountID) Label {
	return Label(accountLabelPrefix + aid.String())
}

// NormalizeHandle returns the form of a handle used in labels: Unicode lower
// case, the same folding as the server's store, so "Alice" and "alice" share
// one label.
func NormalizeHandle(h string) string { return strings.ToLower(h) }

// HandleLabel returns the label "handle:<normalised handle>".
func HandleLabel(handle string) Label {
	return Label(handleLabelPrefix + NormalizeHandle(handle))
}

// Kind returns the entry kind a label carries, or an error if the label is
// not well formed.
func (l Label) Kind() (Kind, error) {
	s := string(l)
	if len(s) > MaxLabelLen || !utf8.ValidString(s) {
		return 0, errors.New("keytrans: malformed label")
	}
	switch {
	case strings.HasPrefix(s, accountLabelPrefix):
		if _, err := identity.ParseAccountID(s[len(accountLabelPrefix):]); err != nil {
			return 0, fmt.Errorf("keytrans: malformed account label: %w", err)
		}
		return KindAccountState, nil
	case strings.HasPrefix(s, handleLabelPrefix):
		h := s[len(handleLabelPrefix):]
		if h == "" || h != NormalizeHandle(h) {
			return 0, errors.New("keytrans: handle label is empty or not normalised")
		}
		return KindHandleBinding, nil
	}
	return 0, errors.New("keytrans: unknown label type")
}

// VRFInput returns alpha, the VRF input of the label:
// "ward keytrans v1 label" ‖ 0x00 ‖ label.
func (l Label) VRFInput() []byte {
	return append([]byte(labelAlphaPrefix), l...)
}

// ComputeLabelID returns the label_id and the VRF proof of a label, as the
// log operator computes them: beta[:32] of ECVRF(sk, VRFInput(label)).
func ComputeLabelID(sk *vrf.PrivateKey, l Label) (LabelID, [vrf.ProofSize]byte) {
	proof, beta := sk.Prove(l.VRFInput())
	var id LabelID
	copy(id[:], beta[:LabelIDSize])
	return id, proof
}

// VerifyLabelID checks a VRF proof for a label under the pinned VRF key and
// returns the label_id it proves.
func VerifyLabelID(pk vrf.PublicKey, l Label, proof []byte) (LabelID, error) {
	beta, err := pk.Verify(l.VRFInput(), proof)
	if err != nil {
		return LabelID{}, errors.New("keytrans: VRF proof failed")
	}
	var id LabelID
	copy(id[:], beta[:LabelIDSize])
	return id, nil
}

// Entry is one log entry (notes/key-transparency.md, Section 5.2):
//
//	u8   format = 1
//	u8   kind   (1 = account state, 2 = handle binding)
//	[32] label_id      VRF(label)
//	u32  version       0,1,2,… strictly +1 per label
//	[32] commitment    HMAC(Kc, opening‖label‖version‖value)
//	[32] prev_entry    leaf hash of this label's previous entry (zeros for v0)
//	i64  timestamp_ms
type Entry struct {
	Kind        Kind
	LabelID     LabelID
	Version     uint32
	Commitment  [CommitmentSize]byte
	PrevEntry   tlog.Hash
	TimestampMs int64
}

// Marshal returns the 110-byte encoding of e.
func (e *Entry) Marshal() ([]byte, error) {
	if !e.Kind.valid() {
		return nil, errors.New("keytrans: entry has an unknown kind")
	}
	if e.TimestampMs < 0 {
		return nil, errors.New("keytrans: entry timestamp is negative")
	}
	if e.Version == 0 && e.PrevEntry != (tlog.Hash{}) {
		return nil, errors.New("keytrans: version 0 entry with a previous entry")
	}
	b := cryptobyte.NewFixedBuilder(make([]byte, 0, EntrySize))
	b.AddUint8(EntryFormat)
	b.AddUint8(uint8(e.Kind))
	b.AddBytes(e.LabelID[:])
	b.AddUint32(e.Version)
	b.AddBytes(e.Commitment[:])
	b.AddBytes(e.PrevEntry[:])
	b.AddUint64(uint64(e.TimestampMs))
	return b.Bytes()
}

// ParseEntry decodes an entry. It rejects any length other than EntrySize,
// an unknown format or kind, a negative timestamp and a version 0 entry
// whose prev_entry is not all zeros.
func ParseEntry(data []byte) (*Entry, error) {
	if len(data) != EntrySize {
		return nil, fmt.Errorf("keytrans: entry is %d bytes, want %d", len(data), EntrySize)
	}
	s := cryptobyte.String(data)
	var format, kind uint8
	var e Entry
	var ts uint64
	if !s.ReadUint8(&format) || !s.ReadUint8(&kind) ||
		!s.CopyBytes(e.LabelID[:]) || !s.ReadUint32(&e.Version) ||
		!s.CopyBytes(e.Commitment[:]) || !s.CopyBytes(e.PrevEntry[:]) ||
		!s.ReadUint64(&ts) || !s.Empty() {
		return nil, errors.New("keytrans: malformed entry")
	}
	if format != EntryFormat {
		return nil, fmt.Errorf("keytrans: unknown entry format %d", format)
	}
	e.Kind = Kind(kind)
	if !e.Kind.valid() {
		return nil, fmt.Errorf("keytrans: unknown entry kind %d", kind)
	}
	if ts > math.MaxInt64 {
		return nil, errors.New("keytrans: entry timestamp is negative")
	}
	e.TimestampMs = int64(ts)
	if e.Version == 0 && e.PrevEntry != (tlog.Hash{}) {
		return nil, errors.New("keytrans: version 0 entry with a previous entry")
	}
	return &e, nil
}

// LeafHash returns the RFC 6962 leaf hash of an encoded entry,
// SHA-256(0x00 ‖ entry).
func LeafHash(encoded []byte) tlog.Hash { return tlog.RecordHash(encoded) }

// LeafHash returns the RFC 6962 leaf hash of e's encoding.
func (e *Entry) LeafHash() (tlog.Hash, error) {
	b, err := e.Marshal()
	if err != nil {
		return tlog.Hash{}, err
	}
	return tlog.RecordHash(b), nil
}
