package keytrans

import (
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// ViolationKind is an invariant the auditor found broken.
type ViolationKind uint8

const (
	// ViolationMalformed: the entry does not decode.
	ViolationMalformed ViolationKind = 1
	// ViolationFirstVersion: a label's first entry is not version 0.
	ViolationFirstVersion ViolationKind = 2
	// ViolationDuplicate: a (label_id, version) already in the log, or a
	// lower version than the label's latest.
	ViolationDuplicate ViolationKind = 3
	// ViolationSkippedVersion: a version above latest+1.
	ViolationSkippedVersion ViolationKind = 4
	// ViolationBrokenChain: prev_entry is not the leaf hash of the label's
	// latest entry.
	ViolationBrokenChain ViolationKind = 5
	// ViolationTimestamp: the timestamp is below the previous entry's.
	ViolationTimestamp ViolationKind = 6
	// ViolationKindChanged: the entry's kind differs from the label's.
	ViolationKindChanged ViolationKind = 7
)

// String names the violation.
func (k ViolationKind) String() string {
	switch k {
	case ViolationMalformed:
		return "malformed entry"
	case ViolationFirstVersion:
		return "first version not 0"
	case ViolationDuplicate:
		return "duplicate version"
	case ViolationSkippedVersion:
		return "skipped version"
	case ViolationBrokenChain:
		return "broken prev_entry chain"
	case ViolationTimestamp:
		return "decreasing timestamp"
	case ViolationKindChanged:
		return "kind changed"
	}
	return fmt.Sprintf("violation(%d)", uint8(k))
}

// Violation is one broken invariant at a leaf index.
type Violation struct {
	Index   int64
	Kind    ViolationKind
	LabelID LabelID
}

// AuditReport is the auditor's verdict.
type AuditReport struct {
	// Size and Root describe the replayed tree.
	Size int64
	Root tlog.Hash
	// RootMatches reports that Root equals the checkpoint's root at Size.
	RootMatches bool
	Violations  []Violation
}

// OK reports a replay matching the checkpoint with no violation.
func (r *AuditReport) OK() bool { return r.RootMatches && len(r.Violations) == 0 }

// Auditor replays a log from its first entry and checks its invariants
// (notes/key-transparency.md, Section 5.2, "Independent auditor"): per
// label_id versions 0,1,2,… with a consistent prev_entry chain and one kind,
// no duplicates, non-decreasing timestamps, valid entry format. It keeps the
// tree hashes in memory (≈ 64 bytes per entry) and the head of every label.
type Auditor struct {
	heads      map[LabelID]LabelHead
	lastTs     int64
	hashes     memHashes
	size       int64
	violations []Violation
}

// NewAuditor returns an auditor at the empty log.
func NewAuditor() *Auditor { return &Auditor{heads: map[LabelID]LabelHead{}} }

// Add replays the next entries of the log (from leaf index Size()).
func (a *Auditor) Add(entries [][]byte) error {
	for _, enc := range entries {
		index := a.size
		hs, err := tlog.StoredHashes(index, enc, a.hashes)
		if err != nil {
			return fmt.Errorf("keytrans: audit: %w", err)
		}
		a.hashes = append(a.hashes, hs...)
		a.size++
		e, err := ParseEntry(enc)
		if err != nil {
			a.violations = append(a.violations, Violation{Index: index, Kind: ViolationMalformed})
			continue
		}
		leaf := hs[0]
		v := func(k ViolationKind) {
			a.violations = append(a.violations, Violation{Index: index, Kind: k, LabelID: e.LabelID})
		}
		if e.TimestampMs < a.lastTs {
			v(ViolationTimestamp)
		} else {
			a.lastTs = e.TimestampMs
		}
		head, seen := a.heads[e.LabelID]
		switch {
		case !seen && e.Version != 0:
			v(ViolationFirstVersion)
		case seen && e.Kind != head.Kind:
			v(ViolationKindChanged)
		case seen && e.Version <= head.Version:
			v(ViolationDuplicate)
		case seen && e.Version > head.Version+1:
			v(ViolationSkippedVersion)
		case seen && e.PrevEntry != head.LeafHash:
			v(ViolationBrokenChain)
		}
		if !seen || e.Version > head.Version {
			a.heads[e.LabelID] = LabelHead{Kind: e.Kind, Version: e.Version, LeafHash: leaf, TimestampMs: e.TimestampMs}
		}
	}
	return nil
}

// Size returns the number of entries replayed.
func (a *Auditor) Size() int64 { return a.size }

// Report compares the replayed tree with a checkpoint (whose signature the
// caller verified, e.g. with OpenLogCheckpoint) and returns the findings so far. A checkpoint larger than
// the replay is compared with nothing and does not match.
func (a *Auditor) Report(c *Checkpoint) *AuditReport {
	r := &AuditReport{Size: a.size, Violations: append([]Violation(nil), a.violations...)}
	r.Root, _ = tlog.TreeHash(a.size, a.hashes)
	r.RootMatches = c != nil && c.Size == a.size && c.Hash == r.Root
	return r
}

// Audit replays a whole log and compares it with a checkpoint.
func Audit(entries [][]byte, c *Checkpoint) (*AuditReport, error) {
	a := NewAuditor()
	if err := a.Add(entries); err != nil {
		return nil, err
	}
	return a.Report(c), nil
}

// memHashes is an in-memory HashStorage: stored hash i at index i.
type memHashes []tlog.Hash

func (m memHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(m)) {
			return nil, fmt.Errorf("keytrans: hash index %d not stored", x)
		}
		out[i] = m[x]
	}
	return out, nil
}
