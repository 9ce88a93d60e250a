// Package vrf implements the verifiable random function
// ECVRF-EDWARDS25519-SHA512-TAI of RFC 9381, Section 5 (suite_string 0x03),
// on the edwards25519 group.
//
// A VRF is a keyed hash whose output anyone can check. The holder of a
// [PrivateKey] maps an input alpha to a 64-byte output beta and an 80-byte
// proof pi; anyone holding the matching [PublicKey] checks the proof and
// learns the same beta, but cannot compute beta for any other input without
// a proof. For a given key and input, beta is unique: no prover, not even
// one with a key it generated maliciously, can produce two valid outputs
// (RFC 9381, Section 3). Ward's key transparency uses it to hide labels: the
// log stores label_id = beta[:32] for a label such as "acct:<id>", so a
// reader of the log learns nothing about which accounts exist, while a
// client that asks for a label gets the proof and checks that the server
// used the right label_id (notes/key-transparency.md, Section 5.1).
//
// # Use
//
// On the server, once:
//
//	sk, err := vrf.GenerateKey(rand.Reader) // or vrf.NewPrivateKeyFromSeed(seed)
//	pinned := sk.Public().Bytes()            // 32 bytes, shipped with the client
//
// for each label:
//
//	proof, beta := sk.Prove([]byte("acct:..."))
//	labelID := beta[:32]
//
// and on the client:
//
//	pk, err := vrf.ParsePublicKey(pinned)
//	beta, err := pk.Verify([]byte("acct:..."), proof[:])
//	// err == nil: beta[:32] is the label_id the log must contain.
//
// Prove is deterministic: the same key and input always give the same proof
// and output (the nonce comes from the key and the input, RFC 9381, Section
// 5.4.2.2), so it needs no randomness and the server may cache proofs.
//
// # Keys
//
// A private key is a 32-byte seed, expanded exactly as an Ed25519 key (RFC
// 8032, Section 5.1.5, as RFC 9381, Section 5.5 requires for this suite): the
// secret scalar x is the clamped first half of SHA-512(seed), the second half
// keys the nonce, and the public key is Y = x*B. The public key of a seed is
// therefore the same 32 bytes as the Ed25519 public key of that seed. Never
// use one seed both as a VRF key and as a signing key.
//
// [ParsePublicKey] runs RFC 9381's ECVRF_validate_key (Section 5.4.5): it
// rejects encodings that are not canonical (RFC 8032, Section 5.1.3) and the
// eight points of small order, for which the uniqueness of beta would not
// hold. [PublicKey.Verify] only ever sees validated keys.
//
// # Encodings and lengths
//
// Public key: 32 bytes, the RFC 8032 encoding of Y. Proof: 80 bytes, Gamma
// (32-byte point) ‖ c (16-byte little-endian integer) ‖ s (32-byte
// little-endian scalar, s < L). Output: 64 bytes, a SHA-512 digest. Inputs
// alpha may be of any length, including empty.
//
// # Side channels
//
// Prove multiplies by the secret scalar and the nonce in constant time.
// Verify, which handles only public values, uses variable-time multiscalar
// multiplication. Encoding alpha to the curve by try-and-increment (RFC 9381,
// Section 5.4.1.1) takes a number of attempts that depends on alpha and the
// public key, so the running time of both Prove and Verify reveals a little
// about alpha; in key transparency labels are known to the server anyway.
//
// The package is pure: no I/O, no global state, no randomness except what
// [GenerateKey] reads from the reader it is given. Keys are safe for
// concurrent use.
package vrf
