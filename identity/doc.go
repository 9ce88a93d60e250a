// Package identity implements the identity layer of the Ward protocol
// (DESIGN.md, Section 2, "Identities"): account and device keys, the signed
// and versioned device list, account-key rotation, safety numbers, device
// linking and device proof of possession.
//
// # Keys
//
// Every account has an [AccountID], 16 random bytes chosen by the client at
// registration, and an Account Identity Key (AIK): an Ed25519 key pair
// ([AccountKey], [AccountPublicKey]) held by the primary device. The account
// ID is independent of any key so that the AIK can rotate.
//
// Every device of the account has a [DeviceID] (1 is the primary device) and
// its own keys ([DeviceKeys], [DevicePublicKeys]): an Ed25519 signing key and
// an X25519 identity key. Generate keys with [GenerateAccountKey] and
// [GenerateDeviceKeys]; both read their seeds from the io.Reader they are
// given, so tests can be deterministic. Persist them with
// [AccountKey.MarshalBinary] and [DeviceKeys.MarshalBinary].
//
// # Device lists
//
// The AIK signs a [DeviceList]: the account ID, a version number and the
// devices. Clients accept only devices listed in a list signed by the AIK
// they have verified, and reject rollback. A typical flow on the primary:
//
//	list, _ := identity.NewDeviceList(aid, identity.DeviceEntry{ID: identity.PrimaryDevice, DevicePublicKeys: dk.Public()})
//	signed, _ := list.Sign(aik)
//	// upload signed to the directory
//
// and on a contact's device, each time it fetches the list:
//
//	next, err := identity.VerifyDeviceList(signed, trustedAIK, prev)
//	added, removed := identity.Diff(prev, next)
//	// show a notice for every added or removed device
//
// [VerifyDeviceList] returns [ErrUntrustedSigner], [ErrRollback],
// [ErrEquivocation] or [ErrAccountMismatch] (wrapped) for the events a
// client reports to its user or to key transparency; every other failure is
// a plain error.
//
// # Account key rotation
//
// An AIK changes legitimately only through an [AccountKeyRotation] signed by
// both the old and the new AIK; [VerifyAccountKeyRotation] checks one against
// the AIK a client trusts. Any other AIK change is a changed identity, which
// the SDK must show to the user.
//
// # Safety numbers
//
// [NewSafetyNumber] derives the 60-digit safety number and the QR payload
// from both parties' account IDs and AIKs. Both parties compute the same
// value whatever the argument order. [SafetyNumber.CompareQR] checks a
// scanned QR payload in constant time.
//
// # Linking a device
//
// A new device shows a [LinkOffer] (as a QR code or text) and its
// [LinkOffer.Code], six digits. The primary parses the offer, the user checks
// that both screens show the same code ([LinkOffer.CheckCode]), and the
// primary signs a list made with [DeviceList.WithDevice].
//
// # Proof of possession
//
// A server authenticates a device by a challenge signed with
// [DeviceKeys.SignChallenge] and checked with [VerifyChallenge]; it never
// stores a bearer secret.
//
// # Signatures and encodings
//
// All signatures are Ed25519ctx (RFC 8032, Section 5.1) with a context string
// per purpose, so a signature made for one purpose never verifies for
// another, nor as a pure Ed25519 signature. All encodings use the TLS
// presentation language (via cryptobyte), start with a version byte, and are
// canonical: decoders reject unknown versions, wrong lengths, non-canonical
// forms and trailing bytes, and decoding then encoding gives back the same
// bytes. docs/PROTOCOL.md (Identity) describes every encoding and context.
//
// The package is pure: no I/O, no clock, no global randomness.
package identity
