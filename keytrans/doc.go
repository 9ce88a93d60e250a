// Package keytrans implements phase 1 of Ward's key transparency
// (notes/key-transparency.md, Sections 5.1, 5.2 and 5.4): a witnessed,
// append-only RFC 6962 log of key-change events, and everything a log
// operator, a witness, a client, a self-monitoring device and an auditor
// compute on it. It is pure: no I/O, no clock (time is passed in), no
// randomness (keys derive from seeds the caller reads from its own source).
//
// # Labels, entries and values
//
// Every account-state version and every handle binding is one Entry in the
// log, under a label "acct:<account_id>" (AccountLabel) or
// "handle:<normalised handle>" (HandleLabel). The log never shows a label:
// an entry carries label_id, the first 32 bytes of the ECVRF output over the
// label (ComputeLabelID on the server, VerifyLabelID on clients, see package
// vrf), and a commitment HMAC-SHA256(Kc, opening ‖ label ‖ version ‖ value)
// (Commit) whose 16-byte opening derives from a server secret
// (OpeningKey.Opening). The committed value is an AccountState (the AIK and
// the AIK-signed device list) or a HandleBinding, each chaining the hash of
// the label's previous value. docs/protocol/keytrans.md gives every byte.
//
// # Log side
//
// CheckAccountUpdate and CheckHandleUpdate validate an uploaded value
// against the label's current one (signatures, prev_value_hash chain,
// device-list version). A Sequencer turns AppendRequests into entries (version = previous + 1,
// prev_entry = previous leaf hash, non-decreasing timestamps) and computes
// the Merkle tree hashes to store with golang.org/x/mod/sumdb/tlog, reading
// older hashes through a HashStorage. ProveInclusion, ProveConsistency,
// NewTiles and ReadTileData serve proofs and tiles. LogSigner signs
// checkpoints (C2SP tlog-checkpoint, signed-note Ed25519); witnesses add
// cosignature/v1 lines (Cosigner, AddCosignatures).
//
// # Witness
//
// Witness is the pure core of a C2SP tlog-witness: ParseAddCheckpointRequest
// then Witness.AddCheckpoint, with the stored WitnessState of the log; a
// refusal is a *WitnessError carrying the HTTP status the spec assigns.
//
// # Client
//
// A Verifier holds the keys pinned in the client build (log key and origin,
// VRF key, k-of-n WitnessPolicy, freshness bounds). VerifyLookup and
// VerifyHandleLookup check a LookupResponse end to end and return a new
// ClientState only if every check passes; the input state is never
// modified. Errors wrap one of ErrMalformed, ErrLogSignature, ErrNoQuorum,
// ErrRollback, ErrInconsistent, ErrVRF, ErrCommitment, ErrInclusion,
// ErrDeviceList, ErrVersionRegression or ErrEquivocation; the SDK shows each
// as a security warning.
//
// # Monitor and auditor
//
// Every device of an account runs Monitor.Scan over new entries (after
// Verifier.VerifyCheckpoint) and gets an Alert, with publishable Evidence,
// for any entry for its own labels that it or an approved sibling did not
// author, and for gaps, duplicates or broken chains. NewAuthoredKey computes
// the key of an upload to record as authored. An Auditor replays the
// whole log, recomputes the root and reports every broken invariant.
//
// # What phase 1 does not give
//
// A lookup proves that a value was logged, not that it is the latest one;
// per-label monotonicity in ClientState and owner monitoring bound the
// damage. Monitoring is a linear scan. k colluding witnesses can hide a fork.
package keytrans
