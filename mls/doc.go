// Package mls implements the Messaging Layer Security protocol, RFC 9420,
// in pure Go: Ward's group chats run on it.
//
// # Using it
//
// Every member holds a signing key (GenerateSignatureKey) and a Credential
// (Ward uses basic credentials checked against signed device lists through
// Config.ValidateCredential). A client that wants to be invited publishes
// KeyPackages (NewKeyPackage) and keeps each KeyPackageBundle, with its
// private keys, until a Welcome consumes it.
//
// A creator starts a group with NewGroup, then adds members with
// Group.Commit(CommitOptions{Add: keyPackages}). Commit returns the commit
// message for the group and a Welcome for the new members (JoinGroup). The
// committer's state changes only when the commit is merged: either when the
// delivery service echoes it back to ProcessMessage, or by
// MergePendingCommit. Removes, self-updates (ForcePath), PSK injections and
// GroupContext extension changes go through the same Commit call;
// proposals from other members received in the epoch are always included.
// A client holding a GroupInfo (Group.GroupInfo) can join without an
// invitation by external commit (JoinExternal).
//
// Incoming messages go to ProcessMessage, which returns a typed Event:
// *ApplicationMessage (sender leaf, data, authenticated data),
// *ProposalEvent, or *CommitEvent (roster diff: added, removed, updated).
// Application data is sent with Protect (a PrivateMessage); handshake
// messages are PublicMessages by default so the delivery service can order
// them and apply roster policy.
//
// Group.EpochAuthenticator, Group.Export (MLS-Exporter), Group.Members and
// Group.MarshalBinary / UnmarshalGroup (exact round-trip; the state holds
// secrets, store it encrypted) complete the API.
//
// # Cipher suites
//
// Suites 1, 2, 3, 5 and 7 of RFC 9420 and the post-quantum hybrid suite
// 0xF001 (X-Wing KEM, see docs/protocol/mls.md). Suites 4 and 6 need X448
// and Ed448, which Go does not provide.
//
// # Randomness
//
// Keys are derived from bytes read from Config.Rand (or the rand argument),
// so tests are reproducible. Two operations cannot be injected because the
// standard library draws from the system source itself: HPKE encapsulation
// in crypto/hpke and ECDSA signing nonces.
//
// # Security notes
//
// Decryption failures say only "failed". Keys of consumed message
// generations are deleted, so a replayed message is rejected
// (ErrGenerationConsumed); messages of a finished epoch cannot be opened
// (ErrWrongEpoch). Tree hashes are cached per node and only the direct path
// of changed nodes is rehashed, so a commit costs O(log n) hashing.
package mls
