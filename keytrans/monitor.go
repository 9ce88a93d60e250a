package keytrans

import (
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/mod/sumdb/tlog"
)

// AlertKind says what the self-monitor found wrong with an entry for one of
// its own labels.
type AlertKind uint8

const (
	// AlertUnauthored: an entry for an own "acct:" label that neither this
	// device nor an approved sibling made (a logged key substitution or
	// ghost device).
	AlertUnauthored AlertKind = 1
	// AlertVersionGap: the version skips ahead of the last one seen.
	AlertVersionGap AlertKind = 2
	// AlertDuplicateVersion: a version already seen appears again.
	AlertDuplicateVersion AlertKind = 3
	// AlertBrokenChain: prev_entry is not the leaf hash of the label's
	// previous entry.
	AlertBrokenChain AlertKind = 4
	// AlertHandleRebound: an entry for an own "handle:" label that this
	// account did not make (the handle may point elsewhere).
	AlertHandleRebound AlertKind = 5
	// AlertKindChanged: the entry's kind differs from the label's.
	AlertKindChanged AlertKind = 6
)

func (k AlertKind) valid() bool { return k >= AlertUnauthored && k <= AlertKindChanged }

// String names the alert kind.
func (k AlertKind) String() string {
	switch k {
	case AlertUnauthored:
		return "unauthored entry"
	case AlertVersionGap:
		return "version gap"
	case AlertDuplicateVersion:
		return "duplicate version"
	case AlertBrokenChain:
		return "broken prev_entry chain"
	case AlertHandleRebound:
		return "handle rebound"
	case AlertKindChanged:
		return "entry kind changed"
	}
	return fmt.Sprintf("alert(%d)", uint8(k))
}

// AuthoredKey identifies an entry by what its author knows before it is
// logged.
type AuthoredKey struct {
	LabelID    LabelID
	Version    uint32
	Commitment [CommitmentSize]byte
}

// Authored reports whether this device, or a sibling device it approved,
// made an entry. The caller adds its own uploads when the server confirms
// them, and a sibling's after checking the value, opening and AIK signature.
type Authored interface {
	Authored(AuthoredKey) bool
}

// AuthoredSet is an in-memory Authored.
type AuthoredSet map[AuthoredKey]struct{}

// Authored implements Authored.
func (s AuthoredSet) Authored(k AuthoredKey) bool { _, ok := s[k]; return ok }

// Alert is a self-monitoring finding with its publishable evidence.
type Alert struct {
	Kind     AlertKind
	Evidence *Evidence
}

// EvidenceVersion is the version byte of an encoded Evidence.
const EvidenceVersion = 1

// Evidence proves that the log, at a signed checkpoint, contains an entry:
// anyone holding the log key can check it (VerifyEvidence).
//
//	u8   version = 1
//	u8   alert_kind
//	opaque checkpoint<1..2^16-1>   signed checkpoint note
//	u64  leaf_index
//	[110] entry
//	opaque inclusion<0..2^16-1>    RFC 6962 inclusion proof, 32-byte hashes
type Evidence struct {
	Kind       AlertKind
	Checkpoint []byte
	LeafIndex  int64
	Entry      []byte
	Inclusion  tlog.RecordProof
}

// Marshal encodes the evidence.
func (e *Evidence) Marshal() ([]byte, error) {
	if !e.Kind.valid() || len(e.Checkpoint) == 0 || len(e.Checkpoint) > MaxCheckpointSize ||
		len(e.Entry) != EntrySize || e.LeafIndex < 0 || len(e.Inclusion) > maxProofHashes {
		return nil, errors.New("keytrans: invalid evidence")
	}
	b := cryptobyte.NewBuilder(nil)
	b.AddUint8(EvidenceVersion)
	b.AddUint8(uint8(e.Kind))
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(e.Checkpoint) })
	b.AddUint64(uint64(e.LeafIndex))
	b.AddBytes(e.Entry)
	addHashes(b, e.Inclusion)
	return b.Bytes()
}

// ParseEvidence decodes evidence strictly (no signature checks).
func ParseEvidence(data []byte) (*Evidence, error) {
	s := cryptobyte.String(data)
	var ver, kind uint8
	var cp cryptobyte.String
	var idx uint64
	var entry []byte
	var e Evidence
	if !s.ReadUint8(&ver) {
		return nil, errors.New("keytrans: malformed evidence")
	}
	if ver != EvidenceVersion {
		return nil, fmt.Errorf("keytrans: unknown evidence version %d", ver)
	}
	if !s.ReadUint8(&kind) || !s.ReadUint16LengthPrefixed(&cp) || len(cp) == 0 ||
		!s.ReadUint64(&idx) || !s.ReadBytes(&entry, EntrySize) ||
		!readHashes(&s, (*[]tlog.Hash)(&e.Inclusion)) || !s.Empty() || idx > 1<<63-1 {
		return nil, errors.New("keytrans: malformed evidence")
	}
	e.Kind = AlertKind(kind)
	if !e.Kind.valid() {
		return nil, errors.New("keytrans: unknown alert kind")
	}
	e.Checkpoint, e.LeafIndex, e.Entry = append([]byte(nil), cp...), int64(idx), append([]byte(nil), entry...)
	return &e, nil
}

// VerifyEvidence checks that the evidence's checkpoint is signed by the log
// and that the entry is included in it, and returns the decoded entry. It
// does not require witness cosignatures (old evidence stays valid).
func VerifyEvidence(e *Evidence, log LogKey) (*Entry, error) {
	sc, err := openLogSigned(e.Checkpoint, log, false)
	if err != nil {
		return nil, err
	}
	entry, err := ParseEntry(e.Entry)
	if err != nil {
		return nil, err
	}
	if e.LeafIndex >= sc.Size {
		return nil, ErrInclusion
	}
	if err := tlog.CheckRecord(e.Inclusion, sc.Size, sc.Hash, e.LeafIndex, tlog.RecordHash(e.Entry)); err != nil {
		return nil, ErrInclusion
	}
	return entry, nil
}

// Monitor scans the log for a device's own labels. It is immutable.
type Monitor struct {
	kinds map[LabelID]Kind
}

// NewMonitor returns a monitor for the given own labels (account label and
// handle labels) and their kinds. Use the same label IDs in
// NewClientState.
func NewMonitor(own map[LabelID]Kind) *Monitor {
	m := &Monitor{kinds: make(map[LabelID]Kind, len(own))}
	for id, k := range own {
		m.kinds[id] = k
	}
	return m
}

// Scan is the owner's self-monitor (notes/key-transparency.md, Section 5.2,
// "Owner self-monitor"). It takes the entries from state.MonitorCursor on
// (at most up to the checkpoint stored in state, which the caller has
// verified with Verifier.VerifyCheckpoint), authenticates every one of them
// against that checkpoint through tiles read with tiles (via
// tlog.TileHashReader, which checks each tile against the tree), and checks
// each entry for one of state.Own's labels: authored by us or an approved
// sibling, versions 0,1,2,… without gaps or duplicates, prev_entry chained,
// kind unchanged. It returns the advanced state and the alerts, each with
// evidence; an error (bad tiles, entries that are not the log's) leaves
// state unchanged and must be retried, not ignored.
func (m *Monitor) Scan(state *ClientState, entries [][]byte, tiles tlog.TileReader, authored Authored) (*ClientState, []Alert, error) {
	if len(state.CheckpointNote) == 0 {
		return nil, nil, errors.New("keytrans: monitor: no verified checkpoint")
	}
	start, end := state.MonitorCursor, state.MonitorCursor+int64(len(entries))
	if end > state.Size {
		return nil, nil, errors.New("keytrans: monitor: entries beyond the checkpoint")
	}
	next := state.Clone()
	next.MonitorCursor = end
	if len(entries) == 0 {
		return next, nil, nil
	}
	tree := tlog.Tree{N: state.Size, Hash: state.Root}
	hr := tlog.TileHashReader(tree, tiles)
	idx := make([]int64, len(entries))
	for i := range entries {
		idx[i] = tlog.StoredHashIndex(0, start+int64(i))
	}
	leaves, err := hr.ReadHashes(idx)
	if err != nil {
		return nil, nil, fmt.Errorf("keytrans: monitor: reading tiles: %w", err)
	}
	if len(leaves) != len(entries) {
		return nil, nil, errors.New("keytrans: monitor: wrong number of hashes")
	}
	var alerts []Alert
	for i, enc := range entries {
		index := start + int64(i)
		if tlog.RecordHash(enc) != leaves[i] {
			return nil, nil, fmt.Errorf("%w: entry %d is not the log's", ErrInclusion, index)
		}
		e, err := ParseEntry(enc)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: log entry %d: %v", ErrMalformed, index, err)
		}
		rec, own := next.Own[e.LabelID]
		if !own {
			continue
		}
		var kinds []AlertKind
		if k, ok := m.kinds[e.LabelID]; ok && k != e.Kind {
			kinds = append(kinds, AlertKindChanged)
		}
		switch {
		case rec.Seen && e.Version <= rec.Version:
			kinds = append(kinds, AlertDuplicateVersion)
		case !rec.Seen && e.Version != 0 || rec.Seen && e.Version != rec.Version+1:
			kinds = append(kinds, AlertVersionGap)
		case rec.Seen && e.PrevEntry != rec.LeafHash:
			kinds = append(kinds, AlertBrokenChain)
		}
		if authored == nil || !authored.Authored(AuthoredKey{LabelID: e.LabelID, Version: e.Version, Commitment: e.Commitment}) {
			if e.Kind == KindHandleBinding {
				kinds = append(kinds, AlertHandleRebound)
			} else {
				kinds = append(kinds, AlertUnauthored)
			}
		}
		if !rec.Seen || e.Version > rec.Version {
			next.Own[e.LabelID] = OwnRecord{Seen: true, Version: e.Version, LeafHash: leaves[i]}
		}
		if len(kinds) == 0 {
			continue
		}
		proof, err := tlog.ProveRecord(state.Size, index, hr)
		if err != nil {
			return nil, nil, fmt.Errorf("keytrans: monitor: proving entry %d: %w", index, err)
		}
		if err := tlog.CheckRecord(proof, state.Size, state.Root, index, leaves[i]); err != nil {
			return nil, nil, fmt.Errorf("%w: monitor: entry %d", ErrInclusion, index)
		}
		for _, k := range kinds {
			alerts = append(alerts, Alert{Kind: k, Evidence: &Evidence{
				Kind: k, Checkpoint: state.CheckpointNote, LeafIndex: index,
				Entry: append([]byte(nil), enc...), Inclusion: proof,
			}})
		}
	}
	return next, alerts, nil
}
