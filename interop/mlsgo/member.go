// Package interop drives MLS (RFC 9420) clients of different implementations
// against each other, in one process, exchanging nothing but wire bytes.
//
// The package exists only to test Ward's mls package against an MLS
// implementation written elsewhere (github.com/thomas-vilte/mls-go). It lives
// in its own Go module so that Ward's own dependency list never names mls-go.
//
// The contract between the tests and an implementation is the [Client]
// interface: every message that crosses it is the TLS-presentation encoding of
// an RFC 9420 MLSMessage (Section 6), so a Ward member and an mls-go member
// can share one group. An implementation is plugged in through an
// [Implementation] value; [MLSGo] wraps mls-go and [Ward] wraps Ward's mls
// package.
//
// Handshake messages (proposals and commits) are always PublicMessages and
// application messages PrivateMessages, as Ward's design requires
// (DESIGN.md, section 2). The interop runner's "encrypted handshake" mode is
// not exercised.
package interop

import (
	"errors"
	"io"
)

// Suite is an MLS cipher suite identifier from the IANA registry
// (RFC 9420, Section 17.1).
type Suite uint16

// The cipher suites the interop tests run on.
const (
	// Suite1 is MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519 (mandatory to implement).
	Suite1 Suite = 0x0001
	// Suite3 is MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519.
	Suite3 Suite = 0x0003
)

// ErrUnsupported is returned (wrapped, with the reason) by a [Client] method
// that its implementation cannot perform. Tests treat it as "this role cannot
// be played by this implementation" and skip with the reason, never as a pass.
var ErrUnsupported = errors.New("interop: not supported by this implementation")

// Implementation creates clients of one MLS implementation.
type Implementation interface {
	// Name is a short label used in test names ("mls-go", "ward").
	Name() string
	// NewClient returns a client with the given credential identity (a
	// BasicCredential, RFC 9420 Section 5.3) for one cipher suite. rand is the
	// source of all the client's randomness where the implementation accepts
	// an injected source; implementations that read crypto/rand directly
	// document that they ignore it.
	NewClient(identity []byte, suite Suite, rand io.Reader) (Client, error)
}

// Extension is one RFC 9420 Extension (Section 13): a type and opaque data.
type Extension struct {
	Type uint16
	Data []byte
}

// CommitOptions says what a commit carries beyond the proposals the committer
// already holds (its own and those given to it through [Client.Process]).
// Every proposal listed here is included by value.
type CommitOptions struct {
	// Adds are KeyPackages (MLSMessage encoding) to add.
	Adds [][]byte
	// Removes are credential identities of members to remove.
	Removes [][]byte
	// ExternalPSKs are ids of external PSKs installed with InstallPSK.
	ExternalPSKs [][]byte
	// ResumptionPSKs are epochs of this group whose resumption PSK to inject.
	ResumptionPSKs []uint64
	// GroupContextExtensions, when non-nil, replaces the group context
	// extensions (an empty non-nil slice clears them).
	GroupContextExtensions *[]Extension
	// ForcePath asks for an UpdatePath even when the proposals do not require
	// one (RFC 9420 Section 12.4). Implementations that always send a path
	// satisfy it trivially.
	ForcePath bool
	// ExternalTree asks for the ratchet tree to be returned in
	// CommitOutput.RatchetTree instead of inside the Welcome's GroupInfo
	// (RFC 9420 Section 12.4.3.3).
	ExternalTree bool
}

// CommitOutput is what a commit produces. The committer has already moved to
// the new epoch when Commit returns.
type CommitOutput struct {
	// Commit is the MLSMessage (PublicMessage) to send to the other members.
	Commit []byte
	// Welcome is the MLSMessage (Welcome) for the added members, nil if none.
	Welcome []byte
	// RatchetTree is the encoded ratchet_tree extension data
	// (optional<Node> node<V>) when CommitOptions.ExternalTree was set.
	RatchetTree []byte
}

// ExternalJoinOptions tunes an external commit (RFC 9420 Section 12.4.3.2).
type ExternalJoinOptions struct {
	// RatchetTree is the ratchet tree when the GroupInfo does not carry one.
	RatchetTree []byte
	// RemovePrior removes the joiner's earlier leaf with the same identity.
	RemovePrior bool
	// PSKs are external PSKs to inject; the joiner need not have installed them.
	PSKs []PSK
}

// PSK is an external pre-shared key (RFC 9420 Section 8.4).
type PSK struct {
	ID, Secret []byte
}

// EventKind tells what [Client.Process] did with a message.
type EventKind int

// The kinds of event.
const (
	// ProposalStored: a proposal was validated and kept for a later commit.
	ProposalStored EventKind = iota + 1
	// CommitApplied: a commit moved the client to a new epoch.
	CommitApplied
	// Removed: a commit removed this client from the group.
	Removed
)

// Client is one MLS participant of one implementation. It holds at most one
// group at a time plus any KeyPackages it has handed out and not yet used.
// All message arguments and results are wire bytes.
type Client interface {
	// Identity is the credential identity the client was created with.
	Identity() []byte

	// KeyPackage returns a fresh KeyPackage as an MLSMessage
	// (wire_format mls_key_package) and keeps its private keys for Join.
	KeyPackage() ([]byte, error)
	// CreateGroup starts a one-member group at epoch 0 (RFC 9420 Section 11).
	CreateGroup(groupID []byte) error
	// Join enters a group from a Welcome (MLSMessage) addressed to one of the
	// client's KeyPackages (RFC 9420 Section 12.4.3.1). ratchetTree is
	// required only when the Welcome's GroupInfo carries no ratchet_tree.
	Join(welcome, ratchetTree []byte) error
	// GroupInfo returns a signed GroupInfo (MLSMessage) with the
	// external_pub extension. With externalTree set the ratchet tree is
	// returned separately instead of as a GroupInfo extension.
	GroupInfo(externalTree bool) (groupInfo, ratchetTree []byte, err error)
	// ExternalJoin joins through an external commit and returns that commit
	// (MLSMessage) for the existing members.
	ExternalJoin(groupInfo []byte, opts ExternalJoinOptions) (commit []byte, err error)
	// InstallPSK makes an external PSK available to the client
	// (RFC 9420 Section 8.4).
	InstallPSK(id, secret []byte) error

	// ProposeAdd returns an Add proposal (MLSMessage) and keeps it pending.
	ProposeAdd(keyPackage []byte) ([]byte, error)
	// ProposeUpdate returns an Update proposal for the client's own leaf.
	ProposeUpdate() ([]byte, error)
	// ProposeRemove returns a Remove proposal for the member with identity.
	ProposeRemove(identity []byte) ([]byte, error)
	// ProposeExternalPSK returns a PreSharedKey proposal for an external PSK.
	ProposeExternalPSK(id []byte) ([]byte, error)
	// ProposeResumptionPSK returns a PreSharedKey proposal for the
	// resumption PSK of an earlier epoch of this group.
	ProposeResumptionPSK(epoch uint64) ([]byte, error)
	// ProposeGroupContextExtensions returns a GroupContextExtensions proposal.
	ProposeGroupContextExtensions(exts []Extension) ([]byte, error)

	// Commit commits every pending proposal plus those in opts, applies the
	// commit locally and returns the messages to send.
	Commit(opts CommitOptions) (*CommitOutput, error)
	// Process handles a handshake MLSMessage from another member: a proposal
	// is stored, a commit is applied.
	Process(msg []byte) (EventKind, error)

	// Protect encrypts an application message as a PrivateMessage.
	Protect(aad, plaintext []byte) ([]byte, error)
	// Unprotect decrypts an application PrivateMessage.
	Unprotect(msg []byte) (aad, plaintext []byte, err error)

	// Epoch is the current epoch number.
	Epoch() uint64
	// EpochAuthenticator is the current epoch_authenticator
	// (RFC 9420 Section 8.7).
	EpochAuthenticator() []byte
	// Members lists the credential identities of the occupied leaves in
	// leaf order.
	Members() [][]byte
}
