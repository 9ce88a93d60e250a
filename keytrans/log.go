package keytrans

import (
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// TileHeight is the height of the tiles the log serves (C2SP tlog-tiles: 8,
// i.e. 256 hashes per full tile).
const TileHeight = 8

// HashStorage is the log's store of Merkle tree hashes, indexed as
// tlog.StoredHashIndex numbers them. ReadHashes returns the hashes at the
// given indexes, in order, or an error; it must return only hashes
// previously produced by Sequencer.Append (written in Batch order) and must
// be safe to call while no Append is in flight. Implementations: the
// server's database; the auditor's in-memory slice.
type HashStorage interface {
	ReadHashes(indexes []int64) ([]tlog.Hash, error)
}

// LabelHead is what the log knows about a label's latest entry.
type LabelHead struct {
	Kind        Kind
	Version     uint32
	LeafHash    tlog.Hash
	TimestampMs int64
}

// AppendRequest asks the sequencer for the next entry of a label.
type AppendRequest struct {
	Kind       Kind
	LabelID    LabelID
	Commitment [CommitmentSize]byte
	// Prev is the label's head before the batch (nil for a new label). Every
	// request for the same label in one batch carries the same Prev.
	Prev *LabelHead
}

// Batch is the result of appending a batch of entries.
type Batch struct {
	// OldSize is the tree size before the batch; entry i has leaf index
	// OldSize+i.
	OldSize int64
	Entries []*Entry
	Encoded [][]byte
	// Hashes are the new stored hashes, to be written at consecutive indexes
	// starting at tlog.StoredHashIndex(0, OldSize).
	Hashes []tlog.Hash
	// NewSize and Root describe the tree after the batch.
	NewSize int64
	Root    tlog.Hash
	// Heads are the new heads of every label the batch touched.
	Heads map[LabelID]LabelHead
}

// Sequencer turns append requests into log entries: version = previous + 1,
// prev_entry = previous leaf hash, non-decreasing timestamps, and the tree
// hashes to store. It holds only the tree size and the last timestamp; the
// caller persists a Batch and then the sequencer's new value atomically.
type Sequencer struct {
	Size            int64
	LastTimestampMs int64
}

// Append validates a batch and computes its entries and hashes, reading the
// existing tree through hs. Entries get timestamp max(nowMs,
// LastTimestampMs), so timestamps never decrease even if the clock does. On
// success s advances to the new size; on error s is unchanged and nothing
// must be stored.
func (s *Sequencer) Append(hs HashStorage, reqs []AppendRequest, nowMs int64) (*Batch, error) {
	if len(reqs) == 0 {
		return nil, errors.New("keytrans: empty batch")
	}
	ts := max(nowMs, s.LastTimestampMs)
	if ts < 0 {
		return nil, errors.New("keytrans: negative timestamp")
	}
	b := &Batch{
		OldSize: s.Size,
		Entries: make([]*Entry, 0, len(reqs)),
		Encoded: make([][]byte, 0, len(reqs)),
		Heads:   make(map[LabelID]LabelHead, len(reqs)),
	}
	firstPrev := make(map[LabelID]*LabelHead, len(reqs))
	for i, r := range reqs {
		if !r.Kind.valid() {
			return nil, fmt.Errorf("keytrans: request %d: unknown kind", i)
		}
		head, seen := b.Heads[r.LabelID]
		if seen {
			if !sameHead(firstPrev[r.LabelID], r.Prev) {
				return nil, fmt.Errorf("keytrans: request %d: inconsistent previous head within batch", i)
			}
		} else {
			firstPrev[r.LabelID] = r.Prev
			if r.Prev != nil {
				head, seen = *r.Prev, true
			}
		}
		e := &Entry{Kind: r.Kind, LabelID: r.LabelID, Commitment: r.Commitment, TimestampMs: ts}
		if seen {
			if head.Kind != r.Kind {
				return nil, fmt.Errorf("keytrans: request %d: label kind changed", i)
			}
			if head.Version == ^uint32(0) {
				return nil, fmt.Errorf("keytrans: request %d: version overflow", i)
			}
			e.Version = head.Version + 1
			e.PrevEntry = head.LeafHash
		}
		enc, err := e.Marshal()
		if err != nil {
			return nil, err
		}
		b.Entries = append(b.Entries, e)
		b.Encoded = append(b.Encoded, enc)
		b.Heads[r.LabelID] = LabelHead{Kind: e.Kind, Version: e.Version, LeafHash: tlog.RecordHash(enc), TimestampMs: ts}
	}
	ov := &overlay{base: hs, start: tlog.StoredHashIndex(0, s.Size)}
	for i, enc := range b.Encoded {
		hashes, err := tlog.StoredHashes(s.Size+int64(i), enc, ov)
		if err != nil {
			return nil, fmt.Errorf("keytrans: computing tree hashes: %w", err)
		}
		ov.pending = append(ov.pending, hashes...)
	}
	b.NewSize = s.Size + int64(len(reqs))
	root, err := tlog.TreeHash(b.NewSize, ov)
	if err != nil {
		return nil, fmt.Errorf("keytrans: computing tree root: %w", err)
	}
	b.Hashes, b.Root = ov.pending, root
	s.Size, s.LastTimestampMs = b.NewSize, ts
	return b, nil
}

func sameHead(a, b *LabelHead) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// overlay reads hashes below start from base and the rest from pending.
type overlay struct {
	base    HashStorage
	start   int64
	pending []tlog.Hash
}

func (o *overlay) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	var baseIdx []int64
	var basePos []int
	for i, x := range indexes {
		switch {
		case x >= o.start && x-o.start < int64(len(o.pending)):
			out[i] = o.pending[x-o.start]
		case x < o.start:
			baseIdx = append(baseIdx, x)
			basePos = append(basePos, i)
		default:
			return nil, fmt.Errorf("keytrans: hash index %d not stored", x)
		}
	}
	if len(baseIdx) > 0 {
		if o.base == nil {
			return nil, errors.New("keytrans: no hash storage")
		}
		hs, err := o.base.ReadHashes(baseIdx)
		if err != nil {
			return nil, err
		}
		if len(hs) != len(baseIdx) {
			return nil, errors.New("keytrans: hash storage returned a wrong number of hashes")
		}
		for j, p := range basePos {
			out[p] = hs[j]
		}
	}
	return out, nil
}

// TreeHash returns the root of the tree of the given size.
func TreeHash(hs HashStorage, size int64) (tlog.Hash, error) { return tlog.TreeHash(size, hs) }

// ProveInclusion returns the RFC 6962 inclusion proof of leaf index in the
// tree of the given size.
func ProveInclusion(hs HashStorage, size, index int64) (tlog.RecordProof, error) {
	return tlog.ProveRecord(size, index, hs)
}

// ProveConsistency returns the RFC 6962 consistency proof from oldSize to
// newSize. The proof from size 0, or between equal sizes, is empty (RFC
// 6962, Section 2.1.2; C2SP tlog-witness: "The proof MUST be empty if the
// old size is zero").
func ProveConsistency(hs HashStorage, oldSize, newSize int64) (tlog.TreeProof, error) {
	if oldSize < 0 || oldSize > newSize {
		return nil, errors.New("keytrans: invalid consistency proof sizes")
	}
	if oldSize == 0 || oldSize == newSize {
		return tlog.TreeProof{}, nil
	}
	return tlog.ProveTree(newSize, oldSize, hs)
}

// NewTiles returns the tiles (height TileHeight) that must be (re)published
// when the tree grows from oldSize to newSize.
func NewTiles(oldSize, newSize int64) []tlog.Tile {
	return tlog.NewTiles(TileHeight, oldSize, newSize)
}

// ReadTileData returns the content of a tile (concatenated hashes) from hs.
func ReadTileData(t tlog.Tile, hs HashStorage) ([]byte, error) { return tlog.ReadTileData(t, hs) }
