package keytrans

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/wardchat/ward/identity"
	"github.com/wardchat/ward/vrf"
)

// Lookup verification errors. Every error VerifyLookup returns wraps exactly
// one of these (or ErrLogSignature / ErrNoQuorum); the SDK shows each as a
// security warning and never accepts the key.
var (
	// ErrMalformed: the response does not decode or does not match the
	// label asked for.
	ErrMalformed = errors.New("keytrans: malformed response")
	// ErrRollback: the checkpoint is older than the one the client stored.
	ErrRollback = errors.New("keytrans: checkpoint rolled back")
	// ErrInconsistent: the checkpoint is not an extension of the stored one
	// (fork or rewritten history).
	ErrInconsistent = errors.New("keytrans: checkpoint inconsistent with the stored one")
	// ErrVRF: the VRF proof fails or proves another label_id (a proof for
	// another label replayed).
	ErrVRF = errors.New("keytrans: VRF proof failed")
	// ErrCommitment: the value does not open the entry's commitment.
	ErrCommitment = errors.New("keytrans: commitment does not open")
	// ErrInclusion: the entry is not in the checkpointed tree.
	ErrInclusion = errors.New("keytrans: inclusion proof failed")
	// ErrDeviceList: the value's signed device list does not verify under
	// its AIK or is for another account.
	ErrDeviceList = errors.New("keytrans: signed device list invalid")
	// ErrVersionRegression: the label's version is lower than one this
	// client already accepted (stale or rolled-back key).
	ErrVersionRegression = errors.New("keytrans: label version went backwards")
	// ErrEquivocation: the value differs from the one accepted for the same
	// version, or does not chain (prev_value_hash) to the previous version.
	ErrEquivocation = errors.New("keytrans: conflicting values for a label version")
)

// VerifierConfig holds the keys pinned in the client build.
type VerifierConfig struct {
	// Log is the log's origin and checkpoint signing key.
	Log LogKey
	// VRFKey is the log's 32-byte VRF public key.
	VRFKey []byte
	// Witnesses is the k-of-n witness policy.
	Witnesses WitnessPolicy
	// Freshness bounds cosignature age; MaxAge must be positive.
	Freshness Freshness
}

// Verifier checks lookup responses against pinned keys. It is immutable and
// safe for concurrent use.
type Verifier struct {
	log    LogKey
	vrf    vrf.PublicKey
	policy WitnessPolicy
	fresh  Freshness
}

// NewVerifier validates a configuration.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if _, err := cfg.Log.verifier(); err != nil {
		return nil, err
	}
	pk, err := vrf.ParsePublicKey(cfg.VRFKey)
	if err != nil {
		return nil, fmt.Errorf("keytrans: VRF key: %w", err)
	}
	if err := cfg.Witnesses.Validate(); err != nil {
		return nil, err
	}
	if cfg.Freshness.MaxAge <= 0 || cfg.Freshness.MaxSkew < 0 {
		return nil, errors.New("keytrans: freshness bounds must be positive")
	}
	p := WitnessPolicy{Witnesses: append([]WitnessKey(nil), cfg.Witnesses.Witnesses...), Threshold: cfg.Witnesses.Threshold}
	return &Verifier{log: cfg.Log, vrf: pk, policy: p, fresh: cfg.Freshness}, nil
}

// VerifiedEntry is the part of a verified lookup common to all labels.
type VerifiedEntry struct {
	Label      Label
	Entry      *Entry
	LeafIndex  int64
	Value      []byte
	Checkpoint *SignedCheckpoint
	// PreviousVersion is the highest version this client had accepted for
	// the label before (valid when HadPrevious).
	PreviousVersion uint32
	HadPrevious     bool
	// Changed reports a new version compared with the last accepted one.
	Changed bool
}

// VerifiedAccountState is a verified "acct:" lookup.
type VerifiedAccountState struct {
	VerifiedEntry
	State      *AccountState
	DeviceList *identity.DeviceList
}

// VerifiedHandle is a verified "handle:" lookup.
type VerifiedHandle struct {
	VerifiedEntry
	Binding *HandleBinding
}

// VerifyLookup verifies the response to a fetch of an "acct:" label: a fresh
// checkpoint signed by the log and cosigned by a witness quorum; consistency
// with the stored checkpoint; the VRF proof of the label; the commitment
// opening; the inclusion of the entry; the AccountState's signed device list
// (identity.VerifyDeviceList under the state's AIK, for the label's
// account); and the per-label version never going backwards
// (notes/key-transparency.md, Section 5.2, steps 1–7).
//
// It returns a new state only when every check passes; state is never
// modified. A caller that sees VerifiedAccountState.Changed with a different
// AIK shows the "safety number changed" notice.
func (v *Verifier) VerifyLookup(state *ClientState, label Label, response []byte, now time.Time) (*ClientState, *VerifiedAccountState, error) {
	kind, err := label.Kind()
	if err != nil || kind != KindAccountState {
		return nil, nil, fmt.Errorf("%w: not an account label", ErrMalformed)
	}
	aid, _ := identity.ParseAccountID(strings.TrimPrefix(string(label), accountLabelPrefix))
	next, ve, err := v.verify(state, label, kind, response, now, func(value []byte) ([StateHashSize]byte, error) {
		st, err := ParseAccountState(value)
		if err != nil {
			return [StateHashSize]byte{}, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		if st.AccountID != aid {
			return [StateHashSize]byte{}, fmt.Errorf("%w: account state for another account", ErrMalformed)
		}
		return st.PrevValueHash, nil
	})
	if err != nil {
		return nil, nil, err
	}
	st, _ := ParseAccountState(ve.Value)
	list, err := identity.VerifyDeviceList(st.SignedDeviceList, st.AIK, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrDeviceList, err)
	}
	// "With no prev, the caller MUST check that the returned list's
	// AccountID is the account it asked for."
	if list.AccountID != aid {
		return nil, nil, fmt.Errorf("%w: device list for another account", ErrDeviceList)
	}
	return next, &VerifiedAccountState{VerifiedEntry: *ve, State: st, DeviceList: list}, nil
}

// VerifyHandleLookup verifies the response to a fetch of a "handle:" label,
// with the same checks as VerifyLookup except the device list: the value is
// a HandleBinding for the handle asked for.
func (v *Verifier) VerifyHandleLookup(state *ClientState, label Label, response []byte, now time.Time) (*ClientState, *VerifiedHandle, error) {
	kind, err := label.Kind()
	if err != nil || kind != KindHandleBinding {
		return nil, nil, fmt.Errorf("%w: not a handle label", ErrMalformed)
	}
	handle := strings.TrimPrefix(string(label), handleLabelPrefix)
	next, ve, err := v.verify(state, label, kind, response, now, func(value []byte) ([StateHashSize]byte, error) {
		hb, err := ParseHandleBinding(value)
		if err != nil {
			return [StateHashSize]byte{}, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		if hb.Handle != handle {
			return [StateHashSize]byte{}, fmt.Errorf("%w: binding for another handle", ErrMalformed)
		}
		return hb.PrevValueHash, nil
	})
	if err != nil {
		return nil, nil, err
	}
	hb, _ := ParseHandleBinding(ve.Value)
	return next, &VerifiedHandle{VerifiedEntry: *ve, Binding: hb}, nil
}

// VerifyCheckpoint checks a signed checkpoint on its own (witness quorum,
// freshness, consistency with the stored one, given the proof from
// state.Size) and returns the state advanced to it. The self-monitor uses it
// before scanning.
func (v *Verifier) VerifyCheckpoint(state *ClientState, signedNote []byte, proof tlog.TreeProof, now time.Time) (*ClientState, *SignedCheckpoint, error) {
	sc, err := v.checkCheckpoint(state, signedNote, state.Size, proof, now)
	if err != nil {
		return nil, nil, err
	}
	next := state.Clone()
	next.CheckpointNote, next.Size, next.Root = sc.Note, sc.Size, sc.Hash
	return next, sc, nil
}

func (v *Verifier) checkCheckpoint(state *ClientState, signedNote []byte, from int64, proof tlog.TreeProof, now time.Time) (*SignedCheckpoint, error) {
	// Step 1: origin, log signature, fresh witness quorum. "The checkpoint
	// is shared by all lookups of that period, so signature checks
	// amortise" (notes, Section 5.2, step 8): a response for the checkpoint
	// the client stored is checked against the stored note, whose signatures
	// were verified when it was accepted; only freshness is re-evaluated.
	if len(state.CheckpointNote) > 0 && sameBody(signedNote, state.CheckpointNote) {
		if sc, err := openCheckpoint(state.CheckpointNote, v.log, &v.policy, now, v.fresh, true); err == nil {
			return sc, nil
		}
	}
	sc, err := OpenCheckpoint(signedNote, v.log, &v.policy, now, v.fresh)
	if err != nil {
		return nil, err
	}
	// Step 2: size ≥ stored size, consistent with the stored tree.
	if len(state.CheckpointNote) > 0 {
		switch {
		case sc.Size < state.Size:
			return nil, fmt.Errorf("%w: size %d below stored %d", ErrRollback, sc.Size, state.Size)
		case sc.Size == state.Size:
			if sc.Hash != state.Root {
				return nil, fmt.Errorf("%w: different root at the stored size", ErrInconsistent)
			}
		default:
			if from != state.Size {
				return nil, fmt.Errorf("%w: consistency proof from size %d, stored %d", ErrInconsistent, from, state.Size)
			}
			if err := tlog.CheckTree(proof, sc.Size, sc.Hash, state.Size, state.Root); err != nil {
				return nil, fmt.Errorf("%w: consistency proof failed", ErrInconsistent)
			}
		}
	}
	return sc, nil
}

func (v *Verifier) verify(state *ClientState, label Label, kind Kind, response []byte, now time.Time,
	parseValue func([]byte) ([StateHashSize]byte, error)) (*ClientState, *VerifiedEntry, error) {
	r, err := ParseLookupResponse(response)
	if err != nil {
		return nil, nil, err
	}
	e, err := ParseEntry(r.Entry)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	sc, err := v.checkCheckpoint(state, r.Checkpoint, r.ConsistencyFrom, r.Consistency, now)
	if err != nil {
		return nil, nil, err
	}
	// Step 3: the VRF proof verifies for label and equals entry.label_id.
	id, err := VerifyLabelID(v.vrf, label, r.VRFProof[:])
	if err != nil {
		return nil, nil, ErrVRF
	}
	if id != e.LabelID {
		return nil, nil, fmt.Errorf("%w: proof is for another label", ErrVRF)
	}
	if e.Kind != kind {
		return nil, nil, fmt.Errorf("%w: entry kind %v for a %v label", ErrMalformed, e.Kind, kind)
	}
	// Step 4: the commitment opens to (label, version, value).
	if err := CheckCommitment(e.Commitment, r.Opening, label, e.Version, r.Value); err != nil {
		return nil, nil, ErrCommitment
	}
	// Step 5: inclusion of the entry's leaf at its index.
	if r.LeafIndex >= sc.Size {
		return nil, nil, fmt.Errorf("%w: leaf index beyond the tree", ErrInclusion)
	}
	if err := tlog.CheckRecord(r.Inclusion, sc.Size, sc.Hash, r.LeafIndex, tlog.RecordHash(r.Entry)); err != nil {
		return nil, nil, ErrInclusion
	}
	// Step 6 (value format; the device list is checked by the caller).
	prevHash, err := parseValue(r.Value)
	if err != nil {
		return nil, nil, err
	}
	if e.Version == 0 && prevHash != ([StateHashSize]byte{}) {
		return nil, nil, fmt.Errorf("%w: version 0 value with a previous value", ErrMalformed)
	}
	// Step 7: per-label monotonicity.
	vh := ValueHash(r.Value)
	ve := &VerifiedEntry{Label: label, Entry: e, LeafIndex: r.LeafIndex, Value: r.Value, Checkpoint: sc}
	if rec, ok := state.Contacts[e.LabelID]; ok {
		ve.PreviousVersion, ve.HadPrevious = rec.Version, true
		switch {
		case e.Version < rec.Version:
			return nil, nil, fmt.Errorf("%w: version %d after %d", ErrVersionRegression, e.Version, rec.Version)
		case e.Version == rec.Version:
			if vh != rec.ValueHash {
				return nil, nil, fmt.Errorf("%w: version %d", ErrEquivocation, e.Version)
			}
		case e.Version == rec.Version+1:
			if prevHash != rec.ValueHash {
				return nil, nil, fmt.Errorf("%w: version %d does not chain to %d", ErrEquivocation, e.Version, rec.Version)
			}
		}
		ve.Changed = e.Version != rec.Version
	}
	next := state.Clone()
	next.CheckpointNote, next.Size, next.Root = sc.Note, sc.Size, sc.Hash
	next.Contacts[e.LabelID] = ContactRecord{Version: e.Version, ValueHash: vh}
	return next, ve, nil
}

// sameBody reports whether two signed notes have the same text.
func sameBody(a, b []byte) bool {
	i, j := bytes.Index(a, []byte("\n\n")), bytes.Index(b, []byte("\n\n"))
	return i >= 0 && i == j && bytes.Equal(a[:i], b[:j])
}
