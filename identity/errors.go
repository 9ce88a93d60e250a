package identity

import "errors"

// Errors returned (wrapped) by the verification functions. Callers branch on
// them with errors.Is to decide what to show the user or report to key
// transparency; every other failure is a plain error meaning "invalid".
var (
	// ErrUntrustedSigner means a device list or rotation statement was
	// signed by a key other than the AIK the caller trusts. The SDK treats it
	// as a possible changed identity: it looks for a valid
	// AccountKeyRotation, and otherwise warns the user.
	ErrUntrustedSigner = errors.New("identity: signer is not the trusted account key")

	// ErrRollback means a device list or rotation statement is older than
	// one the caller has already accepted.
	ErrRollback = errors.New("identity: version rollback")

	// ErrEquivocation means a device list has the same version as the one the
	// caller accepted before but different content: the AIK holder (or
	// whoever has the key) signed two different lists with one version. The
	// SDK keeps both as evidence.
	ErrEquivocation = errors.New("identity: two different device lists with the same version")

	// ErrAccountMismatch means a device list or rotation statement is for a
	// different account than expected.
	ErrAccountMismatch = errors.New("identity: account ID mismatch")
)
