package identity

import (
	"bytes"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

const accountKeyRotationVersion = 1

// AccountKeyRotation is a statement that an account's AIK changes from
// OldKey to NewKey. Both keys sign it: the old key to hand the account over,
// the new key to prove it is held by whoever the old key chose. It is bound
// to the account and to a counter, so it cannot be replayed for another
// account or be reordered.
//
// A client that trusts OldKey and receives a valid rotation with a counter
// above the last one it accepted follows it and trusts NewKey. Any other AIK
// change is a "changed identity" that the SDK shows to the user (DESIGN.md,
// Section 2).
type AccountKeyRotation struct {
	// AccountID is the account whose key rotates.
	AccountID AccountID
	// Counter numbers the account's rotations: 1 for the first, then
	// increasing.
	Counter uint64
	// OldKey is the AIK being replaced; NewKey is the AIK that replaces it.
	OldKey, NewKey AccountPublicKey
	// OldSignature is OldKey's Ed25519ctx signature, with context
	// ContextRotationOld, over the to-be-signed encoding;
	// NewSignature is NewKey's, with context ContextRotationNew.
	OldSignature, NewSignature []byte
}

// RotateAccountKey makes the rotation statement, number counter (at least
// 1), from oldKey to newKey for account aid.
func RotateAccountKey(aid AccountID, counter uint64, oldKey, newKey *AccountKey) (*AccountKeyRotation, error) {
	r := &AccountKeyRotation{AccountID: aid, Counter: counter, OldKey: oldKey.Public(), NewKey: newKey.Public()}
	if err := r.check(); err != nil {
		return nil, err
	}
	tbs := r.tbs()
	r.OldSignature = sign(oldKey.priv, ContextRotationOld, tbs)
	r.NewSignature = sign(newKey.priv, ContextRotationNew, tbs)
	return r, nil
}

// check validates the fields other than the signatures.
func (r *AccountKeyRotation) check() error {
	switch {
	case r.AccountID.IsZero():
		return errors.New("identity: account key rotation: zero account ID")
	case r.Counter == 0:
		return errors.New("identity: account key rotation: counter 0 is invalid")
	case r.OldKey.IsZero() || r.NewKey.IsZero():
		return errors.New("identity: account key rotation: missing key")
	case r.OldKey == r.NewKey:
		return errors.New("identity: account key rotation: old and new keys are equal")
	}
	return nil
}

// tbs returns the to-be-signed encoding: every field but the signatures.
func (r *AccountKeyRotation) tbs() []byte {
	var b cryptobyte.Builder
	r.addTBS(&b)
	return b.BytesOrPanic()
}

func (r *AccountKeyRotation) addTBS(b *cryptobyte.Builder) {
	b.AddUint8(accountKeyRotationVersion)
	b.AddBytes(r.AccountID[:])
	b.AddUint64(r.Counter)
	b.AddBytes(r.OldKey.k[:])
	b.AddBytes(r.NewKey.k[:])
}

// Marshal encodes r. See docs/PROTOCOL.md (Identity).
func (r *AccountKeyRotation) Marshal() ([]byte, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	if len(r.OldSignature) != 64 || len(r.NewSignature) != 64 {
		return nil, errors.New("identity: account key rotation: missing signature")
	}
	var b cryptobyte.Builder
	r.addTBS(&b)
	b.AddBytes(r.OldSignature)
	b.AddBytes(r.NewSignature)
	return b.Bytes()
}

// ParseAccountKeyRotation decodes an AccountKeyRotation and checks its
// fields, but not its signatures: use VerifyAccountKeyRotation, or
// VerifySignatures where no key is trusted yet (a server accepting an
// upload).
func ParseAccountKeyRotation(data []byte) (*AccountKeyRotation, error) {
	s := cryptobyte.String(data)
	var version uint8
	var aid, oldKey, newKey, oldSig, newSig []byte
	r := new(AccountKeyRotation)
	if !s.ReadUint8(&version) {
		return nil, errors.New("identity: account key rotation: truncated")
	}
	if version != accountKeyRotationVersion {
		return nil, fmt.Errorf("identity: account key rotation: unknown version %d", version)
	}
	if !s.ReadBytes(&aid, AccountIDSize) || !s.ReadUint64(&r.Counter) ||
		!s.ReadBytes(&oldKey, AccountPublicKeySize) || !s.ReadBytes(&newKey, AccountPublicKeySize) ||
		!s.ReadBytes(&oldSig, 64) || !s.ReadBytes(&newSig, 64) {
		return nil, errors.New("identity: account key rotation: truncated")
	}
	if !s.Empty() {
		return nil, errors.New("identity: account key rotation: trailing bytes")
	}
	copy(r.AccountID[:], aid)
	var err error
	if r.OldKey, err = parseAccountPublicKey(oldKey); err != nil {
		return nil, fmt.Errorf("identity: account key rotation: old key: %w", err)
	}
	if r.NewKey, err = parseAccountPublicKey(newKey); err != nil {
		return nil, fmt.Errorf("identity: account key rotation: new key: %w", err)
	}
	r.OldSignature, r.NewSignature = bytes.Clone(oldSig), bytes.Clone(newSig)
	if err := r.check(); err != nil {
		return nil, err
	}
	return r, nil
}

// VerifySignatures checks both signatures of r. It does not say whether
// OldKey is trusted.
func (r *AccountKeyRotation) VerifySignatures() error {
	if err := r.check(); err != nil {
		return err
	}
	tbs := r.tbs()
	if !verify(r.OldKey.ed25519(), ContextRotationOld, tbs, r.OldSignature) ||
		!verify(r.NewKey.ed25519(), ContextRotationNew, tbs, r.NewSignature) {
		return errors.New("identity: account key rotation: signature verification failed")
	}
	return nil
}

// VerifyAccountKeyRotation verifies an encoded AccountKeyRotation for
// account aid against the AIK the caller trusts and the counter of the last
// rotation it accepted for the account (0 if none). On success the caller
// trusts the returned rotation's NewKey and remembers its Counter.
//
// It fails if the encoding is invalid, if the rotation is for another
// account (ErrAccountMismatch), if OldKey is not trusted
// (ErrUntrustedSigner), if the counter is not above lastCounter
// (ErrRollback), or if either signature does not verify.
func VerifyAccountKeyRotation(data []byte, aid AccountID, trusted AccountPublicKey, lastCounter uint64) (*AccountKeyRotation, error) {
	if trusted.IsZero() {
		return nil, errors.New("identity: no trusted account key")
	}
	r, err := ParseAccountKeyRotation(data)
	if err != nil {
		return nil, err
	}
	switch {
	case r.AccountID != aid:
		return nil, fmt.Errorf("%w (account key rotation)", ErrAccountMismatch)
	case r.OldKey != trusted:
		return nil, fmt.Errorf("%w (account key rotation)", ErrUntrustedSigner)
	case r.Counter <= lastCounter:
		return nil, fmt.Errorf("%w: account key rotation %d after %d", ErrRollback, r.Counter, lastCounter)
	}
	if err := r.VerifySignatures(); err != nil {
		return nil, err
	}
	return r, nil
}
