package keytrans

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/mod/sumdb/tlog"
)

// ClientStateVersion is the version byte of an encoded ClientState.
const ClientStateVersion = 1

// ContactRecord is what a client remembers about a label it looked up.
type ContactRecord struct {
	// Version is the highest version accepted for the label.
	Version uint32
	// ValueHash is ValueHash of the value accepted at Version.
	ValueHash [StateHashSize]byte
}

// OwnRecord is what a monitoring device remembers about one of its own
// labels: the last entry the scan saw for it.
type OwnRecord struct {
	// Seen is false until the scan meets the label's version 0.
	Seen     bool
	Version  uint32
	LeafHash tlog.Hash
}

// ClientState is the key-transparency state a client persists: it is the
// security boundary (notes/key-transparency.md, Section 6). Treat it as a
// value: Verifier and Monitor methods return new states and never modify
// the one they are given. Store it where only the client can write it: the
// stored checkpoint's signatures are not verified again on later lookups.
//
// Encoding:
//
//	u8   version = 1
//	opaque checkpoint<0..2^16-1>   last accepted signed checkpoint note (empty: none)
//	u64  size                      its tree size (0 with no checkpoint)
//	[32] root                      its root hash (zeros with no checkpoint)
//	u64  monitor_cursor            next leaf index the self-monitor scans
//	ContactEntry contacts<0..2^32-1>  sorted by label_id, no duplicates
//	    [32] label_id  u32 version  [32] value_hash
//	OwnEntry own<0..2^32-1>           sorted by label_id, no duplicates
//	    [32] label_id  u8 seen (0|1)  u32 version  [32] leaf_hash
type ClientState struct {
	// CheckpointNote is the last accepted signed checkpoint (nil: none), and
	// Size and Root its tree.
	CheckpointNote []byte
	Size           int64
	Root           tlog.Hash
	// MonitorCursor is the index of the next entry the self-monitor scans.
	MonitorCursor int64
	// Contacts holds the highest accepted version per looked-up label.
	Contacts map[LabelID]ContactRecord
	// Own lists the labels this device monitors (its account and handles).
	Own map[LabelID]OwnRecord
}

// NewClientState returns the empty state of a fresh install that monitors
// the given own labels.
func NewClientState(own ...LabelID) *ClientState {
	s := &ClientState{Contacts: map[LabelID]ContactRecord{}, Own: map[LabelID]OwnRecord{}}
	for _, id := range own {
		s.Own[id] = OwnRecord{}
	}
	return s
}

// Clone returns a deep copy of s.
func (s *ClientState) Clone() *ClientState {
	c := *s
	c.CheckpointNote = bytes.Clone(s.CheckpointNote)
	c.Contacts = maps.Clone(s.Contacts)
	if c.Contacts == nil {
		c.Contacts = map[LabelID]ContactRecord{}
	}
	c.Own = maps.Clone(s.Own)
	if c.Own == nil {
		c.Own = map[LabelID]OwnRecord{}
	}
	return &c
}

// Marshal encodes the state canonically.
func (s *ClientState) Marshal() ([]byte, error) {
	if len(s.CheckpointNote) > MaxCheckpointSize || s.Size < 0 || s.MonitorCursor < 0 {
		return nil, errors.New("keytrans: invalid client state")
	}
	if len(s.CheckpointNote) == 0 && (s.Size != 0 || s.Root != (tlog.Hash{})) {
		return nil, errors.New("keytrans: client state has a tree but no checkpoint")
	}
	b := cryptobyte.NewBuilder(nil)
	b.AddUint8(ClientStateVersion)
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(s.CheckpointNote) })
	b.AddUint64(uint64(s.Size))
	b.AddBytes(s.Root[:])
	b.AddUint64(uint64(s.MonitorCursor))
	b.AddUint32LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, id := range sortedKeys(s.Contacts) {
			r := s.Contacts[id]
			b.AddBytes(id[:])
			b.AddUint32(r.Version)
			b.AddBytes(r.ValueHash[:])
		}
	})
	b.AddUint32LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, id := range sortedKeys(s.Own) {
			r := s.Own[id]
			b.AddBytes(id[:])
			seen := uint8(0)
			if r.Seen {
				seen = 1
			}
			if !r.Seen && (r.Version != 0 || r.LeafHash != (tlog.Hash{})) {
				b.SetError(errors.New("keytrans: unseen own label with a version"))
			}
			b.AddUint8(seen)
			b.AddUint32(r.Version)
			b.AddBytes(r.LeafHash[:])
		}
	})
	return b.Bytes()
}

func sortedKeys[V any](m map[LabelID]V) []LabelID {
	ks := slices.Collect(maps.Keys(m))
	slices.SortFunc(ks, func(a, b LabelID) int { return bytes.Compare(a[:], b[:]) })
	return ks
}

// ParseClientState decodes a state. It rejects unknown versions, trailing
// bytes, unsorted or duplicate labels and non-canonical flags, so that
// Marshal(ParseClientState(x)) == x.
func ParseClientState(data []byte) (*ClientState, error) {
	s := cryptobyte.String(data)
	var ver uint8
	if !s.ReadUint8(&ver) {
		return nil, errors.New("keytrans: malformed client state")
	}
	if ver != ClientStateVersion {
		return nil, fmt.Errorf("keytrans: unknown client state version %d", ver)
	}
	st := &ClientState{Contacts: map[LabelID]ContactRecord{}, Own: map[LabelID]OwnRecord{}}
	var cp, contacts, own cryptobyte.String
	var size, cursor uint64
	if !s.ReadUint16LengthPrefixed(&cp) || !s.ReadUint64(&size) || !s.CopyBytes(st.Root[:]) ||
		!s.ReadUint64(&cursor) || !readUint32Prefixed(&s, &contacts) ||
		!readUint32Prefixed(&s, &own) || !s.Empty() {
		return nil, errors.New("keytrans: malformed client state")
	}
	if size > 1<<63-1 || cursor > 1<<63-1 || len(cp) > MaxCheckpointSize {
		return nil, errors.New("keytrans: malformed client state")
	}
	if len(cp) > 0 {
		st.CheckpointNote = append([]byte(nil), cp...)
	} else if size != 0 || st.Root != (tlog.Hash{}) {
		return nil, errors.New("keytrans: client state has a tree but no checkpoint")
	}
	st.Size, st.MonitorCursor = int64(size), int64(cursor)
	if len(cp) > 0 {
		// The stored note must describe the stored tree.
		text, _, ok := bytes.Cut(cp, []byte("\n\n"))
		c, err := ParseCheckpointBody(append(bytes.Clone(text), '\n'))
		if !ok || err != nil || c.Size != st.Size || c.Hash != st.Root {
			return nil, errors.New("keytrans: client state checkpoint does not match its tree")
		}
	}
	var prev *LabelID
	for !contacts.Empty() {
		var id LabelID
		var r ContactRecord
		if !contacts.CopyBytes(id[:]) || !contacts.ReadUint32(&r.Version) || !contacts.CopyBytes(r.ValueHash[:]) {
			return nil, errors.New("keytrans: malformed client state contact")
		}
		if prev != nil && bytes.Compare(prev[:], id[:]) >= 0 {
			return nil, errors.New("keytrans: client state contacts not sorted")
		}
		st.Contacts[id] = r
		prev = &id
	}
	prev = nil
	for !own.Empty() {
		var id LabelID
		var r OwnRecord
		var seen uint8
		if !own.CopyBytes(id[:]) || !own.ReadUint8(&seen) || !own.ReadUint32(&r.Version) || !own.CopyBytes(r.LeafHash[:]) {
			return nil, errors.New("keytrans: malformed client state own label")
		}
		if seen > 1 || seen == 0 && (r.Version != 0 || r.LeafHash != (tlog.Hash{})) {
			return nil, errors.New("keytrans: malformed client state own label")
		}
		if prev != nil && bytes.Compare(prev[:], id[:]) >= 0 {
			return nil, errors.New("keytrans: client state own labels not sorted")
		}
		r.Seen = seen == 1
		st.Own[id] = r
		prev = &id
	}
	return st, nil
}

// readUint32Prefixed reads a uint32 length-prefixed field (cryptobyte has no
// reader for it).
func readUint32Prefixed(s *cryptobyte.String, out *cryptobyte.String) bool {
	var n uint32
	var v []byte
	if !s.ReadUint32(&n) || !s.ReadBytes(&v, int(n)) {
		return false
	}
	*out = v
	return true
}
